"""Render the ground-truth video set (issue 8) into a cache outside the repository; never commit it.

Each clip is scripts/make_demo_clip.py: CMU motion of a VALIDATION subject (core.datasets, never a
training one) on the CC0 human_mixamo character, Workbench, 30 fps, with its true camera-frame
H36M-17 joints, true 2D, intrinsics and camera-to-world (per frame for the moving camera), and a
``meta`` JSON with the motion category and camera view. The set covers walk, run, dance, sports,
sit/stand, jump, everyday; front, 45 degree, side, high, low and moving cameras; landscape and
portrait; plain and cluttered backgrounds under different studio lights. A clip already rendered
is kept (delete it to re-render). About 1-2 s per frame on 2 cores.

    python benchmarks/render_gt_clips.py [--out ~/.cache/posemoe/gt] [--only walk_02_01] [--quick]

``--quick`` renders only QUICK (what ``posemoe bench --quick`` uses besides the demo clip).
The first three clips are also the motion-quality clips of benchmarks/motion_quality.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# name: (bvh, start s, seconds, yaw deg, camera raised m, orbit deg, size, look, category, view)
CLIPS: dict[str, tuple] = {
    "walk_02_01": ("02/02_01.bvh.gz", 0.3, 4.0, 60.0, 1.5, 0.0, "640x480", 0, "walk", "high"),
    "run_16_08": ("16/16_08.bvh.gz", 0.0, 3.0, 80.0, 0.0, 0.0, "640x480", 0, "run", "side"),
    "wander_15_01": ("15/15_01.bvh.gz", 2.0, 5.0, 20.0, 0.8, 0.0, "640x480", 0, "everyday", "front"),
    "jump_16_05": ("16/16_05.bvh.gz", 0.0, 2.4, 0.0, 0.0, 0.0, "480x640", 1, "jump", "front"),
    "sit_113_15": ("113/113_15.bvh.gz", 1.0, 4.0, 45.0, -0.6, 0.0, "640x480", 2, "sit_stand", "low"),
    "punch_02_05": ("02/02_05.bvh.gz", 2.0, 3.0, -45.0, 0.0, 40.0, "640x480", 3, "sports", "moving"),
    "kick_113_13": ("113/113_13.bvh.gz", 2.0, 3.0, 0.0, 0.3, 0.0, "640x480", 4, "sports", "front"),
    "dance_113_04": ("113/113_04.bvh.gz", 1.0, 3.0, 45.0, 0.0, 0.0, "480x640", 5, "dance", "45deg"),
    "walk_26_01": ("26/26_01.bvh.gz", 1.0, 3.0, 90.0, 0.0, 0.0, "640x480", 6, "walk", "side"),
    "run_113_07": ("113/113_07.bvh.gz", 0.5, 3.0, 45.0, 1.2, 0.0, "640x480", 7, "run", "high"),
}
QUICK = ("jump_16_05", "punch_02_05")
TILED_VIEWS = ("track", "orbit_tiles", "follow")  # rendered over a tiled floor (make_demo_clip.py --tiles)
# a camera following the person, turning or travelling (--pan); not in posemoe bench. The travelling ("track": the
# camera keeps its view; "follow": it travels half the way and turns) clips and the orbit over tiles (punch_02_05 of
# CLIPS again, its floor tiled) have a tiled floor: the camera's path is measured on the floor, and a plain one has
# nothing to follow.
PAN_CLIPS: dict[str, tuple] = {
    "walk_pan_02_01": ("02/02_01.bvh.gz", 0.3, 4.0, 90.0, 0.3, 0.0, "640x480", 8, "walk", "pan"),
    "run_pan_16_08": ("16/16_08.bvh.gz", 0.0, 3.0, 70.0, 0.2, 0.0, "640x480", 9, "run", "pan"),
    "walk_track_02_01": ("02/02_01.bvh.gz", 0.3, 4.0, 90.0, 0.3, 0.0, "640x480", 10, "walk", "track"),
    "run_track_16_08": ("16/16_08.bvh.gz", 0.0, 3.0, 70.0, 0.2, 0.0, "640x480", 11, "run", "track"),
    "punch_orbit_02_05": ("02/02_05.bvh.gz", 2.0, 3.0, -45.0, 0.0, 40.0, "640x480", 3, "sports", "orbit_tiles"),
    "walk_follow_02_01": ("02/02_01.bvh.gz", 0.3, 4.0, 90.0, 0.3, 0.0, "640x480", 12, "walk", "follow"),
}


def render(name: str, out: Path) -> None:
    """Render clip ``name`` of CLIPS into ``out`` as <name>.mp4 + <name>_truth.npz."""
    bvh, start, seconds, yaw, raise_m, orbit, size, look, category, view = (CLIPS | PAN_CLIPS)[name]
    meta = json.dumps({"category": category, "view": view, "size": size, "look": look,
                       "floor": "tiles" if view in TILED_VIEWS else "plain"})
    argv = ["--bvh", str(DATA / "mocap" / "cmu" / bvh), "--character", str(DATA / "characters" / "human_mixamo.blend"),
            "--start", str(start), "--seconds", str(seconds), "--yaw", str(yaw), "--raise", str(raise_m),
            "--orbit", str(orbit), "--size", size, "--look", str(look), "--meta", meta, "--out", str(out),
            "--name", name] + ([f"--{view}"] if view in ("pan", "track", "follow") else [])
    argv += ["--tiles"] if view in TILED_VIEWS else []
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_demo_clip.py"), *argv], check=True, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--only", choices=sorted(CLIPS | PAN_CLIPS), action="append")
    ap.add_argument("--pan", action="store_true",
                    help="render the following-camera clips (PAN_CLIPS: panning and tracking) instead")
    ap.add_argument("--quick", action="store_true", help="only the clips of posemoe bench --quick")
    ap.add_argument("--force", action="store_true", help="re-render clips already in --out")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if not (DATA / "mocap" / "cmu").is_dir():
        print(f"error: {DATA / 'mocap' / 'cmu'} not found; put the shared data beside the repository", file=sys.stderr)
        return 3
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or (QUICK if args.quick else PAN_CLIPS if args.pan else CLIPS):
        if not args.force and (args.out / f"{name}_truth.npz").exists() and (args.out / f"{name}.mp4").exists():
            logging.info("%s: already rendered", name)
            continue
        logging.info("rendering %s into %s", name, args.out)
        render(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
