"""Coordinate-frame conversions; the only place that converts camera <-> Blender axes.

Camera frame (OpenCV): x right, y down, z forward. Blender world: Z up, right-handed,
a subject facing the camera faces -Y. Camera -> Blender: (x, y, z) -> (x, z, -y).
"""

from __future__ import annotations

import numpy as np

_CAM_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def camera_to_blender(points: np.ndarray) -> np.ndarray:
    """Return ``points`` (..., 3) in camera frame re-expressed in Blender world axes."""
    return np.asarray(points, dtype=np.float64) @ _CAM_TO_BLENDER.T


def blender_to_camera(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`camera_to_blender`: (..., 3) Blender axes -> camera axes."""
    return np.asarray(points, dtype=np.float64) @ _CAM_TO_BLENDER
