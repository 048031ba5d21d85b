"""Confidence-aware, zero-phase temporal smoothers compared for issue 7 (scipy): pick one by measurement.

Every smoother takes ``values`` (T, C) float (any unit, one column per coordinate), ``fps`` and a
cut-off in Hz (the -3 dB point, so a preset means the same thing at 24, 30 or 60 fps), plus
optional per-sample ``weights`` (T, C) in [0, 1] (detector confidence; 0 = unknown). Samples
with weight below ``MIN_WEIGHT`` are treated as gaps and re-filled by interpolation before the
filters that cannot weight samples (Butterworth, Savitzky-Golay, One-Euro); the smoothing spline
weights every sample directly. benchmarks/motion_quality.py compares them on ground truth.
"""

from __future__ import annotations

import numpy as np

MIN_WEIGHT = 0.3
"""Samples below this confidence are gaps: re-filled from their confident neighbours."""

METHODS = ("butterworth", "savgol", "one_euro", "spline")


def fill_gaps(values: np.ndarray, weights: np.ndarray | None, min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """Return (T, C) ``values`` with low-weight or non-finite samples linearly interpolated per column (edges held)."""
    out = np.array(values, np.float64, copy=True)
    bad = ~np.isfinite(out)
    if weights is not None:
        bad |= np.asarray(weights) < min_weight
    t = np.arange(len(out))
    for c in np.flatnonzero(bad.any(axis=0)):
        good = ~bad[:, c]
        if good.sum() >= 1:
            out[:, c] = np.interp(t, t[good], out[good, c])
    return out


def butterworth(values: np.ndarray, fps: float, cutoff: float, order: int = 2, free_edges: bool = False) -> np.ndarray:
    """Return (T, C) ``values`` through a zero-phase (filtfilt) Butterworth low-pass at ``cutoff`` Hz.

    The signal is extended past its ends by odd reflection about its end samples, which keeps a straight track
    straight and the end samples exactly where they are. ``free_edges`` reflects about where a robust line
    through the first (last) :data:`EDGE_S` seconds puts the end instead (:func:`_edge_values`), so one bad end
    sample does not hold the track (core.motion_cleanup's root, whose first frames are its least sure)."""
    from scipy.signal import butter, filtfilt

    b, a = butter(order, min(cutoff / (fps / 2.0), 0.99))
    padlen = min(3 * max(len(a), len(b)) * 4, len(values) - 1)
    if not free_edges:
        return filtfilt(b, a, values, axis=0, padtype="odd", padlen=padlen)
    x = np.asarray(values, np.float64)
    first, last = _edge_values(x, max(3, int(round(EDGE_S * fps))))
    padded = np.concatenate([2 * first - x[padlen:0:-1], x, 2 * last - x[-2:-padlen - 2:-1]])
    return filtfilt(b, a, padded, axis=0, padtype=None)[padlen:padlen + len(x)]


EDGE_S = 0.25
"""With ``free_edges``: how much of each end a robust line is fitted to, to say where the track's end is."""


def _edge_values(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (C,) where Theil-Sen lines through the first and the last ``n`` samples of (T, C) ``values`` put the
    first and the last sample: one wild end sample moves them little, a straight track not at all (scipy)."""
    from scipy.stats import theilslopes

    n = min(n, len(values))
    t = np.arange(n, dtype=np.float64)
    ends = []
    for part, at in ((values[:n], 0.0), (values[-n:], n - 1.0)):
        fits = [theilslopes(part[:, c], t) for c in range(part.shape[1])]
        ends.append(np.array([f.intercept + f.slope * at for f in fits]))
    return ends[0], ends[1]


def savgol(values: np.ndarray, fps: float, cutoff: float, polyorder: int = 3) -> np.ndarray:
    """Return (T, C) ``values`` through a Savitzky-Golay filter whose -6 dB point is about ``cutoff`` Hz.

    Window 2M+1 with M = 0.6 fps / cutoff: the -6 dB point of orders 2-3 is 1.2 / M of Nyquist (measured
    from the filter's frequency response), as for the zero-phase Butterworth.
    """
    from scipy.signal import savgol_filter

    half = int(round(0.6 * fps / cutoff))
    window = min(2 * max(half, polyorder // 2 + 1) + 1, len(values) - (1 - len(values) % 2))
    if window <= polyorder:
        return np.array(values, np.float64, copy=True)
    return savgol_filter(values, window, polyorder, axis=0, mode="interp")


def one_euro(values: np.ndarray, fps: float, cutoff: float, beta: float = 0.5, d_cutoff: float = 1.0) -> np.ndarray:
    """Return (T, C) ``values`` through a One-Euro filter (Casiez 2012) run forward then backward (zero phase).

    ``cutoff`` is the minimum cut-off in Hz; it rises by ``beta`` x |speed| (unit/s) on fast motion.
    """
    def one_pass(x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        out[0] = prev = x[0]
        d_prev = np.zeros(x.shape[1])
        a_d = _alpha(d_cutoff, fps)
        for i in range(1, len(x)):
            d_prev = a_d * (x[i] - prev) * fps + (1 - a_d) * d_prev
            a = _alpha(cutoff + beta * np.abs(d_prev), fps)
            out[i] = prev = a * x[i] + (1 - a) * prev
        return out

    x = np.asarray(values, np.float64)
    return one_pass(one_pass(x)[::-1])[::-1]


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Return the exponential-smoothing factor of a first-order low-pass at ``cutoff`` Hz."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau * fps)


def spline(values: np.ndarray, fps: float, cutoff: float, weights: np.ndarray | None = None) -> np.ndarray:
    """Return (T, C) ``values`` through a weighted cubic smoothing spline (scipy make_smoothing_spline).

    The penalty lam = fps / (2 pi cutoff)^4 puts the spline's half-power point at ``cutoff`` Hz for unit
    weights; confident samples pull harder, zero-weight samples not at all.
    """
    from scipy.interpolate import make_smoothing_spline

    x = np.asarray(values, np.float64)
    t = np.arange(len(x)) / fps
    lam = fps / (2.0 * np.pi * cutoff) ** 4
    w = np.ones_like(x) if weights is None else np.clip(np.asarray(weights, np.float64), 1e-3, 1.0)
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        wc = w[:, c] / w[:, c].mean()
        out[:, c] = make_smoothing_spline(t, x[:, c], w=wc, lam=lam)(t)
    return out


def smooth_series(values: np.ndarray, fps: float, cutoff: float | None, method: str = "butterworth",
                  weights: np.ndarray | None = None, free_edges: bool = False) -> np.ndarray:
    """Return (T, ...) ``values`` smoothed along time by ``method`` at ``cutoff`` Hz (None: gaps filled only).

    values: (T, ...) float, any unit; weights: optional confidences in [0, 1] whose shape is a prefix of
    ``values``' shape, e.g. (T,) or (T, 17) for (T, 17, 3) joints. Clips under 8 frames only get gaps filled.
    free_edges: the Butterworth filter does not hold the first and last samples (:func:`butterworth`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown smoothing method {method!r}; use one of {METHODS}")
    shape = np.shape(values)
    flat = np.asarray(values, np.float64).reshape(shape[0], -1)
    w = None
    if weights is not None:
        w = np.broadcast_to(np.asarray(weights, np.float64).reshape(shape[:len(np.shape(weights))]
                                                                     + (1,) * (len(shape) - np.ndim(weights))),
                            shape).reshape(flat.shape)
    filled = fill_gaps(flat, w)
    if cutoff is None or len(flat) < 8 or fps <= 2 * cutoff:
        return filled.reshape(shape)
    if method == "spline":
        out = spline(filled, fps, cutoff, w)
    elif method == "savgol":
        out = savgol(filled, fps, cutoff)
    elif method == "one_euro":
        out = one_euro(filled, fps, cutoff)
    else:
        out = butterworth(filled, fps, cutoff, free_edges=free_edges)
    return out.reshape(shape)
