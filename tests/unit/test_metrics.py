"""Pose metrics: known values, Procrustes invariance, velocity/acceleration errors."""

import numpy as np
from scipy.spatial.transform import Rotation

from core.metrics import accel_error, h_mpjpe, mean_pose_baseline, mpjpe, mpjve, n_mpjpe, p_mpjpe, root_align


def _poses(n=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 17, 3))


def test_mpjpe_known_value():
    a = np.zeros((2, 17, 3))
    b = a.copy()
    b[..., 0] = 3.0
    b[..., 1] = 4.0
    assert mpjpe(a, b) == 5.0


def test_p_mpjpe_is_invariant_to_similarity_transforms():
    gt = _poses()
    rot = Rotation.from_euler("xyz", [30, -50, 120], degrees=True).as_matrix()
    pred = 1.7 * gt @ rot.T + np.array([0.3, -2.0, 5.0])
    assert p_mpjpe(pred, gt) < 1e-9
    assert mpjpe(pred, gt) > 1.0


def test_p_mpjpe_does_not_use_reflections():
    gt = _poses()
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, gt) > 0.1


def test_n_mpjpe_removes_scale_only():
    gt = root_align(_poses())
    assert n_mpjpe(2.5 * gt, gt) < 1e-9
    assert n_mpjpe(gt + 0.1, gt) > 0.0


def test_h_mpjpe_takes_one_scale_per_sequence_from_body_size():
    gt = root_align(_poses(12)).reshape(3, 4, 17, 3)  # three sequences of four poses
    pred = gt * np.array([0.7, 1.0, 1.6])[:, None, None, None]  # each sequence at its own wrong size
    assert h_mpjpe(pred, gt) < 1e-9 < mpjpe(pred, gt)
    # unlike N-MPJPE, the scale comes from the body's size, not a per-pose best fit: a pose squashed
    # along one axis is not rescaled towards the truth frame by frame
    squashed = gt * np.array([1.0, 1.0, 0.5])
    assert h_mpjpe(squashed, gt) > 0.05
    breathing = gt * np.linspace(0.9, 1.1, 4)[None, :, None, None]  # a size that changes frame to frame
    assert n_mpjpe(breathing, gt) < 1e-9 < 0.01 < h_mpjpe(breathing, gt)
    assert h_mpjpe(gt[0], gt[0]) < 1e-12  # a single (T, 17, 3) sequence


def test_velocity_and_acceleration_errors():
    gt = np.zeros((10, 17, 3))
    pred = gt + np.arange(10)[:, None, None] * np.array([0.0, 0.0, 1.0])  # constant velocity 1 unit/frame
    assert mpjve(pred, gt) == 1.0
    assert accel_error(pred, gt) == 0.0


def test_mean_pose_baseline_is_root_relative_mean():
    p = _poses(4)
    m = mean_pose_baseline(p)
    assert m.shape == (17, 3) and np.allclose(m[0], 0)
    assert np.allclose(m, root_align(p).mean(axis=0))
