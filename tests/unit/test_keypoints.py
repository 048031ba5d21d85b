import numpy as np
import pytest

from core.keypoints import BLAZEPOSE_TO_H36M, blazepose_to_h36m, denormalize_2d, normalize_2d
from core.skeleton import FLIP_PERM, JOINT_NAMES, LEFT, NUM_JOINTS, PARENTS, RIGHT, bone_lengths


def test_skeleton_tables_are_consistent():
    assert len(JOINT_NAMES) == len(PARENTS) == NUM_JOINTS == 17
    assert PARENTS[0] == -1 and all(0 <= p < i for i, p in enumerate(PARENTS) if i)
    assert sorted(FLIP_PERM.tolist()) == list(range(17))
    assert (FLIP_PERM[FLIP_PERM] == np.arange(17)).all()
    for left, right in zip(LEFT, RIGHT, strict=False):
        assert JOINT_NAMES[left].replace("l_", "") == JOINT_NAMES[right].replace("r_", "")


def test_blazepose_mapping_uses_subject_sides():
    lm = np.zeros((33, 2), np.float32)
    lm[:, 0] = np.arange(33)  # x = landmark index, so the mapping is readable
    j, s = blazepose_to_h36m(lm)
    assert j.shape == (17, 2) and s.shape == (17,)
    assert j[1, 0] == 24 and j[4, 0] == 23  # r_hip = MP 24 (right hip), l_hip = MP 23
    assert j[0, 0] == pytest.approx(23.5) and j[8, 0] == pytest.approx(11.5)
    assert j[7, 0] == pytest.approx(0.5 * (23.5 + 11.5))
    assert j[13, 0] == 15 and j[16, 0] == 16 and j[9, 0] == 0
    assert set(BLAZEPOSE_TO_H36M) == set(range(17)) - {7, 10}


def test_head_top_is_above_eyes_for_upright_face():
    lm = np.zeros((33, 2), np.float32)
    lm[[2, 5], 1] = 100.0  # eyes
    lm[[9, 10], 1] = 130.0  # mouth, lower in the image (y down)
    j, _ = blazepose_to_h36m(lm)
    assert j[10, 1] < 100.0


def test_scores_take_the_least_visible_source():
    vis = np.ones((2, 33), np.float32)
    vis[:, 24] = 0.2
    _, s = blazepose_to_h36m(np.zeros((2, 33, 2)), vis)
    assert s[0, 1] == pytest.approx(0.2) and s[0, 0] == pytest.approx(0.2) and s[0, 4] == 1.0


@pytest.mark.parametrize("w,h", [(640, 480), (720, 1280), (576, 576)])
def test_normalization_round_trip_and_frame(w, h):
    xy = np.array([[0, 0], [w, h], [w / 2, h / 2]], np.float32)
    n = normalize_2d(xy, w, h)
    assert n[0].tolist() == pytest.approx([-1, -h / w])
    assert n[1].tolist() == pytest.approx([1, h / w])
    assert n[2].tolist() == pytest.approx([0, 0], abs=1e-6)
    assert np.allclose(denormalize_2d(n, w, h), xy, atol=1e-3)


def test_bone_lengths_shape():
    assert bone_lengths(np.zeros((5, 17, 3))).shape == (5, 16)
