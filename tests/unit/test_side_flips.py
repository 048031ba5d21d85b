"""core.side_flips: brief left/right label flips of the detector are undone; real motion is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from core.side_flips import GROUPS, side_flips, unflip
from core.skeleton import FLIP_PERM

# An upright body in metres (x to the person's left, y up, z forward), H36M order.
_REST = np.array([
    [0, 1.0, 0], [-0.1, 1.0, 0], [-0.1, 0.55, 0.02], [-0.1, 0.1, 0], [0.1, 1.0, 0], [0.1, 0.55, 0.02],
    [0.1, 0.1, 0], [0, 1.25, 0], [0, 1.5, 0], [0, 1.62, 0.08], [0, 1.78, 0], [0.19, 1.5, 0],
    [0.22, 1.22, 0], [0.24, 0.96, 0.03], [-0.19, 1.5, 0], [-0.22, 1.22, 0], [-0.24, 0.96, 0.03],
])  # fmt: skip


def _walk(frames: int = 90, fps: float = 30.0, yaw_deg_per_s: float = 0.0, yaw0_deg: float = 0.0,
          walk_hz: float = 1.0) -> np.ndarray:
    """Return (T, 17, 2) pixels of a body swinging its legs and arms, turning ``yaw_deg_per_s``, seen from the front
    (orthographic, y down, the person's left at image right when facing the camera)."""
    out = []
    for t in range(frames):
        j = _REST.copy()
        swing = 0.25 * np.sin(2 * np.pi * walk_hz * t / fps)
        for knee, ankle, sign in ((2, 3, 1), (5, 6, -1)):
            j[[knee, ankle], 2] += sign * swing * np.array([0.5, 1.0])
        for elbow, wrist, sign in ((12, 13, 1), (15, 16, -1)):
            j[[elbow, wrist], 2] += sign * swing * np.array([0.5, 1.0])
        a = np.radians(yaw0_deg + yaw_deg_per_s * t / fps)
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        j = j @ rot.T
        out.append(np.stack([320 + 200 * j[:, 0], 460 - 200 * j[:, 1]], axis=-1))
    return np.array(out)


LEGS = [1, 2, 3, 4, 5, 6]
LOWER_LEGS = [2, 3, 5, 6]


def _flip(xy: np.ndarray, rows: slice, joints=None) -> np.ndarray:
    """Return ``xy`` with the left and right labels of ``joints`` (default: the whole body) traded on ``rows``."""
    out = xy.copy()
    g = list(GROUPS["body"].joints if joints is None else joints)
    out[rows, g] = xy[rows][:, list(FLIP_PERM[g])]
    return out


def test_a_brief_flip_of_the_whole_body_is_found_and_undone():
    xy = _walk(yaw0_deg=30)
    flipped = _flip(xy, slice(40, 46))
    scores = np.tile(np.linspace(0.3, 1.0, 17), (len(xy), 1))
    found = side_flips(flipped, np.ones(len(xy), bool), 30.0)
    assert np.flatnonzero(found["body"]).tolist() == list(range(40, 46))
    back, back_scores = unflip(flipped, scores, found)
    assert np.allclose(back, xy)
    assert np.allclose(back_scores[40, [4, 11]], scores[40, [1, 14]])  # scores follow their joints


def test_a_flip_of_one_limb_is_not_taken_for_the_whole_body():
    """Undoing a whole-body flip where only the legs traded labels would turn the arms round."""
    xy = _walk(yaw0_deg=30)
    found = side_flips(_flip(xy, slice(40, 46), LEGS), np.ones(len(xy), bool), 30.0)
    assert not found["body"].any()


@pytest.mark.parametrize(("yaw0_deg", "rows"), [(0.0, slice(40, 47)), (-30.0, slice(10, 16)), (90.0, slice(44, 50))])
def test_a_brief_flip_of_the_lower_legs_is_found_and_undone(yaw0_deg, rows):
    """MediaPipe also trades the knees' and ankles' labels alone, keeping its hips (the rendered punch); here from the
    front, at -30 degrees and side-on, each flip starting and ending with the legs apart in the image."""
    xy = _walk(yaw0_deg=yaw0_deg)
    flipped = _flip(xy, rows, LOWER_LEGS)
    found = side_flips(flipped, np.ones(len(xy), bool), 30.0)
    assert not found["body"].any() and np.flatnonzero(found["legs"]).tolist() == list(range(90))[rows]
    assert np.allclose(unflip(flipped, np.ones((len(xy), 17)), found)[0], xy)


@pytest.mark.parametrize("yaw0_deg", [0.0, 30.0, -30.0, 60.0, 90.0, 150.0])
def test_a_lower_leg_flip_is_undone_exactly_or_not_at_all(yaw0_deg):
    """Where the legs overlap in the image as the labels flip, the flip cannot be told from the legs passing each
    other: then nothing is changed, never a frame that was right."""
    xy = _walk(yaw0_deg=yaw0_deg)
    undone = 0
    for start in range(5, 80, 7):
        for length in (1, 3, 8):
            rows = list(range(start, start + length))
            found = side_flips(_flip(xy, slice(start, start + length), LOWER_LEGS), np.ones(len(xy), bool), 30.0)
            assert np.flatnonzero(found["legs"]).tolist() in ([], rows) and not found["body"].any()
            undone += found["legs"].any()
    assert undone >= 10  # of 33: those that start and end with the legs apart in the image (15-33 here)


def test_lower_legs_flipped_inside_a_whole_body_flip_are_undone_after_it():
    """The legs are checked on the body already turned back: a body flip with the legs flipped further inside it."""
    xy = _walk(yaw0_deg=-30)
    flipped = _flip(_flip(xy, slice(36, 50)), slice(40, 47), LOWER_LEGS)
    found = side_flips(flipped, np.ones(len(xy), bool), 30.0)
    assert np.flatnonzero(found["body"]).tolist() == list(range(36, 50))
    assert np.flatnonzero(found["legs"]).tolist() == list(range(40, 47))
    assert np.allclose(unflip(flipped, np.ones((len(xy), 17)), found)[0], xy)


def test_lower_legs_are_changed_only_where_every_jump_pairs_into_a_short_run():
    """Real side-view walking: the detector's leg labels also drift back without a clear jump, so a long run between
    two jumps may hold correct frames; a chain with one is left as it is, short runs in it included."""
    xy = _walk(yaw0_deg=-30)
    long_run = _flip(_flip(xy, slice(10, 16), LOWER_LEGS), slice(40, 70), LOWER_LEGS)  # 1 s: over MAX_LEG_FLIP_S
    found = side_flips(long_run, np.ones(len(xy), bool), 30.0)
    assert not found["legs"].any()
    assert np.flatnonzero(side_flips(_flip(xy, slice(10, 16), LOWER_LEGS), np.ones(len(xy), bool),
                                     30.0)["legs"]).tolist() == list(range(10, 16))


@pytest.mark.parametrize("fps", [24.0, 60.0])
@pytest.mark.parametrize("yaw0_deg", [0.0, 45.0, 90.0, 135.0, 300.0])
def test_fast_strides_are_not_taken_for_leg_flips(fps, yaw0_deg):
    """Three strides a second, wide: the legs pass each other within a few frames, continuing their motion."""
    frames = int(3 * fps)
    xy = _walk(frames=frames, fps=fps, yaw0_deg=yaw0_deg, walk_hz=3.0)
    xy += np.random.default_rng(1).normal(0, 1.5, xy.shape)
    assert not side_flips(xy, np.ones(frames, bool), fps)["legs"].any()


def test_lower_legs_are_left_alone_at_low_frame_rates():
    """At 10 frames/s a stride carries the legs past each other within two frames: no flip can be told from it."""
    xy = _walk(fps=10.0, yaw0_deg=0)
    found = side_flips(_flip(xy, slice(40, 43), LOWER_LEGS), np.ones(len(xy), bool), 10.0)
    assert not found["legs"].any()


@pytest.mark.parametrize("yaw_deg_per_s", [0.0, 120.0, 360.0])
def test_real_motion_is_left_alone(yaw_deg_per_s):
    """Walking (legs and arms passing each other) and turning round, even a full turn a second: no label jumps."""
    xy = _walk(yaw_deg_per_s=yaw_deg_per_s, walk_hz=1.5)
    xy += np.random.default_rng(0).normal(0, 1.5, xy.shape)  # detector jitter, pixels
    found = side_flips(xy, np.ones(len(xy), bool), 30.0)
    assert not any(f.any() for f in found.values())


def test_a_side_view_walk_with_legs_crossing_is_left_alone():
    xy = _walk(yaw0_deg=90, walk_hz=2.0)
    found = side_flips(xy, np.ones(len(xy), bool), 30.0)
    assert not any(f.any() for f in found.values())


def test_a_flip_whose_other_end_is_unclear_keeps_the_detectors_labels():
    """A clip that starts flipped, or a flip still on when the person is lost: which side is right is not known."""
    xy = _walk(yaw0_deg=20)
    valid = np.ones(len(xy), bool)
    assert not any(f.any() for f in side_flips(_flip(xy, slice(0, 12)), valid, 30.0).values())
    valid[50:70] = False  # lost for 0.67 s: frames either side are not compared
    flipped = _flip(xy, slice(40, 60))
    assert not any(f.any() for f in side_flips(flipped, valid, 30.0).values())


def test_two_flips_and_gaps():
    xy = _walk(frames=150, yaw0_deg=-25)
    flipped = _flip(_flip(xy, slice(10, 14)), slice(100, 103))
    valid = np.ones(len(xy), bool)
    valid[60:62] = False  # a short gap is bridged
    flipped[60:62] = np.nan
    found = side_flips(flipped, valid, 30.0)
    assert np.flatnonzero(found["body"]).tolist() == [*range(10, 14), *range(100, 103)]


def test_too_few_frames():
    assert not any(f.any() for f in side_flips(_walk(frames=1), np.ones(1, bool), 30.0).values())
    assert not any(f.any() for f in side_flips(np.zeros((0, 17, 2)), np.zeros(0, bool), 30.0).values())


@pytest.mark.parametrize("fps", [30.0, 120.0, 1000.0])
@pytest.mark.parametrize("found", [2, 3, 5, 8])
def test_a_person_in_fewer_frames_than_a_swing_is_checked_without_error(fps, found):
    """A person in a few frames of a clip (2 frames; a glimpse in a 120 fps clip): fewer found frames than the
    longest swing looked for raised a ValueError in every lifting path."""
    xy = _walk(frames=40, fps=fps)
    valid = np.zeros(40, bool)
    valid[10: 10 + found] = True
    flips = side_flips(xy, valid, fps)
    assert set(flips) == set(GROUPS) and all(f.shape == (40,) and not f.any() for f in flips.values())


def test_every_lifting_path_sees_the_flip_undone(caplog):
    """posemoe_blender.pipeline.sides_unflipped: used by lift, capture and batch before the lifter and clean-up."""
    import logging
    from dataclasses import replace

    from core.motion_file import Keypoints2D
    from posemoe_blender.pipeline import sides_unflipped

    xy = _walk(yaw0_deg=30).astype(np.float32)
    kp = Keypoints2D(_flip(xy, slice(20, 25)), np.ones((len(xy), 17), np.float32), np.ones(len(xy), bool), 30.0,
                     (640, 480))
    front = _walk(yaw0_deg=0).astype(np.float32)
    with caplog.at_level(logging.INFO):
        fixed = sides_unflipped(kp)
        legs = sides_unflipped(replace(kp, joints_2d=_flip(front, slice(40, 47), LOWER_LEGS)))
    assert np.allclose(fixed.joints_2d, xy) and "body in 5 frames" in caplog.text
    assert np.allclose(legs.joints_2d, front) and "legs in 7 frames" in caplog.text
    assert sides_unflipped(fixed) is fixed  # nothing flipped: the same keypoints


def test_a_turn_round_and_back_across_lost_frames_is_left_alone():
    """Turning side-on while the detection is lost looks like a label jump across the gap: no jump is counted there."""
    fps = 30.0
    xy = np.concatenate([_walk(30, yaw0_deg=0), _walk(40, yaw0_deg=180), _walk(30, yaw0_deg=0)])
    valid = np.ones(len(xy), bool)
    valid[[*range(27, 33), *range(67, 73)]] = False  # lost while side-on, 0.2 s each time
    found = side_flips(xy, valid, fps)
    assert not found["body"].any()


def test_lost_frames_inside_a_flip_are_swapped_back_with_it():
    xy = _walk(yaw0_deg=30)
    flipped = _flip(xy, slice(40, 50))
    valid = np.ones(len(xy), bool)
    valid[44:46] = False  # filled by extraction from flipped neighbours: flipped as well
    found = side_flips(flipped, valid, 30.0)
    assert np.flatnonzero(found["body"]).tolist() == list(range(40, 50))
    assert np.allclose(unflip(flipped, np.ones((len(xy), 17)), found)[0], xy)


def _swung(xy: np.ndarray, flipped: np.ndarray, frames: list[int]) -> np.ndarray:
    """Return ``flipped`` with ``frames`` half way between the labels as they were and crossed: MediaPipe's smoothed
    landmarks swinging across during a flip (left and right meet in the middle)."""
    out = flipped.copy()
    out[frames] = 0.5 * (xy[frames] + _flip(xy, slice(None))[frames])
    return out


@pytest.mark.parametrize("swing", [[52], [52, 53]])
def test_a_flip_that_swings_back_over_a_few_frames_is_undone(swing):
    """A jumping jack re-encoded: the labels flipped in one frame and swung back over one or two; the frames either
    side of the swing are compared, the swing is left as it is."""
    xy = _walk(yaw0_deg=5)
    flipped = _swung(xy, _flip(xy, slice(40, 52)), swing)
    found = side_flips(flipped, np.ones(len(xy), bool), 30.0)
    assert np.flatnonzero(found["body"]).tolist() == list(range(40, 52))
    back, _ = unflip(flipped, np.ones(xy.shape[:2]), found)
    after = swing[-1] + 1
    assert np.allclose(back[:52], xy[:52]) and np.allclose(back[after:], xy[after:])
    assert not side_flips(flipped, np.ones(len(xy), bool), 15.0)["body"].any()  # too slow a clip to tell a turn


@pytest.mark.parametrize("walk_hz", [0.0, 1.0, 1.5])
def test_turning_round_is_not_taken_for_a_flip_that_swings(walk_hz, monkeypatch):
    """A body turning round crosses side-on: its labels over a few frames look crossed too, but not wide open at both
    ends. Turns of 120-360 degrees a second from every heading find what the one-frame check alone finds (a review's
    sweep of such turns found 81 of 360 flipped when swings were looked for everywhere and at any width)."""
    import core.side_flips as sf

    clips = [_walk(frames=120, yaw_deg_per_s=speed, yaw0_deg=yaw0, walk_hz=walk_hz)
             for speed in (120, 180, 240, 360) for yaw0 in range(0, 180, 15)]
    clips += [_flip(xy, slice(10, 11)) for xy in clips[::5]]  # one unpaired one-frame flip: swings looked for
    ones = np.ones(120, bool)
    found = [side_flips(xy, ones, 30.0)["body"] for xy in clips]
    monkeypatch.setattr(sf, "MIN_BRIDGE_FPS", np.inf)
    assert all(np.array_equal(f, side_flips(xy, ones, 30.0)["body"]) for f, xy in zip(found, clips, strict=True))


def test_a_swing_is_looked_for_only_where_a_one_frame_flip_is_left_unpaired():
    """Two clean flips in and out pair up: a muddle elsewhere that looks like a slower swing changes nothing (the
    rendered punch: its hips and shoulders muddled while the legs alone flipped)."""
    xy = _walk(frames=120, yaw0_deg=-20)
    flipped = _swung(xy, _flip(xy, slice(20, 26)), [80, 81])  # a swing with no way back
    found = side_flips(flipped, np.ones(len(xy), bool), 30.0)
    assert np.flatnonzero(found["body"]).tolist() == list(range(20, 26))
