import numpy as np
import pytest

from core.keypoints import (
    BLAZEPOSE_TO_H36M,
    HEAD_POINT_WEIGHTS,
    blazepose_to_h36m,
    denormalize_2d,
    normalize_2d,
    old_head_points,
    remake_old_head_points,
)
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
    assert j[13, 0] == 15 and j[16, 0] == 16
    assert set(BLAZEPOSE_TO_H36M) | set(HEAD_POINT_WEIGHTS) == set(range(17)) - {7}


def _front_face(px_per_cm: float = 5.0) -> np.ndarray:
    """Landmarks of an upright face seen from the front (y down), an adult's proportions."""
    lm = np.zeros((33, 2), np.float32)
    for idx, (x_cm, y_cm) in {2: (3.2, 0), 5: (-3.2, 0), 0: (0, 3.5), 9: (2.4, 6.3), 10: (-2.4, 6.3),
                              7: (7.5, 0.8), 8: (-7.5, 0.8)}.items():
        lm[idx] = (320 + px_per_cm * x_cm, 100 + px_per_cm * y_cm)
    return lm


def test_head_top_is_above_the_eyes_and_the_nose_below_them_on_an_upright_face():
    j, _ = blazepose_to_h36m(_front_face())
    assert 100 - 5 * 13 < j[10, 1] < 100 - 5 * 7  # 7-13 cm above the eye line
    assert abs(j[10, 0] - 320) < 5 and abs(j[9, 0] - 320) < 5  # on the face's midline
    assert 100 < j[9, 1] < 100 + 5 * 6.3  # between the eyes and the mouth


def test_head_points_move_with_the_face():
    """An affine combination of landmarks: turning, scaling and moving the face (2D or 3D) does the same to the
    nose and head top, so the rule holds in any view and unit."""
    lm = _front_face().astype(np.float64)
    j, _ = blazepose_to_h36m(lm)
    a = np.radians(35)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved, _ = blazepose_to_h36m(lm @ rot.T * 0.3 + [12.0, -40.0])
    assert np.allclose(moved[[9, 10]], j[[9, 10]] @ rot.T * 0.3 + [12.0, -40.0], atol=1e-3)
    lm3 = np.concatenate([lm, np.random.default_rng(0).normal(size=(33, 1))], 1)
    j3, _ = blazepose_to_h36m(lm3)
    assert np.allclose(j3[[9, 10], :2], j[[9, 10]], atol=1e-3)


def test_head_scores_leave_out_the_ears():
    vis = np.ones((33,), np.float32)
    vis[[7, 8]] = 0.1  # a profile hides the far ear: the head is still well seen
    vis[2] = 0.6
    _, s = blazepose_to_h36m(_front_face(), vis)
    assert s[9] == pytest.approx(0.6) and s[10] == pytest.approx(0.6)


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


def _old_file(frames: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(joints_2d, scores, landmarks (T, 33, 4), valid) as extraction wrote them before the fitted head points."""
    rng = np.random.default_rng(0)
    xy = np.repeat(_front_face()[None], frames, 0) + rng.normal(0, 2, (frames, 33, 2))
    lm = np.concatenate([xy, rng.normal(0, 1, (frames, 33, 1)), rng.uniform(0.6, 1, (frames, 33, 1))], -1)
    lm = lm.astype(np.float32)
    joints, scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
    joints[:, [9, 10]] = old_head_points(lm[..., :2])
    scores[:, 9] = lm[:, 0, 3]
    valid = np.ones(frames, bool)
    valid[2] = False
    scores[2] = 0.0
    return joints, scores, lm, valid


def test_old_keypoints_get_the_fitted_head_points_unless_edited():
    joints, scores, lm, valid = _old_file()
    new, new_scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
    body = joints.copy()
    assert remake_old_head_points(joints, scores, lm, valid)
    assert np.allclose(joints[:, [9, 10]], new[:, [9, 10]]) and np.array_equal(np.delete(joints, [9, 10], 1),
                                                                              np.delete(body, [9, 10], 1))
    assert scores[2, 9] == 0.0 and scores[0, 9] == pytest.approx(new_scores[0, 9])
    assert not remake_old_head_points(joints, scores, lm, valid)  # already up to date: left alone
    edited, edited_scores, lm, valid = _old_file()
    edited[4, 10] += 5.0  # someone moved a head top by hand
    before = edited.copy()
    assert not remake_old_head_points(edited, edited_scores, lm, valid) and np.array_equal(edited, before)
    assert not remake_old_head_points(before, edited_scores, lm[:, :20], valid)  # not MediaPipe's 33 landmarks
