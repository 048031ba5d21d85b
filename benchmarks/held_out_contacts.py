"""Feet on the 24 held-out renders: contacts found, feet sliding where the truth stands, ground and root path.

``benchmarks/motion_quality.py`` measures the feet on the bench's 10 static-camera clips. Those are few, and a
lifter change can move one clip's contact detection across a threshold (session 23: v6 split one stance of the
side run and one of the demo dance, feet sliding 20.3 and 4.6 cm/s where the truth stands). This measures the same
figures (``motion_quality.evaluate``, preset ``medium``, each character's true height given) on the held-out renders
of ``benchmarks/held_out_renders.py`` (``scripts/render_real2d_set.py --validation --clips 24``), for one or more
weight files side by side, so a change in how the feet are found is judged on 24 more clips.

    python benchmarks/held_out_contacts.py [--dir DIR] [--weights A.safetensors B.safetensors] [--out FILE]
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

import motion_quality as mq  # noqa: E402
from held_out_renders import clip_height  # noqa: E402

from core.weights import DEFAULT_WEIGHTS  # noqa: E402

KEYS = ("mpjpe_mm", "skate_true_contacts_cm_s", "contact_precision", "contact_recall", "ground_normal_err_deg",
        "root_err_pct")


def measure(folder: Path, weights: list[Path]) -> dict:
    """Return {clip: {weights name: {figure: value}}} for every rendered clip with keypoints in ``folder``."""
    from core.motion_cleanup import clean_motion
    from core.motion_file import read_keypoints

    rows: dict = {}
    for kp_file in sorted(folder.glob("*_kp.npz")):
        name = kp_file.name[: -len("_kp.npz")]
        if not (folder / f"{name}_truth.npz").exists():
            continue
        truth = mq.load_truth(folder / f"{name}_truth.npz")
        height = clip_height(np.load(folder / f"{name}_truth.npz"))
        kp = read_keypoints(kp_file)
        rows[name] = {}
        for w in weights:
            joints = mq.lifted(kp, w, folder)
            rel, root, info = clean_motion(joints, kp.joints_2d, kp.scores, kp.valid, kp.fps, kp.image_size, "medium",
                                           subject_height=height)
            figures = mq.evaluate(rel.astype(np.float64), root.astype(np.float64), info, truth)
            rows[name][w.name] = {k: round(float(figures[k]), 4) for k in KEYS}
        print(name, "  ".join(f"{w.stem}: " + " ".join(f"{rows[name][w.name][k]:.2f}" for k in KEYS) for w in weights),
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "real2d_val")
    ap.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "held_out_contacts.json")
    a = ap.parse_args(argv)
    if not any(a.dir.glob("*_kp.npz")):
        print(f"no rendered clips in {a.dir}: run python scripts/render_real2d_set.py --validation --clips 24")
        return 1
    rows = measure(a.dir, a.weights)
    mean = {w.name: {k: round(float(np.mean([r[w.name][k] for r in rows.values()])), 4) for k in KEYS}
            for w in a.weights}
    median = {w.name: {k: round(float(np.median([r[w.name][k] for r in rows.values()])), 4) for k in KEYS}
              for w in a.weights}
    print(f"{len(rows)} clips, columns: {' '.join(KEYS)}")
    for w in a.weights:
        print(f"  {w.stem:24s} mean   " + " ".join(f"{mean[w.name][k]:.3f}" for k in KEYS))
        print(f"  {'':24s} median " + " ".join(f"{median[w.name][k]:.3f}" for k in KEYS))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"folder": str(a.dir), "preset": "medium", "clips": rows, "mean": mean,
                                 "median": median}, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
