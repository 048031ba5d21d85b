"""benchmarks/scale_floor.py: the split of MPJPE into pose and size behaves as its definitions say."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from scale_floor import scale_floor, statures  # noqa: E402

from tests.unit.walk_motion import walk_world  # noqa: E402


def _windows(sizes: list[float]) -> np.ndarray:
    """Root-relative 27-frame windows of the procedural walk, one per body size (x the walk's own size)."""
    joints = walk_world(seconds=1.0)[0][:27]
    joints = joints - joints[:, :1]
    return np.stack([joints * s for s in sizes])


def test_statures_scale_with_the_body():
    s = statures(_windows([1.0, 1.2]))
    assert s[1] / s[0] == pytest.approx(1.2, rel=1e-6)


def test_a_lifter_right_in_pose_but_ten_percent_large_errs_by_size_alone():
    gt = _windows([0.8, 1.0, 1.1])
    r = scale_floor(gt * 1.1, gt, draws=2)
    assert r["size_error_mean_pct"] == pytest.approx(10.0, abs=1e-6)
    assert r["lifter_pose_size_known"] == pytest.approx(0.0, abs=1e-6)
    assert r["true_pose_lifter_size"] == pytest.approx(r["lifter"], rel=1e-9)
    assert r["lifter"] > 10.0


def test_without_size_even_a_perfect_pose_errs_when_bodies_differ():
    r = scale_floor(_windows([0.7, 1.0, 1.3]), _windows([0.7, 1.0, 1.3]), draws=3)
    assert r["lifter"] == pytest.approx(0.0, abs=1e-6)
    assert r["true_pose_one_size"] > 20.0  # one size for all three bodies
    assert 0.0 < r["lifter_pose_body_known"] < r["true_pose_one_size"]  # the x0.92-1.08 draw only
    same = scale_floor(_windows([1.0, 1.0]), _windows([1.0, 1.0]), draws=1)
    assert same["true_pose_one_size"] == pytest.approx(0.0, abs=1e-3)
