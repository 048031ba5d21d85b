"""How far can MPJPE fall without the subject's size? (issue 4: MPJPE <= 45 mm without the height.)

One view cannot tell a small body near the camera from a tall one further away, and the validation set
re-poses the held-out subjects on five bodies of 1.22-1.80 m, each drawn at x U(0.92, 1.08). This splits a
lifter's validation MPJPE into its pose and its size, and prints what lifters that see size differently
would score (mm, root-relative, no alignment, as ``posemoe eval``'s MPJPE):

- ``lifter``: as it is;
- ``lifter_pose_size_known``: the lifter's pose at the true size (= H-MPJPE);
- ``true_pose_lifter_size``: the true pose at the lifter's size, i.e. what its size error alone costs;
- ``true_pose_one_size``: the true pose at the one size that suits all windows best (a lifter that sees no
  size at all but poses perfectly);
- ``lifter_pose_body_known``: the lifter's pose at the true size times a fresh U(0.92, 1.08) draw, i.e. a lifter
  that recognises each body perfectly but, like any lifter, cannot see the validation's global x0.92-1.08 draw
  (mean of ``--draws`` seeded draws).

Size is :func:`core.world.stature` per window (robust segment lengths, as H-MPJPE uses).
JSON in benchmarks/results/scale_floor.json (docs/model.md, section 3).

    python benchmarks/scale_floor.py [--weights W] [--window 27] [--max-windows 0] [--draws 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GLOBAL_SCALE = (0.92, 1.08)
"""core.bodies.sample_bodies' global scale draw"""


def statures(windows: np.ndarray) -> np.ndarray:
    """Return (N,) statures of root-relative windows (N, T, 17, 3)."""
    from core.world import stature

    return np.array([stature(w) for w in np.asarray(windows, np.float64)])


def scale_floor(pred: np.ndarray, gt: np.ndarray, draws: int = 5, seed: int = 0) -> dict[str, float]:
    """Return the module's MPJPE figures (mm, for metre windows (N, T, 17, 3)) and the lifter's size error."""
    from scipy.optimize import minimize_scalar

    from core.metrics import mpjpe

    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    s_true, s_pred = statures(gt), statures(pred)
    ratio = s_pred / s_true

    def err(windows: np.ndarray, scale: np.ndarray | float = 1.0) -> float:
        scaled = windows * np.broadcast_to(scale, len(windows))[:, None, None, None]
        return 1000 * mpjpe(scaled.reshape(-1, 17, 3), gt.reshape(-1, 17, 3))

    pose = pred / ratio[:, None, None, None]  # the lifter's pose at the true size
    one = minimize_scalar(lambda s: err(gt, s / s_true), bounds=(s_true.min(), s_true.max()), method="bounded")
    rng = np.random.default_rng(seed)
    body_known = [err(pose, rng.uniform(*GLOBAL_SCALE, len(gt))) for _ in range(draws)]
    return {
        "lifter": err(pred),
        "lifter_pose_size_known": err(pose),
        "true_pose_lifter_size": err(gt, ratio),
        "true_pose_one_size": float(one.fun),
        "one_size_stature_m": float(one.x),
        "lifter_pose_body_known": float(np.mean(body_known)),
        "size_error_mean_pct": float(100 * np.abs(ratio - 1).mean()),
        "size_corr": float(np.corrcoef(s_true, s_pred)[0, 1]) if s_true.std() and s_pred.std() else float("nan"),
        "stature_true_p5_p95_m": [float(v) for v in np.percentile(s_true, [5, 95])],
        "stature_pred_p5_p95_m": [float(v) for v in np.percentile(s_pred, [5, 95])],
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    import core.training as training
    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--window", type=int, default=27)
    p.add_argument("--max-windows", type=int, default=0, help="0 = every validation window")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "scale_floor.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    run = training.validation_predictions(a.weights, max_windows=a.max_windows, window=a.window)
    r = scale_floor(run.pred, run.windows.y, a.draws)
    out = {"weights": a.weights.name, "window": a.window, "windows": int(len(run.pred)),
           **{k: [round(x, 3) for x in v] if isinstance(v, list) else round(v, 3) for k, v in r.items()}}  # fmt: skip
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
