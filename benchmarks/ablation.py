"""Ablation study for docs/model.md: train and evaluate every config in configs/ablation/.

Every row has the same data, seed, batch size and number of optimiser steps (1,000 x 32 windows,
one CPU thread): a step budget rather than a wall-clock one, because on a shared 2-core machine
the time a step takes depends on what else runs; each row's own training minutes are reported
beside it. Finished rows (runs/ablation/NAME/eval.json present) are reused, so an interrupted
study resumes.

    python benchmarks/ablation.py                 # all rows, ~1.5 h on one thread
    python benchmarks/ablation.py --only mlp      # one row
    python benchmarks/ablation.py --table-only    # rebuild the JSON/table from finished runs
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "ablation"
ORDER = ("posemoe", "no_depth_prior", "no_router", "no_cross_attention", "entangled", "mlp", "temporal_mlp")
LABELS = {
    "posemoe": "PoseMoE (full)",
    "no_depth_prior": "PoseMoE without depth prior",
    "no_router": "PoseMoE without router",
    "no_cross_attention": "PoseMoE without decoder cross-attention",
    "entangled": "Entangled transformer (matched size)",
    "mlp": "Single-frame MLP (matched size)",
    "temporal_mlp": "Temporal MLP (matched size; the shipped design)",
}


def run_row(name: str, runs: Path) -> None:
    """Train (unless finished) and evaluate one ablation row, as subprocesses of the real CLI."""
    out = runs / name
    if (out / "eval.json").exists():
        print(f"[{name}] already evaluated, reusing {out / 'eval.json'}", flush=True)
        return
    cfg = CONFIGS / f"{name}.toml"
    if not (out / "last.json").exists() or not _finished(out):
        resume = ["--resume"] if (out / "last.state.json").exists() else []
        subprocess.run([sys.executable, "-m", "core.training", "--config", str(cfg), "--out", str(out), *resume],
                       cwd=ROOT, check=True)
    subprocess.run([sys.executable, "-m", "core.training", "eval", "--weights", str(out / "last.safetensors"),
                    "--out", str(out / "eval.json"), "--threads", "1"], cwd=ROOT, check=True)


def _finished(out: Path) -> bool:
    meta = json.loads((out / "last.json").read_text())
    return meta.get("steps", 0) >= meta["train_config"]["steps"]


def rendered_p_mpjpe(weights: Path | None, gt_dir: Path) -> tuple[float, float, int]:
    """Return (P-MPJPE mm, MPJPE mm, frames) on the rendered ground-truth clips with real MediaPipe 2D.

    The lifter's raw root-relative output (no clean-up, so only the network is compared); weights None
    = MediaPipe's own world landmarks on the same frames.
    """
    m = rendered_metrics(weights, gt_dir)
    return m["p_mpjpe_mm"], m["mpjpe_mm"], m["frames"]


def rendered_metrics(weights: Path | None, gt_dir: Path, infer: dict | None = None) -> dict:
    """Return frame-weighted P-MPJPE, MPJPE and acceleration error (mm, mm/frame²) and frames of the raw
    lifter output (or, weights None, MediaPipe's world landmarks) on the rendered clips; ``infer``:
    InferenceConfig fields (device is always cpu)."""
    import numpy as np

    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    import bench

    from core.config import InferenceConfig
    from core.inference import lift_sequence
    from core.keypoints import blazepose_to_h36m
    from core.metrics import accel_error, mpjpe, p_mpjpe
    from core.weights import load_lifter

    model = load_lifter(weights, device="cpu") if weights is not None else None
    cfg = InferenceConfig(**{**(infer or {}), "device": "cpu"})
    rows = []
    for c in bench.gt_clips(gt_dir, quick=False, render=False):
        truth = np.load(c["truth"])
        gt = truth["joints_3d"].astype(np.float64)
        kp = bench.keypoints(c["video"], gt_dir)
        if model is None:
            y, _ = blazepose_to_h36m(np.asarray(kp.extras["mp_world"], np.float64))
        else:
            y = lift_sequence(kp.joints_2d, kp.image_size, model[0], model[1].window, cfg)
        y, g = np.asarray(y, np.float64), gt - gt[:, :1]
        y = y - y[:, :1]
        rows.append((len(gt), 1000 * p_mpjpe(y, g), 1000 * mpjpe(y, g), 1000 * accel_error(y, g)))
    a = np.array(rows, np.float64)
    w = a[:, 0] / a[:, 0].sum()
    return {"p_mpjpe_mm": float(w @ a[:, 1]), "mpjpe_mm": float(w @ a[:, 2]), "accel_mm": float(w @ a[:, 3]),
            "frames": int(a[:, 0].sum())}


def collect(runs: Path, gt_dir: Path | None = None) -> list[dict]:
    """Return one row per finished run: parameters, steps, minutes and the validation metrics."""
    rows = []
    for name in ORDER:
        ev = runs / name / "eval.json"
        if not ev.exists():
            continue
        e = json.loads(ev.read_text())
        meta = json.loads((runs / name / "last.json").read_text())
        rows.append({
            "name": name, "label": LABELS[name], "parameters": meta["parameters"], "steps": meta["steps"],
            "train_minutes": meta["wall_minutes"], "frames_seen": meta["frames_seen"],
            **e["overall"],
            "frames_per_s_1_thread": e["frames_per_s"],
        })
        if gt_dir is not None:
            rows[-1]["rendered_p_mpjpe_mm"], rows[-1]["rendered_mpjpe_mm"], rows[-1]["rendered_frames"] = \
                rendered_p_mpjpe(runs / name / "last.safetensors", gt_dir)
    if gt_dir is not None and rows:
        p, m, n = rendered_p_mpjpe(None, gt_dir)
        rows.append({"name": "mp_world", "label": "MediaPipe world landmarks", "rendered_p_mpjpe_mm": p,
                     "rendered_mpjpe_mm": m, "rendered_frames": n})
    return rows


def table(rows: list[dict]) -> str:
    """Return the markdown table of docs/model.md."""
    head = ("| model | parameters | training minutes | MPJPE | P-MPJPE | N-MPJPE | MPJVE | accel "
            "| rendered clips P-MPJPE / MPJPE |\n"
            "|---|---|---|---|---|---|---|---|---|\n")

    def cell(r: dict, key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    body = "".join(
        f"| {r['label']} | {cell(r, 'parameters', ',')} | {cell(r, 'train_minutes', '.1f')} | "
        f"{cell(r, 'mpjpe_mm', '.1f')} | {cell(r, 'p_mpjpe_mm', '.1f')} | {cell(r, 'n_mpjpe_mm', '.1f')} | "
        f"{cell(r, 'mpjve_mm', '.2f')} | {cell(r, 'accel_mm', '.2f')} | "
        f"{cell(r, 'rendered_p_mpjpe_mm', '.1f')} / {cell(r, 'rendered_mpjpe_mm', '.1f')} |\n"
        for r in rows)
    return head + body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "ablation", help="folder for the training runs")
    p.add_argument("--only", choices=ORDER, action="append", help="run only this row (repeatable)")
    p.add_argument("--table-only", action="store_true", help="do not train; rebuild the table from finished runs")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ablation.json")
    p.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt",
                   help="rendered ground-truth clips (benchmarks/render_gt_clips.py) for the real-2D column")
    a = p.parse_args(argv)
    if not a.table_only:
        for name in a.only or ORDER:
            run_row(name, a.runs)
    rows = collect(a.runs, a.gt_dir if a.gt_dir.is_dir() else None)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    budget = "1,000 steps x 32 windows, 1 CPU thread (AMD EPYC, 2-core machine)"
    a.json.write_text(json.dumps({"budget": budget, "rows": rows}, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
