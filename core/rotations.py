"""Rotation maths for the Blender-safe retargeting code: quaternions and 3x3 matrices.

Stdlib + numpy only, hand-written because Blender's bundled Python has numpy but neither scipy
nor (outside Blender) mathutils. Quaternions are (..., 4) float arrays, w-x-y-z; rotation
matrices act on column vectors.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-9


def normalize(v: np.ndarray) -> np.ndarray:
    """Return ``v`` (..., 3) scaled to unit length (zero vectors stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, EPS)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Return (..., 3, 3) rotation matrices of quaternions ``q`` (..., 4) w-x-y-z (normalized first)."""
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), EPS)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                  2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                  2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Return unit quaternions (..., 4) w-x-y-z, w >= 0, of rotation matrices ``m`` (..., 3, 3).

    Builds the symmetric matrix 4 q q^T from ``m`` and takes its best-conditioned row (Shepperd).
    """
    d0, d1, d2 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    t = d0 + d1 + d2
    c = [1 + t, 1 + 2 * d0 - t, 1 + 2 * d1 - t, 1 + 2 * d2 - t]
    s = [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]]
    p = [m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]]
    rows = [[c[0], *s], [s[0], c[1], p[0], p[1]], [s[1], p[0], c[2], p[2]], [s[2], p[1], p[2], c[3]]]
    outer = np.stack([np.stack(r, -1) for r in rows], -2)
    q = np.take_along_axis(outer, np.argmax(np.stack(c, -1), -1)[..., None, None], axis=-2)[..., 0, :]
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), EPS)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Return (..., 3, 3) rotations by ``angle`` (...) radians about unit ``axis`` (..., 3) (Rodrigues)."""
    x, y, z = np.moveaxis(axis, -1, 0)
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    m = np.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s,
                  y * x * t + z * s, c + y * y * t, y * z * t - x * s,
                  z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1)
    return m.reshape(np.shape(angle) + (3, 3))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the (..., 3, 3) minimal rotation turning direction ``a`` (..., 3) onto ``b`` (..., 3)."""
    a, b = np.broadcast_arrays(normalize(a), normalize(b))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.sum(a * b, axis=-1)
    # Antiparallel: any axis perpendicular to a.
    alt = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    axis = np.where((s < 1e-7)[..., None], normalize(alt), axis / np.maximum(s, EPS)[..., None])
    return axis_angle_matrix(axis, np.arctan2(s, c))


def rotation_fraction(r: np.ndarray, f: float) -> np.ndarray:
    """Return (..., 3, 3): rotation ``r`` (..., 3, 3) scaled to fraction ``f`` of its angle (same axis)."""
    q = matrix_to_quat(r)
    v = q[..., 1:]
    n = np.linalg.norm(v, axis=-1)
    return axis_angle_matrix(v / np.maximum(n, EPS)[..., None], f * 2.0 * np.arctan2(n, q[..., 0]))


def make_continuous(q: np.ndarray) -> np.ndarray:
    """Return quaternions ``q`` (T, ..., 4) with signs flipped so consecutive frames have dot >= 0."""
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.concatenate([np.ones((1,) + q.shape[1:-1]), np.where(dots < 0, -1.0, 1.0)], axis=0)
    return q * np.cumprod(flips, axis=0)[..., None]


def frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Return (..., 3, 3) orthonormal frames, columns [p, s', p x s'], p = ``primary``, s' = ``secondary`` _|_ p."""
    p = normalize(primary)
    s = normalize(secondary - np.sum(secondary * p, -1, keepdims=True) * p)
    return np.stack([p, s, np.cross(p, s)], axis=-1)


def _mv(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return matrices (..., 3, 3) applied to vectors (..., 3)."""
    return np.matmul(m, v[..., None])[..., 0]


def _inv(m: np.ndarray) -> np.ndarray:
    """Return the inverse (transpose) of rotation matrices (..., 3, 3)."""
    return np.swapaxes(m, -1, -2)
