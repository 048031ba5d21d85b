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
