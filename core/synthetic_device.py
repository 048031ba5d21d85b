"""Synthetic training windows made on the training device (torch): core.synthetic's sampler, per frame on a GPU.

Why: on a GPU the batch-making processes, not the GPU, limited training (docs/model.md section 2d: 1.2 M
frames/s with 14 processes, twice the frames with twice the processes). Here the per-clip draws (clips, start
frames, bodies, cameras, the detector's constant offsets, noise levels, flips) stay numpy, B-sized and cheap,
made by the same functions as :class:`core.synthetic.WindowSampler`; the per-frame work (resampling, forward
kinematics, projection, jitter, dropped joints, swapped frames) runs as tensors on the device, with its own
seeded ``torch.Generator``. Same distributions as the numpy sampler, not the same numbers: the per-frame
draws come from another generator (tests/unit/test_synthetic_device.py compares both).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.config import AugmentConfig
from core.datasets import H36M_ROLES, MotionSet, derive_virtual, path_matrix
from core.skeleton import FLIP_PERM
from core.synthetic import (
    DRIFT_PROFILE,
    WindowSampler,
    apply_gap,
    cameras,
    drift_kernel,
    gap_draws,
    normalise,
    project,
)


@dataclass
class TensorBatch:
    """One batch on the device: x (B,T,17,2), y (B,T,17,3), clean_2d (B,T,17,2) float32 tensors, clip (B,)."""

    x: torch.Tensor
    y: torch.Tensor
    clean_2d: torch.Tensor
    clip: np.ndarray


class DeviceWindowSampler(WindowSampler):
    """:class:`core.synthetic.WindowSampler` whose batches are made on ``device`` (see the module docstring)."""

    def __init__(self, motion: MotionSet, clip_ids: np.ndarray, window: int, fps_choices: tuple[float, ...],
                 aug: AugmentConfig, bodies: list[dict[str, float]], seed: int = 0, body_bank: int = 1024,
                 device: torch.device | str = "cpu") -> None:  # fmt: skip
        super().__init__(motion, clip_ids, window, fps_choices, aug, bodies, seed, body_bank)
        dev = self.device = torch.device(device)
        m = self.motion
        self.root_t = torch.as_tensor(m.root, dtype=torch.float32, device=dev)
        self.dirs_t = torch.as_tensor(m.dirs, dtype=torch.float32, device=dev)
        self.clip_start_t = torch.as_tensor(m.clip_start, dtype=torch.int64, device=dev)
        self.clip_len_t = torch.as_tensor(m.clip_len, dtype=torch.int64, device=dev)
        self.path_t = self._t(path_matrix(tuple(int(p) for p in m.graph.parent)))  # a copy: the cached one is read-only
        self.h36m_t = torch.as_tensor([m.graph.role_node[r] for r in H36M_ROLES], device=dev)
        self.lengths_t = torch.as_tensor(self.body_lengths, dtype=torch.float32, device=dev)
        self.root_scale_t = torch.as_tensor(self.body_root_scale, dtype=torch.float32, device=dev)
        self.flip_t = torch.as_tensor(FLIP_PERM, device=dev)
        self.gen = torch.Generator(device=dev)
        self.reseed(seed)

    def reseed(self, *seed: int) -> None:
        """Seed both generators (numpy for per-clip draws, torch for per-frame ones) from ``seed``: the numpy
        stream is the numpy sampler's for that seed, the torch seed a separate child of it."""
        super().reseed(*seed)
        child = np.random.SeedSequence(list(seed)).spawn(1)[0]
        self.gen.manual_seed(int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)))

    def _t(self, a: np.ndarray) -> torch.Tensor:
        """Return ``a`` as a float32 tensor on the device."""
        return torch.tensor(np.asarray(a, np.float32), device=self.device)

    def world(self, clip: np.ndarray, start: np.ndarray, step: np.ndarray, pick: np.ndarray) -> torch.Tensor:
        """Return H36M world joints (B,T,17,3) of the given clips, start frames, steps and body-bank picks."""
        root, dirs = self._interp(clip, start, step)
        lengths, root_scale = self.lengths_t[pick], self.root_scale_t[pick]
        seg = lengths[:, None, :, None] * dirs
        seg[..., 0, :] = root * root_scale[:, None, None]
        nodes = torch.einsum("kj,btjc->btkc", self.path_t, seg)
        return derive_virtual(nodes[..., self.h36m_t, :])

    def _interp(self, clip: np.ndarray, start: np.ndarray, step: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (root (B,T,3), unit dirs (B,T,K,3)) linearly resampled, as core.synthetic._interp."""
        dev = self.device
        c = torch.as_tensor(clip, device=dev)
        pos = (torch.as_tensor(start, dtype=torch.float64, device=dev)[:, None]
               + torch.arange(self.window, device=dev)[None] * torch.as_tensor(step, device=dev)[:, None])
        last = (self.clip_len_t[c] - 1)[:, None]
        pos = torch.minimum(pos.clamp(min=0), last.double())
        i0 = pos.floor().long()
        i1 = torch.minimum(i0 + 1, last)
        w = (pos - i0).float()
        g0, g1 = i0 + self.clip_start_t[c][:, None], i1 + self.clip_start_t[c][:, None]
        root = self.root_t[g0] * (1 - w[..., None]) + self.root_t[g1] * w[..., None]
        dirs = self.dirs_t[g0] * (1 - w[..., None, None]) + self.dirs_t[g1] * w[..., None, None]
        norm = torch.linalg.vector_norm(dirs, dim=-1, keepdim=True)
        return root, torch.where(norm > 1e-6, dirs / norm.clamp(min=1e-6), 0.0)

    def render(self, clip: np.ndarray, start: np.ndarray, step: np.ndarray,  # type: ignore[override]
               rng: np.random.Generator) -> TensorBatch:  # fmt: skip
        """Return the :class:`TensorBatch` of given clips, start frames and source-frame steps: per-clip draws
        from ``rng``, per-frame ones from this sampler's torch generator.

        Matrix products run in full float32 even where training allows TF32 (10-bit mantissas): rounding camera
        coordinates 2-12 m from the lens would shake the targets by about a millimetre from frame to frame,
        more than a pose's true acceleration."""
        with _full_float32():
            return self._render(clip, start, step, rng)

    def _render(self, clip: np.ndarray, start: np.ndarray, step: np.ndarray, rng: np.random.Generator
                ) -> TensorBatch:  # fmt: skip
        aug, b = self.aug, len(clip)
        world = self.world(clip, start, step, rng.integers(len(self.body_lengths), size=b))
        centre = world[:, :, 0].mean(dim=1).double().cpu().numpy()
        centre[:, 1] = 0.0
        rot, cam, intr, size = (self._t(a) for a in cameras(rng, centre, aug))
        d = gap_draws(rng, b, aug).map(self._t)
        pc, px_clean = project(world, rot, cam, intr)
        _, px = project(apply_gap(world, d), rot, cam, intr)
        px = self._noise_2d(px, rng, self.motion.fps[clip] / step)
        y = pc - pc[:, :, :1]
        x, clean = normalise(px, size), normalise(px_clean, size)
        flip = torch.as_tensor(rng.random(b) < aug.flip_prob, device=self.device)
        if flip.any():
            for a in (x, clean, y):
                a[flip] = a[flip][:, :, self.flip_t]
                a[flip, ..., 0] *= -1
        return TensorBatch(x, y, clean, clip)

    def _noise_2d(self, px: torch.Tensor, rng: np.random.Generator, fps: np.ndarray) -> torch.Tensor:
        """Return pixels with white jitter, slow drift, dropped joints and swapped frames, as
        core.synthetic._noise_2d."""
        aug, g, (b, t) = self.aug, self.gen, px.shape[:2]
        height = px[..., 1].amax(dim=(1, 2)) - px[..., 1].amin(dim=(1, 2)) + 1.0
        sigma = self._t(rng.uniform(0, aug.jitter_max, b)) * height
        out = px + torch.randn(px.shape, generator=g, device=self.device) * sigma[:, None, None, None]
        if aug.drift_max > 0:
            amp = self._t(rng.uniform(0, aug.drift_max, b)) * height
            white = torch.randn((b, t, px.shape[2] * 2), generator=g, device=self.device)
            kernel = drift_kernel(self._t(np.maximum(aug.drift_s * fps, 1e-3)), t)
            drift = torch.matmul(kernel, white).reshape(px.shape)
            out = out + drift * (amp[:, None, None, None] * self._t(DRIFT_PROFILE)[None, None, :, None])
        drop_clip = torch.as_tensor(rng.random(b) < aug.dropout_prob, device=self.device)
        drop = (torch.rand((b, t, 17), generator=g, device=self.device) < aug.dropout_rate) & drop_clip[:, None, None]
        prev = torch.cat([out[:, :1], out[:, :-1]], dim=1)
        guess = prev + torch.randn(px.shape, generator=g, device=self.device) * (0.05 * height)[:, None, None, None]
        out = torch.where(drop[..., None], guess, out)
        swap_clip = torch.as_tensor(rng.random(b) < aug.swap_prob, device=self.device)
        swap = (torch.rand((b, t), generator=g, device=self.device) < aug.swap_rate) & swap_clip[:, None]
        return torch.where(swap[..., None, None], out[:, :, self.flip_t], out)


@contextlib.contextmanager
def _full_float32() -> Iterator[None]:
    """Run the block with TF32 matrix products off (core.training turns them on for the network)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
