"""Make docs/images/demo.png: input frames with 2D keypoints | lifted 3D (side view) | baked character(s).

Run after `posemoe demo` (reads demo_out/demo_motion.npz):
    python scripts/make_readme_image.py [--motion demo_out/demo_motion.npz] [--character FILE.blend]
Any clip (one column per character):
    posemoe capture V.mp4 -o m.npz && python scripts/make_readme_image.py --video V.mp4 --motion m.npz \
        --character a.blend --character b.blend --frames 30 90 --out docs/images/x.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.motion_file import read_motion  # noqa: E402
from core.skeleton import BONES, LEFT, RIGHT  # noqa: E402
from core.video import iter_frames  # noqa: E402
from posemoe_blender.demo import ensure_demo_clip  # noqa: E402

TILE = 360


def _colour(child: int) -> tuple[int, int, int]:
    return (60, 60, 230) if child in LEFT else (230, 120, 40) if child in RIGHT else (40, 200, 40)


def draw_2d(frame: np.ndarray, joints_2d: np.ndarray) -> np.ndarray:
    import cv2

    img = frame.copy()
    for p, c in BONES:
        cv2.line(img, tuple(map(int, joints_2d[p])), tuple(map(int, joints_2d[c])), _colour(c), 3, cv2.LINE_AA)
    h, w = img.shape[:2]
    s = TILE / h
    return cv2.resize(img, (int(w * s), TILE))


def draw_3d_side(joints: np.ndarray) -> np.ndarray:
    """Return a TILE x TILE image of root-relative camera-frame joints seen from the subject's right (z, -y)."""
    import cv2

    img = np.full((TILE, TILE, 3), 245, np.uint8)
    uv = np.stack([joints[:, 2], joints[:, 1]], -1) * (TILE * 0.42) + TILE / 2
    for p, c in BONES:
        cv2.line(img, tuple(map(int, uv[p])), tuple(map(int, uv[c])), _colour(c), 3, cv2.LINE_AA)
    cv2.putText(img, "3D, side view", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (80, 80, 80), 1, cv2.LINE_AA)
    return img


def main() -> int:
    import cv2

    from posemoe_blender.export import render_frames

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--motion", type=Path, default=REPO / "demo_out" / "demo_motion.npz")
    ap.add_argument("--video", type=Path, default=None, help="the clip the motion file was captured from "
                    "(default: the demo clip)")
    ap.add_argument("--character", type=Path, action="append", help="character .blend (repeat for more columns); "
                    "default: the generated armature")
    ap.add_argument("--frames", type=int, nargs="+", default=[40, 130])
    ap.add_argument("--keypoints-only", action="store_true",
                    help="draw the 2D keypoints on a blank frame instead of the video (for clips that may not be "
                         "redistributed, such as ../shared/data's)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "demo.png")
    args = ap.parse_args()
    clip = read_motion(args.motion)
    args.video = args.video or ensure_demo_clip()[0]
    frames = [f for i, f in enumerate(iter_frames(args.video, rgb=False)) if i in args.frames]
    if args.keypoints_only:
        frames = [np.full_like(f, 235) for f in frames]
    columns = []  # per character: one render per frame
    for character in args.character or [None]:
        with tempfile.TemporaryDirectory() as tmp:
            renders = render_frames(clip, Path(tmp), character=character, frames=args.frames,
                                    resolution=(TILE, TILE))
            columns.append([cv2.imread(str(p)) for p in renders])
    rows = []
    for i, (f, frame) in enumerate(zip(args.frames, frames, strict=False)):
        rows.append(np.concatenate([draw_2d(frame, clip.joints_2d[f]), draw_3d_side(clip.joints_3d[f]),
                                    *(col[i] for col in columns)], 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.concatenate(rows, 0))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
