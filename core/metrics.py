"""3D pose error metrics (numpy), as in VideoPose3D/MixSTE evaluations.

Inputs are (N, 17, 3) or (T, 17, 3) arrays (any leading shape for the per-pose metrics) in one unit
(metres or millimetres); each metric returns a float in that same unit (per frame for velocities,
per frame squared for accelerations). Poses should be root-relative for MPJPE (or use ``root_align``).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def root_align(pose: np.ndarray, root: int = 0) -> np.ndarray:
    """Return (..., J, 3) poses with joint ``root`` moved to the origin."""
    pose = np.asarray(pose, dtype=np.float64)
    return pose - pose[..., root : root + 1, :]


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Return the mean per-joint position error (Euclidean), in the inputs' unit."""
    return float(np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Return (N, J, 3) ``pred`` after the best similarity transform (rotation, scale, translation) onto ``gt``."""
    pred = np.asarray(pred, np.float64).reshape(-1, *np.shape(pred)[-2:])
    gt = np.asarray(gt, np.float64).reshape(pred.shape)
    mu_p, mu_g = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = np.linalg.norm(p0, axis=(1, 2), keepdims=True) + 1e-12
    norm_g = np.linalg.norm(g0, axis=(1, 2), keepdims=True) + 1e-12
    p0, g0 = p0 / norm_p, g0 / norm_g
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", g0, p0))
    v = vt.transpose(0, 2, 1)
    sign = np.sign(np.linalg.det(v @ u.transpose(0, 2, 1)))  # no reflections
    v[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    rot = v @ u.transpose(0, 2, 1)
    scale = s.sum(axis=1)[:, None, None] * norm_g / norm_p
    return scale * (pred - mu_p) @ rot + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Return MPJPE after per-pose Procrustes alignment with scale (P-MPJPE), in the inputs' unit."""
    aligned = procrustes_align(pred, gt)
    return mpjpe(aligned, np.asarray(gt, np.float64).reshape(aligned.shape))


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Return MPJPE after the per-pose least-squares scale of ``pred`` onto ``gt`` (N-MPJPE), inputs' unit."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    num = (pred * gt).sum(axis=(-1, -2), keepdims=True)
    den = (pred * pred).sum(axis=(-1, -2), keepdims=True) + 1e-12
    return mpjpe(pred * num / den, gt)


def mpjve(pred: np.ndarray, gt: np.ndarray, axis: int = 0) -> float:
    """Return the mean per-joint velocity error (first differences along ``axis``), unit per frame."""
    return mpjpe(np.diff(pred, axis=axis), np.diff(gt, axis=axis))


def accel_error(pred: np.ndarray, gt: np.ndarray, axis: int = 0) -> float:
    """Return the mean per-joint acceleration error (second differences along ``axis``), unit per frame^2."""
    return mpjpe(np.diff(pred, n=2, axis=axis), np.diff(gt, n=2, axis=axis))


def mean_pose_baseline(train_poses: np.ndarray) -> np.ndarray:
    """Return the (J, 3) mean root-relative pose of ``train_poses`` (..., J, 3): the "predict the average" lifter."""
    p = root_align(np.asarray(train_poses, np.float64))
    return p.reshape(-1, *p.shape[-2:]).mean(axis=0)
