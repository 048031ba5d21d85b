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


def h_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Return MPJPE with the subject's height known (H-MPJPE): each sequence (N, T, 17, 3) or (T, 17, 3) of
    root-relative ``pred`` scaled so its stature (core.world.stature) is the truth's, inputs' unit.

    One view cannot tell a child near the camera from an adult further away; the pipeline takes the
    subject's height from the user (core.motion_cleanup) instead. This is MPJPE as the pipeline then
    sees it: one scale per sequence from the body's size alone, unlike N-MPJPE's per-pose best fit
    (``evaluate`` passes its validation windows, so with one-frame windows the two come close).
    """
    from core.world import stature

    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    seqs_p, seqs_g = pred.reshape(-1, *pred.shape[-3:]), gt.reshape(-1, *gt.shape[-3:])
    scale = np.array([stature(g) / max(stature(p), 1e-9) for p, g in zip(seqs_p, seqs_g, strict=True)])
    return mpjpe(seqs_p * scale[:, None, None, None], seqs_g)


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


# --- Motion-quality metrics (issue 7): jitter, foot skate, penetration, bone CV, root trajectory ---------------


def jitter(positions: np.ndarray, fps: float | None = None) -> float:
    """Return the mean |third difference| of ``positions`` (T, ..., 3) along time.

    In the inputs' unit per frame^3, or per second^3 when ``fps`` is given (e.g. m/s^3).
    """
    d3 = np.linalg.norm(np.diff(np.asarray(positions, np.float64), n=3, axis=0), axis=-1)
    return float(d3.mean() * (fps**3 if fps else 1.0)) if d3.size else 0.0


def foot_skate(feet: np.ndarray, contacts: np.ndarray, fps: float, up_axis: int = 2) -> float:
    """Return the mean horizontal foot speed during contact, cm/s (0.0 when there is no contact).

    feet: (T, F, 3) foot (ankle) positions, metres, in a frame whose ``up_axis`` is vertical
    (Z-up world: 2); contacts: (T, F) bool. A step counts when the foot is in contact at both ends.
    """
    feet = np.asarray(feet, np.float64)
    horiz = np.delete(feet, up_axis, axis=-1)
    speed = np.linalg.norm(np.diff(horiz, axis=0), axis=-1) * fps * 100.0  # (T-1, F) cm/s
    both = np.asarray(contacts, bool)[1:] & np.asarray(contacts, bool)[:-1]
    return float(speed[both].mean()) if both.any() else 0.0


def ground_penetration(heights: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """Return (mean, max) depth below ``floor`` of ``heights`` (any shape), in their unit; 0 where above."""
    depth = np.clip(floor - np.asarray(heights, np.float64), 0.0, None)
    return (float(depth.mean()), float(depth.max())) if depth.size else (0.0, 0.0)


def bone_length_cv(joints: np.ndarray) -> float:
    """Return the mean over bones of the coefficient of variation (std / mean) of its length over time.

    joints: (T, 17, 3), any unit; 0.0 means perfectly rigid bones (0.01 = 1 %).
    """
    from core.skeleton import bone_lengths

    lengths = bone_lengths(np.asarray(joints, np.float64))  # (T, 16)
    return float(np.mean(lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-12)))


def path_length(trajectory: np.ndarray) -> float:
    """Return the length of the path ``trajectory`` (T, 3) (sum of step lengths), in its unit."""
    return float(np.linalg.norm(np.diff(np.asarray(trajectory, np.float64), axis=0), axis=-1).sum())


def root_trajectory_error(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Return root-path errors of ``pred`` (T, 3) against ``gt`` (T, 3) after ONE global similarity alignment.

    Keys: ``mean`` / ``final`` (mean and last-frame distance after alignment, inputs' unit),
    ``drift`` (end-minus-start displacement error after alignment), ``distance`` (gt path length),
    ``percent`` (100 * mean / distance; inf for a standing subject), ``scale`` (the alignment's scale).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    ok = np.isfinite(pred).all(-1) & np.isfinite(gt).all(-1)
    aligned = procrustes_align(pred[ok][None], gt[ok][None])[0]
    err = np.linalg.norm(aligned - gt[ok], axis=-1)
    dist = path_length(gt[ok])
    drift = np.linalg.norm((aligned[-1] - aligned[0]) - (gt[ok][-1] - gt[ok][0]))
    p0 = pred[ok] - pred[ok].mean(0)
    scale = np.linalg.norm(aligned - aligned.mean(0)) / max(np.linalg.norm(p0), 1e-12)
    return {"mean": float(err.mean()), "final": float(err[-1]), "drift": float(drift), "distance": dist,
            "percent": float(100 * err.mean() / dist) if dist > 0 else float("inf"), "scale": float(scale)}
