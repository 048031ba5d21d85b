import numpy as np
import pytest

from core.keypoints import (
    BLAZEPOSE_TO_H36M,
    HEAD_POINT_WEIGHTS,
    LIFTER_ANKLE_RAISE,
    LIMB_POINT_WEIGHTS,
    OLD_RULES,
    blazepose_to_h36m,
    blazepose_to_h36m_by_rule,
    denormalize_2d,
    lifter_ankles,
    limb_points,
    normalize_2d,
    remake_old_keypoints,
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
    j, s = blazepose_to_h36m_by_rule(lm, None, fitted_head=True, fitted_limbs=False)
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


def _standing_body(px_per_cm: float = 4.0) -> np.ndarray:
    """Landmarks (33, 2) of an upright adult seen from the front (image y down; the person's left at image right)."""
    lm = _front_face(px_per_cm).astype(np.float64)
    left = {11: (18, 30), 13: (21, 58), 15: (22, 84), 17: (23, 92), 19: (22, 94), 21: (21, 90),
            23: (10, 88), 25: (11, 134), 27: (11, 178), 29: (11, 184), 31: (12, 186)}
    for i, (x_cm, y_cm) in left.items():
        lm[i] = (320 + px_per_cm * x_cm, 100 + px_per_cm * y_cm)
        lm[i + 1] = (320 - px_per_cm * x_cm, 100 + px_per_cm * y_cm)
    return lm


def test_limb_points_move_mediapipes_joints_the_way_the_detector_gap_was_measured():
    """MediaPipe's hips sit closer together, its knees and ankles higher and its shoulders higher and closer
    together than the joint centres (docs/model.md section 1): the fitted limb points move them back."""
    lm = _standing_body()
    raw, _ = blazepose_to_h36m_by_rule(lm, None, fitted_head=True, fitted_limbs=False)
    j, _ = blazepose_to_h36m(lm)
    width = lambda p, a, b: abs(p[a, 0] - p[b, 0])  # noqa: E731
    assert width(j, 1, 4) > width(raw, 1, 4) and width(j, 11, 14) > width(raw, 11, 14)
    for joint in (2, 3, 5, 6, 11, 14):  # knees, ankles, shoulders: lower in the image (y down)
        assert j[joint, 1] > raw[joint, 1], joint
    assert np.allclose(j[[13, 16]], raw[[13, 16]])  # the wrists stay MediaPipe's
    assert np.allclose(j[0], 0.5 * (j[1] + j[4])) and np.allclose(j[8], 0.5 * (j[11] + j[14]))
    assert np.allclose(j[7], 0.5 * (j[0] + j[8]))
    assert np.all(np.abs(j - raw)[[1, 2, 3, 4, 5, 6, 11, 12, 14, 15]] < 4 * 5)  # a few cm, not a new pose


def test_limb_points_are_mirrored_and_move_with_the_body():
    table = limb_points()
    assert set(table) == {j for left in LIMB_POINT_WEIGHTS for j in (left, int(FLIP_PERM[left]))}
    lm = _standing_body() + np.random.default_rng(3).normal(0, 3, (33, 2))
    j, _ = blazepose_to_h36m(lm)
    mirrored = lm.copy()  # the mirror image: x reflected and every left landmark swapped with its right one
    mirrored[:, 0] = 640 - mirrored[:, 0]
    swap = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9] + [i + 1 if i % 2 else i - 1 for i in range(11, 33)]
    jm, _ = blazepose_to_h36m(mirrored[swap])
    back = jm[FLIP_PERM].copy()
    back[:, 0] = 640 - back[:, 0]
    limbs = sorted(table)
    assert np.allclose(back[limbs], j[limbs], atol=1e-3)
    a = np.radians(-50)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved, _ = blazepose_to_h36m(lm @ rot.T * 2.5 + [-30.0, 7.0])
    assert np.allclose(moved, j @ rot.T * 2.5 + [-30.0, 7.0], atol=1e-2)


def test_the_ankle_is_scored_by_the_heel_it_leans_on():
    vis = np.ones(33, np.float32)
    vis[29] = 0.3  # the left heel hidden
    vis[19] = 0.1  # the left index knuckle: the wrist does not use it
    _, s = blazepose_to_h36m(_standing_body(), vis)
    assert s[6] == pytest.approx(0.3) and s[3] == 1.0 and s[13] == 1.0


def _old_file(rule: str, frames: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(joints_2d, scores, landmarks (T, 33, 4), valid) as extraction wrote them by the earlier ``rule``."""
    rng = np.random.default_rng(0)
    xy = np.repeat(_standing_body()[None], frames, 0) + rng.normal(0, 2, (frames, 33, 2))
    lm = np.concatenate([xy, rng.normal(0, 1, (frames, 33, 1)), rng.uniform(0.6, 1, (frames, 33, 1))], -1)
    lm = lm.astype(np.float32)
    joints, scores = blazepose_to_h36m_by_rule(lm[..., :2], lm[..., 3], *OLD_RULES[rule])
    valid = np.ones(frames, bool)
    valid[2] = False
    scores[2] = 0.0
    return joints, scores, lm, valid


@pytest.mark.parametrize("rule", list(OLD_RULES))
def test_old_keypoints_are_remade_by_the_current_rule_unless_edited(rule):
    joints, scores, lm, valid = _old_file(rule)
    new, new_scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
    assert not np.allclose(joints[valid], new[valid], atol=0.1)
    assert remake_old_keypoints(joints, scores, lm, valid) == rule
    assert np.allclose(joints, new)  # the lost frame too: extraction fills its landmarks from its neighbours
    assert scores[2].max() == 0.0 and scores[0] == pytest.approx(new_scores[0])
    assert remake_old_keypoints(joints, scores, lm, valid) is None  # already up to date: left alone
    edited, edited_scores, lm, valid = _old_file(rule)
    edited[4, 5] += 5.0  # someone moved a knee by hand
    before = edited.copy()
    assert remake_old_keypoints(edited, edited_scores, lm, valid) is None and np.array_equal(edited, before)
    assert remake_old_keypoints(before, edited_scores, lm[:, :20], valid) is None  # not MediaPipe's 33 landmarks



def test_lifter_ankles_move_only_the_ankles_towards_the_knees():
    rng = np.random.default_rng(3)
    joints = rng.uniform(0, 500, (4, NUM_JOINTS, 2))
    raised = lifter_ankles(joints)
    others = [j for j in range(NUM_JOINTS) if j not in (3, 6)]
    assert np.array_equal(raised[:, others], joints[:, others]) and not np.shares_memory(raised, joints)
    for ankle, knee in ((3, 2), (6, 5)):
        moved = raised[:, ankle] - joints[:, ankle]
        towards = joints[:, knee] - joints[:, ankle]
        assert np.allclose(moved, LIFTER_ANKLE_RAISE * towards)


def test_the_ankle_raise_is_the_mean_offset_the_lifter_trained_with():
    """Read off each weights' training recipe (core.weights.ankle_raise): the bundled weights' is the constant; a
    recipe with smaller detector-gap offsets expects less (docs/model.md 1f)."""
    import json

    from core.weights import DEFAULT_WEIGHTS, ankle_raise, json_path

    shipped = json.loads(json_path(DEFAULT_WEIGHTS).read_text())
    assert ankle_raise(shipped) == pytest.approx(LIFTER_ANKLE_RAISE, rel=0.05)
    assert ankle_raise({}) == pytest.approx(LIFTER_ANKLE_RAISE, rel=0.05)  # not recorded: the recipe's defaults
    quarter = {"train_config": {"augment": {"gap_prob": 0.8, "gap_scale": 0.25}}}
    assert ankle_raise(quarter) == pytest.approx(LIFTER_ANKLE_RAISE / 4, rel=0.05)
    assert ankle_raise({"train_config": {"augment": {"gap_prob": 0.0}}}) == 0.0
    from core.errors import ModelError

    for bad in ({"gap_prob": None}, {"gap_scale": "x"}, {"gap_prob": float("nan")}, {"gap_scale": 100.0}):
        with pytest.raises(ModelError, match="w.json: train_config.augment gap_prob"):
            ankle_raise({"train_config": {"augment": bad}}, "w.json")
    assert ankle_raise({"train_config": {"augment": "not a dict"}}) == pytest.approx(LIFTER_ANKLE_RAISE)


# A person facing the camera, COCO-17 order, pixels (y down; the person's left at image right).
_COCO = np.array([
    [320, 100], [328, 92], [312, 92], [338, 96], [302, 96], [360, 140], [280, 140], [370, 200], [270, 200],
    [375, 255], [265, 255], [345, 250], [295, 250], [348, 340], [292, 340], [350, 430], [290, 430],
], np.float64)  # fmt: skip


def _frames(points: np.ndarray, t: int = 12) -> np.ndarray:
    """``points`` in ``t`` frames, swaying a little."""
    sway = np.sin(np.linspace(0, 3, t))[:, None, None] * np.array([6.0, 1.0])
    return points[None] + sway


def test_coco_keypoints_become_h36m_joints():
    from core.keypoints import COCO17_NAMES, coco_to_h36m

    coco = _frames(_COCO)
    scores = np.full(coco.shape[:2], 0.9)
    scores[:, COCO17_NAMES.index("r_knee")] = 0.2
    joints, s = coco_to_h36m(coco, scores)
    j = {name: joints[:, i] for i, name in enumerate(JOINT_NAMES)}
    c = {name: coco[:, i] for i, name in enumerate(COCO17_NAMES)}
    for name in ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_shoulder", "r_shoulder", "l_elbow",
                 "r_elbow", "l_wrist", "r_wrist"):
        np.testing.assert_allclose(j[name], c[name], atol=1e-4)
    np.testing.assert_allclose(j["pelvis"], (c["l_hip"] + c["r_hip"]) / 2, atol=1e-4)
    np.testing.assert_allclose(j["thorax"], (c["l_shoulder"] + c["r_shoulder"]) / 2, atol=1e-4)
    assert (j["head"][:, 1] < c["l_eye"][:, 1] - 10).all()  # the head top above the eyes
    assert (np.abs(j["neck"] - c["nose"]).max() < 8)  # the training skeleton's nose: near the nose tip
    assert s[0, JOINT_NAMES.index("r_knee")] == pytest.approx(0.2, abs=1e-6)
    assert s[0, JOINT_NAMES.index("l_knee")] == pytest.approx(0.9, abs=1e-6)


def test_keypoint_layout_tells_h36m_from_coco_and_from_neither():
    from core.keypoints import coco_to_h36m, keypoint_layout

    coco = _frames(_COCO)
    h36m, _ = coco_to_h36m(coco, np.ones(coco.shape[:2]))
    assert keypoint_layout(h36m) == "h36m" and keypoint_layout(coco) == "coco"
    shuffled = h36m[:, np.random.default_rng(0).permutation(17)]
    assert keypoint_layout(shuffled) == "unknown"
    valid = np.zeros(len(coco), bool)
    assert keypoint_layout(coco, valid) == "unknown"  # no frame with a person: nothing to tell
    lying = np.stack([coco[..., 1], coco[..., 0]], -1)  # the same person lying across the picture
    assert keypoint_layout(lying) == "coco" and keypoint_layout(coco_to_h36m(lying, np.ones(lying.shape[:2]))[0]) \
        == "h36m"
