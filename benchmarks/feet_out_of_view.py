"""Feet out of view (issue 7): rendered clips with the legs hidden from above the knees down, as a desk hides
them from a webcam.

For each clip (rendered ground truth in --gt-dir, see benchmarks/render_gt_clips.py) every row of the video
from just above the highest the knees reach in the image down is painted a flat grey (the frame keeps its
size, so the camera model stays the true one), real MediaPipe 2D is taken from that video (cached) and
lifted, and core.motion_cleanup.clean_motion runs twice:
  seen      as shipped: ankles the detector scores under core.contact.FOOT_SEEN make no contacts
            (core.contact.seen_contacts), so guessed feet are not locked;
  trusted   the same without that step: every ankle may be locked (the behaviour before 2026-11-26).
Figures against the truth: ground error, camera pitch, contacts, MPJPE, root error.
Writes benchmarks/results/feet_out_of_view.json.

    python benchmarks/feet_out_of_view.py [--gt-dir ~/.cache/posemoe/gt] [--clips walk_26_01 ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import motion_quality as mq  # noqa: E402

CLIPS = ("walk_26_01", "walk_02_01", "wander_15_01", "run_16_08", "dance_113_04", "kick_113_13")
KNEES = [2, 5]
ANKLES = [3, 6]


def hide_below(src: Path, dst: Path, rows: int) -> None:
    """Write ``src`` to ``dst`` (mp4, same size and fps) with every row from ``rows`` down painted grey, unless
    ``dst`` exists."""
    import cv2

    from core.video import iter_frames, probe

    if dst.exists():
        return
    info = probe(src)
    tmp = dst.with_suffix(".part.mp4")
    out = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    for frame in iter_frames(src, rgb=False):
        frame = frame.copy()
        frame[rows:] = 96
        out.write(frame)
    out.release()
    tmp.rename(dst)


def measure(name: str, gt_dir: Path, weights: Path) -> dict:
    """Return both variants' figures for one clip."""
    from unittest.mock import patch

    from core.contact import seen_contacts
    from core.motion_cleanup import clean_motion

    truth = mq.load_truth(gt_dir / f"{name}_truth.npz")
    knee_top = float(truth["joints_2d"][:, KNEES, 1].min())
    rows = int(knee_top) // 2 * 2
    video = gt_dir / f"{name}_hidden{rows}.mp4"
    hide_below(gt_dir / f"{name}.mp4", video, rows)
    kp = mq.keypoints(video, gt_dir)
    lift = mq.lifted(kp, weights, gt_dir).astype(np.float64)
    res: dict = {"rows_shown": rows, "image_height": truth["image_size"][1],
                 "ankles_in_frame": float((truth["joints_2d"][:, ANKLES, 1] < rows).mean())}
    for variant in ("seen", "trusted"):
        keep = (lambda contacts, *_: contacts) if variant == "trusted" else seen_contacts
        with patch("core.motion_cleanup.seen_contacts", keep):
            rel, root, info = clean_motion(lift, kp.joints_2d, kp.scores, kp.valid, truth["fps"], kp.image_size,
                                           "medium", subject_height=mq.TRUTH_HEIGHT)
        r = mq.evaluate(rel.astype(np.float64), root.astype(np.float64), info, truth)
        res[variant] = {k: r[k] for k in ("ground_normal_err_deg", "pitch_deg", "true_pitch_deg", "mpjpe_mm",
                                          "root_err_pct", "accel_err_mm")}
        res[variant]["contacts"] = sum(len(v) for v in info["contacts"].values())
        res[variant]["feet_seen"] = info["ground"]["feet_seen"]
    return res


def main(argv: list[str] | None = None) -> int:
    results = mq.clip_study(argv, __doc__, CLIPS, REPO / "benchmarks" / "results" / "feet_out_of_view.json", measure,
                            "benchmarks/render_gt_clips.py")
    print("| clip | rows shown | ankles in frame | feet seen | ground err ° seen / trusted | contacts seen / trusted "
          "| MPJPE mm seen / trusted | root err % seen / trusted |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        s, t = r["seen"], r["trusted"]
        print(f"| {name} | {r['rows_shown']} of {r['image_height']} | {r['ankles_in_frame']:.2f} "
              f"| {s['feet_seen']:.2f} | {s['ground_normal_err_deg']:.1f} / {t['ground_normal_err_deg']:.1f} "
              f"| {s['contacts']} / {t['contacts']} | {s['mpjpe_mm']:.1f} / {t['mpjpe_mm']:.1f} "
              f"| {s['root_err_pct']:.1f} / {t['root_err_pct']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
