"""Motion-quality metrics (core.metrics, issue 7): known values on constructed inputs."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.metrics import (
    bone_length_cv,
    foot_skate,
    ground_penetration,
    jitter,
    path_length,
    root_trajectory_error,
)


def test_jitter_is_zero_for_quadratic_motion_and_known_for_a_cubic():
    t = np.arange(20, dtype=float)
    quad = np.stack([t**2, 2 * t, np.zeros_like(t)], -1)[:, None]  # (T, 1, 3)
    assert jitter(quad) == pytest.approx(0.0, abs=1e-9)
    cubic = np.stack([t**3, np.zeros_like(t), np.zeros_like(t)], -1)  # third difference of t^3 is 6
    assert jitter(cubic) == pytest.approx(6.0)
    assert jitter(cubic, fps=10.0) == pytest.approx(6000.0)


def test_foot_skate_counts_only_contact_steps_and_horizontal_speed():
    t = np.arange(10, dtype=float)
    feet = np.zeros((10, 2, 3))
    feet[:, 0, 0] = 0.01 * t  # left slides 1 cm per frame horizontally
    feet[:, 1, 2] = 0.05 * t  # right only moves up: no skate
    contacts = np.zeros((10, 2), bool)
    contacts[2:6, 0] = True
    contacts[:, 1] = True
    assert foot_skate(feet[:, :1], contacts[:, :1], fps=30.0) == pytest.approx(30.0)  # 1 cm x 30 fps
    assert foot_skate(feet[:, 1:], contacts[:, 1:], fps=30.0) == pytest.approx(0.0)
    assert foot_skate(feet, np.zeros((10, 2), bool), fps=30.0) == 0.0


def test_ground_penetration_mean_and_max():
    mean, worst = ground_penetration(np.array([0.1, -0.02, 0.0, -0.04]))
    assert mean == pytest.approx(0.015)
    assert worst == pytest.approx(0.04)
    assert ground_penetration(np.array([1.0, 2.0])) == (0.0, 0.0)


def test_bone_length_cv_zero_for_rigid_motion_and_known_for_a_stretching_bone():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(17, 3))
    rots = Rotation.random(8, random_state=1).as_matrix()
    rigid = np.einsum("tij,kj->tki", rots, pose) + rng.normal(size=(8, 1, 3))
    assert bone_length_cv(rigid) < 1e-12
    stretched = np.repeat(pose[None], 2, axis=0)
    stretched[1] = pose[0] + 1.5 * (pose - pose[0])  # every bone 1.5x longer: cv of (1, 1.5) is 0.25 / 1.25
    assert bone_length_cv(stretched) == pytest.approx(0.2)


def test_root_trajectory_error_ignores_one_similarity_transform():
    t = np.linspace(0, 1, 50)
    gt = np.stack([3 * t, np.sin(3 * t), 0.2 * t], -1)
    rot = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    pred = 0.7 * gt @ rot.T + np.array([1.0, 2.0, 3.0])
    err = root_trajectory_error(pred, gt)
    assert err["mean"] < 1e-9 and err["drift"] < 1e-9
    assert err["scale"] == pytest.approx(1 / 0.7)
    assert err["distance"] == pytest.approx(path_length(gt))
    bent = gt.copy()
    bent[25:, 1] += 0.1  # a 10 cm sidestep half-way
    assert 0 < root_trajectory_error(bent, gt)["percent"] < 10


def test_path_length_of_a_square():
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], float)
    assert path_length(square) == pytest.approx(4.0)
