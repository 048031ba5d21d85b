"""Measure the whole pipeline, and each run-time 2D step of it, on rendered clips no rule was tuned on (issue 4).

The benchmark's eleven clips (``posemoe bench``) and the training-subject renders are where the run-time steps that
turn MediaPipe's output into the lifter's input were fitted and checked: the head points (docs/model.md section 1b),
the limb points (1c) and the left/right flip checks (1d). This measures them on another set: random clips of
VALIDATION subjects (random take, stretch, character of the five shared bodies, camera yaw and height, portrait or
landscape, background look), made by ``python scripts/render_real2d_set.py --validation --clips 24`` into
``~/.cache/posemoe/real2d_val`` (never committed). Every clip is lifted by the shipped weights and cleaned as
``posemoe capture`` does, with the character's true height given (as a user gives theirs), once per variant:

- ``shipped``: the keypoints as every lifting path makes them now (the lifter's ankles raised from the joint
  centres, core.keypoints.lifter_ankles);
- ``no_flip_check``: the detector's left/right labels as they come (core.side_flips not applied);
- ``mediapipe_limbs``: MediaPipe's hip, knee, ankle, shoulder and elbow landmarks as they are (no limb points, so
  no ankle raise either);
- ``mediapipe_joints``: neither the limb points nor the head points (the rule of 2026-11-25 and before);

and MediaPipe's own world landmarks (``mp_world``, mapped to H36M by the shipped rule, as ``posemoe bench`` does).
Reported per clip and pooled over frames: P-MPJPE, MPJPE (root-relative, at the true height) and acceleration error,
plus on how many clips each step lowers P-MPJPE.

    python benchmarks/held_out_renders.py [--dir DIR] [--weights FILE] [--out FILE]
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
sys.path.insert(0, str(REPO / "benchmarks"))

CACHE = Path.home() / ".cache" / "posemoe"
from head_points import write_results  # noqa: E402

from core.training import characters_dir  # noqa: E402

CHARACTERS = characters_dir()
VARIANTS = {"shipped": (True, True, True), "no_flip_check": (True, True, False),
            "mediapipe_limbs": (True, False, True), "mediapipe_joints": (False, False, True)}
"""Variant -> (fitted head points, fitted limb points, flip check)."""


def variant_keypoints(kp, head: bool, limbs: bool, flips: bool):
    """Return ``kp`` (as read from an extraction, joints by any rule) with its H36M joints made from its MediaPipe
    landmarks by the given rule, and its left/right flips undone or not."""
    from core.keypoints import blazepose_to_h36m_by_rule
    from posemoe_blender.pipeline import sides_unflipped

    lm = np.asarray(kp.extras["mp_landmarks"], np.float32)
    joints, scores = blazepose_to_h36m_by_rule(lm[..., :2], lm[..., 3], head, limbs)
    scores[~kp.valid] = 0.0
    out = replace(kp, joints_2d=joints, scores=scores)
    return sides_unflipped(out) if flips else out


def clip_height(truth) -> float:
    """Return the rendered character's height in metres (its JSON beside the .blend), else 1.75."""
    meta = json.loads(str(truth["meta"])) if "meta" in truth.files else {}
    path = CHARACTERS / f"{meta.get('character')}.json"
    return float(json.loads(path.read_text())["height_m"]) if path.is_file() else 1.75


def measure(folder: Path, weights: Path | None = None) -> dict:
    """Return per-clip and pooled metrics of every variant and of MediaPipe's world landmarks on ``folder``, lifted by
    ``weights`` (default the shipped ones)."""
    import torch

    from core.config import InferenceConfig
    from core.inference import lift_sequence
    from core.keypoints import blazepose_to_h36m, lies_across
    from core.metrics import accel_error, mpjpe, p_mpjpe
    from core.motion_cleanup import clean_motion
    from core.motion_file import read_keypoints
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, load_lifter
    from posemoe_blender.pipeline import lifter_joints

    torch.set_num_threads(2)
    path = Path(weights or DEFAULT_WEIGHTS)
    model, cfg, meta = load_lifter(path, device="cpu")
    raise_by = ankle_raise(meta)
    clips: dict[str, dict] = {}
    for truth_path in sorted(folder.glob("*_truth.npz")):
        name = truth_path.name[: -len("_truth.npz")]
        kp_path = folder / f"{name}_kp.npz"
        if not kp_path.is_file():
            continue  # still rendering: a clip is whole when its keypoints exist
        truth, kp = np.load(truth_path), read_keypoints(kp_path)
        if "mp_landmarks" not in kp.extras or not kp.valid.any():
            continue
        gt = truth["joints_3d"].astype(np.float64)
        gt = gt - gt[:, :1]
        ok = kp.valid  # frames with a person found: lost frames are filled, not measured
        info = json.loads(str(truth["meta"])) if "meta" in truth.files else {}
        row: dict = {"frames": int(ok.sum()), "category": info.get("category"), "character": info.get("character"),
                     "height_m": clip_height(truth)}
        for variant, rule in VARIANTS.items():
            k = variant_keypoints(kp, *rule)
            # Raised ankles go with the joint-centre limb points.
            x = lifter_joints(k, raise_by) if rule[1] else k.joints_2d
            y = lift_sequence(x, k.image_size, model, cfg.window, InferenceConfig(device="cpu"),
                              valid=k.valid, fps=k.fps)
            rel, _, _ = clean_motion(y, k.joints_2d, k.scores, k.valid, k.fps, k.image_size, "medium",
                                     subject_height=row["height_m"], lying_down=lies_across(k.joints_2d, k.valid))
            rel = rel.astype(np.float64)
            row[variant] = {"p_mpjpe_mm": 1000 * p_mpjpe(rel[ok], gt[ok]), "mpjpe_mm": 1000 * mpjpe(rel[ok], gt[ok]),
                            "accel_mm": 1000 * accel_error(rel, gt)}
        mw, _ = blazepose_to_h36m(np.asarray(kp.extras["mp_world"], np.float64))
        mw = mw - mw[:, :1]
        row["mp_world"] = {"p_mpjpe_mm": 1000 * p_mpjpe(mw[ok], gt[ok]), "mpjpe_mm": 1000 * mpjpe(mw[ok], gt[ok]),
                           "accel_mm": 1000 * accel_error(mw, gt)}
        clips[name] = row
        print(f"{name:24s} {str(row['character']):13s} {str(row['category']):9s} "
              + "  ".join(f"{v} {row[v]['p_mpjpe_mm']:5.1f}" for v in (*VARIANTS, "mp_world")), flush=True)
    return {"folder": str(folder), "weights": path.name, "weights_sha256": meta.get("sha256"), "clips": clips,
            "overall": pooled(clips)}


def pooled(clips: dict) -> dict:
    """Return frame-weighted means of each source's metrics, and on how many clips each step lowers P-MPJPE."""
    if not clips:
        return {}
    w = np.array([r["frames"] for r in clips.values()], np.float64)
    out: dict = {"clips": len(clips), "frames": int(w.sum())}
    for source in (*VARIANTS, "mp_world"):
        out[source] = {m: round(float(np.dot(w, [r[source][m] for r in clips.values()]) / w.sum()), 2)
                       for m in ("p_mpjpe_mm", "mpjpe_mm", "accel_mm")}
    p = {s: np.array([r[s]["p_mpjpe_mm"] for r in clips.values()]) for s in (*VARIANTS, "mp_world")}
    out["shipped_better_than"] = {s: f"{int((p['shipped'] < p[s] - 0.05).sum())} of {len(clips)} clips lower, "
                                     f"{int((p['shipped'] > p[s] + 0.05).sum())} higher"
                                  for s in (*VARIANTS, "mp_world") if s != "shipped"}
    out["shipped_below_mp_world_pct"] = round(100 * (1 - out["shipped"]["p_mpjpe_mm"]
                                                      / out["mp_world"]["p_mpjpe_mm"]), 1)
    return out


def no_clips(folder: Path) -> int:
    """Say that ``folder`` holds no measurable render and how to make some; return the exit code 2."""
    print(f"no clip with _truth.npz and _kp.npz in {folder}; make them with "
          "python scripts/render_real2d_set.py --validation --clips 24", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=CACHE / "real2d_val", help="rendered clips (<name>.mp4, _truth.npz, "
                    "_kp.npz)")
    ap.add_argument("--weights", type=Path, help="lifter weights (default: the shipped ones)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "held_out_renders.json")
    a = ap.parse_args(argv)
    res = measure(a.dir, a.weights)
    if not res["clips"]:
        return no_clips(a.dir)
    o = res["overall"]
    print(f"overall, {o['clips']} clips, {o['frames']} frames (P-MPJPE / MPJPE / accel, mm):")
    for s in (*VARIANTS, "mp_world"):
        print(f"  {s:17s} {o[s]['p_mpjpe_mm']:6.2f} {o[s]['mpjpe_mm']:7.2f} {o[s]['accel_mm']:6.2f}"
              + (f"   shipped: {o['shipped_better_than'][s]}" if s != "shipped" else ""))
    print(f"shipped P-MPJPE {o['shipped_below_mp_world_pct']} % below MediaPipe's world landmarks")
    return write_results(a.out, res)


if __name__ == "__main__":
    sys.exit(main())
