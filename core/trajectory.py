"""Camera-frame root (pelvis) trajectory from 2D keypoints and a lifted root-relative pose.

Per frame, the translation t that best re-projects the root-relative 3D joints onto the
detected 2D joints through a pinhole camera is a small linear least-squares problem
(2J equations, 3 unknowns), weighted by detector confidence.
"""

from __future__ import annotations

import warnings

import numpy as np

DEFAULT_FOV_DEG = 60.0
"""Field of view of the image's long side assumed when the focal length is unknown:
phones and webcams are 55-75 degrees."""


def default_focal(image_size: tuple[int, int], fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Return a focal length in pixels for ``image_size`` (w, h) from a typical field of view."""
    return max(image_size) / (2.0 * np.tan(np.radians(fov_deg) / 2.0))


def estimate_root(
    joints_3d: np.ndarray, joints_2d: np.ndarray, scores: np.ndarray, image_size: tuple[int, int],
    focal: float | None = None, min_depth: float = 0.5,
) -> np.ndarray:
    """Return (T,3) float32 camera-frame pelvis positions in metres.

    joints_3d: (T,17,3) root-relative metres, camera frame; joints_2d: (T,17,2) pixels;
    scores: (T,17) confidences used as weights. The principal point is the image centre.
    """
    f = float(focal or default_focal(image_size))
    c = np.array(image_size, np.float64) / 2.0
    x = np.asarray(joints_3d, np.float64)
    uv = np.asarray(joints_2d, np.float64) - c  # (T,J,2) centred pixels
    w = np.sqrt(np.clip(np.asarray(scores, np.float64), 1e-3, 1.0))
    t_frames, j = x.shape[:2]
    # Rows: f*tx - u*tz = u*Z - f*X ; f*ty - v*tz = v*Z - f*Y
    a = np.zeros((t_frames, 2 * j, 3))
    b = np.zeros((t_frames, 2 * j))
    a[:, 0::2, 0] = f
    a[:, 0::2, 2] = -uv[..., 0]
    a[:, 1::2, 1] = f
    a[:, 1::2, 2] = -uv[..., 1]
    b[:, 0::2] = uv[..., 0] * x[..., 2] - f * x[..., 0]
    b[:, 1::2] = uv[..., 1] * x[..., 2] - f * x[..., 1]
    ww = np.repeat(w, 2, axis=1)
    a *= ww[..., None]
    b *= ww
    ata = np.einsum("tki,tkj->tij", a, a)
    atb = np.einsum("tki,tk->ti", a, b)
    root = np.linalg.solve(ata + 1e-9 * np.eye(3), atb)
    root[:, 2] = np.maximum(root[:, 2], min_depth)
    return root.astype(np.float32)


DEPTH_OUTLIER = 0.25
"""A frame whose distance from the camera differs from its neighbours' median by more than this (natural log of
the ratio: 28 % further or 22 % nearer) is a bad detection, not motion. The distance comes from the body's size
in the image: a detection of part of the body, or of someone else, for a frame or two put a far walker metres off
(a re-encoded clip's first frame at 12 m against 6)."""
DEPTH_WINDOW_S = 0.5
"""Span, seconds, of the neighbours whose median a frame's distance is compared with (at least 7 frames): a person
walking or running towards the camera changes distance steadily, which a centred median follows."""


def depth_outliers(distance: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """Return (T,) bool: the valid frames whose ``distance`` (T,) from the camera is off the median of the valid
    frames around them by more than :data:`DEPTH_OUTLIER`; the window is cut at the clip's ends, not padded, so
    a bad first frame is judged by the frames after it. Frames with fewer than 3 valid neighbours are kept."""
    from numpy.lib.stride_tricks import sliding_window_view

    d = np.asarray(distance, np.float64)
    ok = np.asarray(valid, bool) & np.isfinite(d) & (d > 0)
    if ok.sum() < 3:
        return np.zeros(len(d), bool)
    half = max(3, int(round(DEPTH_WINDOW_S * fps / 2)))
    log_d = np.where(ok, np.log(np.where(ok, d, 1.0)), np.nan)
    windows = sliding_window_view(np.pad(log_d, half, constant_values=np.nan), 2 * half + 1)
    counts = np.isfinite(windows).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no valid frame near
        med = np.nanmedian(windows, axis=1)
    return ok & (counts >= 3) & (np.abs(log_d - med) > DEPTH_OUTLIER)
