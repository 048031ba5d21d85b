"""Clips shorter than the lifter's window: lifted whole vs edge-padded to the window (core.inference._short_clip).

The temporal MLP's window is 81 frames (2.7 s at 30 fps); phone clips, a shot of an edited video or one interleaved
stream of a fast clip (core.inference.rate_plan) are often shorter. Edge-padded, the lifter sees the person hold
still before and after the clip, which no training window showed it; the temporal MLP takes any length, so such a
clip can be lifted as it is. This measures both, flip augmentation on:

- synthetic validation (held-out subjects, shared bodies, the detector-gap 2D noise, as ``posemoe eval``) in clips
  of each ``--lengths`` frames; and, for ``--long`` lengths, a long clip lifted whole against the sliding windows
  the product uses (to see whether long clips would gain from being lifted whole too);
- real MediaPipe 2D of the rendered clips under a window long in ``--dirs`` (``scripts/render_real2d_set.py
  --validation``, ``benchmarks/render_gt_clips.py``), raw lifter as ``posemoe capture`` lifts (limb and head points,
  flips undone, the clip's rate), pooled over frames.

Metrics in mm (MPJVE mm/frame, accel mm/frame^2). JSON in benchmarks/results/short_clips.json (docs/model.md, 2c).

    python benchmarks/short_clips.py [--weights W] [--lengths 21 31 45 59 75] [--long 120 243] [--windows 600]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402

CACHE = Path.home() / ".cache" / "posemoe"
KEYS = ("mpjpe_mm", "p_mpjpe_mm", "h_mpjpe_mm", "mpjve_mm", "accel_mm")


@contextmanager
def short_clips_lifted(model, whole: bool) -> Iterator[None]:  # noqa: ANN001
    """Within the block, ``model`` (this instance only) lifts a clip under a window whole, or (``whole`` False)
    edge-padded to the window as before 2026-11-27 (core.inference._short_clip reads ``model.any_length``)."""
    model.any_length = whole
    try:
        yield
    finally:
        del model.any_length


def lift(model, clips: np.ndarray, window: int, whole: bool) -> np.ndarray:  # noqa: ANN001
    """Return the product's lift (core.inference.lift_many, flip augmentation) of normalised 2D clips (N, T, 17, 2),
    short ones whole or edge-padded (:func:`short_clips_lifted`)."""
    from core.config import InferenceConfig
    from core.inference import lift_many

    with short_clips_lifted(model, whole):
        return np.stack(lift_many(model, list(np.asarray(clips, np.float32)), window, InferenceConfig(device="cpu")))


def synthetic(weights: Path, lengths: list[int], long: list[int], windows: int) -> dict:
    """Return {length: {"whole": metrics, "padded" or "sliding": metrics, "clips": n}} on synthetic validation."""
    import core.training as training

    out = {}
    for t in [*lengths, *long]:
        run = training.validation_predictions(weights, max_windows=windows, window=t)  # lifted whole
        x, y, window = run.windows.x, run.windows.y, run.model_cfg.window
        other, name = lift(run.model, x, window, whole=False), "padded" if t < window else "sliding"
        out[str(t)] = {"clips": int(len(x)), "whole": training.all_metrics(run.pred, y),
                       name: training.all_metrics(other, y)}
        r = out[str(t)]
        print(f"synthetic, {t} frames, {len(x)} clips ({name} -> whole): "
              + "  ".join(f"{k} {r[name][k]:.2f} -> {r['whole'][k]:.2f}" for k in KEYS), flush=True)
    return out


def rendered(weights: Path, dirs: list[Path]) -> dict:
    """Return per-clip and pooled raw-lifter metrics, padded vs whole, of the renders shorter than a window."""
    from core.inference import lift_sequence
    from core.metrics import accel_error, mpjpe, p_mpjpe
    from core.motion_file import read_keypoints
    from core.weights import ankle_raise, load_lifter
    from posemoe_blender.pipeline import lifter_joints, sides_unflipped

    model, cfg, meta = load_lifter(weights)
    clips, sums = {}, {m: np.zeros(3) for m in ("padded", "whole")}
    frames = 0
    for folder in dirs:
        for kp_file in sorted(folder.glob("*_kp.npz")):
            truth_file = kp_file.with_name(kp_file.name.replace("_kp.npz", "_truth.npz"))
            kp = sides_unflipped(read_keypoints(kp_file))
            if not truth_file.exists() or len(kp.joints_2d) >= cfg.window:
                continue
            gt = np.load(truth_file)["joints_3d"].astype(np.float64)
            gt = gt - gt[:, :1]
            x = lifter_joints(kp, ankle_raise(meta))
            row = {"frames": len(gt)}
            for mode in ("padded", "whole"):
                with short_clips_lifted(model, mode == "whole"):
                    y = lift_sequence(x, kp.image_size, model, cfg.window, valid=kp.valid, fps=kp.fps)
                y = y.astype(np.float64)
                m = np.array([1000 * p_mpjpe(y, gt), 1000 * mpjpe(y, gt), 1000 * accel_error(y, gt)])
                row[mode] = dict(zip(("p_mpjpe_mm", "mpjpe_mm", "accel_mm"), np.round(m, 3).tolist(), strict=True))
                sums[mode] += m * len(gt)
            frames += len(gt)
            clips[f"{folder.name}/{kp_file.name[:-7]}"] = row
            print(f"{folder.name}/{kp_file.name[:-7]} ({len(gt)} frames) P-MPJPE {row['padded']['p_mpjpe_mm']:.2f} -> "
                  f"{row['whole']['p_mpjpe_mm']:.2f}", flush=True)
    if not clips:
        return {"clips": {}}
    pooled = {m: dict(zip(("p_mpjpe_mm", "mpjpe_mm", "accel_mm"), np.round(s / frames, 3).tolist(), strict=True))
              for m, s in sums.items()}
    better = sum(r["whole"]["p_mpjpe_mm"] < r["padded"]["p_mpjpe_mm"] for r in clips.values())
    print(f"renders: {len(clips)} clips, {frames} frames, P-MPJPE {pooled['padded']['p_mpjpe_mm']:.2f} -> "
          f"{pooled['whole']['p_mpjpe_mm']:.2f}, MPJPE {pooled['padded']['mpjpe_mm']:.2f} -> "
          f"{pooled['whole']['mpjpe_mm']:.2f}; whole lower on {better} of {len(clips)}")
    return {"clips": clips, "pooled": pooled, "frames": frames, "whole_lower_p_mpjpe": better}


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--lengths", type=int, nargs="*", default=[21, 31, 45, 59, 75])
    p.add_argument("--long", type=int, nargs="*", default=[120, 243])
    p.add_argument("--windows", type=int, default=600, help="synthetic validation clips per length (at most)")
    p.add_argument("--dirs", type=Path, nargs="*", default=[CACHE / "real2d_val", CACHE / "gt"])
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "short_clips.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    out = {"weights": a.weights.name, "synthetic": synthetic(a.weights, a.lengths, a.long, a.windows),
           "rendered": rendered(a.weights, [d for d in a.dirs if d.is_dir()])}
    return write_results(a.json, out)


if __name__ == "__main__":
    raise SystemExit(main())
