"""benchmarks/finetune_real2d.py: real windows are whole, all-valid, and mirrored consistently."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from finetune_real2d import REAL_WINDOW, real_batch  # noqa: E402

from core.skeleton import FLIP_PERM  # noqa: E402


def _clip(frames: int, invalid: list[int], offset: float) -> dict:
    """A clip whose every value is its frame number (+ offset) plus the joint's index / 100."""
    t = np.arange(frames, dtype=np.float32)[:, None] + offset + np.arange(17, dtype=np.float32)[None] / 100
    valid = np.ones(frames, bool)
    valid[invalid] = False
    return {"x": np.repeat(t[..., None], 2, -1), "y": np.repeat(t[..., None], 3, -1),
            "clean": np.repeat(t[..., None], 2, -1), "valid": valid}  # fmt: skip


def test_real_windows_are_contiguous_valid_and_mirrored_together():
    clips = [_clip(REAL_WINDOW + 10, [5], 0.0), _clip(REAL_WINDOW + 3, [], 1000.0)]
    x, y, clean = real_batch(clips, 64, np.random.default_rng(0))
    assert x.shape == (64, REAL_WINDOW, 17, 2) and y.shape == (64, REAL_WINDOW, 17, 3)
    mirrored = 0
    for xi, yi, ci in zip(x, y, clean, strict=True):
        flip = xi[0, 0, 0] < 0
        mirrored += flip
        for a in (xi, yi, ci):
            frame = np.abs(a[..., 0, 0]) - (0.0 if not flip else FLIP_PERM[0] / 100)
            # consecutive frames of one clip, never the invalid frame 5 of the first
            assert np.allclose(np.diff(np.round(frame)), 1)
            start = round(float(frame[0]))
            assert start >= 1000 or start > 5
            joints = np.abs(a[0, :, 0]) - round(float(np.abs(a[0, 0, 0])))
            expect = (FLIP_PERM if flip else np.arange(17)) / 100
            assert np.allclose(joints, expect, atol=1e-3)
            assert (a[..., 0] < 0).all() == flip and (a[..., 1] > 0).all()  # only x is negated
    assert 10 < mirrored < 54
