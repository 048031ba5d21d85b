"""Validation error per body (issue 4): how much of MPJPE is the body's size, which one view cannot give.

The validation set re-poses the held-out CMU subjects on the five shared MakeHuman characters
(1.22-1.80 m, each x 0.92-1.08). This evaluates a lifter with one character at a time (same
subjects, cameras and 2D noise as ``posemoe eval``) and prints MPJPE, P-MPJPE, N-MPJPE and H-MPJPE
(height known) per body; JSON in benchmarks/results/eval_per_body.json (docs/model.md, section 3).

    python benchmarks/eval_per_body.py [--weights W] [--max-windows 500] [--window 27]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEYS = ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "h_mpjpe_mm")


def main(argv: list[str] | None = None) -> int:
    import core.training as training
    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--max-windows", type=int, default=500)
    p.add_argument("--window", type=int, default=27)
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "eval_per_body.json")
    a = p.parse_args(argv)
    folder = training.characters_dir()
    chars = [(path.stem, json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))]
    chars = [(name, c) for name, c in chars if c.get("rest_bone_heads_m")]
    bodies = training.body_set()  # the same characters, in the same sorted order
    if not chars or len(chars) != len(bodies):
        print(f"no shared characters in {folder}; nothing to compare", file=sys.stderr)
        return 1
    rows = {}
    for (name, meta), body in zip(chars, bodies, strict=True):
        r = training.evaluate(a.weights, max_windows=a.max_windows, threads=2, window=a.window, bodies=[body])
        rows[name] = {"height_m": meta.get("height_m"), **{k: round(r["overall"][k], 2) for k in KEYS}}
    out = {"weights": a.weights.name, "windows": a.max_windows, "window": a.window, "bodies": rows}
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print("| body | height m | MPJPE | P-MPJPE | N-MPJPE | H-MPJPE (height known) |\n|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['height_m']} | " + " | ".join(f"{r[k]:.1f}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
