"""Fit and check how the hips, knees, ankles, shoulders and elbows are made from MediaPipe's landmarks (issue 4).

MediaPipe's body landmarks are not the joint centres the lifter learnt (docs/model.md section 1: its hips sit closer
together, its ankles and knees higher, its shoulders higher and closer together). This fits each joint as its
MediaPipe landmark plus a weighted sum of the vectors from it to a few neighbour landmarks (the other hip, the knee,
the heel, ...), by least squares in centimetres at the joint's true depth, one set of weights for both sides, on clips
whose true joints are known; and reports the 2D error before and after per joint, how well each limb's weights carry
over to a character left out of the fit, and (``--lift``) what they do through the whole pipeline.

Fit on clips of TRAINING subjects (scripts/render_real2d_set.py, ``~/.cache/posemoe/real2d``), checked on the
benchmark's clips of validation subjects (benchmarks/render_gt_clips.py, ``~/.cache/posemoe/gt``), which the fit
never sees. The weights it prints for the shipped limbs are the ones to put in core.keypoints.LIMB_POINT_WEIGHTS; the
wrist is fitted as a candidate only (its weights did not carry over to left-out characters, so it is not shipped).

    python benchmarks/limb_points.py [--fit-dir DIR] [--check-dir DIR] [--lift] [--out FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import fit_and_check_clips, fit_arguments, lifted_per_joint, write_results  # noqa: E402

from core.keypoints import BLAZEPOSE_TO_H36M, LIMB_POINT_WEIGHTS, limb_points  # noqa: E402
from core.skeleton import FLIP_PERM, JOINT_NAMES  # noqa: E402

# Left joint -> neighbour landmarks of its MediaPipe landmark: the shipped limbs, and the wrist as a candidate (the
# elbow, the index and pinky knuckles).
LIMBS: dict[int, tuple[int, ...]] = {**{j: n for j, (n, _) in LIMB_POINT_WEIGHTS.items()}, 13: (13, 19, 17)}


def sides(j: int) -> dict[int, tuple[int, tuple[int, ...]]]:
    """Return both sides of left joint ``j``: H36M joint -> (its landmark, neighbour landmarks)."""
    def mirror(i: int) -> int:
        return i + 1 if i % 2 else i - 1

    base = BLAZEPOSE_TO_H36M[j][0]
    return {j: (base, LIMBS[j]), int(FLIP_PERM[j]): (mirror(base), tuple(mirror(n) for n in LIMBS[j]))}


def made(landmarks: np.ndarray, base: int, neighbours: tuple[int, ...], weights: np.ndarray) -> np.ndarray:
    """Return (T, 2) the landmark ``base`` plus ``weights`` times the vectors from it to ``neighbours``."""
    vectors = landmarks[:, list(neighbours)] - landmarks[:, base, None]
    return landmarks[:, base] + np.einsum("tnd,n->td", vectors, weights)


def fit(clips: list[dict], j: int) -> np.ndarray:
    """Return the least-squares weights of left joint ``j`` and its mirror, errors in cm at the joint's depth."""
    rows, target = [], []
    for c in clips:
        for joint, (base, neighbours) in sides(j).items():
            lm, s = c["landmarks"], c["cm_per_px"][:, joint, None, None]
            vectors = (lm[:, list(neighbours)] - lm[:, base, None]) * s
            rows.append(vectors.transpose(0, 2, 1).reshape(-1, len(neighbours)))  # x rows, then y rows
            target.append(((c["true"][:, joint] - lm[:, base]) * s[:, 0]).reshape(-1))
    return np.linalg.lstsq(np.concatenate(rows), np.concatenate(target), rcond=None)[0]


def errors_cm(clips: list[dict], j: int, weights: np.ndarray) -> tuple[float, float]:
    """Return the mean 2D error (cm) of left joint ``j`` and its mirror: MediaPipe's landmark, and with ``weights``."""
    raw, fitted = [], []
    for c in clips:
        for joint, (base, neighbours) in sides(j).items():
            s = c["cm_per_px"][:, joint]
            raw.append(np.linalg.norm(c["landmarks"][:, base] - c["true"][:, joint], axis=-1) * s)
            fitted.append(np.linalg.norm(made(c["landmarks"], base, neighbours, weights) - c["true"][:, joint],
                                         axis=-1) * s)
    return round(float(np.concatenate(raw).mean()), 2), round(float(np.concatenate(fitted).mean()), 2)


def per_joint_cm(clips: list[dict], rule: str) -> dict[str, float]:
    """Return the mean 2D error (cm) per H36M joint of every joint the limb rule touches, by MediaPipe's landmarks
    ("raw", the pelvis and thorax as their midpoints) or by the shipped weights ("fitted")."""
    table = limb_points()
    errs: dict[int, list[np.ndarray]] = {j: [] for j in (*table, 0, 8)}
    for c in clips:
        lm, pts = c["landmarks"], {}
        for joint, (base, neighbours, weights) in table.items():
            pts[joint] = lm[:, base] if rule == "raw" else made(lm, base, neighbours, np.asarray(weights))
        pts[0], pts[8] = 0.5 * (pts[1] + pts[4]), 0.5 * (pts[11] + pts[14])
        for joint in errs:
            errs[joint].append(np.linalg.norm(pts[joint] - c["true"][:, joint], axis=-1) * c["cm_per_px"][:, joint])
    return {JOINT_NAMES[j]: round(float(np.concatenate(e).mean()), 2) for j, e in sorted(errs.items())}


def main(argv: list[str] | None = None) -> int:
    args = fit_arguments(__doc__, "limb_points.json", argv)
    clips = fit_and_check_clips(args)
    if clips is None:
        return 2
    fit_clips, check_clips = clips
    characters = sorted({c["character"] for c in fit_clips if c["character"]})
    res: dict = {"fit_dir": str(args.fit_dir), "check_dir": str(args.check_dir), "fit_clips": len(fit_clips),
                 "fit_frames": int(sum(len(c["landmarks"]) for c in fit_clips)), "fit_characters": characters,
                 "check_clips": len(check_clips), "check_frames": int(sum(len(c["landmarks"]) for c in check_clips)),
                 "limbs": {}}
    print(f"fit on {res['fit_clips']} clips ({res['fit_frames']} frames), checked on {res['check_clips']} "
          f"({res['check_frames']} frames); 2D error in cm, MediaPipe's landmark -> fitted")
    for j in LIMBS:
        w = fit(fit_clips, j)
        name = JOINT_NAMES[j][2:]
        row = {"neighbours": list(LIMBS[j]), "weights": [round(float(v), 3) for v in w],
               "shipped": j in LIMB_POINT_WEIGHTS, "fit": errors_cm(fit_clips, j, w),
               "check": errors_cm(check_clips, j, w) if check_clips else None, "left_out_character": {}}
        for ch in characters:  # does it carry over to a body (and rig convention) it never saw?
            w_ch = fit([c for c in fit_clips if c["character"] != ch], j)
            row["left_out_character"][ch] = errors_cm([c for c in fit_clips if c["character"] == ch], j, w_ch)
        res["limbs"][name] = row
        better = sum(b < a for a, b in row["left_out_character"].values())
        print(f"{name:9s} weights {row['weights']}  fit {row['fit'][0]:.2f} -> {row['fit'][1]:.2f}  "
              f"check {row['check'][0]:.2f} -> {row['check'][1]:.2f}  better on {better} of {len(characters)} "
              f"left-out characters{'' if row['shipped'] else '  (candidate, not shipped)'}")
    for part, clips in (("fit", fit_clips), ("check", check_clips)):
        if clips:
            res[f"{part}_per_joint_cm"] = {r: per_joint_cm(clips, r) for r in ("raw", "fitted")}
    if args.lift:
        res["lifted_mm"] = lifted_per_joint(args.check_dir, old_rule=(True, False))
        for rule, row in res["lifted_mm"].items():
            print(f"lifted, {'limbs as MediaPipe has them' if rule == 'old' else 'shipped limb weights'}: "
                  f"P-MPJPE {row['overall']:.2f} mm, MPJPE {row['mpjpe']:.2f} over {row['frames']} frames")
    return write_results(args.out, res)


if __name__ == "__main__":
    sys.exit(main())
