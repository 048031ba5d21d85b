"""``posemoe demo``: the whole pipeline on the bundled clip, scored against its known motion.

The clip is rendered by the project itself (scripts/make_demo_clip.py) from a CC0
character driven by held-out CMU motion, so its true 3D joints are known exactly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from core.config import InferenceConfig
from core.errors import InputFileError, InputNotFoundError
from core.keypoints import blazepose_to_h36m
from core.motion_file import read_keypoints, read_motion
from core.native_logs import stdout_to_stderr
from posemoe_blender.pipeline import Emit, _noop, capture

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_VIDEO = DEMO_DIR / "demo_clip.mp4"
DEMO_TRUTH = DEMO_DIR / "demo_clip_truth.npz"


def load_truth(path: Path = DEMO_TRUTH) -> dict[str, np.ndarray]:
    """Return the demo clip's ground truth: joints_3d (T,17,3) metres camera frame, joints_2d px, ..."""
    if not Path(path).exists():
        raise InputNotFoundError(f"{path}: demo ground truth missing; reinstall posemoe")
    with np.load(path, allow_pickle=False) as z:
        truth = {k: z[k] for k in z.files}
    if truth.get("joints_3d", np.zeros(0)).ndim != 3:
        raise InputFileError(f"{path}: demo ground truth has no (T,17,3) joints_3d")
    return truth


def score(pred_rel: np.ndarray, truth_abs: np.ndarray, mp_world: np.ndarray | None = None) -> dict[str, float]:
    """Return MPJPE / P-MPJPE in mm of our root-relative prediction (and of MediaPipe's world landmarks)."""
    from core.metrics import mpjpe, p_mpjpe

    truth_rel = truth_abs - truth_abs[:, :1]
    n = min(len(pred_rel), len(truth_rel))
    out = {"frames": n, "mpjpe_mm": 1000 * float(mpjpe(pred_rel[:n], truth_rel[:n])),
           "p_mpjpe_mm": 1000 * float(p_mpjpe(pred_rel[:n], truth_rel[:n]))}
    if mp_world is not None:
        mp17, _ = blazepose_to_h36m(mp_world[:n])
        out["mediapipe_world_p_mpjpe_mm"] = 1000 * float(p_mpjpe(mp17 - mp17[:, :1], truth_rel[:n]))
    return out


def run_demo(out_dir: Path, cfg: InferenceConfig | None = None, emit: Emit = _noop,
             weights: Path | None = None) -> dict:
    """Run capture + bake on the bundled clip; return paths, error figures and a printable summary."""
    from posemoe_blender.export import bake_to_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    motion_path, kp_path = out_dir / "demo_motion.npz", out_dir / "demo_keypoints.npz"
    capture(DEMO_VIDEO, motion_path, weights, cfg, emit=emit, keypoints_out=kp_path)
    clip = read_motion(motion_path)
    kp = read_keypoints(kp_path)
    truth = load_truth()
    figures = score(clip.joints_3d, truth["joints_3d"], kp.extras.get("mp_world"))
    with stdout_to_stderr(keep=log.getEffectiveLevel() <= logging.INFO):  # Blender's exporters chatter
        blend = bake_to_file(clip, out_dir / "demo.blend")
        fbx = bake_to_file(clip, out_dir / "demo.fbx")
    summary = {"blend": str(blend), "fbx": str(fbx), "motion": str(motion_path), **figures}
    (out_dir / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"PoseMoE demo: {figures['frames']} frames of {DEMO_VIDEO.name}",
        f"  3D error vs the clip's known motion: MPJPE {figures['mpjpe_mm']:.1f} mm, "
        f"P-MPJPE {figures['p_mpjpe_mm']:.1f} mm",
    ]
    if "mediapipe_world_p_mpjpe_mm" in figures:
        lines.append(f"  MediaPipe's own 3D (world landmarks) on the same frames: "
                     f"P-MPJPE {figures['mediapipe_world_p_mpjpe_mm']:.1f} mm")
    lines += [f"  wrote {blend}", f"  wrote {fbx}", f"  motion file {motion_path}"]
    summary["text"] = "\n".join(lines)
    return summary
