"""core.shots: an edited clip's shots lifted and cleaned on their own, joined where the body carries on."""

import numpy as np
import pytest

from core.shots import join_shots, shot_flow, shot_rotations, shot_spans
from core.skeleton import JOINT_INDEX as J
from core.world import invert


def test_shots_are_split_at_cuts_and_short_or_empty_ones_kept_with_a_neighbour():
    valid = np.ones(100, bool)
    assert shot_spans([], valid, 30.0) == [(0, 100)]
    assert shot_spans([40, 70], valid, 30.0) == [(0, 40), (40, 70), (70, 100)]
    assert shot_spans([40, 45], valid, 30.0) == [(0, 45), (45, 100)]  # 5 frames: under half a second
    assert shot_spans([5, 60], valid, 30.0) == [(0, 60), (60, 100)]  # a short first shot goes with the next
    valid[60:] = False
    assert shot_spans([60], valid, 30.0) == [(0, 100)]  # a shot with nobody in it: a title card
    assert shot_spans([0, 100, 250], np.ones(100, bool), 30.0) == [(0, 100)]  # cuts outside the clip


def test_a_shots_camera_turns_start_from_its_own_first_frame():
    def turn(deg):
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    rot = np.stack([turn(d) for d in (0, 1, 2, 3, 90, 91)])  # the 87 degrees at frame 4: the cut
    assert np.allclose(shot_rotations(rot, 4, 6), np.stack([turn(d) for d in (0, 1)]))
    rot[3] = turn(46)  # measured every 2nd frame: frame 3 interpolated across a cut at 3 (2 pre-cut, 4 after)
    shot = shot_rotations(rot, 3, 6)  # based on frame 4, the shot's first measured one; frame 3 held
    assert np.allclose(shot, np.stack([turn(d) for d in (0, 0, 1)]))
    assert shot_rotations(None, 0, 3) is None and shot_rotations(rot[:2], 0, 3) is None
    assert shot_rotations("not rotations", 0, 3) is None and shot_rotations(np.zeros((6, 2, 2)), 0, 3) is None


def test_a_shots_background_corners_are_those_followed_within_it():
    points = np.arange(4 * 2 * 4, dtype=np.float32).reshape(4, 2, 4)
    frames = np.array([[0, 2], [2, 4], [4, 6], [6, 8]])
    p, f = shot_flow((points, frames), 2, 7)
    assert np.array_equal(f, [[0, 2], [2, 4]]) and np.array_equal(p, points[1:3])
    assert shot_flow((points, frames), 9, 12) is None and shot_flow(None, 0, 5) is None
    assert shot_flow((points, np.array(["a", "b"])), 0, 5) is None and shot_flow((points, frames[:, :1]), 0, 5) is None


def _walk(frames: int, start: np.ndarray, heading_deg: float) -> np.ndarray:
    """Return (T, 17, 3) Z-up world points of a stick body walking 1 cm a frame along its heading."""
    h = np.radians(heading_deg)
    fwd, left = np.array([np.cos(h), np.sin(h), 0.0]), np.array([-np.sin(h), np.cos(h), 0.0])
    body = np.zeros((17, 3))
    body[J["l_hip"]], body[J["r_hip"]] = 0.1 * left, -0.1 * left
    body[J["thorax"]], body[J["head"]] = [0, 0, 0.5], [0, 0, 0.8]
    body[:] += [0, 0, 0.9]
    body[J["pelvis"]] = [0, 0, 0.9]
    return start + body[None] + 0.01 * np.arange(frames)[:, None, None] * fwd


def _part(world_points: np.ndarray, world_from_camera: np.ndarray, contacts: list) -> tuple:
    camera = world_points @ invert(world_from_camera)[:3, :3].T + invert(world_from_camera)[:3, 3]
    root = camera[:, J["pelvis"]]
    info = {"world_from_camera": world_from_camera.tolist(), "contacts": {"left": contacts, "right": []},
            "foot_locks": {"left": [[1.0, 0.0, 0.07]] * len(contacts), "right": []}, "camera_turn_deg": 3.0,
            "camera_travel_m": 0.5, "ground": {"pitch_deg": 10.0}}
    return (camera - root[:, None]).astype(np.float32), root.astype(np.float32), info


def test_the_shots_are_joined_where_the_body_carries_on_in_the_first_shots_camera():
    w0 = np.eye(4)
    w0[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # camera looking along +Y, Z up
    w0[2, 3] = 1.5
    w1 = w0.copy()
    w1[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ w0[:3, :3]  # another camera, 90 degrees round
    w1[:3, 3] = [4.0, -2.0, 1.5]
    first = _walk(20, np.zeros(3), 90.0)
    second = _walk(10, np.array([7.0, 3.0, 0.0]), 0.0)  # the same walk, seen from the other camera's world
    parts = [_part(first, w0, [[0, 9], [15, 19]]), _part(second, w1, [[0, 0], [2, 5]])]
    rel, root, info = join_shots(parts, [(0, 20), (20, 30)])
    world = (rel + root[:, None]) @ w0[:3, :3].T + w0[:3, 3]
    assert np.allclose(world[:20], first, atol=1e-5)  # the first shot as it was
    step = world[1:, J["pelvis"]] - world[:-1, J["pelvis"]]
    assert np.allclose(step, step[0], atol=1e-5)  # walking on at one pace across the cut
    hips = world[:, J["l_hip"]] - world[:, J["r_hip"]]
    assert np.allclose(hips[20:], hips[19], atol=1e-5)  # facing the same way
    # A foot planted across the cut: not one contact (a bake would pin it to one spot seen from two cameras).
    assert info["contacts"]["left"] == [[0, 9], [15, 19], [22, 25]] and info["shots"] == [[0, 19], [20, 29]]
    assert len(info["foot_locks"]["left"]) == 3 and info["world_from_camera"] == w0.tolist()
    assert info["camera_turn_deg"] == 3.0 and info["camera_travel_m"] == pytest.approx(1.0)


def test_every_shot_gets_one_body_in_proportion_to_its_stature():
    """Two shots of one person lifted at different sizes and with the shins 10 % apart: one set of proportions,
    between the two, whatever size each shot was lifted at."""
    from core.filters import constant_bone_lengths, median_bone_lengths
    from core.shots import shared_bone_lengths
    from core.world import stature

    body = np.array([[0, 0, 0], [-0.1, 0, 0], [-0.1, 0.43, 0], [-0.1, 0.85, 0], [0.1, 0, 0], [0.1, 0.43, 0],
                     [0.1, 0.85, 0], [0, -0.24, 0], [0, -0.48, 0], [0, -0.58, 0], [0, -0.7, 0], [0.18, -0.46, 0],
                     [0.45, -0.46, 0], [0.7, -0.46, 0], [-0.18, -0.46, 0], [-0.45, -0.46, 0], [-0.7, -0.46, 0]])
    shin = [J["r_ankle"], J["l_ankle"]]
    long_shins = body.copy()
    long_shins[shin] = body[[J["r_knee"], J["l_knee"]]] + 1.1 * (body[shin] - body[[J["r_knee"], J["l_knee"]]])
    joints = np.concatenate([np.repeat(body[None], 40, 0), np.repeat(0.8 * long_shins[None], 60, 0)])
    scores, valid = np.ones((100, 17)), np.ones(100, bool)
    shared = shared_bone_lengths(joints, scores, valid, [(0, 40), (40, 100)])
    one = median_bone_lengths(body[None]) / stature(body[None])
    other = median_bone_lengths(long_shins[None]) / stature(long_shins[None])
    assert np.isclose(stature(constant_bone_lengths(body[None], lengths=shared)), 1.0)  # for a stature of 1
    assert np.allclose(shared[shin], other[shin], rtol=0.03)  # the median frame is one of the second, longer shot's 60
    assert np.allclose(shared[J["r_knee"]], one[J["r_knee"]], rtol=0.06)  # other bones: in proportion
    assert np.isclose(shared[J["thorax"]] / shared[J["spine"]], one[J["thorax"]] / one[J["spine"]])
