"""How overlapping lifting windows are combined: plain mean vs centre-weighted (Hann), per lifter.

Raw lifter output (no clean-up) on the rendered ground-truth clips with real MediaPipe 2D
(benchmarks/render_gt_clips.py; keypoints cached by bench.py), against MediaPipe's world landmarks
on the same frames. Prints a markdown table and writes benchmarks/results/stitching.json
(docs/model.md, section 2c).

    python benchmarks/stitching.py [--weights A.safetensors B.safetensors] [--strides 13 5]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from ablation import rendered_metrics  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, nargs="+",
                   default=[ROOT / "core" / "assets" / "posemoe_v2.safetensors", DEFAULT_WEIGHTS])
    p.add_argument("--strides", type=int, nargs="+", default=[0], help="window strides (0 = half the window)")
    p.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "stitching.json")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    mp = rendered_metrics(None, a.gt_dir)
    rows = []
    for w in a.weights:
        for stride in a.strides:
            for blend in ("mean", "hann"):
                m = rendered_metrics(w, a.gt_dir, {"blend": blend, "stride": stride or None})
                rows.append({"weights": w.name, "stride": stride or "window // 2", "blend": blend, **m,
                             "accel_x_mediapipe": m["accel_mm"] / mp["accel_mm"]})
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"mediapipe_world": mp, "rows": rows}, indent=2) + "\n")
    print(f"| lifter | stride | blend | P-MPJPE mm | acceleration error mm/frame² (x MediaPipe world's "
          f"{mp['accel_mm']:.2f}) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['weights']} | {r['stride']} | {r['blend']} | {r['p_mpjpe_mm']:.2f} | {r['accel_mm']:.2f} "
              f"({r['accel_x_mediapipe']:.3f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
