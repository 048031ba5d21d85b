"""Camera frame -> Z-up world with the ground at z = 0, metric scale from a subject height, focal length.

Numpy only (importable inside Blender). The world uses Blender's axes: Z up, a subject facing
the camera faces -Y; X is the camera's x (right) laid flat on the ground, Y the camera's viewing
direction laid flat, and the camera stands above the world origin at ``camera_height``. For a
level camera this is exactly core.frames.camera_to_blender plus a vertical offset, so a pitched or
rolled phone camera no longer tilts the character.
"""

from __future__ import annotations

import numpy as np

from core.skeleton import JOINT_INDEX as J

DEFAULT_SUBJECT_HEIGHT = 1.75
"""Standing height, metres, assumed when the user gives none."""

STATURE_PER_CHAIN = 1.04
"""Standing height / (thigh + shin + pelvis->spine + spine->thorax + thorax->head top), measured on the
CC0 MakeHuman character of the ground-truth clips (1.799 m); the 4 % is the ankle's height above the sole."""

ANKLE_HEIGHT_RATIO = 0.0414
"""Ankle joint height above the sole / standing height (same character: 7.45 cm of 1.799 m)."""


def focal_length(image_size: tuple[int, int], focal: float | None = None) -> float:
    """Return the focal length in pixels: ``focal`` when given, else one from a typical 60 degree field of view."""
    from core.trajectory import default_focal

    if focal is not None and focal > 0:
        return float(focal)
    return float(default_focal(tuple(int(v) for v in image_size)))


FULL_FRAME_DIAGONAL_MM = 43.27
"""Diagonal of a 36 x 24 mm frame: "35 mm-equivalent" focal lengths are by the diagonal."""
LENS_MM_RANGE = (5.0, 600.0)
"""35 mm-equivalent focal lengths taken as a camera's (a phone's ultra-wide is about 13 mm, a 10x zoom 240)."""


def focal_from_lens_mm(lens_mm: float, image_size: tuple[int, int]) -> float:
    """Return the focal length in pixels of a lens given as its 35 mm-equivalent focal length, the way phones
    state their cameras (main about 24-28 mm, ultra-wide 0.5x about 13, telephoto 3x about 77), for an image
    of ``image_size`` (w, h) pixels. A video cropped from the photo sensor is a little narrower than stated."""
    w, h = image_size
    return float(lens_mm) * float(np.hypot(w, h)) / FULL_FRAME_DIAGONAL_MM


def stature(joints: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Return the standing height implied by root-relative joints (T, 17, 3), in their unit.

    Robust: per-segment weighted medians over the clip (``weights``: optional (T,) frame weights),
    so a bent pose or a bad frame does not change it.
    """
    j = np.asarray(joints, np.float64)
    w = np.ones(len(j)) if weights is None else np.clip(np.asarray(weights, np.float64), 1e-6, None)
    seg = [(J["r_hip"], J["r_knee"]), (J["r_knee"], J["r_ankle"]), (J["l_hip"], J["l_knee"]),
           (J["l_knee"], J["l_ankle"]), (J["pelvis"], J["spine"]), (J["spine"], J["thorax"]),
           (J["thorax"], J["head"])]
    lengths = [weighted_median(np.linalg.norm(j[:, a] - j[:, b], axis=-1), w) for a, b in seg]
    legs = 0.5 * (lengths[0] + lengths[1] + lengths[2] + lengths[3])
    return float(STATURE_PER_CHAIN * (legs + sum(lengths[4:])))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Return the weighted median of ``values`` (N,) with non-negative ``weights`` (N,)."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def world_from_ground(normal: np.ndarray, offset: float) -> np.ndarray:
    """Return the (4, 4) world_from_camera matrix of the ground plane ``normal . p + offset = 0`` (camera frame).

    normal: (3,) unit vector pointing up (away from the ground), camera frame; ``offset``: metres, so
    ``normal . p + offset`` is the height of camera-frame point p above the ground.
    """
    z = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    fwd = np.array([0.0, 0.0, 1.0]) - z[2] * z  # camera viewing direction laid flat on the ground
    if np.linalg.norm(fwd) < 1e-6:  # camera looking straight down: use its image "up" instead
        fwd = np.array([0.0, -1.0, 0.0]) - z[1] * z
    y = fwd / np.linalg.norm(fwd)
    x = np.cross(y, z)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, y, z])
    m[2, 3] = float(offset)
    return m


def level_world_from_camera(camera_height: float = 0.0) -> np.ndarray:
    """Return the (4, 4) world_from_camera of a level camera ``camera_height`` metres above the ground."""
    return world_from_ground(np.array([0.0, -1.0, 0.0]), camera_height)


def transform_points(points: np.ndarray, matrix: np.ndarray, translate: bool = True) -> np.ndarray:
    """Return ``points`` (..., 3) mapped by the (4, 4) ``matrix`` (rotation only when ``translate`` is False)."""
    m = np.asarray(matrix, np.float64)
    out = np.asarray(points, np.float64) @ m[:3, :3].T
    return out + m[:3, 3] if translate else out


def invert(matrix: np.ndarray) -> np.ndarray:
    """Return the inverse of a rigid (4, 4) ``matrix``."""
    m = np.asarray(matrix, np.float64)
    inv = np.eye(4)
    inv[:3, :3] = m[:3, :3].T
    inv[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return inv


def camera_pose(world_from_camera: np.ndarray) -> dict[str, float]:
    """Return the camera's ``pitch_deg`` (+ = looking down), ``roll_deg`` (+ = image turned clockwise)
    and ``height_m`` above the ground, from a world_from_camera (4, 4) matrix.

    Roll > 0: the world's up appears leaning towards the image's right.
    """
    m = np.asarray(world_from_camera, np.float64)
    up_cam = m[2, :3]  # world Z in camera axes
    pitch = np.degrees(np.arcsin(np.clip(-up_cam[2], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(up_cam[0], -up_cam[1]))
    return {"pitch_deg": float(pitch), "roll_deg": float(roll), "height_m": float(m[2, 3])}
