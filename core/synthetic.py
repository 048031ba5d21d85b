"""Synthetic 2D/3D training windows: re-posed bodies, resampled fps, random cameras, detector-gap noise.

Everything is vectorised numpy over a batch; a seeded ``np.random.Generator`` makes batches reproducible.
Outputs: normalised 2D inputs (B, T, 17, 2) float32 (core.keypoints.normalize_2d convention) and
root-relative camera-frame targets (B, T, 17, 3) float32 metres (x right, y down, z forward).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.bodies import sample_bodies
from core.config import AugmentConfig
from core.datasets import MotionSet, derive_virtual, node_positions, to_h36m
from core.errors import ConfigError
from core.skeleton import FLIP_PERM

log = logging.getLogger(__name__)

Array = Any  # a numpy array or a torch tensor: the functions that say so run on both

IMAGE_SIZES = ((1920, 1080), (1280, 720), (640, 480), (1080, 1920), (720, 1280), (576, 576), (1768, 994))
"""Landscape, portrait and square frame sizes (W, H) in pixels."""


@dataclass
class Batch:
    """One batch: x (B,T,17,2) normalised 2D input, y (B,T,17,3) metres camera frame root-relative,
    clean_2d (B,T,17,2) normalised 2D of the true joints, clip (B,) clip indices."""

    x: np.ndarray
    y: np.ndarray
    clean_2d: np.ndarray
    clip: np.ndarray


def _interp(motion: MotionSet, clip: np.ndarray, start: np.ndarray, step: np.ndarray, t: int
            ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Return (root (B,T,3), dirs (B,T,K,3)) linearly resampled at ``start + arange(t) * step`` source frames."""
    pos = start[:, None] + np.arange(t)[None] * step[:, None]
    last = motion.clip_len[clip][:, None] - 1
    pos = np.clip(pos, 0, last)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, last)
    w = (pos - i0).astype(np.float32)
    g0, g1 = i0 + motion.clip_start[clip][:, None], i1 + motion.clip_start[clip][:, None]
    root = motion.root[g0] * (1 - w[..., None]) + motion.root[g1] * w[..., None]
    dirs = motion.dirs[g0] * (1 - w[..., None, None]) + motion.dirs[g1] * w[..., None, None]
    norm = np.linalg.norm(dirs, axis=-1, keepdims=True)
    dirs = np.where(norm > 1e-6, dirs / np.maximum(norm, 1e-6), 0.0)
    return root.astype(np.float32), dirs.astype(np.float32)


def cameras(rng: np.random.Generator, centre: np.ndarray, aug: AugmentConfig
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Return (R (B,3,3) world->camera, C (B,3) camera centres, K (B,3) [f, cx, cy], size (B,2) [W, H])."""
    b = len(centre)
    size = np.array(IMAGE_SIZES)[rng.integers(len(IMAGE_SIZES), size=b)].astype(np.float32)
    focal = rng.uniform(*aug.focal_range, size=b) * size[:, 0]
    dist = rng.uniform(*aug.distance_range, size=b)
    dist = np.clip(np.maximum(dist, focal * 1.9 / (0.95 * size[:, 1])), None, 12.0)  # keep a standing body in view
    yaw = rng.uniform(-np.pi, np.pi, size=b)
    height = rng.uniform(*aug.height_range, size=b)
    if aug.high_camera_prob > 0:  # drawn only then, so the seeded validation cameras stay what they were
        high = rng.random(b) < aug.high_camera_prob
        height = np.where(high, rng.uniform(*aug.high_height_range, size=b), height)
    cam = np.stack([centre[:, 0] + dist * np.sin(yaw), height, centre[:, 2] + dist * np.cos(yaw)], axis=-1)
    look = centre + rng.normal(0, 0.25, size=(b, 3)) * np.array([1.0, 0.5, 1.0])
    z = look - cam
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    up = np.array([0.0, 1.0, 0.0])
    x = np.cross(z, up)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    rot = np.stack([x, y, z], axis=1)
    pitch, roll = np.deg2rad(rng.normal(0, aug.pitch_roll_deg, size=(2, b)))
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    one, zero = np.ones(b), np.zeros(b)
    r_pitch = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1),
                        np.stack([zero, sp, cp], -1)], axis=1)  # fmt: skip
    r_roll = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1),
                       np.stack([zero, zero, one], -1)], axis=1)  # fmt: skip
    rot = r_roll @ r_pitch @ rot
    centre_px = size / 2 + rng.normal(0, 0.01, size=(b, 2)) * size[:, :1]
    intr = np.concatenate([focal[:, None], centre_px], axis=-1)
    return rot.astype(np.float32), cam.astype(np.float32), intr.astype(np.float32), size


def project(world: Array, rot: Array, cam: Array, intr: Array) -> tuple[Array, Array]:
    """Return (camera-frame points (B,T,17,3), pixels (B,T,17,2)) of world points (B,T,17,3).

    numpy arrays or torch tensors alike (operators and methods both share), so the device sampler
    (core.synthetic_device) projects with this same code."""
    b, t, k, _ = world.shape  # a batched BLAS product: ~30x faster than the same np.einsum
    pc = ((world - cam[:, None, None]).reshape(b, t * k, 3) @ rot.swapaxes(-1, -2)).reshape(b, t, k, 3)
    z = pc[..., 2:].clip(min=0.1)
    px = pc[..., :2] / z * intr[:, None, None, :1] + intr[:, None, None, 1:]
    return pc, px


@dataclass
class GapDraws:
    """Per-clip draws of :func:`detector_gap` (each (B,), offsets (B,1,17,3)), numpy or torch alike."""

    on: Array
    towards: list[Array]  # magnitudes for GAP_TOWARDS, in its order
    hip_in: Array
    sh_in: Array
    sh_up: Array
    offsets: Array

    def map(self, f: Callable[[Array], Array]) -> GapDraws:
        """Return the draws with ``f`` applied to every array (core.synthetic_device: numpy to device tensors)."""
        return GapDraws(f(self.on), [f(m) for m in self.towards], f(self.hip_in), f(self.sh_in), f(self.sh_up),
                        f(self.offsets))  # fmt: skip


GAP_TOWARDS = ((3, 2, 0.015, 0.045), (6, 5, 0.015, 0.045), (2, 1, 0.005, 0.035), (5, 4, 0.005, 0.035))
"""(joint, towards joint, lowest, highest metres): ankles towards the knees, knees towards the hips."""


def gap_draws(rng: np.random.Generator, b: int, aug: AugmentConfig) -> GapDraws:
    """Return the per-clip random magnitudes of :func:`detector_gap` for ``b`` clips."""
    on = (rng.random(b) < aug.gap_prob).astype(np.float32) * aug.gap_scale
    towards = [rng.uniform(lo, hi, b) for _, _, lo, hi in GAP_TOWARDS]
    hip_in, sh_in, sh_up = rng.uniform(0.0, 0.035, (3, b))
    offsets = rng.normal(0, aug.gap_random_m, size=(b, 1, 17, 3)).astype(np.float32) * (on > 0)[:, None, None, None]
    return GapDraws(on, towards, hip_in, sh_in, sh_up, offsets)


def detector_gap(world: np.ndarray, rng: np.random.Generator, aug: AugmentConfig) -> np.ndarray:
    """Return H36M joints (B,T,17,3) metres moved where a 2D detector puts them: per-clip constant offsets.

    Ankles ~3 cm towards the knees, knees ~2 cm towards the hips, hips closer together, shoulders closer
    together and higher (data/README.md), random per-clip magnitudes, plus small random constant offsets.
    """
    return apply_gap(world, gap_draws(rng, world.shape[0], aug))


def apply_gap(world: Array, d: GapDraws) -> Array:
    """Return a moved copy of ``world`` (B,T,17,3) for the draws ``d`` (numpy, or torch on world's device)."""
    out = world.copy() if isinstance(world, np.ndarray) else world.clone()

    def towards(a: int, t: Array, mag: Array) -> None:
        v = t - world[:, :, a]
        v /= ((v**2).sum(-1, keepdims=True) ** 0.5).clip(min=1e-6)
        out[:, :, a] += (mag * d.on)[:, None, None] * v

    up = world[:, :, 8] - world[:, :, 0]
    for (a, k, _, _), mag in zip(GAP_TOWARDS, d.towards, strict=True):
        towards(a, world[:, :, k], mag)
    towards(1, world[:, :, 0], d.hip_in)
    towards(4, world[:, :, 0], d.hip_in)
    towards(11, world[:, :, 8], d.sh_in)
    towards(14, world[:, :, 8], d.sh_in)
    towards(11, world[:, :, 11] + up, d.sh_up)
    towards(14, world[:, :, 14] + up, d.sh_up)
    out += d.offsets
    return derive_virtual(out)


DRIFT_PROFILE = np.array([0.61, 0.79, 1.27, 1.27, 0.79, 1.27, 1.27, 0.43, 0.49, 0.79, 0.73, 0.79, 1.34, 1.52,
                          0.79, 1.34, 1.52], np.float32)
"""Relative size per joint (mean 1) of the detector's slowly varying 2D error: what is left of MediaPipe's error
(as the pipeline moves its landmarks) after each clip's constant offset, smoothed over 0.1 s, measured on 30 renders
of training subjects (docs/model.md section 1g), left and right averaged. Limbs' ends wander most, the trunk least."""


def drift_kernel(sigma_frames: Array, t: int) -> Array:
    """Return (B,T,T) Gaussian smoothing matrices of std ``sigma_frames`` (B,) whose rows have unit norm, so white
    unit noise through them stays unit variance, correlated over about that many frames (numpy or torch)."""
    if isinstance(sigma_frames, np.ndarray):
        i = np.arange(t, dtype=np.float32)
        k = np.exp(-0.5 * ((i[:, None] - i[None]) / sigma_frames.astype(np.float32)[:, None, None]) ** 2)
        return k / np.sqrt((k**2).sum(-1, keepdims=True))
    import torch

    i = torch.arange(t, dtype=torch.float32, device=sigma_frames.device)
    k = torch.exp(-0.5 * ((i[:, None] - i[None]) / sigma_frames[:, None, None]) ** 2)
    return k / (k**2).sum(-1, keepdim=True).sqrt()


def _noise_2d(px: np.ndarray, rng: np.random.Generator, aug: AugmentConfig, fps: np.ndarray) -> np.ndarray:
    """Return pixels (B,T,17,2) with white jitter, slow drift (windows at ``fps`` (B,)), dropped joints and
    occasional left/right swapped frames."""
    b, t = px.shape[:2]
    height = px[..., 1].max(axis=(1, 2)) - px[..., 1].min(axis=(1, 2)) + 1.0
    sigma = rng.uniform(0, aug.jitter_max, b) * height
    out = px + rng.normal(size=px.shape).astype(np.float32) * sigma[:, None, None, None]
    if aug.drift_max > 0:  # drawn only when asked, so older recipes keep their random streams
        amp = rng.uniform(0, aug.drift_max, b) * height
        white = rng.normal(size=(b, t, px.shape[2] * 2)).astype(np.float32)
        drift = np.matmul(drift_kernel(np.maximum(aug.drift_s * fps, 1e-3), t), white).reshape(px.shape)
        out = out + drift * (amp[:, None, None, None] * DRIFT_PROFILE[None, None, :, None])
    drop = (rng.random((b, t, 17)) < aug.dropout_rate) & (rng.random(b) < aug.dropout_prob)[:, None, None]
    if drop.any():  # a lost joint: the detector repeats the last frame's point or guesses badly
        prev = np.concatenate([out[:, :1], out[:, :-1]], axis=1)
        guess = prev + rng.normal(size=px.shape).astype(np.float32) * (0.05 * height)[:, None, None, None]
        out = np.where(drop[..., None], guess, out)
    swap = (rng.random((b, t)) < aug.swap_rate) & (rng.random(b) < aug.swap_prob)[:, None]
    if swap.any():
        out[swap] = out[swap][:, FLIP_PERM]
    return out


def normalise(px: Array, size: Array) -> Array:
    """Return pixels (B,T,17,2) normalised per sample as core.keypoints.normalize_2d does (numpy or torch)."""
    w, h = size[:, 0, None, None, None], size[:, 1, None, None]
    out = px / w * 2.0
    out[..., 0] -= 1.0
    out[..., 1] -= (h / size[:, 0, None, None])
    return out


class WindowSampler:
    """Draws synthetic training windows of ``window`` frames from the clips ``clip_ids`` of a MotionSet."""

    def __init__(self, motion: MotionSet, clip_ids: np.ndarray, window: int, fps_choices: tuple[float, ...],
                 aug: AugmentConfig, bodies: list[dict[str, float]], seed: int = 0,
                 body_bank: int = 1024, role: str = "training") -> None:  # fmt: skip
        self.motion, self.window, self.aug, self.bodies = motion, window, aug, bodies
        self.fps_choices = np.asarray(fps_choices, dtype=np.float64)
        self.clip_ids = np.asarray([c for c in clip_ids if motion.clip_len[c] > window + 1], dtype=np.int64)
        if len(clip_ids) and not len(self.clip_ids):
            longest = int(motion.clip_len[np.asarray(clip_ids)].max())
            raise ConfigError(f"none of the {len(clip_ids)} {role} clips is longer than the model's window of "
                              f"{window} frames (the longest has {longest}); give longer clips, or windows under "
                              f"{longest - 1} frames (the config's [model] window; posemoe eval --window)")
        w = motion.clip_len[self.clip_ids].astype(np.float64)
        self.weights = w / w.sum()
        self.rng = np.random.default_rng(seed)
        self.body_lengths, self.body_root_scale = sample_bodies(
            motion.graph, bodies, body_bank, np.random.default_rng(seed + 7919), aug.body_jitter)

    def reseed(self, *seed: int) -> None:
        """Restart the sampler's draws from ``seed`` (a run resumed at a step, a batch-making process)."""
        self.rng = np.random.default_rng(list(seed))

    def sample(self, batch_size: int) -> Batch:
        """Return a random :class:`Batch` (clips drawn proportionally to their length)."""
        rng, t = self.rng, self.window
        clip = self.clip_ids[rng.choice(len(self.clip_ids), size=batch_size, p=self.weights)]
        fps = self.fps_choices[rng.integers(len(self.fps_choices), size=batch_size)]
        step = self.motion.fps[clip] / fps
        span = np.minimum((t - 1) * step, self.motion.clip_len[clip] - 1.0)
        start = rng.random(batch_size) * (self.motion.clip_len[clip] - 1.0 - span)
        return self.render(clip, start, step, rng)

    def render(self, clip: np.ndarray, start: np.ndarray, step: np.ndarray, rng: np.random.Generator) -> Batch:
        """Return the :class:`Batch` of given clips, start frames and source-frame steps, with random bodies,
        cameras and noise from ``rng``."""
        aug, graph = self.aug, self.motion.graph
        root, dirs = _interp(self.motion, clip, start, step, self.window)
        pick = rng.integers(len(self.body_lengths), size=len(clip))
        lengths, root_scale = self.body_lengths[pick], self.body_root_scale[pick]
        root = root * root_scale[:, None, None]
        world = to_h36m(graph, node_positions(graph, root, dirs, lengths[:, None]))
        centre = world[:, :, 0].mean(axis=1)
        centre[:, 1] = 0.0
        rot, cam, intr, size = cameras(rng, centre.astype(np.float64), aug)
        pc, px_clean = project(world, rot, cam, intr)
        _, px = project(detector_gap(world, rng, aug), rot, cam, intr)
        px = _noise_2d(px, rng, aug, self.motion.fps[clip] / step)
        y = pc - pc[:, :, :1]
        x, clean = normalise(px, size).astype(np.float32), normalise(px_clean, size).astype(np.float32)
        flip = rng.random(len(clip)) < aug.flip_prob
        if flip.any():
            for a in (x, clean, y):
                a[flip] = a[flip][:, :, FLIP_PERM]
                a[flip, ..., 0] *= -1
        return Batch(x, y.astype(np.float32), clean, clip)

    def fixed_windows(self, max_windows: int, seed: int, fps: float = 30.0) -> Batch:
        """Return a reproducible :class:`Batch` of non-overlapping windows at ``fps`` over all clips (seeded
        bodies/cameras/noise), evenly subsampled to at most ``max_windows`` (0 = all)."""
        items = []
        for c in self.clip_ids:
            step = self.motion.fps[c] / fps
            span = (self.window - 1) * step
            for s in np.arange(0.0, self.motion.clip_len[c] - 1.0 - span, self.window * step):
                items.append((c, s, step))
        if max_windows and len(items) > max_windows:
            items = [items[i] for i in np.linspace(0, len(items) - 1, max_windows).astype(int)]
        arr = np.array(items)
        rng = np.random.default_rng(seed)
        return self.render(arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], rng)
