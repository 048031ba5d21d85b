"""Where does the lifter's error on real detector 2D come from (issue 4)? Measured on rendered clips with truth.

On renders (``scripts/render_real2d_set.py``: clips of CMU motion on the five shared bodies with MediaPipe's
keypoints and the true joints beside them) every clip is lifted and cleaned as ``posemoe capture`` does (the true
height given, as held_out_renders.py does), from:

- ``shipped``: the keypoints as every lifting path makes them;
- ``true_2d``: the true joints projected by the true camera (a perfect detector);
- ``oracle <group>``: the shipped keypoints with one joint group (hips, knees, ...) replaced by the truth;
- ``bias`` / ``slow`` / ``fast``: the true 2D plus one part of the detector's error (keypoints minus truth): its
  per-clip constant offset, what is left smoothed over ``SLOW_S`` (a Gaussian's std), and the rest;
  ``shipped_minus_bias`` / ``shipped_minus_fast``: the keypoints with that part taken out.

P-MPJPE is pooled over frames. ``--error-stats`` prints the same three parts' size per joint (% of body height, at
the clip's scale), on the folder given: on renders of training subjects it is where core.synthetic.DRIFT_PROFILE
comes from. ``--body-frame TRAIN_DIR`` asks whether what is left is a constant offset in the body's own frame
(the torso's, or the limb's), fitted per joint on TRAIN_DIR's renders and measured on the folder (with the true 3D:
an upper bound for a second pass that would take it out using the lifted 3D). ``--finetune STEPS --drift-max A B
...`` fine-tunes the shipped lifter on synthetic windows (benchmarks/finetune_real2d.py's recipe) once per drift
size (0 = the control) and measures each through the whole pipeline on the folder and on the synthetic validation
windows. JSON in benchmarks/results/real2d_gap.json
(fine-tunes: real2d_gap_finetune.json; body frame: real2d_gap_body_frame.json).

    python benchmarks/real2d_gap.py [--dir DIR] [--error-stats] [--body-frame TRAIN_DIR]
                                    [--finetune STEPS --drift-max 0 0.02 0.008]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402
from held_out_renders import CACHE, clip_height, variant_keypoints  # noqa: E402

GROUPS = {"hips": [1, 4], "knees": [2, 5], "ankles": [3, 6], "shoulders": [11, 14], "elbows": [12, 15],
          "wrists": [13, 16], "head": [9, 10]}
SLOW_S = 0.1
"""Std of the Gaussian that splits the detector's error into slow and fast parts, seconds (3 frames at 30/s)."""


def load_clips(folder: Path) -> list[dict]:
    """Return each rendered clip of ``folder``: name, keypoints as shipped (``kp``), true 2D and root-relative 3D,
    frames with a person (``ok``), the body's height."""
    from core.motion_file import read_keypoints

    out = []
    for truth_path in sorted(folder.glob("*_truth.npz")):
        kp_path = truth_path.with_name(truth_path.name[: -len("_truth.npz")] + "_kp.npz")
        if not kp_path.is_file():
            continue
        truth, kp = np.load(truth_path), read_keypoints(kp_path)
        if "mp_landmarks" not in kp.extras or kp.valid.sum() < 2:
            continue
        gt = truth["joints_3d"].astype(np.float64)
        out.append({"name": kp_path.name[: -len("_kp.npz")], "kp": variant_keypoints(kp, True, True, True),
                    "true_2d": truth["joints_2d"].astype(np.float64), "gt": gt - gt[:, :1], "camera_3d": gt,
                    "intrinsics": truth["intrinsics"].astype(np.float64) if "intrinsics" in truth.files else None,
                    "ok": kp.valid, "height_m": clip_height(truth)})
    return out


def clips_or_hint(folder: Path) -> list[dict]:
    """Return :func:`load_clips` of ``folder``; where it has none, say on stderr how to make them (an empty list)."""
    clips = load_clips(folder)
    if not clips:
        print(f"no clip with _truth.npz and _kp.npz in {folder}; make them with "
              "python scripts/render_real2d_set.py --validation --clips 24", file=sys.stderr)
    return clips


def error_parts(c: dict) -> dict[str, np.ndarray]:
    """Return the detector's 2D error on clip ``c`` (pixels, (T,17,2)) split into bias, slow and fast parts."""
    from scipy.ndimage import gaussian_filter1d

    ok = c["ok"]
    e = c["kp"].joints_2d.astype(np.float64) - c["true_2d"]
    bias = e[ok].mean(axis=0)
    frames = np.arange(len(e))
    seen = np.stack([np.interp(frames, frames[ok], e[ok, j, k]) for j in range(17) for k in range(2)], -1)
    # frames without a person (filled, not measured) must not leak into their neighbours' slow part
    slow = gaussian_filter1d(seen.reshape(e.shape) - bias, SLOW_S * c["kp"].fps, axis=0, mode="nearest")
    return {"bias": np.broadcast_to(bias, e.shape), "slow": slow, "fast": e - bias - slow}


def lifted_p_mpjpe(c: dict, joints_2d: np.ndarray, model, cfg, raise_by: float) -> float:
    """Return P-MPJPE (mm) over ``c``'s frames with a person of ``joints_2d`` (joint centres) lifted and cleaned as
    capture does."""
    from core.config import InferenceConfig
    from core.inference import lift_sequence
    from core.keypoints import lifter_ankles
    from core.metrics import p_mpjpe
    from core.motion_cleanup import clean_motion

    kp, x = c["kp"], joints_2d.astype(np.float32)
    y = lift_sequence(lifter_ankles(x, raise_by), kp.image_size, model, cfg.window, InferenceConfig(device="cpu"),
                      valid=kp.valid, fps=kp.fps)
    rel, _, _ = clean_motion(y, x, kp.scores, kp.valid, kp.fps, kp.image_size, "medium", subject_height=c["height_m"])
    ok = c["ok"]
    return 1000 * p_mpjpe(rel.astype(np.float64)[ok], c["gt"][ok])


def measure(clips: list[dict], weights: Path | None = None) -> dict:
    """Return per-clip and pooled P-MPJPE of every input variant (module docstring) lifted by ``weights``."""
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, load_lifter

    model, cfg, meta = load_lifter(Path(weights or DEFAULT_WEIGHTS), device="cpu")
    raise_by = ankle_raise(meta)
    rows = {}
    for c in clips:
        shipped, true = c["kp"].joints_2d.astype(np.float64), c["true_2d"]
        parts = error_parts(c)
        inputs = {"shipped": shipped, "true_2d": true}
        for g, idx in GROUPS.items():
            x = shipped.copy()
            x[:, idx] = true[:, idx]
            inputs[f"oracle {g}"] = x
        inputs |= {part: true + parts[part] for part in ("bias", "slow", "fast")}
        inputs |= {"shipped_minus_bias": shipped - parts["bias"], "shipped_minus_fast": shipped - parts["fast"]}
        rows[c["name"]] = {"frames": int(c["ok"].sum())} | {
            k: round(lifted_p_mpjpe(c, x, model, cfg, raise_by), 2) for k, x in inputs.items()}
        print(f"{c['name']:24s} shipped {rows[c['name']]['shipped']:6.1f}  true 2D {rows[c['name']]['true_2d']:6.1f}",
              flush=True)
    w = np.array([r["frames"] for r in rows.values()], np.float64)
    keys = [k for k in next(iter(rows.values())) if k != "frames"]
    pooled = {k: round(float(np.dot(w, [r[k] for r in rows.values()]) / w.sum()), 2) for k in keys}
    return {"weights": Path(weights or DEFAULT_WEIGHTS).name, "weights_sha256": meta.get("sha256"), "clips": rows,
            "pooled_p_mpjpe_mm": pooled, "frames": int(w.sum())}


def error_stats(clips: list[dict]) -> dict:
    """Return the RMS size of each part of the detector's error per joint, % of body height (the clip's true 2D
    height in pixels), averaged over clips."""
    from core.skeleton import JOINT_NAMES

    sums: dict[str, list[np.ndarray]] = {"bias": [], "slow": [], "fast": []}
    for c in clips:
        ok = c["ok"]
        if ok.sum() < 30:
            continue
        height = float(np.mean(np.ptp(c["true_2d"][ok, :, 1], axis=1)))
        for part, e in error_parts(c).items():
            sums[part].append(100 * np.sqrt((e[ok] ** 2).sum(-1).mean(0)) / height)
    return {part: dict(zip(JOINT_NAMES, np.round(np.mean(v, axis=0), 2).tolist(), strict=True))
            for part, v in sums.items()}


BODY_FRAME_JOINTS = {"hip": (1, 4), "knee": (2, 5), "ankle": (3, 6), "shoulder": (14, 11), "elbow": (15, 12),
                     "wrist": (16, 13), "pelvis": (0, None), "thorax": (8, None), "nose": (9, None), "head": (10, None)}
"""Joint (right, left) pairs fitted with one offset, the left one mirrored; single joints alone."""
LIMB_AXIS = {1: (1, 2), 2: (1, 2), 3: (2, 3), 4: (4, 5), 5: (4, 5), 6: (5, 6), 11: (11, 12), 12: (11, 12),
             13: (12, 13), 14: (14, 15), 15: (14, 15), 16: (15, 16)}
"""Joint -> the bone (from, to) whose direction is its limb frame's axis."""


def _body_frame_rows(c: dict, j: int, mirror: bool, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (A (2n, 3), b (2n,)): how an offset (outwards, up, forward) x height in the torso's or the limb's frame
    moves joint ``j`` in the image (the projection's Jacobian at the true joint; ``mirror`` for a left joint, so
    that one offset fits both sides), and the joint's 2D error over ``c``'s frames, both in units of the body's
    height at the joint's depth."""
    x3, k = c["camera_3d"][c["ok"]], c["intrinsics"]
    right = x3[:, 1] - x3[:, 4]
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    top, end = (8, 0) if frame == "torso" or j not in LIMB_AXIS else LIMB_AXIS[j]
    up = x3[:, top] - x3[:, end]
    up = up - (up * right).sum(-1, keepdims=True) * right
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    forward = np.cross(up, right)  # camera axes are right-handed: up x the body's right = where it faces
    axes = np.stack([right * (-1 if mirror else 1), up, forward], -1)  # (n, 3, 3) columns
    x, y, z = x3[:, j].T
    jac = np.zeros((len(x3), 2, 3))
    jac[:, 0, 0], jac[:, 0, 2] = k[0, 0] / z, -k[0, 0] * x / z**2
    jac[:, 1, 1], jac[:, 1, 2] = k[1, 1] / z, -k[1, 1] * y / z**2
    unit = (k[0, 0] / z)[:, None] * c["height_m"]  # pixels per body height at the joint's depth
    err = (c["kp"].joints_2d[c["ok"], j] - c["true_2d"][c["ok"], j]) / unit
    return (jac @ axes * c["height_m"] / unit[..., None]).reshape(-1, 3), err.reshape(-1)


def body_frame_offsets(train: list[dict], test: list[dict]) -> dict:
    """Return, per joint and frame (torso, limb), the offset fitted on ``train`` (% of height) and the RMS 2D error
    (% of height) on both sets before and after taking it out."""
    out: dict = {}
    for frame in ("torso", "limb"):
        for name, (jr, jl) in BODY_FRAME_JOINTS.items():
            sides = [(j, m) for j, m in ((jr, False), (jl, True)) if j is not None]
            a, b = zip(*(_body_frame_rows(c, j, m, frame) for c in train for j, m in sides), strict=True)
            offset = np.linalg.lstsq(np.concatenate(a), np.concatenate(b), rcond=None)[0]
            row = {"offset_pct": np.round(100 * offset, 2).tolist()}
            for tag, clips in (("fit", train), ("held_out", test)):
                rows = [_body_frame_rows(c, j, m, frame) for c in clips for j, m in sides]
                before = np.concatenate([r[1] for r in rows])
                after = np.concatenate([r[1] - r[0] @ offset for r in rows])
                row[tag] = [round(float(100 * np.sqrt(2 * np.mean(v**2))), 2) for v in (before, after)]
            out[f"{frame} {name}"] = row
            print(f"{frame:5s} {name:8s} offset {row['offset_pct']} % of height; RMS error fit {row['fit'][0]:.2f} -> "
                  f"{row['fit'][1]:.2f}, held out {row['held_out'][0]:.2f} -> {row['held_out'][1]:.2f}", flush=True)
    return out


def finetune(clips: list[dict], steps: int, drifts: list[float], seed: int, drift_s: float = 0.1) -> dict:
    """Return, per drift size, the whole pipeline's pooled P-MPJPE on ``clips`` and the synthetic validation of the
    shipped lifter fine-tuned ``steps`` steps with that drift (finetune_real2d.fine_tune's recipe)."""
    from finetune_real2d import fine_tune, synthetic_val

    from core.weights import DEFAULT_WEIGHTS, read_meta, save_weights

    out = {"steps": steps, "seed": seed, "drift_s": drift_s, "runs": {}}
    meta = read_meta(DEFAULT_WEIGHTS)
    with tempfile.TemporaryDirectory() as tmp:
        for drift in drifts:
            t0 = time.monotonic()
            model, mcfg = fine_tune(DEFAULT_WEIGHTS, [], steps, 5e-5, 96, 0, seed, drift_max=drift, drift_s=drift_s)
            train_cfg = dict(meta.get("train_config", {}))
            train_cfg["augment"] = {**train_cfg.get("augment", {}), "drift_max": drift, "drift_s": drift_s}
            path = save_weights(model, mcfg, Path(tmp) / f"drift_{drift:g}.safetensors", {"train_config": train_cfg})
            res = measure(clips, path)
            out["runs"][f"drift_max {drift:g}"] = {"pipeline_p_mpjpe_mm": res["pooled_p_mpjpe_mm"]["shipped"],
                                                   "synthetic_val": synthetic_val(model, mcfg.window),
                                                   "minutes": round((time.monotonic() - t0) / 60, 1)}
            print(f"drift_max {drift:g}: {out['runs'][f'drift_max {drift:g}']}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=CACHE / "real2d_val", help="rendered clips (<name>_truth.npz, _kp.npz)")
    ap.add_argument("--weights", type=Path, help="lifter weights (default: the shipped ones)")
    ap.add_argument("--error-stats", action="store_true", help="print the error's parts per joint, nothing lifted")
    ap.add_argument("--body-frame", type=Path, metavar="TRAIN_DIR", help="fit body-frame offsets on these renders")
    ap.add_argument("--finetune", type=int, default=0, metavar="STEPS", help="fine-tune runs of this many steps")
    ap.add_argument("--drift-max", type=float, nargs="+", default=[0.0, 0.02], help="drift sizes to fine-tune with")
    ap.add_argument("--drift-s", type=float, default=0.1, help="the drift's smoothing std, seconds")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, help="JSON (default benchmarks/results/real2d_gap[_finetune].json)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the clean-up's warnings about each render are not the point here
    torch.set_num_threads(2)
    clips = clips_or_hint(a.dir)
    if not clips:
        return 2
    if a.error_stats:
        stats = error_stats(clips)
        for part, row in stats.items():
            print(f"{part:5s} mean {np.mean(list(row.values())):.2f} % of height: "
                  + " ".join(f"{k} {v:.2f}" for k, v in row.items()))
        return 0
    if a.body_frame:
        train = [c for c in load_clips(a.body_frame) if c["intrinsics"] is not None]
        res = body_frame_offsets(train, [c for c in clips if c["intrinsics"] is not None])
        return write_results(a.out or REPO / "benchmarks" / "results" / "real2d_gap_body_frame.json",
                             {"fit_folder": str(a.body_frame), "folder": str(a.dir), "rms_error_pct": res})
    if a.finetune:
        res = finetune(clips, a.finetune, a.drift_max, a.seed, a.drift_s)
        return write_results(a.out or REPO / "benchmarks" / "results" / "real2d_gap_finetune.json",
                             {"folder": str(a.dir)} | res)
    res = measure(clips, a.weights)
    print(f"pooled P-MPJPE, {len(clips)} clips, {res['frames']} frames (mm):")
    for k, v in res["pooled_p_mpjpe_mm"].items():
        print(f"  {k:20s} {v:6.2f}")
    return write_results(a.out or REPO / "benchmarks" / "results" / "real2d_gap.json", {"folder": str(a.dir)} | res)


if __name__ == "__main__":
    sys.exit(main())
