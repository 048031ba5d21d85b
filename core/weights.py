"""Lifter weights: ``name.safetensors`` + ``name.json`` (config, training data id, validation subjects,
metrics, sha256 of the .safetensors). Strict loading, checksum verified; never pickle / torch.load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.config import DEFAULT_WEIGHTS_NAME, ModelConfig
from core.errors import ConfigError, ModelError
from core.file_checks import not_a_file

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS: Path = Path(__file__).resolve().parent / "assets" / DEFAULT_WEIGHTS_NAME
"""The bundled default lifter weights (core/assets/), resolved from this file, not the cwd."""

FORMAT = "posemoe-weights/1"


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_path(weights: Path) -> Path:
    """Return the JSON sidecar path of a .safetensors file."""
    return Path(weights).with_suffix(".json")


def save_weights(model: nn.Module, cfg: ModelConfig, path: Path, meta: dict[str, Any] | None = None) -> Path:
    """Return ``path`` after writing the state dict (.safetensors) and its JSON sidecar atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, path)
    info = {"format": FORMAT, "model": cfg.to_dict(), **(meta or {}), "sha256": sha256_file(path)}
    write_json(json_path(path), info)
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_meta(path: Path) -> dict[str, Any]:
    """Return the JSON sidecar of weights ``path`` (ModelError if missing or unreadable)."""
    jp = json_path(path)
    try:
        meta = json.loads(jp.read_bytes())
    except FileNotFoundError as e:
        raise ModelError(f"{jp}: weights config JSON missing; keep it beside {Path(path).name}") from e
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON or not UTF-8
        raise ModelError(f"{jp}: unreadable weights JSON ({e}); re-download or retrain the weights") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{jp}: weights JSON is not an object; re-download or retrain the weights")
    return meta


_CONFIG_LIMITS = {"window": 10_000, "channels": 65_536, "expert_layers": 256, "decoder_layers": 256, "heads": 4096,
                  "temporal_layers": 8}
"""Largest config values load_lifter builds (far above any trained model; a larger one is a corrupt JSON)."""


def _expected_shapes(cfg: ModelConfig, jp: Path) -> dict[str, tuple[int, ...]]:
    """Return the state-dict shapes the ``cfg`` model has, built on the meta device (nothing allocated).

    ModelError when the config (read from a file) cannot build a model, so a bad JSON can neither crash
    the loader nor make it allocate a model far larger than the weights file.
    """
    from core.model import build_model

    bad = {k: getattr(cfg, k) for k, hi in _CONFIG_LIMITS.items()
           if not isinstance(getattr(cfg, k), int) or not 0 <= getattr(cfg, k) <= hi}
    if bad:
        raise ModelError(f"{jp}: 'model' config has unusable values {bad}; re-download or retrain the weights")
    try:
        with torch.device("meta"):
            return {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}
    except Exception as e:  # the config is file input: any failure to build a model from it is a bad config
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelError(f"{jp}: 'model' config cannot build a {cfg.arch} lifter ({type(e).__name__}: {first}); "
                         "re-download or retrain the weights") from None


def ankle_raise(meta: dict, source: str = "weights metadata") -> float:
    """Return the share of the ankle-to-knee vector by which the lifter of weights metadata ``meta`` expects its
    input ankles raised from the joint centres (core.keypoints.lifter_ankles): the mean detector-gap offset of its
    training recipe (``train_config.augment``; the recipe's defaults where it is not recorded) over the median shin.
    ModelError (naming ``source``) for a recipe that is not numbers in range."""
    from core.config import AugmentConfig
    from core.keypoints import MEDIAN_SHIN_M
    from core.synthetic import GAP_TOWARDS

    train = meta.get("train_config") if isinstance(meta, dict) else None
    recorded = train.get("augment") if isinstance(train, dict) else None
    recorded = recorded if isinstance(recorded, dict) else {}
    default = AugmentConfig()
    try:
        prob = float(recorded.get("gap_prob", default.gap_prob))
        scale = float(recorded.get("gap_scale", default.gap_scale))
    except (TypeError, ValueError):
        prob = scale = math.nan
    lo, hi = next((lo, hi) for joint, towards, lo, hi in GAP_TOWARDS if (joint, towards) == (3, 2))
    share = prob * scale * 0.5 * (lo + hi) / MEDIAN_SHIN_M
    if not 0.0 <= share < 0.5:  # NaN included
        raise ModelError(f"{source}: train_config.augment gap_prob {recorded.get('gap_prob')!r} / gap_scale "
                         f"{recorded.get('gap_scale')!r} are not a detector-gap recipe (numbers, 0-1 and 0-5); fix "
                         "the weights' .json or retrain")
    return share


def load_lifter(path: Path | None = None, device: str = "cpu") -> tuple[nn.Module, ModelConfig, dict]:
    """Return ``(model in eval mode, its ModelConfig, the JSON metadata)`` from a .safetensors + .json pair.

    Raises ModelError (one actionable line) when a file is missing, the checksum differs, the config is
    invalid or the tensors do not match the architecture (strict load).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from core.model import build_model

    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if (kind := not_a_file(path)) is not None:
        raise ModelError(f"{path}: is {kind}; pass --weights the .safetensors file (its .json beside it)")
    if (kind := not_a_file(json_path(path))) is not None:
        raise ModelError(f"{json_path(path)}: is {kind}; the weights' .json beside them must be a file")
    if not path.exists():
        raise ModelError(f"{path}: weights file missing; reinstall, or pass --weights to a trained .safetensors")
    meta = read_meta(path)
    if meta.get("sha256") != sha256_file(path):
        raise ModelError(f"{path}: checksum does not match {json_path(path).name}; the file is corrupt or replaced")
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (KeyError, ConfigError) as e:
        raise ModelError(f"{json_path(path)}: bad or missing 'model' config ({e})") from e
    expected = _expected_shapes(cfg, json_path(path))
    try:
        state = load_file(str(path), device="cpu")
        got = {k: tuple(v.shape) for k, v in state.items()}
        if got != expected:  # checked before the real model is allocated
            diff = sorted(set(got.items()) ^ set(expected.items()))[0]
            raise RuntimeError(f"tensor {diff[0]!r}: file {got.get(diff[0])}, config {expected.get(diff[0])}")
        model = build_model(cfg)
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: weights do not fit the {cfg.arch} config ({first})") from e
    model.to(torch.device(device)).eval()
    return model, cfg, meta


def publish_weights(src: Path, dst: Path, extra: dict[str, Any] | None = None) -> Path:
    """Return ``dst`` after copying weights ``src`` (+ JSON, checksum re-verified) and merging ``extra`` into
    the JSON (for example evaluation metrics)."""
    import shutil

    src, dst = Path(src), Path(dst)
    meta = read_meta(src)
    if meta.get("sha256") != sha256_file(src):
        raise ModelError(f"{src}: checksum does not match its JSON; not publishing it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    write_json(json_path(dst), {**meta, **(extra or {}), "sha256": sha256_file(dst)})
    return dst
