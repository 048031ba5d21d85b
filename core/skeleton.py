"""Human3.6M 17-joint skeleton: names, parents, left/right pairs, flip permutation.

Pure data (numpy only) so it is importable inside Blender.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 17

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
    "spine", "thorax", "neck", "head",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)  # fmt: skip
"""H36M order. ``neck`` is the nose keypoint (H36M "Neck/Nose"), ``head`` the head top."""

PELVIS, R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = range(7)
SPINE, THORAX, NECK, HEAD = 7, 8, 9, 10
L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST = range(11, 17)

PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)

JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}


def flip_permutation() -> np.ndarray:
    """Return the (17,) index array that swaps left and right joints."""
    perm = np.arange(NUM_JOINTS)
    perm[list(LEFT)] = RIGHT
    perm[list(RIGHT)] = LEFT
    return perm


FLIP_PERM = flip_permutation()

BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)
"""(parent, child) pairs, 16 bones."""


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Return (..., 16) bone lengths of ``joints`` (..., 17, 3), in the joints' unit."""
    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)
