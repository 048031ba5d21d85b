"""Training and evaluation of the lifters on synthetic 2D made from a BVH library (default: the shared CMU set).

``train(cfg, out_dir, resume=False) -> Path`` runs AdamW with warm-up + cosine decay over a time and/or step
budget, validates on held-out subjects with fixed seeded cameras/noise, and checkpoints (safetensors + JSON).
``evaluate(weights, ...) -> dict`` reports MPJPE, P-MPJPE, N-MPJPE, H-MPJPE (subject's height known), MPJVE,
acceleration error (mm) overall and per motion category, the mean-pose baseline, and frames/s.
CLI: ``python -m core.training --config configs/posemoe_cpu.toml --out runs/x [--resume]`` and
``python -m core.training eval --weights FILE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.bodies import DEFAULT_BODIES, character_measures
from core.config import ModelConfig, TrainConfig, load_train_config
from core.datasets import VALIDATION_SUBJECTS, MotionSet, load_motion_set
from core.errors import ConfigError, ModelError, PosemoeError
from core.metrics import accel_error, h_mpjpe, mpjpe, mpjve, n_mpjpe, p_mpjpe
from core.model import build_model, count_parameters
from core.model.losses import lifter_loss
from core.synthetic import Batch, WindowSampler
from core.synthetic_device import DeviceWindowSampler
from core.weights import save_weights, write_json

log = logging.getLogger(__name__)

VAL_SEED = 20240611
VAL_FPS = 30.0


@dataclass(frozen=True)
class ValidationRun:
    """A lifter and its predictions on the validation windows (:func:`validation_predictions`)."""

    model: torch.nn.Module
    model_cfg: ModelConfig
    val_subjects: tuple[str, ...]
    motion: MotionSet
    train_sampler: WindowSampler | None
    """None where the data holds no training clip (another library evaluated whole)"""
    windows: Batch
    pred: np.ndarray
    """(N, T, 17, 3) float32 metres, root-relative"""
    seconds: float
    """time taken by the predictions"""


def characters_dir() -> Path:
    """Return the shared MakeHuman characters folder beside the repository."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "characters"


def body_set() -> list[dict[str, float]]:
    """Return the body measurements used for re-posing (the shared characters, else built-in defaults)."""
    bodies = character_measures(characters_dir()) if characters_dir().is_dir() else []
    return bodies or list(DEFAULT_BODIES)


def joint_mapping(cfg: TrainConfig) -> dict[str, str] | None:
    """Return the BVH joint mapping ``cfg.bvh_map`` names (the format of ``--rig`` mapping files), or None."""
    if not cfg.bvh_map:
        return None
    from core.rigs import load_mapping

    return load_mapping(Path(cfg.bvh_map))


def motion_set(cfg: TrainConfig, mapping: dict[str, str] | None = None) -> MotionSet:
    """Return the cached motion set named by ``cfg`` (default: the shared CMU set); ``mapping``: its joint
    mapping (default: ``cfg.bvh_map``'s, else the joints recognised by name)."""
    return load_motion_set(Path(cfg.data_dir) if cfg.data_dir else None, Path(cfg.cache_dir) if cfg.cache_dir else None,
                           mapping if mapping is not None else joint_mapping(cfg))  # fmt: skip


AUTO_VALIDATION_SHARE = 0.1
"""Share of a library's subjects held out for validation where it holds none of :data:`VALIDATION_SUBJECTS`."""


def validation_subjects(requested: tuple[str, ...], motion: MotionSet, source: str) -> tuple[str, ...]:
    """Return the subjects to hold out for validation: ``requested`` (a config's ``val_subjects``), else the CMU
    validation subjects where the library holds some of them and others besides, else a seeded tenth of its
    subjects (at least one; each clip is a subject where the library is one folder, core.datasets.read_index)."""
    subjects = sorted(set(motion.subjects.tolist()))
    names = ", ".join(subjects[:6]) + (", ..." if len(subjects) > 6 else "")
    if requested:
        held = set(requested) & set(subjects)
        if not held or held == set(subjects):
            raise ConfigError(f"{source}: val_subjects {list(requested)} leave {len(held)} of the library's "
                              f"{len(subjects)} subjects for validation ({names}); name some of them, not all, in "
                              "the config's val_subjects (a subject is a folder of clips)")
        return tuple(requested)
    if set(VALIDATION_SUBJECTS) & set(subjects) and not set(subjects) <= set(VALIDATION_SUBJECTS):
        return VALIDATION_SUBJECTS
    if len(subjects) < 2:
        raise ConfigError(f"{source}: one clip cannot be split into training and validation; add clips (the "
                          "validation holds out whole clips, or whole subjects where clips are in subfolders)")
    n = max(1, round(AUTO_VALIDATION_SHARE * len(subjects)))
    picked = tuple(sorted(np.random.default_rng(VAL_SEED).choice(subjects, n, replace=False).tolist()))
    log.warning("validation holds out %d of the library's %d %s: %s (set val_subjects in the config to choose)",
                n, len(subjects), "clips" if len(set(motion.clips.tolist())) == len(subjects) else "subjects",
                ", ".join(picked))
    return picked


def samplers(cfg: TrainConfig, motion: MotionSet, val_subjects: tuple[str, ...],
             bodies: list[dict[str, float]] | None = None, device: torch.device | None = None,
             need_train: bool = True) -> tuple[WindowSampler | None, WindowSampler]:  # fmt: skip
    """Return (train sampler, validation sampler) split by subject, re-posed on ``bodies`` (default body_set()).

    The training sampler makes its batches on ``device`` where ``cfg.sampler`` is "device"; validation windows
    always come from the numpy sampler, so figures stay comparable whichever sampler trained. Without
    ``need_train`` (evaluation), a split leaving no training clip gives None for the training sampler."""
    bodies = bodies or body_set()
    train_ids = motion.clip_indices(val_subjects, include=False)
    val_ids = motion.clip_indices(val_subjects, include=True)
    if (need_train and len(train_ids) == 0) or len(val_ids) == 0:
        raise ConfigError(f"the subject split leaves {len(train_ids)} training / {len(val_ids)} validation clips; "
                          "set val_subjects in the config to some of the library's subjects (its folders)")
    w = cfg.model.window
    if len(train_ids) == 0:
        train = None
    elif cfg.sampler == "device":
        train = DeviceWindowSampler(motion, train_ids, w, cfg.fps_choices, cfg.augment, bodies, seed=cfg.seed,
                                    device=device or torch.device("cpu"))  # fmt: skip
    else:
        train = WindowSampler(motion, train_ids, w, cfg.fps_choices, cfg.augment, bodies, seed=cfg.seed)
    val = WindowSampler(motion, val_ids, w, (VAL_FPS,), cfg.augment, bodies, seed=VAL_SEED, role="validation")
    return train, val


def predict(model: torch.nn.Module, x: np.ndarray, flip_tta: bool = True, batch_size: int = 128) -> np.ndarray:
    """Return (N, T, 17, 3) float32 predictions (metres) for windows x (N, T, 17, 2), optionally flip-averaged,
    computed on the model's device."""
    from core.skeleton import FLIP_PERM

    outs = []
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])).to(device)
            y = model(xb)
            if flip_tta:
                xf = xb[:, :, FLIP_PERM].clone()
                xf[..., 0] *= -1
                yf = model(xf)[:, :, FLIP_PERM].clone()
                yf[..., 0] *= -1
                y = 0.5 * (y + yf)
            outs.append(y.cpu().numpy())
    return np.concatenate(outs).astype(np.float32)


class _SampledBatches(torch.utils.data.IterableDataset):
    """Endless (x, y, clean_2d) tensor batches of a WindowSampler; worker k of a DataLoader draws from the
    seeded stream ``[*seed, k]``, so a run is reproducible for a given number of workers."""

    def __init__(self, sampler: WindowSampler, batch_size: int, seed: tuple[int, ...]) -> None:
        self.sampler, self.batch_size, self.seed = sampler, batch_size, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        torch.set_num_threads(1)
        self.sampler.reseed(*self.seed, info.id if info else 0)
        while True:
            b = self.sampler.sample(self.batch_size)
            yield torch.from_numpy(b.x), torch.from_numpy(b.y), torch.from_numpy(b.clean_2d)


def _batches(cfg: TrainConfig, sampler: WindowSampler, step: int, device: torch.device
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Yield training batches on ``device``: made in this process (``cfg.workers`` = 0; the sampler's own
    generator, re-seeded from the step on resume) or by ``cfg.workers`` processes, which a GPU needs to be fed."""
    if cfg.workers == 0:  # always so for batches made on the device (TrainConfig checks it)
        while True:
            b = sampler.sample(cfg.batch_size)
            yield tuple(torch.as_tensor(a, device=device) for a in (b.x, b.y, b.clean_2d))  # type: ignore[misc]
    loader = torch.utils.data.DataLoader(_SampledBatches(sampler, cfg.batch_size, (cfg.seed, step)), batch_size=None,
                                         num_workers=cfg.workers, pin_memory=device.type == "cuda",
                                         prefetch_factor=4)  # fmt: skip
    for batch in loader:
        yield tuple(t.to(device, non_blocking=True) for t in batch)  # type: ignore[misc]


def quick_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Return MPJPE and P-MPJPE in mm of (N, T, 17, 3) metre arrays."""
    flat_p, flat_g = pred.reshape(-1, 17, 3), gt.reshape(-1, 17, 3)
    return {"mpjpe_mm": 1000 * mpjpe(flat_p, flat_g), "p_mpjpe_mm": 1000 * p_mpjpe(flat_p, flat_g)}


def _lr(cfg: TrainConfig, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
    return cfg.lr * warm * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _progress(cfg: TrainConfig, step: int, elapsed: float) -> float:
    parts = []
    if cfg.steps:
        parts.append(step / cfg.steps)
    if cfg.minutes:
        parts.append(elapsed / (cfg.minutes * 60.0))
    if not parts:
        raise ConfigError("the training config needs minutes > 0 or steps > 0")
    return max(parts)


def _save_checkpoint(out: Path, name: str, model: torch.nn.Module, opt: torch.optim.Optimizer, cfg: TrainConfig,
                     state: dict[str, Any], meta: dict[str, Any]) -> Path:  # fmt: skip
    """Return the weights path after writing model weights + JSON and the optimizer state (safetensors)."""
    from safetensors.torch import save_file

    path = save_weights(model, cfg.model, out / f"{name}.safetensors", meta)
    tensors, opt_meta = {}, {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{i}.{k}"] = v.detach().cpu().contiguous()
    save_file(tensors, str(out / f"{name}.optim.safetensors"))
    opt_meta["train_state"] = state
    write_json(out / f"{name}.state.json", opt_meta)
    return path


def _load_checkpoint(out: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Return the saved train state after restoring model and optimizer from ``out/last.*``."""
    from safetensors.torch import load_file

    from core.weights import load_lifter

    path = out / "last.safetensors"
    if not path.exists():
        raise ModelError(f"{path}: nothing to resume; run without --resume first")
    loaded, _, _ = load_lifter(path)
    try:
        model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError:
        raise ModelError(f"{path}: the checkpoint is of another model than the config's; resume with the config it "
                         f"was trained with (recorded in {out / 'config.json'}), or train into a new --out") from None
    try:
        tensors = load_file(str(out / "last.optim.safetensors"))
        sd = opt.state_dict()
        for key, v in tensors.items():
            i, k = key.split(".", 1)
            sd["state"].setdefault(int(i), {})[k] = v
        opt.load_state_dict(sd)
        return json.loads((out / "last.state.json").read_text())["train_state"]
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # a checkpoint folder missing or damaging a file
        raise ModelError(f"{out}: its optimizer or train state beside last.safetensors cannot be read ({e}); "
                         "train into a new --out, or start from its weights with init_weights") from None


def init_from(model: torch.nn.Module, path: Path) -> None:
    """Copy into ``model`` every tensor of the weights file ``path`` whose name and shape match (ModelError if none)."""
    from core.weights import load_lifter

    if not Path(path).is_file():
        raise ConfigError(f"init_weights {path}: no such weights file; fix the config's init_weights (a path from "
                          "the folder training runs in) or leave it out to start afresh")
    src = load_lifter(path)[0].state_dict()
    own = model.state_dict()
    same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    if not same:
        raise ModelError(f"{path}: no tensor matches the model being trained; check init_weights in the config")
    model.load_state_dict(same, strict=False)
    log.info("initialised %d of %d tensors from %s", len(same), len(own), path)


def validate(model: torch.nn.Module, val: Batch) -> dict[str, float]:
    """Return the quick metrics (mm) of ``model`` on the validation windows ``val`` (no flip, as in training)."""
    return quick_metrics(predict(model, val.x, flip_tta=False), val.y)


def train(cfg: TrainConfig, out_dir: Path, resume: bool = False) -> Path:
    """Return the path of the final weights after training ``cfg`` into ``out_dir`` (best.* and last.* too)."""
    from tqdm import tqdm

    from core.inference import resolve_device

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # no effect on CPU
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mapping = joint_mapping(cfg)
    motion = motion_set(cfg, mapping)
    requested = tuple(cfg.val_subjects)
    if resume and not requested and (out / "last.json").is_file():  # held-out subjects stay held out, even where
        from core.weights import read_meta  # clips were added since (the automatic choice would move)

        requested = tuple(read_meta(out / "last.safetensors").get("val_subjects") or ())
    val_subjects = validation_subjects(requested, motion, cfg.data_dir or "the CMU set")
    train_s, val_s = samplers(cfg, motion, val_subjects, device=device)
    val = val_s.fixed_windows(cfg.val_windows, VAL_SEED)
    model = build_model(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "elapsed": 0.0, "best": float("inf"), "frames": 0, "history": []}
    if resume:
        state = _load_checkpoint(out, model, opt)
        train_s.reseed(cfg.seed, state["step"])
    elif cfg.init_weights:
        init_from(model, Path(cfg.init_weights))
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))  # once the run can start: a refused
    # --resume keeps the record of the config its checkpoint was trained with
    meta = {"data_id": motion.data_id, "val_subjects": list(val_subjects), "train_config": cfg.to_dict(),
            "parameters": count_parameters(model), **({"bvh_map": mapping} if mapping else {})}  # fmt: skip
    log.info("training %s (%d parameters) into %s", cfg.model.arch, meta["parameters"], out)
    start = time.monotonic() - state["elapsed"]
    bar = tqdm(total=None, file=sys.stderr, mininterval=10.0, desc=cfg.model.arch)
    batches = _batches(cfg, train_s, state["step"], device)
    try:
        while _progress(cfg, state["step"], time.monotonic() - start) < 1.0:
            step = state["step"]
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step, _progress(cfg, step, time.monotonic() - start))
            model.train()
            x, y, clean_2d = next(batches)
            outputs = model.forward_train(x)
            loss, terms = lifter_loss(outputs, y, clean_2d, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            state["step"], state["frames"] = step + 1, state["frames"] + x.shape[0] * x.shape[1]
            state["elapsed"] = time.monotonic() - start
            bar.update(1)
            if state["step"] % 20 == 0:  # reading a value syncs a GPU, so not on every step
                bar.set_postfix(loss=f"{loss.item():.4f}", mpjpe_mm=f"{1000 * terms['mpjpe'].item():.1f}",
                                refresh=False)  # fmt: skip
            if state["step"] % cfg.val_every == 0:
                _periodic(model, val, state, out, opt, cfg, meta)
            elif state["step"] % cfg.checkpoint_every == 0:
                _save_checkpoint(out, "last", model, opt, cfg, state, meta)
    finally:
        bar.close()
        batches.close()  # stops the batch-making processes, also on Ctrl-C
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        _periodic(model, val, state, out, opt, cfg, meta)
    log.info("done: %d steps, %d frames, %.1f min", state["step"], state["frames"], state["elapsed"] / 60)
    return out / "last.safetensors"


def _periodic(model: torch.nn.Module, val: Batch, state: dict[str, Any], out: Path, opt: torch.optim.Optimizer,
              cfg: TrainConfig, meta: dict[str, Any]) -> None:  # fmt: skip
    """Validate, log, and checkpoint ``last`` (and ``best`` when validation MPJPE improved)."""
    m = validate(model, val)
    state["history"].append({"step": state["step"], "minutes": round(state["elapsed"] / 60, 2), **m})
    log.info("step %d (%.1f min): val MPJPE %.1f mm, P-MPJPE %.1f mm", state["step"], state["elapsed"] / 60,
             m["mpjpe_mm"], m["p_mpjpe_mm"])  # fmt: skip
    full = {**meta, "steps": state["step"], "frames_seen": state["frames"],
            "wall_minutes": round(state["elapsed"] / 60, 2), "val_quick": m}  # fmt: skip
    _save_checkpoint(out, "last", model, opt, cfg, state, full)
    if m["mpjpe_mm"] < state["best"]:
        state["best"] = m["mpjpe_mm"]
        save_weights(model, cfg.model, out / "best.safetensors", full)


def all_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Return all metrics in mm (velocities per frame) for (N, T, 17, 3) metre windows."""
    fp, fg = pred.reshape(-1, 17, 3), gt.reshape(-1, 17, 3)
    return {"mpjpe_mm": 1000 * mpjpe(fp, fg), "p_mpjpe_mm": 1000 * p_mpjpe(fp, fg),
            "n_mpjpe_mm": 1000 * n_mpjpe(fp, fg), "h_mpjpe_mm": 1000 * h_mpjpe(pred, gt),
            "mpjve_mm": 1000 * mpjve(pred, gt, axis=1),
            "accel_mm": 1000 * accel_error(pred, gt, axis=1), "frames": int(len(fp))}  # fmt: skip


def validation_predictions(weights: Path, cfg: TrainConfig | None = None, max_windows: int = 0,
                           flip_tta: bool = True, window: int | None = None,
                           bodies: list[dict[str, float]] | None = None) -> ValidationRun:  # fmt: skip
    """Return a weights file's predictions on its validation windows (see :func:`evaluate` for the arguments).

    Validation: the weights' own validation subjects (JSON), fixed seeded bodies, cameras and 2D noise at 30 fps,
    in non-overlapping windows of ``window`` frames (default the model's own; the per-frame and convolutional
    lifters accept any length, the transformers at most their own); ``bodies``: re-pose on these body
    measurements only (core.bodies.MEASURES dicts; default every shared character).
    """
    from core.weights import load_lifter

    model, mcfg, meta = load_lifter(Path(weights))
    window = window or mcfg.window
    if window < 1 or (mcfg.arch in ("posemoe", "entangled") and window > mcfg.window):
        raise ConfigError(f"--window {window}: the {mcfg.arch} model accepts 1..{mcfg.window} frames")
    cfg = replace(cfg or TrainConfig(), model=replace(mcfg, window=window), sampler="numpy", workers=0)
    mapping = joint_mapping(cfg) or (meta.get("bvh_map") if cfg.data_dir else None)
    motion = motion_set(cfg, mapping)
    val_subjects = tuple(meta.get("val_subjects") or VALIDATION_SUBJECTS)
    if not set(val_subjects) & set(motion.subjects.tolist()):  # another library: none of it was trained on
        val_subjects = tuple(sorted(set(motion.subjects.tolist())))
        log.warning("%s holds none of the weights' validation subjects: evaluating on all its %d clips",
                    cfg.data_dir or "the data", len(motion.clips))
    train_s, val_s = samplers(cfg, motion, val_subjects, bodies, need_train=False)
    val = val_s.fixed_windows(max_windows, VAL_SEED)
    t0 = time.perf_counter()
    pred = predict(model, val.x, flip_tta=flip_tta)
    seconds = time.perf_counter() - t0
    return ValidationRun(model, mcfg, val_subjects, motion, train_s, val, pred, seconds)


def evaluate(weights: Path, cfg: TrainConfig | None = None, max_windows: int = 0, flip_tta: bool = True,
             threads: int | None = None, window: int | None = None,
             bodies: list[dict[str, float]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Return validation metrics of a weights file (mm; MPJVE mm/frame, accel mm/frame^2) overall and per
    category, the mean-pose baseline's, and lifting speed (frames/s, flip TTA as set, non-overlapping windows);
    the validation set is :func:`validation_predictions`'.
    """
    if threads:
        torch.set_num_threads(threads)
    run = validation_predictions(weights, cfg, max_windows, flip_tta, window, bodies)
    val, pred = run.windows, run.pred
    # the mean training pose; where the data is all validation (another library), the evaluated windows' own
    ref = run.train_sampler.fixed_windows(2000, VAL_SEED + 1).y if run.train_sampler is not None else val.y
    mean_pose = ref.reshape(-1, 17, 3).mean(axis=0)
    base = np.broadcast_to(mean_pose, val.y.shape)
    cats = run.motion.categories[val.clip]
    result: dict[str, Any] = {
        "weights": str(weights), "arch": run.model_cfg.arch, "parameters": count_parameters(run.model),
        "val_subjects": list(run.val_subjects), "windows": int(len(val.x)), "window": val.x.shape[1],
        "fps": VAL_FPS, "flip_tta": flip_tta, "threads": torch.get_num_threads(),
        "frames_per_s": round(val.x.shape[0] * val.x.shape[1] / run.seconds, 1),
        "lift_sequence_frames_per_s_2_threads": round(lift_speed(run.model, run.model_cfg.window), 1),
        "overall": all_metrics(pred, val.y), "mean_pose": all_metrics(base, val.y),
        "per_category": {str(c): all_metrics(pred[cats == c], val.y[cats == c]) for c in sorted(set(cats))},
    }  # fmt: skip
    return result


def lift_speed(model: torch.nn.Module, window: int, frames: int = 3000, threads: int = 2, device: str = "cpu",
               batch_size: int | None = None) -> float:  # fmt: skip
    """Return frames/s of core.inference.lift_sequence (flip TTA, stride window // 2, the given or automatic
    batch size) for a ``frames``-long clip on ``device``, with ``threads`` torch threads (restored afterwards);
    the time includes copying to and from the device."""
    from core.config import InferenceConfig
    from core.inference import lift_sequence

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    cfg = InferenceConfig(device=device, batch_size=batch_size or 0)
    try:
        kp = np.random.default_rng(0).uniform(200, 800, (frames, 17, 2)).astype(np.float32)
        lift_sequence(kp[: window * 4], (1000, 1000), model, window, cfg)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        lift_sequence(kp, (1000, 1000), model, window, cfg)  # returns numpy: the device work is done
        return frames / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m core.training [eval]``."""
    p = argparse.ArgumentParser(prog="python -m core.training", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Train a lifter (default) or evaluate weights ('eval').")  # fmt: skip
    p.add_argument("mode", nargs="?", choices=("train", "eval"), default="train", help="what to do")
    p.add_argument("--config", type=Path, help="training config TOML (train; optional for eval)")
    p.add_argument("--out", type=Path, help="output folder for checkpoints (train) or JSON report file (eval)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.* (train)")
    p.add_argument("--minutes", type=float, help="override the config's time budget (train)")
    p.add_argument("--steps", type=int, help="override the config's step budget (train)")
    p.add_argument("--device", help="override the config's device: auto, cpu or cuda (train)")
    p.add_argument("--workers", type=int, help="override the config's batch-making processes (train)")
    p.add_argument("--sampler", choices=("numpy", "device"), help="override where batches are made (train)")
    p.add_argument("--weights", type=Path, help="weights .safetensors to evaluate (eval)")
    p.add_argument("--max-windows", type=int, default=0, help="evaluate at most this many windows (0 = all)")
    p.add_argument("--no-flip", action="store_true", help="evaluate without flip test-time augmentation")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (eval)")
    p.add_argument("--window", type=int, default=None, help="evaluation window in frames (eval; default the model's)")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return an exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        cfg = load_train_config(args.config) if args.config else TrainConfig()
        if args.mode == "eval":
            if not args.weights:
                raise PosemoeError("eval needs --weights FILE")
            report = evaluate(args.weights, cfg, args.max_windows, not args.no_flip, args.threads, args.window)
            text = json.dumps(report, indent=2)
            if args.out:
                args.out.write_text(text + "\n")
            sys.stdout.write(text + "\n")
            return 0
        if not args.out:
            raise PosemoeError("train needs --out DIR")
        given = (("minutes", args.minutes), ("steps", args.steps), ("device", args.device), ("workers", args.workers),
                 ("sampler", args.sampler))  # fmt: skip
        overrides = {k: v for k, v in given if v is not None}
        if args.sampler == "device" and args.workers is None:
            overrides["workers"] = 0  # batches made on the device need no batch-making processes
        train(replace(cfg, **overrides), args.out, resume=args.resume)
        return 0
    except PosemoeError as e:
        log.error("%s", e)
        return int(e.exit_code)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
