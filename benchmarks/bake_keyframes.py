"""Benchmark bulk keyframing: 10,000 frames x 20 bones (quaternions + root location) into a new Action.

Usage: python benchmarks/bake_keyframes.py [--frames 10000] [--bones 20] [--out runs/bench/bake_keyframes.json]
Prints one summary line on stdout and writes the figures as JSON. Also times a full ``bake_clip``
(retarget + keys) of a synthetic clip of the same length on the default armature.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench.bake_keyframes")


def _clip(frames: int):
    """Return a synthetic MotionClip of ``frames`` frames (default-armature rest, limbs swinging)."""
    from core import retarget as rt
    from core import rigs
    from core.frames import blender_to_camera
    from core.motion_file import MotionClip

    bones = rigs.default_armature_bones(1.7)
    rest = rt.make_rest_pose([(*b, 0.0) for b in bones], rigs.resolve_mapping([b[0] for b in bones]))
    q = np.zeros((frames, len(rest.bone_names), 4))
    angle = 0.6 * np.sin(np.linspace(0, 40 * np.pi, frames))[:, None]
    axis = rt.normalize(np.random.default_rng(0).normal(size=(len(rest.bone_names), 3)))
    q[..., 0], q[..., 1:] = np.cos(angle / 2), np.sin(angle / 2)[..., None] * axis
    heads, deltas = rt.forward_kinematics(rest, q)
    joints = rt.joints_from_pose(rest, heads, deltas)
    rel = blender_to_camera(joints - joints[:, :1]).astype(np.float32)
    return MotionClip(np.zeros((frames, 17, 2), np.float32), np.ones((frames, 17), np.float32),
                      np.ones(frames, bool), 30.0, (640, 480), joints_3d=rel,
                      root=blender_to_camera(joints[:, 0]).astype(np.float32), meta={"name": "bench"})


def bench_keys(frames: int, n_bones: int) -> dict:
    """Return timings of keying ``n_bones`` quaternion bones + a location on the default armature."""
    import bpy

    from core.retarget import RetargetResult
    from posemoe_blender import bake

    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = bake.create_default_armature()
    names = tuple(b.name for b in obj.data.bones)
    if n_bones > len(names):
        raise SystemExit(f"--bones {n_bones}: the default armature has only {len(names)} bones")
    rng = np.random.default_rng(1)
    rot = rng.normal(size=(frames, len(names), 4))
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    res = RetargetResult(names, rot, tuple(range(n_bones)), 0, rng.normal(size=(frames, 3)), np.zeros((frames, 3)))
    frame_numbers = np.arange(1, frames + 1, dtype=np.float64)
    action = bpy.data.actions.new("bench")
    obj.animation_data_create().action = action
    start = time.perf_counter()
    curves = bake._key_result(action, obj, res, frame_numbers, 1.0)
    keys_s = time.perf_counter() - start
    clip = _clip(frames)
    start = time.perf_counter()
    baked = bake.bake_clip(clip, obj)
    bake_s = time.perf_counter() - start
    baked_bones = (len(bake.action_fcurves(baked, obj)) - 3) // 4
    return {"frames": frames, "bones": n_bones, "fcurves": curves, "keys": curves * frames,
            "keyframing_s": round(keys_s, 4), "keys_per_s": round(curves * frames / keys_s),
            "bake_clip_s": round(bake_s, 4), "bake_clip_bones": baked_bones,
            "bpy": bpy.app.version_string, "numpy": np.__version__,
            "machine": platform.processor() or platform.machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000, help="frames to key")
    parser.add_argument("--bones", type=int, default=20, help="bones to key (quaternion, 4 F-Curves each)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "bake_keyframes.json",
                        help="JSON file for the figures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = bench_keys(args.frames, args.bones)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"keyed {result['frames']} frames x {result['bones']} bones ({result['keys']} keys, "
          f"{result['fcurves']} F-Curves) in {result['keyframing_s']:.3f} s; full bake_clip "
          f"(retarget + {result['bake_clip_bones']} bones) {result['bake_clip_s']:.3f} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
