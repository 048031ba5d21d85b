"""Fit and check how the nose and head top are made from MediaPipe's face landmarks (issue 4, detector gap).

The lifter learnt the nose and head top of core.datasets: fixed points in the head frame. MediaPipe has a nose tip
but no head top, and its nose tip is not that point either. Until 2026-11-26 the run-time rule was the nose tip and
eyes + 1.6 x (eyes - mouth), a guess at the face's proportions. This fits instead each point as the eye midpoint plus
a weighted sum of three face vectors (core.keypoints.face_vectors), by least squares in centimetres at the point's
true depth, on clips whose true points are known, and reports the error of both rules per clip.

Fit on clips of TRAINING subjects (scripts/render_real2d_set.py, ``~/.cache/posemoe/real2d``), checked on the
benchmark's clips of validation subjects (benchmarks/render_gt_clips.py, ``~/.cache/posemoe/gt``), which the fit
never sees. The weights it prints are the ones to put in core.keypoints.HEAD_POINT_WEIGHTS.

With ``--lift`` it also lifts the check clips through the whole pipeline (v4, the clean-up of ``posemoe bench``)
with each rule and reports P-MPJPE per joint, pooled over every frame.

    python benchmarks/head_points.py [--fit-dir DIR] [--check-dir DIR] [--lift] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.keypoints import HEAD_POINT_WEIGHTS, face_vectors, old_head_points  # noqa: E402

CACHE = Path.home() / ".cache" / "posemoe"
POINTS = {"nose": 9, "head_top": 10}
HEAD = list(POINTS.values())


def load_clips(folder: Path) -> list[dict]:
    """Return each clip of ``folder`` with both ``<name>_truth.npz`` and ``<name>_kp.npz``: its valid frames'
    MediaPipe landmarks (T, 33, 2) px, true H36M joints (T, 17, 2) px and cm per px at their depth (T, 17)."""
    clips = []
    for truth_path in sorted(Path(folder).glob("*_truth.npz")):
        name = truth_path.name[: -len("_truth.npz")]
        kp_path = truth_path.with_name(f"{name}_kp.npz")
        if not kp_path.is_file():
            continue
        truth, kp = np.load(truth_path), np.load(kp_path)
        ok = np.asarray(kp["valid"], bool) & np.isfinite(kp["mp_landmarks"]).all(axis=(1, 2))
        depth = truth["joints_3d"][..., 2].astype(np.float64)
        meta = json.loads(str(truth["meta"])) if "meta" in truth.files else {}
        clips.append({"name": name, "character": meta.get("character"),
                      "landmarks": kp["mp_landmarks"][ok, :, :2].astype(np.float64),
                      "true": truth["joints_2d"][ok].astype(np.float64),
                      "cm_per_px": (depth / float(truth["intrinsics"][0, 0]) * 100.0)[ok]})
    return clips


def weighted_rule(landmarks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return (T, 2, 2) nose and head top as eyes + weights (2, 3) . face vectors."""
    eyes, vectors = face_vectors(landmarks)
    return eyes[:, None] + np.einsum("tfd,pf->tpd", vectors, weights)


def fit(clips: list[dict]) -> np.ndarray:
    """Return (2, 3) least-squares weights of the nose and head top, errors counted in cm at the point's depth."""
    weights = []
    for p in POINTS.values():
        rows, target = [], []
        for c in clips:
            eyes, vectors = face_vectors(c["landmarks"])
            s = c["cm_per_px"][:, p, None, None]
            rows.append((vectors * s).transpose(0, 2, 1).reshape(-1, vectors.shape[1]))  # x rows, then y rows
            target.append(((c["true"][:, p] - eyes) * s[:, 0]).reshape(-1))
        weights.append(np.linalg.lstsq(np.concatenate(rows), np.concatenate(target), rcond=None)[0])
    return np.stack(weights)


def errors_cm(clips: list[dict], weights: np.ndarray) -> dict:
    """Return per clip and overall the mean error in cm of each point, by the old rule and by ``weights``."""
    out, pooled = {}, {"old": [], "new": []}
    for c in clips:
        row = {"frames": len(c["landmarks"])}
        for rule, made in (("old", old_head_points(c["landmarks"])), ("new", weighted_rule(c["landmarks"], weights))):
            e = np.linalg.norm(made - c["true"][:, HEAD], axis=-1) * c["cm_per_px"][:, HEAD]
            pooled[rule].append(e)
            row[rule] = {p: round(float(e[:, i].mean()), 2) for i, p in enumerate(POINTS)}
        out[c["name"]] = row
    overall = {rule: {p: round(float(np.concatenate(e)[:, i].mean()), 2) for i, p in enumerate(POINTS)}
               for rule, e in pooled.items() if e}
    return {"clips": out, "overall": overall}


def lifted_per_joint(check_dir: Path, old_rule: tuple[bool, bool] = (False, True)) -> dict:
    """Return P-MPJPE and MPJPE (mm) per joint and overall of the benchmark's clips in ``check_dir`` lifted and
    cleaned as ``posemoe bench`` does, with the H36M joints made by the current rule ("new") and by ``old_rule``
    ("old": fitted head points, fitted limb points, as core.keypoints.blazepose_to_h36m_by_rule takes them)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench
    import torch

    from core.config import InferenceConfig
    from core.inference import lift_sequence
    from core.keypoints import blazepose_to_h36m_by_rule
    from core.metrics import procrustes_align
    from core.skeleton import JOINT_NAMES
    from core.weights import DEFAULT_WEIGHTS, load_lifter
    from posemoe_blender.pipeline import sides_unflipped

    torch.set_num_threads(2)
    model, cfg, _ = load_lifter(DEFAULT_WEIGHTS, device="cpu")
    errors: dict[str, dict[str, list[np.ndarray]]] = {r: {"p": [], "m": []} for r in ("old", "new")}
    for c in bench.gt_clips(check_dir, quick=False, render=False):
        truth = np.load(c["truth"])
        gt = truth["joints_3d"].astype(np.float64)
        gt = gt - gt[:, :1]
        new = bench.keypoints(c["video"], check_dir)
        old = replace(new, joints_2d=new.joints_2d.copy())
        lm = np.asarray(new.extras["mp_landmarks"])[new.valid]
        old.joints_2d[new.valid] = blazepose_to_h36m_by_rule(lm[..., :2], lm[..., 3], *old_rule)[0]
        old = sides_unflipped(old)  # as bench.keypoints does for the new rule: only the rule differs
        for rule, kp in (("old", old), ("new", new)):
            y = lift_sequence(kp.joints_2d, kp.image_size, model, cfg.window, InferenceConfig(device="cpu"),
                              valid=kp.valid, fps=kp.fps)
            rel, _ = bench._cleaned(y, kp, float(truth["fps"]), False, c["truth"])
            errors[rule]["p"].append(np.linalg.norm(procrustes_align(rel, gt) - gt, axis=-1) * 1000.0)
            errors[rule]["m"].append(np.linalg.norm(rel - gt, axis=-1) * 1000.0)
    out = {}
    for rule, e in errors.items():
        p, m = np.concatenate(e["p"]), np.concatenate(e["m"])
        out[rule] = {"overall": round(float(p.mean()), 2), "mpjpe": round(float(m.mean()), 2), "frames": len(p),
                     **{j: round(float(p[:, i].mean()), 1) for i, j in enumerate(JOINT_NAMES)}}
    return out


def fit_arguments(doc: str, out_name: str, argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed options shared by the fits of how joints are made from landmarks (this and limb_points.py)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--fit-dir", type=Path, default=CACHE / "real2d", help="clips of training subjects to fit on")
    ap.add_argument("--check-dir", type=Path, default=CACHE / "gt", help="clips of validation subjects to check on")
    ap.add_argument("--lift", action="store_true", help="also lift the check clips by the old and new rule (minutes)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / out_name)
    return ap.parse_args(argv)


def fit_and_check_clips(args: argparse.Namespace) -> tuple[list[dict], list[dict]] | None:
    """Return the clips to fit on and to check on, or None (having said what to do) when there are none to fit on."""
    fit_clips, check_clips = load_clips(args.fit_dir), load_clips(args.check_dir)
    if not fit_clips:
        print(f"no clip with _truth.npz and _kp.npz in {args.fit_dir}; make some with "
              "scripts/render_real2d_set.py --clips 10", file=sys.stderr)
        return None
    return fit_clips, check_clips


def write_results(out: Path, res: dict) -> int:
    """Write ``res`` as JSON to ``out``, say where, and return the exit code 0."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = fit_arguments(__doc__, "head_points.json", argv)
    clips = fit_and_check_clips(args)
    if clips is None:
        return 2
    fit_clips, check_clips = clips
    weights = fit(fit_clips)
    shipped = np.array([HEAD_POINT_WEIGHTS[j] for j in POINTS.values()])
    res = {"fit_dir": str(args.fit_dir), "check_dir": str(args.check_dir),
           "fit_clips": len(fit_clips), "fit_frames": int(sum(len(c["landmarks"]) for c in fit_clips)),
           "fit_characters": sorted({c["character"] for c in fit_clips if c["character"]}),
           "check_clips": len(check_clips), "check_frames": int(sum(len(c["landmarks"]) for c in check_clips)),
           "weights": {p: [round(float(v), 3) for v in w] for p, w in zip(POINTS, weights, strict=True)},
           "shipped_weights": {p: list(w) for p, w in zip(POINTS, shipped, strict=True)},
           "fit": errors_cm(fit_clips, weights), "check": errors_cm(check_clips, weights),
           "check_shipped": errors_cm(check_clips, shipped)}
    for part in ("fit", "check"):
        for name, row in res[part]["clips"].items():
            print(f"{part:5s} {name:28s} nose {row['old']['nose']:5.2f} -> {row['new']['nose']:5.2f}  "
                  f"head top {row['old']['head_top']:5.2f} -> {row['new']['head_top']:5.2f} cm")
        if res[part]["overall"]:
            o = res[part]["overall"]
            print(f"{part:5s} {'overall':28s} nose {o['old']['nose']:5.2f} -> {o['new']['nose']:5.2f}  "
                  f"head top {o['old']['head_top']:5.2f} -> {o['new']['head_top']:5.2f} cm")
    print("weights (mouth, nose tip, ears):", json.dumps(res["weights"]))
    if args.lift:
        res["lifted_p_mpjpe_mm"] = lifted_per_joint(args.check_dir)
        for rule, row in res["lifted_p_mpjpe_mm"].items():
            print(f"lifted, {rule} rule: P-MPJPE {row['overall']:.2f} mm over {row['frames']} frames; "
                  f"nose {row['neck']:.1f}, head top {row['head']:.1f}")
    return write_results(args.out, res)


if __name__ == "__main__":
    sys.exit(main())
