"""Measure `posemoe lift` on another detector's COCO-17 keypoints, on rendered clips whose truth is known.

Most 2D detectors (YOLO pose, RTMPose, ViTPose, Detectron2) write the 17 COCO keypoints: nose, eyes, ears, shoulders,
elbows, wrists, hips, knees, ankles. `lift` takes them with ``--layout coco``, or tells them apart from H36M-17 by
the body's shape (core.keypoints.keypoint_layout), and converts them (core.keypoints.coco_to_h36m). Here each held-out
render's MediaPipe landmarks stand in for such a detector: its COCO points picked as they are (no fitted offsets),
scores its visibility, written as a keypoints file without the landmarks, and lifted through the product's path
(``read_keypoints_for_lifting`` then ``pipeline.lift``, the character's true height given). Compared with our own
keypoints of the same frames, and with the same COCO file read as if it were H36M (what `lift` did before).

    python benchmarks/coco_keypoints.py [--dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402
from held_out_renders import CACHE, clip_height, no_clips  # noqa: E402

COCO_FROM_MEDIAPIPE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
"""MediaPipe's landmark for each COCO-17 keypoint (core.keypoints.COCO17_NAMES order)."""
SOURCES = ("ours", "coco", "coco_read_as_h36m")


def coco_file(kp, path: Path) -> Path:
    """Write ``kp``'s MediaPipe landmarks as a COCO-17 keypoints file at ``path`` (no landmarks kept)."""
    lm = np.asarray(kp.extras["mp_landmarks"], np.float32)
    np.savez(path, joints_2d=lm[:, COCO_FROM_MEDIAPIPE, :2], scores=lm[:, COCO_FROM_MEDIAPIPE, 3],
             valid=kp.valid, fps=np.float32(kp.fps), image_size=np.asarray(kp.image_size))
    return path


def measure(folder: Path) -> dict:
    import torch

    from core.config import InferenceConfig
    from core.metrics import mpjpe, p_mpjpe
    from core.motion_file import read_keypoints
    from posemoe_blender.pipeline import lift, load_model, read_keypoints_for_lifting

    torch.set_num_threads(2)
    cfg = InferenceConfig(device="cpu")
    lifter = load_model(None, cfg)
    clips: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for truth_path in sorted(folder.glob("*_truth.npz")):
            name = truth_path.name[: -len("_truth.npz")]
            kp_path = folder / f"{name}_kp.npz"
            if not kp_path.is_file():
                continue
            truth, kp = np.load(truth_path), read_keypoints(kp_path)
            if "mp_landmarks" not in kp.extras or not kp.valid.any():
                continue
            gt = truth["joints_3d"].astype(np.float64)
            gt = gt - gt[:, :1]
            ok = kp.valid
            height = clip_height(truth)
            coco = coco_file(kp, Path(tmp) / f"{name}_coco.npz")
            inputs = {"ours": read_keypoints_for_lifting(kp_path), "coco": read_keypoints_for_lifting(coco),
                      "coco_read_as_h36m": read_keypoints_for_lifting(coco, "h36m")}
            row: dict = {"frames": int(ok.sum())}
            for source, k in inputs.items():
                rel = lift(k, cfg=cfg, lifter=lifter, subject_height=height).joints_3d.astype(np.float64)
                rel = rel - rel[:, :1]
                row[source] = {"p_mpjpe_mm": 1000 * p_mpjpe(rel[ok], gt[ok]), "mpjpe_mm": 1000 * mpjpe(rel[ok], gt[ok])}
            clips[name] = row
            print(f"{name:24s} " + "  ".join(f"{s} {row[s]['p_mpjpe_mm']:6.1f}" for s in SOURCES), flush=True)
    w = np.array([r["frames"] for r in clips.values()], np.float64)
    overall: dict = {"clips": len(clips), "frames": int(w.sum())}
    for s in SOURCES:
        overall[s] = {m: round(float(np.dot(w, [r[s][m] for r in clips.values()]) / w.sum()), 2)
                      for m in ("p_mpjpe_mm", "mpjpe_mm")} if len(w) else {}
    return {"folder": str(folder), "clips": clips, "overall": overall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=CACHE / "real2d_val", help="rendered clips (_truth.npz, _kp.npz)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "coco_keypoints.json")
    a = ap.parse_args(argv)
    res = measure(a.dir)
    if not res["clips"]:
        return no_clips(a.dir)
    o = res["overall"]
    print(f"overall, {o['clips']} clips, {o['frames']} frames (P-MPJPE / MPJPE, mm):")
    for s in SOURCES:
        print(f"  {s:18s} {o[s]['p_mpjpe_mm']:7.2f} {o[s]['mpjpe_mm']:7.2f}")
    return write_results(a.out, res)


if __name__ == "__main__":
    sys.exit(main())
