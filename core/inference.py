"""Sliding-window lifting of a whole clip: overlap averaging, edge padding, flip TTA, batching.

The model maps (B, T, 17, 2) normalised 2D windows to (B, T, 17, 3) root-relative 3D in
metres (camera frame). Clips of any length are cut into windows of the model's length
with the given stride; every frame's output is the mean over the windows covering it.
:func:`lift_many` does the same for several clips at once, their windows sharing batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.config import InferenceConfig
from core.errors import WorkerEnvError
from core.keypoints import normalize_2d, turn_camera_points, turn_points, upright_turns
from core.skeleton import FLIP_PERM

log = logging.getLogger(__name__)

AUTO_BATCH = {"cpu": 16, "cuda": 256}
"""Windows per forward pass when InferenceConfig.batch_size is 0. CPU: 16 lifts as fast as 64 with ~100 MB
less peak memory for the 3 M-parameter temporal MLP; CUDA: 256 lifts 1.5x faster than 64 on an H200
(benchmarks/lifter_speed.py)."""


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name`` ("auto" | "cpu" | "cuda" | "cuda:N")."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda_n = name.startswith("cuda:") and name[5:].isdigit()
    if name not in ("cpu", "cuda") and not cuda_n:
        raise WorkerEnvError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name != "cpu" and not torch.cuda.is_available():
        raise WorkerEnvError(f"--device {name} was asked for but torch sees no CUDA device; use --device auto or cpu")
    if cuda_n and int(name[5:]) >= torch.cuda.device_count():
        raise WorkerEnvError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s); use cuda:0")
    return torch.device(name)


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Return window start frames covering ``num_frames`` (the last window ends at the clip end)."""
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, max(1, stride)))
    if starts[-1] != num_frames - window:
        starts.append(num_frames - window)
    return starts


def window_weights(window: int, blend: str = "hann") -> np.ndarray:
    """Return (window,) weights of each window position when overlapping outputs are averaged.

    "hann" favours a window's centre, where the model sees context on both sides, and fades the edges,
    so no window boundary makes a step in the stitched output (uniform "mean" leaves one wherever a
    window starts or ends: docs/model.md, "Stitching windows"). Never exactly zero, so a frame covered
    by one window only (a clip's first and last frames) still gets it.
    """
    if blend == "mean" or window < 3:
        return np.ones(window, np.float32)
    k = np.arange(window, dtype=np.float64)
    return (np.sin(np.pi * (k + 0.5) / window) ** 2 + 1e-3).astype(np.float32)


def _flip_2d(x: torch.Tensor) -> torch.Tensor:
    """Mirror normalised 2D (B,T,17,2) about the image's vertical centre line, swapping sides."""
    x = x[..., FLIP_PERM, :].clone()
    x[..., 0] = -x[..., 0]
    return x


def _flip_3d(y: torch.Tensor) -> torch.Tensor:
    y = y[..., FLIP_PERM, :].clone()
    y[..., 0] = -y[..., 0]
    return y


def _run_batch(model: torch.nn.Module, x: torch.Tensor, flip_tta: bool, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda"):
        if flip_tta:
            both = model(torch.cat([x, _flip_2d(x)], dim=0)).float()
            n = x.shape[0]
            y = 0.5 * (both[:n] + _flip_3d(both[n:]))
        else:
            y = model(x).float()
    y = y - y[..., :1, :]  # root-relative by contract, whatever the numerics did
    return y.cpu()


def lift_sequence(
    joints_2d: np.ndarray,
    image_size: tuple[int, int],
    model: torch.nn.Module,
    window: int,
    cfg: InferenceConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Return (T,17,3) float32 root-relative 3D joints (metres, camera frame) for (T,17,2) pixels (``valid``
    (T,) bool: the frames with a person, for :func:`lift_input`)."""
    x, turns = lift_input(joints_2d, image_size, valid)
    return turn_camera_points(lift_many(model, [x], window, cfg, on_progress)[0], -turns)


def lift_input(joints_2d: np.ndarray, image_size: tuple[int, int], valid: np.ndarray | None = None
               ) -> tuple[np.ndarray, int]:
    """Return (normalised 2D (T,17,2), k): the lifter's input for a clip's pixels, turned by k quarter turns so
    that the person is upright (core.keypoints.upright_turns). The lifter learnt from cameras rolled by a few
    degrees only: on the demo clip turned on its side or upside down its P-MPJPE was 86 and 102 mm against 57
    upright, and turned back upright here it is the upright figure. Its output is in the turned camera: turn
    it back with ``turn_camera_points(joints_3d, -k)``."""
    turns = upright_turns(joints_2d, valid)
    xy, size = turn_points(joints_2d, image_size, turns)
    return normalize_2d(xy, *size), turns


def _pad_to_window(x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """Return ``x`` edge-padded (first/last frame repeated) to at least ``window`` frames, and the left pad."""
    t = len(x)
    if t >= window:
        return x, 0
    left = (window - t) // 2
    return np.concatenate([np.repeat(x[:1], left, 0), x, np.repeat(x[-1:], window - t - left, 0)]), left


def lift_many(
    model: torch.nn.Module,
    sequences: Sequence[np.ndarray],
    window: int,
    cfg: InferenceConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Lift several clips together; return, per clip, what :func:`lift_sequence` returns for it.

    ``sequences`` are (T_i,17,2) *normalised* 2D (core.keypoints.normalize_2d). The windows of
    all clips go through the same forward batches, so many short clips fill a batch (what keeps a
    GPU busy in ``posemoe batch``); in eval mode a window's output does not depend on its batch
    mates, so the numbers equal per-clip lifting. ``on_progress(done, total)`` counts windows.
    """
    cfg = cfg or InferenceConfig()
    device = resolve_device(cfg.device)
    model = model.to(device).eval()
    stride = cfg.stride or max(1, window // 2)
    batch_size = cfg.batch_size or AUTO_BATCH[device.type]
    weights = torch.from_numpy(window_weights(window, cfg.blend))[:, None, None]
    xs, lefts, outs, counts, work = [], [], [], [], []
    for i, seq in enumerate(sequences):
        if len(seq) == 0:
            raise ValueError(f"lift_many: sequence {i} has no frames")
        x, left = _pad_to_window(np.asarray(seq, np.float32), window)
        xs.append(torch.from_numpy(np.ascontiguousarray(x)))
        lefts.append(left)
        outs.append(torch.zeros((len(x), x.shape[1], 3)))
        counts.append(torch.zeros((len(x), 1, 1)))
        work += [(i, s) for s in window_starts(len(x), window, stride)]
    with torch.inference_mode():
        for b in range(0, len(work), batch_size):
            chunk = work[b:b + batch_size]
            y = _run_batch(model, torch.stack([xs[i][s:s + window] for i, s in chunk]), cfg.flip_tta, device)
            for (i, s), ys in zip(chunk, y, strict=True):
                outs[i][s:s + window] += ys * weights
                counts[i][s:s + window] += weights
            if on_progress is not None:
                on_progress(b + len(chunk), len(work))
    return [(o / c)[left:left + len(seq)].numpy().astype(np.float32)
            for o, c, left, seq in zip(outs, counts, lefts, sequences, strict=True)]
