"""Render the ground-truth clips of benchmarks/motion_quality.py (outside the repository; never commit them).

Each clip is scripts/make_demo_clip.py (CMU motion of a validation subject on the CC0 human_mixamo
character, Workbench, 640x480 at 30 fps, true camera-frame joints) with the camera optionally raised
by ``raise_m`` metres and re-aimed at the subject, so the ground is seen from a pitched camera.
About 2 s per frame on 2 cores.

    python benchmarks/render_gt_clips.py [--out ~/.cache/posemoe/gt] [--only walk_02_01]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLIPS = {  # name: (bvh, start s, seconds, camera yaw degrees, camera raised by metres)
    "walk_02_01": ("02/02_01.bvh.gz", 0.3, 4.0, 60.0, 1.5),
    "run_16_08": ("16/16_08.bvh.gz", 0.0, 3.0, 80.0, 0.0),
    "wander_15_01": ("15/15_01.bvh.gz", 2.0, 5.0, 20.0, 0.8),
}
_CHILD = """
import sys
sys.path[:0] = [{scripts!r}, {repo!r}]
import bpy  # before mathutils, which the bpy module provides
from mathutils import Vector
import make_demo_clip as m
_orig = m.setup_scene
def setup_scene(world_joints, yaw_deg, ankle_height):
    cam = _orig(world_joints, yaw_deg, ankle_height)
    lo, hi = world_joints.reshape(-1, 3).min(0), world_joints.reshape(-1, 3).max(0)
    cam.location = cam.location + Vector((0, 0, {raise_m}))
    cam.rotation_euler = (Vector(0.5 * (lo + hi)) - cam.location).to_track_quat("-Z", "Y").to_euler()
    bpy.context.view_layer.update()
    return cam
m.setup_scene = setup_scene
sys.argv = ["make_demo_clip"] + {argv!r}
sys.exit(m.main())
"""


def render(name: str, out: Path) -> None:
    """Render clip ``name`` of CLIPS into ``out`` as <name>.mp4 + <name>_truth.npz."""
    bvh, start, seconds, yaw, raise_m = CLIPS[name]
    argv = ["--bvh", str(DATA / "mocap" / "cmu" / bvh), "--character", str(DATA / "characters" / "human_mixamo.blend"),
            "--start", str(start), "--seconds", str(seconds), "--yaw", str(yaw), "--out", str(out), "--name", name]
    code = _CHILD.format(scripts=str(REPO / "scripts"), repo=str(REPO), raise_m=raise_m, argv=argv)
    subprocess.run([sys.executable, "-c", code], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--only", choices=sorted(CLIPS), action="append")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or CLIPS:
        logging.info("rendering %s into %s", name, args.out)
        render(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
