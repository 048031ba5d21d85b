"""Temporal smoothing of joint trajectories: zero-phase Butterworth presets (scipy.signal).

Zero-phase (filtfilt) so smoothing adds no lag; cut-offs are in Hz, so a preset means
the same thing at 24, 30 or 60 fps.
"""

from __future__ import annotations

import numpy as np

SMOOTHING_PRESETS: dict[str, float | None] = {"none": None, "light": 8.0, "medium": 5.0, "strong": 3.0}
"""Preset -> Butterworth cut-off in Hz (None = no filtering)."""


def smooth(values: np.ndarray, fps: float, preset: str = "light", order: int = 2) -> np.ndarray:
    """Return (T, ...) ``values`` low-pass filtered along time with the preset's cut-off.

    Clips too short for the filter's padding are returned unchanged.
    """
    from scipy.signal import butter, filtfilt

    if preset not in SMOOTHING_PRESETS:
        raise ValueError(f"unknown smoothing preset {preset!r}; use one of {sorted(SMOOTHING_PRESETS)}")
    cutoff = SMOOTHING_PRESETS[preset]
    values = np.asarray(values, dtype=np.float32)
    if cutoff is None or fps <= 2 * cutoff:
        return values.copy()
    b, a = butter(order, cutoff / (fps / 2.0))
    padlen = 3 * max(len(a), len(b))
    if len(values) <= padlen:
        return values.copy()
    flat = values.reshape(len(values), -1)
    finite = np.isfinite(flat).all(axis=0)
    out = flat.copy()
    out[:, finite] = filtfilt(b, a, flat[:, finite], axis=0, padtype="odd", padlen=padlen)
    return out.reshape(values.shape).astype(np.float32)


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
