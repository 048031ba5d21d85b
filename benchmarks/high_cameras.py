"""Cameras from above: the lifter on synthetic validation filmed from higher up than the issue's 0.5-2 m.

A phone on a shelf or a wall, a camera on a stand or a balcony looks down on the person, and a lifter that learnt
level cameras reads the body as filmed level: it tilts it back upright in the camera's frame. This evaluates lifters
on the validation windows of ``posemoe eval`` (held-out subjects, the five shared bodies, the detector-gap 2D noise)
with the camera height drawn from each band in turn, the rest of the camera as in training (2-8 m away, aimed at
the body). MPJPE (camera frame, root-relative), P-MPJPE, H-MPJPE (height known) and acceleration error in mm; JSON
in benchmarks/results/high_cameras.json (docs/model.md, section 2h). On real MediaPipe 2D:
``scripts/render_real2d_set.py --validation --raise 1.5 4 --out DIR`` then ``benchmarks/held_out_renders.py --dir DIR``.

    python benchmarks/high_cameras.py [--weights A B ...] [--max-windows 600] [--bands 0.5-2 2-3 3-4.5 4.5-6]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402

KEYS = ("mpjpe_mm", "p_mpjpe_mm", "h_mpjpe_mm", "accel_mm")


def band(text: str) -> tuple[float, float]:
    """Return (low, high) metres of a band written ``LOW-HIGH``."""
    low, high = (float(v) for v in text.split("-"))
    if not 0 < low < high:
        raise argparse.ArgumentTypeError(f"band {text!r}: want LOW-HIGH metres, 0 < LOW < HIGH")
    return low, high


def main(argv: list[str] | None = None) -> int:
    import torch

    import core.training as training
    from core.config import AugmentConfig, TrainConfig
    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    p.add_argument("--max-windows", type=int, default=600)
    p.add_argument("--window", type=int, default=81)
    p.add_argument("--bands", type=band, nargs="+", default=[(0.5, 2.0), (2.0, 3.0), (3.0, 4.5), (4.5, 6.0)],
                   help="camera heights, metres (0.5-2 is the issue's range and training's)")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "high_cameras.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for weights in a.weights:
        rows[weights.name] = {}
        for low, high in a.bands:
            cfg = TrainConfig(augment=replace(AugmentConfig(), height_range=(low, high)))
            r = training.evaluate(weights, cfg, max_windows=a.max_windows, window=a.window)["overall"]
            rows[weights.name][f"{low:g}-{high:g} m"] = {k: round(r[k], 2) for k in KEYS}
            print(f"{weights.name}, camera {low:g}-{high:g} m: " + ", ".join(f"{k} {r[k]:.2f}" for k in KEYS),
                  flush=True)
    return write_results(a.json, {"windows": a.max_windows, "window": a.window, "weights": rows})


if __name__ == "__main__":
    raise SystemExit(main())
