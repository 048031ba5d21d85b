"""Sliding-window lifting of a whole clip: overlap averaging, short clips, flip TTA, batching.

The model maps (B, T, 17, 2) normalised 2D windows to (B, T, 17, 3) root-relative 3D in
metres (camera frame). Clips of any length are cut into windows of the model's length
with the given stride; every frame's output is the mean over the windows covering it. Clips
shorter than a window are lifted whole where the model takes any length, else edge-padded
(:func:`_short_clip`); frames before the first person found and after the last are not lifted (:func:`seen_span`).
:func:`lift_many` does the same for several clips at once, their windows sharing batches.
Clips filmed well outside the frame rates the lifter learnt are lifted at a rate it knows (:func:`rate_plan`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

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


LIFT_RATES = (20.0, 55.0)
"""Frame rates (fps) lifted as they are. The lifter learnt 25-60 fps (TrainConfig.fps_choices); slower and
faster clips are lifted at a rate where it does best (:func:`rate_plan`; docs/model.md, "Frame rates")."""
LIFT_FOCAL = 1.0
"""Focal length, in image widths, that a clip's 2D is zoomed to when its focal length is known: the middle of
the 0.5-1.5 widths the lifter learnt (AugmentConfig.focal_range). Zooming about the image centre is what a
camera's zoom does, so the camera-frame pose stays the same; the lifter then need not guess the lens
(docs/model.md, "Known focal length")."""
MAX_RATE_FACTOR = 8
"""At most 8x: 3 fps and slower are lifted at 8x; 480 fps slow motion as 8 streams of 60 fps."""


def rate_plan(fps: float | None, frames: int) -> tuple[int, int]:
    """Return ``(up, streams)`` for lifting a clip of ``frames`` frames at ``fps``.

    ``up`` > 1: the 2D is interpolated to ``up`` times the rate (at least 25 fps; at most 8x, so 3 fps is lifted
    at 24) and every ``up``-th output kept: at 5 / 10 / 15 fps the lifter sees steps 5 / 3 / 2 times larger than
    any it learnt, and lifting at 25 / 30 / 30 fps took validation P-MPJPE from 45.8 / 38.7 / 33.2 to 32.4 / 33.8
    / 31.4 mm. ``streams`` > 1: fast clips are lifted as that many interleaved clips of 27-40 fps (every
    ``streams``-th frame; at most 8 streams, so from 320 fps on they are faster), each with a window that spans
    more time: on real MediaPipe 2D of rendered clips 60 fps as 2 x 30 was 0.1-0.3 mm better in P-MPJPE, 120 fps
    as 3 x 40 1.3 mm. Unknown or impossible rates, rates within LIFT_RATES and clips too short to split are
    lifted as they are: ``(1, 1)``.
    """
    if not fps or not math.isfinite(fps) or fps <= 0 or LIFT_RATES[0] <= fps <= LIFT_RATES[1]:
        return 1, 1
    if fps < LIFT_RATES[0]:
        return (MAX_RATE_FACTOR if fps * MAX_RATE_FACTOR < 25.0 else math.ceil(25.0 / fps)), 1
    streams = min(MAX_RATE_FACTOR, math.ceil(fps / 40.0))
    return (1, streams) if frames >= 2 * streams else (1, 1)


def _rate_pieces(x: np.ndarray, up: int, streams: int) -> list[np.ndarray]:
    """Return the sequences to lift for normalised 2D ``x`` (T,17,2) under ``rate_plan``'s (up, streams)."""
    if up > 1 and len(x) > 1:
        from scipy.interpolate import interp1d

        t = np.arange((len(x) - 1) * up + 1) / up
        return [interp1d(np.arange(len(x)), x, axis=0, assume_sorted=True)(t).astype(np.float32)]
    return [x[i::streams] for i in range(streams)]


def _rate_join(pieces: list[np.ndarray], frames: int, up: int, streams: int) -> np.ndarray:
    """Return the (frames,17,3) lift of a clip from its pieces' lifts (the inverse of :func:`_rate_pieces`).

    Interleaved streams are lifted apart, so each has its own small bias: their interleave would alternate
    between them from frame to frame. A triangle filter 2 * streams - 1 frames wide (at 60 fps [1, 2, 1] / 4)
    cancels that alternation exactly (zero gain at every multiple of fps / streams) and keeps the motion
    (93-96 % of a 5 Hz movement at 60-240 fps; the clean-up's own low-pass is lower)."""
    if streams == 1:
        return pieces[0][::up] if up > 1 else pieces[0]
    from scipy.ndimage import convolve1d

    y = np.empty((frames, *pieces[0].shape[1:]), np.float32)
    for i, p in enumerate(pieces):
        y[i::streams] = p
    tri = np.convolve(np.ones(streams), np.ones(streams))
    return convolve1d(y, (tri / tri.sum()).astype(np.float32), axis=0, mode="nearest")


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
    fps: float | None = None,
    focal: float | None = None,
    upright: bool = True,
) -> np.ndarray:
    """Return (T,17,3) float32 root-relative 3D joints (metres, camera frame) for (T,17,2) pixels (``valid``
    (T,) bool: the frames with a person, ``focal`` and ``upright``, for :func:`lift_input`; ``fps``: the clip's
    rate, see :func:`rate_plan`)."""
    clip = ClipInput(joints_2d, image_size, valid, fps, focal, upright)
    return lift_clips(model, [clip], window, cfg, on_progress)[0]


class ClipInput(NamedTuple):
    """One clip (or one shot of one) to lift: (T,17,2) pixels and what :func:`lift_input` and :func:`rate_plan` need
    (``valid`` (T,) bool: the frames with a person)."""

    joints_2d: np.ndarray
    image_size: tuple[int, int]
    valid: np.ndarray | None = None
    fps: float | None = None
    focal: float | None = None
    upright: bool = True


def lift_clips(model: torch.nn.Module, clips: Sequence[ClipInput], window: int, cfg: InferenceConfig | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
    """Return, per clip, what :func:`lift_sequence` returns for it: each turned upright (:func:`lift_input`), lifted
    from its first frame with a person to its last (:func:`seen_span`, :func:`hold_ends`), its windows sharing
    batches with the other clips' (:func:`lift_many`), and turned back."""
    inputs = [lift_input(c.joints_2d, c.image_size, c.valid, c.focal, c.upright) for c in clips]
    spans = [seen_span(c.valid, len(x)) for c, (x, _) in zip(clips, inputs, strict=True)]
    lifted = lift_many(model, [x[a:b] for (x, _), (a, b) in zip(inputs, spans, strict=True)], window, cfg,
                       on_progress, [c.fps for c in clips])
    return [turn_camera_points(hold_ends(y, a, len(x)), -turns)
            for y, (x, turns), (a, _) in zip(lifted, inputs, spans, strict=True)]


def seen_span(valid: np.ndarray | None, frames: int) -> tuple[int, int]:
    """Return the half-open frame span of a clip to lift: from its first frame with a person to its last (``valid``
    (T,) bool); the whole clip where ``valid`` is None or has none.

    Before a person walks in and after they leave, the extraction holds their first and last 2D, which the temporal
    lifter reads as a person standing still there, and the frames next to it suffer: lifted from the first frame
    with a person, synthetic validation clips read 0.9-1.5 mm lower MPJPE within 40 frames of the lost ones (10 or 60
    at the start, 60 at the end), real MediaPipe 2D of renders with their first 30 frames lost 1.8 mm lower. Gaps
    inside a clip stay lifted through their interpolated 2D: lifted apart on either side, 90-frame renders with 30
    frames lost in the middle read 2.6 mm worse (synthetic 90-frame clips 0.1), 240-frame renders with 15-60 lost
    after frame 90 0.1-0.8 worse, though 243-frame synthetic clips read 0.8-0.9 better near the gap (docs/model.md
    section 2c, benchmarks/lost_frames.py)."""
    v = np.ones(frames, bool) if valid is None else np.asarray(valid, bool).reshape(-1)
    if len(v) != frames:
        raise ValueError(f"seen_span: {len(v)} valid flags for {frames} frames")
    seen = np.flatnonzero(v)
    return (int(seen[0]), int(seen[-1]) + 1) if len(seen) else (0, frames)


def hold_ends(lifted: np.ndarray, start: int, frames: int) -> np.ndarray:
    """Return a clip's (frames, 17, 3) joints from the lift of its span from ``start`` (:func:`seen_span`): the frames
    before and after it hold the span's first and last pose, as the extraction holds their 2D."""
    end = frames - start - len(lifted)
    return np.concatenate([np.repeat(lifted[:1], start, 0), lifted, np.repeat(lifted[-1:], end, 0)]).astype(np.float32)


def lift_input(joints_2d: np.ndarray, image_size: tuple[int, int], valid: np.ndarray | None = None,
               focal: float | None = None, upright: bool = True) -> tuple[np.ndarray, int]:
    """Return (normalised 2D (T,17,2), k): the lifter's input for a clip's pixels, turned by k quarter turns so
    that the person is upright (core.keypoints.upright_turns). The lifter learnt from cameras rolled by a few
    degrees only: on the demo clip turned on its side or upside down its P-MPJPE was 86 and 102 mm against 57
    upright, and turned back upright here it is the upright figure. Its output is in the turned camera: turn
    it back with ``turn_camera_points(joints_3d, -k)``.

    ``focal``: the camera's focal length in pixels where it is known; the 2D is then zoomed about the image
    centre to LIFT_FOCAL. Unknown (None), the lifter sees the clip as filmed.

    ``upright`` False: no turn (k = 0), for a person who lies down in an upright video, whom turning would lift
    as a standing one (rendered clips of people lying down: P-MPJPE 8-16 mm lower as filmed)."""
    turns = upright_turns(joints_2d, valid) if upright else 0
    xy, size = turn_points(joints_2d, image_size, turns)
    x = normalize_2d(xy, *size)
    if focal is not None and focal > 0:
        x *= np.float32(LIFT_FOCAL * size[0] / focal)
    return x, turns


def _short_clip(model: torch.nn.Module, x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """Return what to lift of a clip ``x`` (T, 17, 2) and where the clip starts in it.

    Clips of a window or longer are returned as they are. A shorter one is returned as it is too where the model
    lifts any length (``model.any_length``: the per-frame and temporal MLPs; their convolutions pad each layer by
    replication, as at every training window's edges), else edge-padded (first/last frame repeated) to ``window``
    frames. Padded, the lifter sees the person hold still for up to a window's length, which it never saw in
    training: on synthetic validation clips of 21-59 frames lifting them whole lowered MPJPE by 1.2-2.9 mm and
    P-MPJPE by 0.3-0.6 (accel within 0.04), on real MediaPipe 2D of the 20 renders under 81 frames
    P-MPJPE 29.65 -> 29.33 and MPJPE 68.5 -> 65.8 (benchmarks/short_clips.py; docs/model.md, section 2c)."""
    t = len(x)
    if t >= window or getattr(model, "any_length", False):
        return x, 0
    left = (window - t) // 2
    return np.concatenate([np.repeat(x[:1], left, 0), x, np.repeat(x[-1:], window - t - left, 0)]), left


def lift_many(
    model: torch.nn.Module,
    sequences: Sequence[np.ndarray],
    window: int,
    cfg: InferenceConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    fps: Sequence[float | None] | None = None,
) -> list[np.ndarray]:
    """Lift several clips together; return, per clip, what :func:`lift_sequence` returns for it.

    ``sequences`` are (T_i,17,2) *normalised* 2D (core.keypoints.normalize_2d), ``fps`` their frame rates
    (default unknown: lifted as they are; see :func:`rate_plan`). The windows of all clips go through the same
    forward batches, so many short clips fill a batch (what keeps a GPU busy in ``posemoe batch``); in eval mode
    a window's output does not depend on its batch mates, so the numbers equal per-clip lifting.
    ``on_progress(done, total)`` counts windows.
    """
    for i, seq in enumerate(sequences):
        if len(seq) == 0:
            raise ValueError(f"lift_many: sequence {i} has no frames")
    rates = [None] * len(sequences) if fps is None else list(fps)
    plans = [rate_plan(f, len(seq)) for seq, f in zip(sequences, rates, strict=True)]
    pieces = [_rate_pieces(np.asarray(seq, np.float32), *plan) for seq, plan in zip(sequences, plans, strict=True)]
    flat = _lift_windows(model, [p for ps in pieces for p in ps], window, cfg, on_progress)
    out, at = [], 0
    for seq, ps, plan in zip(sequences, pieces, plans, strict=True):
        out.append(_rate_join(flat[at:at + len(ps)], len(seq), *plan))
        at += len(ps)
    return out


def _lift_windows(model: torch.nn.Module, sequences: Sequence[np.ndarray], window: int,
                  cfg: InferenceConfig | None, on_progress: Callable[[int, int], None] | None) -> list[np.ndarray]:
    """Return :func:`lift_many` for sequences lifted at their own rate (each one cut into windows)."""
    cfg = cfg or InferenceConfig()
    device = resolve_device(cfg.device)
    model = model.to(device).eval()
    stride = cfg.stride or max(1, window // 2)
    batch_size = cfg.batch_size or AUTO_BATCH[device.type]
    weights = torch.from_numpy(window_weights(window, cfg.blend))[:, None, None]
    xs, lefts, outs, counts, work = [], [], [], [], []
    for i, seq in enumerate(sequences):
        x, left = _short_clip(model, np.asarray(seq, np.float32), window)
        xs.append(torch.from_numpy(np.ascontiguousarray(x)))
        lefts.append(left)
        outs.append(torch.zeros((len(x), x.shape[1], 3)))
        counts.append(torch.zeros((len(x), 1, 1)))
        work += [(i, s) for s in window_starts(len(x), window, stride)]
    by_length: dict[int, list[tuple[int, int]]] = {}  # a batch stacks windows of one length (short clips: their own)
    for i, s in work:
        by_length.setdefault(min(window, len(xs[i])), []).append((i, s))
    chunks = [g[b:b + batch_size] for g in by_length.values() for b in range(0, len(g), batch_size)]
    done = 0
    with torch.inference_mode():
        for chunk in chunks:
            y = _run_batch(model, torch.stack([xs[i][s:s + window] for i, s in chunk]), cfg.flip_tta, device)
            for (i, s), ys in zip(chunk, y, strict=True):
                outs[i][s:s + len(ys)] += ys * weights[: len(ys)]
                counts[i][s:s + len(ys)] += weights[: len(ys)]
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, len(work))
    return [(o / c)[left:left + len(seq)].numpy().astype(np.float32)
            for o, c, left, seq in zip(outs, counts, lefts, sequences, strict=True)]
