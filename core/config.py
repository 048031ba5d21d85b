"""Configuration dataclasses (model, training, inference) with strict dict/TOML loading.

Frozen dataclasses with defaults in code; ``from_dict`` rejects unknown keys with ConfigError;
``to_dict`` gives plain JSON/TOML-able values. Stdlib only (Blender-safe).
"""

from __future__ import annotations

import logging
import math
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ConfigError, InputNotFoundError
from core.file_checks import not_a_file

log = logging.getLogger(__name__)

T = TypeVar("T")

ARCHS = ("posemoe", "entangled", "mlp", "temporal_mlp")

DEFAULT_WEIGHTS_NAME = "temporal_mlp_v8.safetensors"
"""File name of the default lifter in core/assets (here, torch-free, so Blender-side code can name it)."""


def _check_device(owner: str, device: object) -> None:
    """Raise ConfigError unless ``device`` is auto, cpu, cuda or cuda:N (core.inference.resolve_device)."""
    if not isinstance(device, str) or (device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:")):
        raise ConfigError(f"{owner}.device must be auto, cpu or cuda, got {device!r}")


def _check_keys(cls: type, d: dict[str, Any]) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__}: expected a table/dict, got {type(d).__name__}")
    extra = set(d) - {f.name for f in fields(cls)}
    if extra:
        allowed = sorted(f.name for f in fields(cls))
        raise ConfigError(f"unknown {cls.__name__} keys: {sorted(extra)}; allowed: {allowed}")


def _typed(where: str, value: Any, hint: Any) -> Any:
    """Return ``value`` as the field type ``hint`` wants (lists as tuples, ints as floats), ConfigError naming
    ``where`` when it is not one: a config's ``lr = "fast"`` or ``batch_size = 1e9`` is one line, not a traceback."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _typed(where, value, next(a for a in args if a is not type(None)))
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if hint is bool and isinstance(value, bool) or hint is str and isinstance(value, str):
        return value
    if hint is int and number and isinstance(value, int):
        return value
    if hint is float and number and math.isfinite(value):
        return float(value)
    if origin is tuple and isinstance(value, list | tuple):
        items = args[:1] * len(value) if args[-1] is Ellipsis else args
        if len(items) == len(value):
            return tuple(_typed(f"{where}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, items, strict=True)))
    if hint in (bool, str, int, float) or origin is tuple:
        want = {bool: "true or false", str: "a string, in quotes", int: "a whole number",
                float: "a finite number"}.get(hint)
        want = want or (f"a list of {len(args)}" if args[-1] is not Ellipsis else "a list")
        raise ConfigError(f"{where} must be {want}, got {value!r}")
    return value  # nested configs: checked by their own from_dict


def _check_ranges(owner: str, cfg: object, rules: dict[str, tuple[float, float]]) -> None:
    """Raise ConfigError unless every named field (or each item of a tuple field) lies in its [low, high]."""
    for name, (lo, hi) in rules.items():
        value = getattr(cfg, name)
        for v in value if isinstance(value, tuple | list) else (value,):
            if not lo <= v <= hi:
                raise ConfigError(f"{owner}.{name} must be within {lo:g}..{hi:g}, got {value!r}")


def _coerce(cls: type[T], d: dict[str, Any]) -> T:
    """Return ``cls(**d)`` after rejecting unknown keys and values of the wrong type (lists become tuples)."""
    _check_keys(cls, d)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _typed(f"{cls.__name__}.{k}", v, hints[k]) for k, v in d.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{cls.__name__}: {e}") from e


@dataclass(frozen=True)
class ModelConfig:
    """Lifter architecture. ``window`` is the longest sequence (frames) the model accepts (any T <= window)."""

    arch: str = "posemoe"
    window: int = 27
    channels: int = 64
    expert_layers: int = 2
    decoder_layers: int = 1
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    depth_prior: bool = True
    router: bool = True
    cross_attention: bool = True
    num_joints: int = 17
    temporal_layers: int = 3  # temporal_mlp only: dilated convolution blocks (receptive field 3 ** n frames)
    dilation_cycle: int = 0  # temporal_mlp only: block i dilates 3 ** (i % cycle), so blocks can be added past
    # the window's receptive field (0: 3 ** i)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"ModelConfig.arch must be one of {ARCHS}, got {self.arch!r}")
        if not 0 <= self.temporal_layers <= 8:
            raise ConfigError(f"ModelConfig.temporal_layers must be 0..8, got {self.temporal_layers}")
        if not 0 <= self.dilation_cycle <= 8:
            raise ConfigError(f"ModelConfig.dilation_cycle must be 0..8, got {self.dilation_cycle}")
        if self.window < 1 or self.channels < 1 or self.heads < 1 or self.channels % self.heads:
            raise ConfigError(f"ModelConfig: window/channels/heads must be positive, channels divisible by heads "
                              f"(got {self.window}/{self.channels}/{self.heads})")  # fmt: skip
        _check_ranges("ModelConfig", self, {"dropout": (0.0, 0.9), "mlp_ratio": (0.1, 16.0),
                                            "expert_layers": (1, 64), "decoder_layers": (0, 64)})  # fmt: skip
        if self.num_joints != 17:
            raise ConfigError(f"ModelConfig.num_joints must be 17 (H36M-17 is the whole pipeline's skeleton), "
                              f"got {self.num_joints}")  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Return a ModelConfig from a dict (ConfigError on unknown keys or bad values)."""
        return _coerce(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class InferenceConfig:
    """Sliding-window inference settings; ``stride=None`` means window // 2."""

    stride: int | None = None
    flip_tta: bool = True
    device: str = "auto"
    batch_size: int = 0  # windows per forward pass; 0 = 16 on a CPU (less peak memory, same speed), 256 on CUDA
    blend: str = "hann"  # how overlapping windows are averaged: "hann" (centre-weighted) or "mean"

    def __post_init__(self) -> None:
        if self.blend not in ("hann", "mean"):
            raise ConfigError(f"InferenceConfig.blend must be hann or mean, got {self.blend!r}")
        _check_device("InferenceConfig", self.device)
        if (self.stride is not None and self.stride < 1) or self.batch_size < 0:
            raise ConfigError("InferenceConfig: stride must be >= 1 and batch_size >= 0 (0 = automatic)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InferenceConfig:
        """Return an InferenceConfig from a dict (ConfigError on unknown keys)."""
        return _coerce(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class AugmentConfig:
    """Synthetic 2D generation: cameras, bodies and the detector-gap noise model (metres / fractions)."""

    focal_range: tuple[float, float] = (0.5, 1.5)  # x image width
    distance_range: tuple[float, float] = (2.0, 8.0)  # metres
    height_range: tuple[float, float] = (0.5, 2.0)  # camera height, metres
    high_camera_prob: float = 0.0  # share of clips filmed from above instead: a shelf, a wall, a stand
    high_height_range: tuple[float, float] = (2.0, 5.0)  # their camera height, metres
    pitch_roll_deg: float = 5.0  # extra camera pitch and roll jitter (std, degrees)
    body_jitter: float = 0.05  # std of each body measurement factor
    gap_prob: float = 0.8  # share of clips with a per-clip detector offset
    gap_scale: float = 1.0  # x the measured offsets (ankles 3 cm, knees 2 cm, ...)
    gap_random_m: float = 0.012  # std of extra constant per-joint offsets, metres
    jitter_max: float = 0.012  # white 2D noise std up to this x body height in pixels
    drift_max: float = 0.0  # slowly varying 2D error, std per axis up to this x body height (x DRIFT_PROFILE)
    drift_s: float = 0.1  # std of the Gaussian that smooths white noise into it, seconds (0.06 -> 0.5 at 0.1 s lag)
    dropout_prob: float = 0.3  # share of clips with dropped/low-confidence joints
    dropout_rate: float = 0.03  # per joint-frame, in those clips
    swap_prob: float = 0.3  # share of clips with occasional left/right swaps
    swap_rate: float = 0.01  # per frame, in those clips
    flip_prob: float = 0.5  # horizontal image flip

    def __post_init__(self) -> None:
        for name in ("focal_range", "distance_range", "height_range", "high_height_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name in ("focal_range", "distance_range") and lo <= 0):
                raise ConfigError(f"AugmentConfig.{name} must be [low, high] with 0 < low <= high, got {[lo, hi]}")
        _check_ranges("AugmentConfig", self, {
            **{k: (0.0, 1.0) for k in ("high_camera_prob", "gap_prob", "dropout_prob", "dropout_rate", "swap_prob",
                                       "swap_rate", "flip_prob")},
            "pitch_roll_deg": (0.0, 45.0), "body_jitter": (0.0, 0.5), "gap_scale": (0.0, 5.0),
            "gap_random_m": (0.0, 0.2), "jitter_max": (0.0, 0.2), "drift_max": (0.0, 0.2), "drift_s": (0.001, 10.0)})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        """Return an AugmentConfig from a dict (ConfigError on unknown keys)."""
        return _coerce(cls, d)


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (see core.model.losses)."""

    mpjpe: float = 1.0
    temporal: float = 0.5
    velocity: float = 2.0
    accel: float = 0.0  # second-difference error; the temporal term (a pull towards stillness) fights it
    aux_2d: float = 0.5
    aux_depth: float = 0.5
    prior: float = 0.01

    def __post_init__(self) -> None:
        _check_ranges("LossConfig", self, {f.name: (0.0, 1000.0) for f in fields(self)})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LossConfig:
        """Return a LossConfig from a dict (ConfigError on unknown keys)."""
        return _coerce(cls, d)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``data_dir``/``cache_dir`` empty = the shared CMU set / ~/.cache/posemoe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data_dir: str = ""
    cache_dir: str = ""
    bvh_map: str = ""  # joint mapping JSON for a library whose joints are not recognised by name (core.rigs format)
    val_subjects: tuple[str, ...] = ()  # empty = core.training.validation_subjects chooses
    fps_choices: tuple[float, ...] = (25.0, 30.0, 50.0, 60.0)
    minutes: float = 40.0  # wall-clock budget; 0 = steps only
    steps: int = 0  # 0 = time budget only
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    device: str = "cpu"  # "auto" | "cpu" | "cuda" (core.inference.resolve_device)
    workers: int = 0  # batch-making processes; 0 = in the training process (enough on CPU, a GPU needs ~8)
    sampler: str = "numpy"  # "numpy": batches made on the CPU; "device": made on `device` (core.synthetic_device)
    val_every: int = 500
    val_windows: int = 256  # windows for periodic validation (final evaluation uses all)
    checkpoint_every: int = 1000
    init_weights: str = ""  # start from these weights (tensors whose name and shape match; --resume wins)

    def __post_init__(self) -> None:
        if self.workers < 0 or self.threads < 1 or self.batch_size < 1:
            raise ConfigError("TrainConfig: workers must be >= 0, threads and batch_size >= 1")
        if self.sampler not in ("numpy", "device"):
            raise ConfigError(f"TrainConfig.sampler must be numpy or device, got {self.sampler!r}")
        if self.sampler == "device" and self.workers:
            raise ConfigError("TrainConfig: sampler = \"device\" makes batches on the device itself; set workers = 0")
        _check_device("TrainConfig", self.device)
        _check_ranges("TrainConfig", self, {
            "lr": (1e-9, 10.0), "weight_decay": (0.0, 10.0), "warmup_steps": (0, 10**9), "grad_clip": (1e-6, 1e6),
            "minutes": (0.0, 1e6), "steps": (0, 10**12), "val_every": (1, 10**12), "val_windows": (1, 10**9),
            "checkpoint_every": (1, 10**12), "seed": (0, 2**63 - 1), "batch_size": (1, 10**6), "threads": (1, 1024),
            "workers": (0, 1024), "fps_choices": (1.0, 1000.0)})
        if not self.fps_choices:
            raise ConfigError("TrainConfig.fps_choices must list at least one frame rate, e.g. [25.0, 30.0]")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Return a TrainConfig from a nested dict (ConfigError on unknown keys at any level)."""
        _check_keys(cls, d)
        d = dict(d)
        subs = {"model": ModelConfig, "augment": AugmentConfig, "loss": LossConfig}
        for key, sub in subs.items():
            if key in d:
                d[key] = sub.from_dict(d[key])
        return _coerce(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a nested plain dict (tuples as lists)."""
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return list(v) if isinstance(v, tuple) else v

        return plain(asdict(self))


def load_toml(path: Path | str) -> dict[str, Any]:
    """Return the parsed TOML file as a dict (InputNotFoundError / ConfigError with the file name)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: config file not found; check the path (the shipped ones are in configs/)")
    if (kind := not_a_file(path)) is not None:
        raise ConfigError(f"{path}: is {kind}, not a TOML config file; give the file itself")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: Windows Notepad's byte-order mark
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from e
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML text file (not UTF-8 text); give a .toml config") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None


def load_train_config(path: Path | str) -> TrainConfig:
    """Return the TrainConfig of a TOML file (top-level keys plus [model], [augment], [loss] tables)."""
    data = load_toml(path)  # its errors name the file already
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def to_toml(d: dict[str, Any]) -> str:
    """Return TOML text for a nested dict of scalars, lists and sub-tables (enough for our configs)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if v is None:
            raise ConfigError("TOML has no null; leave the key out")
        return repr(v)

    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict) and v is not None]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in v.items() if vv is not None]
    return "\n".join(lines) + "\n"
