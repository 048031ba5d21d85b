"""Skeleton-level filters on lifted motion: one bone length per bone over a clip.

Temporal smoothing lives in core/smoothing.py (filters) and core/motion_cleanup.py (presets).
Blender-safe: numpy only.
"""

from __future__ import annotations

import numpy as np


def constant_bone_lengths(joints: np.ndarray, weights: np.ndarray | None = None, symmetric: bool = True,
                          lengths: np.ndarray | None = None) -> np.ndarray:
    """Return (T,17,3) joints re-posed so every bone keeps one length over the clip.

    Each bone's length is the (weighted) median of its per-frame lengths (:func:`median_bone_lengths`), robust to the
    odd bad frame; every frame keeps its bone directions, rebuilt from the pelvis outwards.
    ``weights``: optional (T,) frame weights (e.g. the 2D detector's confidence).
    ``symmetric``: a left bone and its right twin take the longer of their two lengths. People are
    symmetric within a few per cent, and a lifter's error on a bone is mostly a length lost in depth:
    a limb held towards the camera for much of a clip (a dancer's raised knee) came out 34 % shorter
    than its twin. It costs 0.2-0.7 mm of P-MPJPE on rendered clips' real 2D (v5; docs/motion_quality.md, "Symmetric
    bones") and keeps planted feet on the ground on the rig.
    ``lengths``: (17,) the lengths to give instead (the bone ending at each joint; the pelvis's is unused), e.g. one
    body for every shot of an edited clip (core.shots.shared_bone_lengths).
    """
    from core.skeleton import PARENTS

    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0]
    vecs, per_frame = _bones(joints)
    length = _medians(per_frame, weights, symmetric) if lengths is None else np.asarray(lengths, np.float64)
    for child in range(1, len(PARENTS)):  # parents precede children in H36M order
        unit = vecs[:, child - 1] / np.maximum(per_frame[:, child - 1], 1e-9)[:, None]
        out[:, child] = out[:, PARENTS[child]] + length[child] * unit
    return out.astype(np.float32)


def median_bone_lengths(joints: np.ndarray, weights: np.ndarray | None = None, symmetric: bool = True) -> np.ndarray:
    """Return (17,) each bone's (weighted) median length over the clip (T,17,3), indexed by the bone's child joint
    (the pelvis's 0); ``weights`` and ``symmetric`` as :func:`constant_bone_lengths` takes them."""
    return _medians(_bones(np.asarray(joints, dtype=np.float64))[1], weights, symmetric)


def _medians(per_frame: np.ndarray, weights: np.ndarray | None, symmetric: bool) -> np.ndarray:
    """Return (17,) the weighted medians of (T,16) per-frame bone lengths, as :func:`median_bone_lengths`."""
    from core.skeleton import FLIP_PERM
    from core.world import weighted_median

    w = np.ones(len(per_frame)) if weights is None else np.clip(np.asarray(weights, np.float64), 1e-6, None)
    length = np.zeros(per_frame.shape[1] + 1)
    length[1:] = [weighted_median(per_frame[:, i], w) for i in range(per_frame.shape[1])]
    if symmetric:
        length = np.maximum(length, length[FLIP_PERM])  # a bone's twin is the bone of its child's mirror joint
    return length


def _bones(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (T,16,3) bone vectors of joints 1..16 (from each one's parent) and their (T,16) lengths."""
    from core.skeleton import PARENTS

    children = np.arange(1, len(PARENTS))
    vecs = joints[:, children] - joints[:, np.asarray(PARENTS)[children]]
    return vecs, np.linalg.norm(vecs, axis=-1)
