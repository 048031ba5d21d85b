"""Would real detector output in training help the lifter (issue 4)? Cross-validation on the rendered clips.

The ground-truth clips of ``posemoe bench`` (the demo clip and benchmarks/render_gt_clips.py) hold real
MediaPipe 2D beside the true 3D. Their subjects are validation subjects, so no shipped weights may learn from
them; this only measures whether learning from real 2D would pay, before rendering training-subject clips for
it. Folds by subject (113 | the others): the default lifter is fine-tuned on one fold's real windows mixed into
the usual synthetic batches, and, as the control, on the synthetic batches alone (same steps, rate and seed),
then measured raw (no clean-up) on the other fold's real 2D, and on the synthetic validation windows.
With ``--train-dir``, the fine-tuning windows come instead from clips of training subjects
(scripts/render_real2d_set.py) and every benchmark clip is held out. Prints a table and saves JSON (default
benchmarks/results/finetune_real2d.json).

    python benchmarks/finetune_real2d.py [--steps 300] [--lr 5e-5] [--real-batch 32] [--real-weight 1]
                                         [--no-control] [--gt-dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

log = logging.getLogger("finetune_real2d")
REAL_WINDOW = 48  # frames: the shortest rendered clip has 58


def real_clips(gt_dir: Path) -> dict[str, dict]:
    """Return {clip name: {subject, x (T,17,2) normalised real 2D, clean (T,17,2) normalised true 2D, y (T,17,3)
    root-relative true joints, m, valid (T,), kp}} of the bench's rendered clips found in ``gt_dir``."""
    from bench import gt_clips, keypoints

    return {c["name"]: _entry(c["name"].split("_")[-2], np.load(c["truth"]), keypoints(c["video"], gt_dir))
            for c in gt_clips(gt_dir, quick=False, render=False)}  # fmt: skip


def rendered_clips(folder: Path) -> dict[str, dict]:
    """Return :func:`real_clips`' entries for the clips of scripts/render_real2d_set.py in ``folder`` (training
    subjects: <name>_truth.npz beside <name>_kp.npz, name r<seed>_<i>_<subject>_<trial>)."""
    from core.motion_file import read_keypoints

    return {p.name[:-7]: _entry(p.name[:-7].split("_")[-2], np.load(p.with_name(p.name[:-7] + "_truth.npz")),
                                read_keypoints(p))
            for p in sorted(folder.glob("*_kp.npz")) if p.with_name(p.name[:-7] + "_truth.npz").exists()}  # fmt: skip


def _entry(subject: str, truth, kp) -> dict:
    """Return one clip's arrays (see :func:`real_clips`) from its truth file and keypoints."""
    from core.inference import lift_input
    from core.keypoints import normalize_2d, turn_points

    x, turns = lift_input(kp.joints_2d, kp.image_size, kp.valid)
    xy, size = turn_points(truth["joints_2d"], kp.image_size, turns)
    gt = truth["joints_3d"].astype(np.float32)
    return {"subject": subject, "x": x.astype(np.float32), "clean": normalize_2d(xy, *size).astype(np.float32),
            "y": gt - gt[:, :1], "valid": np.asarray(kp.valid, bool), "kp": kp}  # fmt: skip


def real_batch(clips: list[dict], b: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Return (x, y, clean) of ``b`` random all-valid ``REAL_WINDOW``-frame windows, half of them mirrored."""
    from core.skeleton import FLIP_PERM

    starts = [np.flatnonzero(np.convolve(c["valid"], np.ones(REAL_WINDOW), "valid") == REAL_WINDOW) for c in clips]
    weights = np.array([len(s) for s in starts], float)
    xs, ys, cs = [], [], []
    for i in rng.choice(len(clips), size=b, p=weights / weights.sum()):
        s = int(rng.choice(starts[i]))
        win = [clips[i][k][s: s + REAL_WINDOW].copy() for k in ("x", "y", "clean")]
        if rng.random() < 0.5:  # as the synthetic sampler mirrors: joints swapped, x negated
            for a in win:
                a[:] = a[:, FLIP_PERM]
                a[..., 0] *= -1
        for out, a in zip((xs, ys, cs), win, strict=True):
            out.append(a)
    return np.stack(xs), np.stack(ys), np.stack(cs)


def raw_metrics(model, window: int, clips: list[dict]) -> dict[str, float]:
    """Return frame-weighted raw-lifter MPJPE / P-MPJPE / acceleration error (mm) on ``clips``' real 2D, as
    ``posemoe bench`` measures each clip (bench._metrics), but without its clean-up."""
    from bench import _metrics

    from core.config import InferenceConfig
    from core.inference import lift_sequence

    sums, frames = {"mpjpe_mm": 0.0, "p_mpjpe_mm": 0.0, "accel_mm": 0.0}, 0
    for c in clips:
        kp = c["kp"]
        pred = lift_sequence(kp.joints_2d, kp.image_size, model, window, InferenceConfig(device="cpu"))
        m, n = _metrics(pred.astype(np.float64), c["y"].astype(np.float64)), len(c["y"])
        for k in sums:
            sums[k] += n * m[k]
        frames += n
    return {k: round(v / frames, 2) for k, v in sums.items()} | {"frames": frames}


def fine_tune(weights: Path, real: list[dict], steps: int, lr: float, synth_batch: int, real_batch_size: int,
              seed: int, real_weight: float = 1.0, gap_scale: float = 1.0, drift_max: float = 0.0,
              drift_s: float = 0.1):  # fmt: skip
    """Return the lifter of ``weights`` fine-tuned ``steps`` steps on synthetic batches (their detector-gap offsets
    x ``gap_scale``, slow 2D drift up to ``drift_max`` x body height smoothed over ``drift_s``: core.synthetic) plus, if
    ``real``, real windows (loss = synthetic + real_weight x real), AdamW, warm-up 20 steps then cosine decay."""
    import torch

    from core.config import TrainConfig
    from core.datasets import VALIDATION_SUBJECTS
    from core.model.losses import lifter_loss
    from core.training import samplers
    from core.weights import load_lifter

    model, mcfg, _ = load_lifter(weights, device="cpu")
    cfg = replace(TrainConfig(), model=mcfg, sampler="device", workers=0, seed=seed)
    cfg = replace(cfg, augment=replace(cfg.augment, gap_scale=gap_scale, drift_max=drift_max, drift_s=drift_s))
    sampler, _ = samplers(cfg, _motion_set(), VALIDATION_SUBJECTS, device=torch.device("cpu"))
    sampler.reseed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / steps))
        s = sampler.sample(synth_batch)
        loss, _ = lifter_loss(model.forward_train(s.x), s.y, s.clean_2d, cfg.loss)
        if real:
            x, y, clean = (torch.from_numpy(a) for a in real_batch(real, real_batch_size, rng))
            loss = loss + real_weight * lifter_loss(model.forward_train(x), y, clean, cfg.loss)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if (step + 1) % 50 == 0:
            log.info("step %d/%d: loss %.4f", step + 1, steps, loss.item())
    return model.eval(), mcfg


@functools.cache
def _motion_set():
    """Return the training motion set, loaded once for every run of this script."""
    from core.config import TrainConfig
    from core.training import motion_set

    return motion_set(TrainConfig())


def synthetic_val(model, window: int) -> dict[str, float]:
    """Return quick validation MPJPE / P-MPJPE (mm) on the 256 fixed synthetic windows training reports."""
    from core.config import TrainConfig
    from core.datasets import VALIDATION_SUBJECTS
    from core.training import VAL_SEED, samplers, validate

    cfg = TrainConfig()
    cfg = replace(cfg, model=replace(cfg.model, window=window), sampler="numpy", workers=0)
    _, val_s = samplers(cfg, _motion_set(), VALIDATION_SUBJECTS)
    return {k: round(v, 2) for k, v in validate(model, val_s.fixed_windows(256, VAL_SEED)).items()}


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.weights import DEFAULT_WEIGHTS, load_lifter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--synth-batch", type=int, default=96, help="synthetic windows per step (the model's length)")
    p.add_argument("--real-batch", type=int, default=32, help=f"real windows of {REAL_WINDOW} frames per step")
    p.add_argument("--real-weight", type=float, default=1.0, help="weight of the real windows' loss")
    p.add_argument("--no-control", action="store_true", help="skip the synthetic-only control runs")
    p.add_argument("--train-dir", type=Path, help="instead of cross-validating, fine-tune on the training-subject "
                   "clips of scripts/render_real2d_set.py in this folder and measure on every benchmark clip")
    p.add_argument("--gap-scale", type=float, default=1.0,
                   help="x the synthetic windows' detector-gap offsets while fine-tuning (validation keeps 1)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "finetune_real2d.json")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(a.threads)
    clips = real_clips(a.gt_dir)
    if len({c["subject"] for c in clips.values()}) < 2:
        print(f"finetune_real2d: too few rendered clips in {a.gt_dir}; run benchmarks/render_gt_clips.py first",
              file=sys.stderr)  # fmt: skip
        return 2
    base, mcfg, _ = load_lifter(a.weights, device="cpu")
    folds = {name: ([c for c in clips.values() if c["subject"] not in subjects],
                    {n: c for n, c in clips.items() if c["subject"] in subjects})
             for name, subjects in (("subject 113", ["113"]),
                                    ("subjects 02, 05, 15, 16, 26", ["02", "05", "15", "16", "26"]))}  # fmt: skip
    if a.train_dir:
        train = list(rendered_clips(a.train_dir).values())
        if not train:
            print(f"finetune_real2d: no rendered clips in {a.train_dir}; run scripts/render_real2d_set.py first",
                  file=sys.stderr)  # fmt: skip
            return 2
        folds = {"all 11 (trained on training subjects)": (train, clips)}
    res = {"weights": a.weights.name, "machine": platform.processor() or platform.machine(), "threads": a.threads,
           "steps": a.steps, "lr": a.lr, "synth_batch": a.synth_batch, "real_batch": a.real_batch,
           "real_weight": a.real_weight, "gap_scale": a.gap_scale,
           "real_window": REAL_WINDOW, "seed": a.seed, "base_synthetic_val": synthetic_val(base, mcfg.window),
           "folds": {}}  # fmt: skip
    for name, (train, held_clips) in folds.items():
        held = list(held_clips.values())
        base_row = {"held_out": raw_metrics(base, mcfg.window, held),
                    "train_fold": raw_metrics(base, mcfg.window, train)}
        row = {"held_out_clips": list(held_clips), "train_clips": len(train),
               "train_frames": int(sum(len(c["y"]) for c in train)), "base": base_row}  # fmt: skip
        for variant, real in (("synthetic only", []), ("synthetic + real", train))[a.no_control:]:
            t0 = time.monotonic()
            model, _ = fine_tune(a.weights, real, a.steps, a.lr, a.synth_batch, a.real_batch, a.seed, a.real_weight,
                                 a.gap_scale)
            row[variant] = {"held_out": raw_metrics(model, mcfg.window, held),
                            "train_fold": raw_metrics(model, mcfg.window, train),
                            "synthetic_val": synthetic_val(model, mcfg.window),
                            "minutes": round((time.monotonic() - t0) / 60, 1)}  # fmt: skip
            log.info("%s, %s: %s", name, variant, row[variant])
        res["folds"][name] = row
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=1))
    base_val = res["base_synthetic_val"]["p_mpjpe_mm"]
    print(f"\n{a.weights.name}, {a.steps} steps at lr {a.lr:g}, real weight {a.real_weight:g}; raw lifter on real "
          f"MediaPipe 2D, mm (MPJPE / P-MPJPE / accel); synthetic validation P-MPJPE (base {base_val})")
    print("| held-out fold | variant | held out | fold trained on | synthetic val P-MPJPE |\n|---|---|---|---|---|")
    for name, row in res["folds"].items():
        for variant in ("base", "synthetic only", "synthetic + real"):
            if variant not in row:
                continue
            r = row[variant]
            fmt = lambda m: f"{m['mpjpe_mm']:.1f} / {m['p_mpjpe_mm']:.1f} / {m['accel_mm']:.2f}"  # noqa: E731
            val = r.get("synthetic_val", res["base_synthetic_val"])["p_mpjpe_mm"]
            print(f"| {name} | {variant} | {fmt(r['held_out'])} | {fmt(r['train_fold'])} | {val:.2f} |")
    print(f"JSON: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
