"""Skeleton-level filters on lifted motion: one bone length per bone over a clip.

Temporal smoothing lives in core/smoothing.py (filters) and core/motion_cleanup.py (presets).
Blender-safe: numpy only.
"""

from __future__ import annotations

import numpy as np


def constant_bone_lengths(joints: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Return (T,17,3) joints re-posed so every bone keeps one length over the clip.

    Each bone's length is the (weighted) median of its per-frame lengths, robust to the
    odd bad frame; every frame keeps its bone directions, rebuilt from the pelvis outwards.
    ``weights``: optional (T,) frame weights (e.g. the 2D detector's confidence).
    (Measured alternatives, docs/model.md: equalising left/right lengths, or keeping each
    bone's image-plane x/y and fixing only its depth, cost 1-6 mm MPJPE on the validation set.)
    """
    from core.skeleton import PARENTS

    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0]
    w = np.ones(len(joints)) if weights is None else np.clip(np.asarray(weights, np.float64), 1e-6, None)
    for child in range(1, len(PARENTS)):  # parents precede children in H36M order
        parent = PARENTS[child]
        vec = joints[:, child] - joints[:, parent]
        length = np.linalg.norm(vec, axis=-1)
        unit = vec / np.maximum(length, 1e-9)[:, None]
        out[:, child] = out[:, parent] + _weighted_median(length, w) * unit
    return out.astype(np.float32)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])
