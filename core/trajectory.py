"""Camera-frame root (pelvis) trajectory from 2D keypoints and a lifted root-relative pose.

Per frame, the translation t that best re-projects the root-relative 3D joints onto the
detected 2D joints through a pinhole camera is a small linear least-squares problem
(2J equations, 3 unknowns), weighted by detector confidence.
"""

from __future__ import annotations

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
