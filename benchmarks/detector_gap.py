"""Measure the detector gap (issue 4): real MediaPipe 2D keypoints against the projected true joints.

On clips rendered from validation-subject CMU motion (the demo clip, plus every
``*_truth.npz`` + ``.mp4`` pair in --gt-dir, see benchmarks/render_gt_clips.py), the extractor's
H36M-17 keypoints are compared with the true joints projected by the true camera. Pixel errors are
converted to centimetres at each joint's true depth (error_px * z / f) so they compare directly with
the metre offsets of the training-time model in core/synthetic.py (detector_gap, _noise_2d).

Per joint it reports: RMS error; the per-clip constant offset (bias), also resolved along the
direction the training model assumes (ankle towards knee, knee towards hip, hips towards the pelvis,
shoulders towards the thorax and upwards); the frame-to-frame noise left after removing that bias;
low-confidence share; and per limb the share of frames with left and right swapped.

The keypoints are measured as the extractor makes them (the limb joints moved by core.keypoints.LIMB_POINT_WEIGHTS
since 2026-11-27), or with ``--mediapipe-limbs`` with the hips, knees, ankles, shoulders and elbows at MediaPipe's own
landmarks and labels (no left/right flip undone): the gap the training-time model imitates.

    python benchmarks/detector_gap.py [--gt-dir ~/.cache/posemoe/gt] [--mediapipe-limbs]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "benchmarks"))

import bench  # noqa: E402

from core.keypoints import blazepose_to_h36m_by_rule  # noqa: E402
from core.skeleton import JOINT_NAMES  # noqa: E402

# joint -> (reference joint, what the training model assumes, in cm towards the reference)
TOWARDS = {3: (2, "1.5-4.5"), 6: (5, "1.5-4.5"), 2: (1, "0.5-3.5"), 5: (4, "0.5-3.5"),
           1: (0, "0-3.5"), 4: (0, "0-3.5"), 11: (8, "0-3.5"), 14: (8, "0-3.5")}
LIMBS = {"legs": ((2, 3), (5, 6)), "arms": ((12, 13), (15, 16))}  # (right joints), (left joints)


def clip_errors(kp, truth: np.lib.npyio.NpzFile) -> dict:
    """Return per-frame errors in cm at joint depth, plus the data the statistics need."""
    true2d = truth["joints_2d"].astype(np.float64)
    z = truth["joints_3d"][..., 2].astype(np.float64)
    f = float(truth["intrinsics"][0, 0])
    ok = kp.valid & np.isfinite(kp.joints_2d).all(axis=(1, 2))
    det = kp.joints_2d.astype(np.float64)
    cm_per_px = (z / f * 100.0)[..., None]
    return {"err": ((det - true2d) * cm_per_px)[ok], "true2d": true2d[ok], "det": det[ok],
            "cm_per_px": cm_per_px[ok], "scores": kp.scores[ok], "frames": int(len(ok)), "valid": int(ok.sum())}


def joint_stats(clips: list[dict]) -> list[dict]:
    """Return one row per joint over all clips (bias is per clip, then averaged weighted by frames)."""
    rows = []
    for j, name in enumerate(JOINT_NAMES):
        rms, bias, along, up, noise, low, n = [], [], [], [], [], [], []
        for c in clips:
            e = c["err"][:, j]
            mean = e.mean(0)
            rms.append(np.sqrt((np.linalg.norm(e, axis=-1) ** 2).mean()))
            bias.append(np.linalg.norm(mean))
            noise.append(np.sqrt(((e - mean) ** 2).sum(-1).mean()))
            low.append(float((c["scores"][:, j] < 0.5).mean()))
            n.append(len(e))
            if j in TOWARDS:
                ref = TOWARDS[j][0]
                d = c["true2d"][:, ref] - c["true2d"][:, j]
                d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
                along.append(float((e * d).sum(-1).mean()))
            if j in (11, 14):  # image "up" is -y
                up.append(float(-e[:, 1].mean()))
        w = np.asarray(n, np.float64) / sum(n)
        rows.append({
            "joint": name, "rms_cm": float(np.dot(w, rms)), "bias_cm": float(np.dot(w, bias)),
            "towards_ref_cm": float(np.dot(w, along)) if along else None,
            "model_towards_ref_cm": TOWARDS[j][1] if j in TOWARDS else None,
            "up_cm": float(np.dot(w, up)) if up else None,
            "noise_cm": float(np.dot(w, noise)), "low_confidence_share": float(np.dot(w, low)),
        })
    return rows


def swap_share(clips: list[dict]) -> dict:
    """Return, per limb pair, the share of frames whose left/right labels fit the truth better swapped."""
    out = {}
    for limb, (right, left) in LIMBS.items():
        swapped = total = 0
        for c in clips:
            det, true = c["det"], c["true2d"]
            r, lft = list(right), list(left)
            straight = np.linalg.norm(det[:, r] - true[:, r], axis=-1).sum(1) + \
                np.linalg.norm(det[:, lft] - true[:, lft], axis=-1).sum(1)
            crossed = np.linalg.norm(det[:, r] - true[:, lft], axis=-1).sum(1) + \
                np.linalg.norm(det[:, lft] - true[:, r], axis=-1).sum(1)
            swapped += int((crossed < 0.5 * straight).sum())
            total += len(det)
        out[limb] = swapped / max(total, 1)
    return out


def table(rows: list[dict]) -> str:
    """Return the markdown table of docs/model.md."""
    lines = ["| joint | RMS cm | per-clip bias cm | bias towards reference cm (model) | shoulder up cm | noise cm | "
             "score < 0.5 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        tow = "-" if r["towards_ref_cm"] is None else f"{r['towards_ref_cm']:+.1f} ({r['model_towards_ref_cm']})"
        up = "-" if r["up_cm"] is None else f"{r['up_cm']:+.1f}"
        lines.append(f"| {r['joint']} | {r['rms_cm']:.1f} | {r['bias_cm']:.1f} | {tow} | {up} | {r['noise_cm']:.1f} | "
                     f"{100 * r['low_confidence_share']:.1f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    p.add_argument("--mediapipe-limbs", action="store_true",
                   help="measure MediaPipe's own limb landmarks, not the fitted limb points")
    p.add_argument("--json", type=Path, help="default benchmarks/results/detector_gap[_mediapipe_limbs].json")
    a = p.parse_args(argv)
    a.json = a.json or REPO / "benchmarks" / "results" / f"detector_gap{'_mediapipe_limbs' * a.mediapipe_limbs}.json"
    a.gt_dir.mkdir(parents=True, exist_ok=True)
    clips, names = [], []
    for c in bench.gt_clips(a.gt_dir, quick=False, render=False):
        kp = bench.keypoints(c["video"], a.gt_dir)
        if a.mediapipe_limbs:
            lm = np.asarray(kp.extras["mp_landmarks"])
            joints, scores = blazepose_to_h36m_by_rule(lm[kp.valid, :, :2], lm[kp.valid, :, 3], True, False)
            kp.joints_2d[kp.valid], kp.scores[kp.valid] = joints, scores  # MediaPipe's labels too: no flip undone
        clips.append(clip_errors(kp, np.load(c["truth"])))
        names.append(c["name"])
    rows = joint_stats(clips)
    swaps = swap_share(clips)
    result = {"limbs": "MediaPipe's landmarks" if a.mediapipe_limbs else "fitted limb points", "clips": names,
              "frames": sum(c["frames"] for c in clips), "valid_frames": sum(c["valid"] for c in clips),
              "joints": rows, "lr_swap_share": swaps,
              "note": "cm at the joint's true depth; bias = |per-clip mean error|, noise = RMS after removing it"}
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(names)} clips ({', '.join(names)}), {result['valid_frames']}/{result['frames']} frames with a person")
    print(table(rows))
    print("left/right swapped frames: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in swaps.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
