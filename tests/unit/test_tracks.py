"""One person through the clip (core.tracks): the detector jumping to somebody else is found and left out."""

import numpy as np

from core.tracks import main_person, main_person_found_again, runs_of_one_body


def _body(centre: np.ndarray, torso: float) -> np.ndarray:
    """Return (T, 33, 4) MediaPipe-like landmarks: hips at ``centre`` (T, 2) px, shoulders ``torso`` px above."""
    lm = np.zeros((len(centre), 33, 4))
    for i, dx in ((23, -10.0), (24, 10.0)):
        lm[:, i, :2] = centre + [dx, 0.0]
    for i, dx in ((11, -15.0), (12, 15.0)):
        lm[:, i, :2] = centre + [dx, -torso]
    lm[..., 3] = 1.0
    return lm


def test_another_person_taking_over_is_left_out():
    t = np.arange(120)
    walker = np.stack([200 + 4.0 * t, np.full(120, 300.0)], -1)  # 4 px a frame, torso 100 px
    lm = _body(walker, 100.0)
    other = _body(np.stack([np.full(20, 900.0), np.full(20, 250.0)], -1), 60.0)  # smaller, far to the right
    lm[50:70] = other
    lm[30:33] = np.nan  # the detector lost the walker for three frames
    valid = np.ones(120, bool)
    valid[30:33] = False
    assert runs_of_one_body(lm, valid, 30.0) == [(0, 49), (50, 69), (70, 119)]  # a short loss is no jump
    kept, dropped = main_person(lm, valid, 30.0)
    assert dropped == [(50, 69)]
    assert kept[:30].all() and kept[33:50].all() and kept[70:].all() and not kept[50:70].any()


def test_fast_moves_and_low_frame_rates_are_one_body():
    t = np.arange(60)
    sprint = np.stack([100 + 60.0 * t, np.full(60, 300.0)], -1)  # 0.6 torso lengths a frame at 30 fps
    lm = _body(sprint, 100.0)
    assert runs_of_one_body(lm, np.ones(60, bool), 30.0) == [(0, 59)]
    squats = _body(np.stack([np.full(20, 300.0), 300 + 150 * np.sin(np.arange(20))], -1), 100.0)
    assert runs_of_one_body(squats, np.ones(20, bool), 5.0) == [(0, 19)]  # 1.5 torsos a frame at 5 fps
    assert runs_of_one_body(squats, np.ones(20, bool), 30.0) != [(0, 19)]  # the same at 30 fps is not a body
    kept, dropped = main_person(lm, np.ones(60, bool), 30.0)
    assert kept.all() and dropped == []


def test_the_main_person_found_again_fills_the_frames_the_tracker_spent_on_another():
    t = np.arange(100)
    walker = _body(np.stack([200 + 4.0 * t, np.full(100, 300.0)], -1), 100.0)
    other = _body(np.stack([np.full(30, 900.0), np.full(30, 250.0)], -1), 60.0)
    lm = walker.copy()
    lm[40:70] = other  # the tracker went to the other person
    valid = np.ones(100, bool)
    left = {i: walker[i] for i in range(40, 70) if i % 7}  # the left walker, found again in most frames
    kept, dropped, taken = main_person_found_again(lm, valid, 30.0, left)
    assert taken.sum() == len(left) and all(taken[i] for i in left)
    assert kept[:40].all() and kept[70:].all() and kept[list(left)].all()
    assert dropped == [(i, i) for i in range(42, 70, 7)]  # frames where it was not found stay the other's
    # The tracker jumped *to* the main person: what it left is the other one, and is not taken.
    lm2 = walker.copy()
    lm2[:20] = other[:20]
    kept, dropped, taken = main_person_found_again(lm2, valid, 30.0, {i: other[0] for i in range(20, 30)})
    assert not taken.any() and dropped == [(0, 19)] and kept[20:].all()


def test_the_body_seen_in_more_frames_wins_counting_where_it_was_found_again():
    # The tracker follows the first person for 30 frames, loses her and stays on somebody else for the other
    # 70; she is found again from frame 36 on. Counted with those frames she is seen in 94 frames: she is kept.
    t = np.arange(100)
    first = _body(np.stack([300 + 2.0 * t, np.full(100, 300.0)], -1), 100.0)
    second = _body(np.stack([900 - 1.0 * t, np.full(100, 280.0)], -1), 90.0)
    lm = np.concatenate([first[:30], second[30:]])
    kept, dropped, taken = main_person_found_again(lm, np.ones(100, bool), 30.0, {i: first[i] for i in range(36, 100)})
    assert kept[:30].all() and kept[36:].all() and not kept[30:36].any() and dropped == [(30, 35)]
    assert taken[36:].all() and not taken[:36].any()
    kept, _, taken = main_person_found_again(lm, np.ones(100, bool), 30.0, {i: first[i] for i in range(36, 50)})
    assert kept[30:].all() and not kept[:30].any() and not taken.any()  # found again too briefly: the second


class _Misses:
    """A single-image BlazePose that finds nobody (the left body hidden)."""

    calls = 0

    def process(self, image):
        from types import SimpleNamespace

        self.calls += 1
        return SimpleNamespace(pose_landmarks=None)


def test_the_left_body_is_looked_for_until_the_tracker_jumps_back_to_it():
    # The tracker jumps from A (standing at x = 1000) to B, who then walks up to where A stood: B coming near
    # is not the tracker coming back to A, so A is still looked for; a jump of the tracker back to A is, and
    # then B, whom it left, is looked for.
    from core.extract import LeftBody

    a = _body(np.array([[1000.0, 300.0]]), 100.0)[0]
    b = _body(np.stack([200 + 9.0 * np.arange(80), np.full(80, 300.0)], -1), 100.0)
    frame, retry = np.zeros((720, 1280, 3), np.uint8), _Misses()
    left = LeftBody(30.0, 30)
    for i in range(5):  # the tracker on A for frames 0-4
        left.step(i - 5, frame, a, a if i else None, i - 6, retry)
    assert left.lm is None and retry.calls == 0  # no jump, no search
    for i in range(70):  # on B from frame 0
        left.step(i, frame, b[i], a if i == 0 else b[i - 1], i - 1, retry)
    assert left.lm is not None and abs(b[69, 23, 0] - 1000.0) < 200  # B is near A's spot, A still looked for
    assert retry.calls == 2 * (31 + 7)  # upright and turned: every frame for a second, then every fifth
    left.step(70, frame, a, b[69], 69, retry)
    assert left.at == 69 and np.array_equal(left.lm, b[69])  # the tracker jumped back to A: now B is looked for


def test_a_refit_of_the_same_body_ends_the_search_at_once():
    # MediaPipe sometimes re-fits the same body a torso length off for a frame (the real two-person clip, frame
    # 6): that reads as a jump, but the next frame the tracker is back where the body was, and the search ends
    # there (left running, it once latched onto the other person nearby and lost the main one later).
    from core.extract import LeftBody

    still = _body(np.full((10, 2), [600.0, 300.0]), 100.0)
    tracked = still.copy()
    tracked[5, :, 1] += 130.0  # frame 5: re-fitted 1.3 torso lengths lower
    frame, retry = np.zeros((720, 1280, 3), np.uint8), _Misses()
    left = LeftBody(30.0, 30)
    for i in range(10):
        left.step(i, frame, tracked[i], tracked[i - 1] if i else None, i - 1, retry)
        assert (left.lm is not None) == (i == 5), i
    assert retry.calls == 2  # one look, upright and turned


def test_a_close_up_whose_hips_are_guessed_anew_stays_one_body():
    """Hips out of the picture: MediaPipe guesses them, and a new guess after lost frames moves them half a torso
    and changes the torso's length; the shoulders, in view, continue, so the clip is not cut there."""
    t = np.arange(80)
    lm = _body(np.stack([300 + 0.5 * t, np.full(80, 420.0)], -1), 200.0)  # hips below a 360 px high picture
    lm[45:, (23, 24), 1] -= 110.0  # the new guess: hips 110 px higher, the torso 90 px long
    valid = np.ones(80, bool)
    valid[40:45] = False  # lost for five frames
    kept, dropped = main_person(lm, valid, 25.0)
    assert dropped == [] and kept.sum() == 75
    other = lm.copy()
    other[45:, (11, 12), 0] += [[-40.0, 40.0]]  # the same hips, but shoulders twice as wide: somebody else
    other[45:, (11, 12), 1] += 150.0
    assert main_person(other, valid, 25.0)[1] == [(45, 79)]


def test_frame_ranges_merge_touching_runs_and_name_single_frames():
    from core.tracks import frame_ranges

    assert frame_ranges([(313, 318), (311, 311), (312, 312), (320, 320)]) == "311-318, 320"
    assert frame_ranges([]) == ""


def test_mostly_filled_keypoints_are_warned_about(caplog):
    from core.tracks import warn_if_mostly_filled

    warn_if_mostly_filled("k.npz", np.array([True, False, False]))
    assert "k.npz: a person was found in only 1 of 3 frames" in caplog.text
    caplog.clear()
    warn_if_mostly_filled("k.npz", np.array([True, True, False]))
    assert caplog.text == ""


def _torsos(degrees: list[float]) -> np.ndarray:
    """Return MediaPipe landmarks (T, 33, 4) of a torso 100 px long turned ``degrees`` from upright in each frame."""
    lm = np.zeros((len(degrees), 33, 4))
    for t, deg in enumerate(degrees):
        a = np.radians(deg)
        up = 100 * np.array([np.sin(a), -np.cos(a)])
        side = 20 * np.array([np.cos(a), np.sin(a)])
        hips = np.array([320.0, 300.0])
        lm[t, [23, 24], :2] = hips + side, hips - side
        lm[t, [11, 12], :2] = hips + up + side, hips + up - side
    lm[..., 3] = 1.0
    return lm


def test_a_torso_upside_down_for_a_frame_or_two_is_a_bad_detection():
    """The first detection of a body whose head is cut off came out with the shoulders under the hips; so does a
    frame or two mid-clip. Nobody turns over in that time: those frames are dropped (then filled)."""
    from core.tracks import inverted_blips

    upright = [5.0, -20, 25, 26, 24, 20, 10, 0, -10, 5, 8, 6]
    degrees = [175.0, *upright[1:6], 180, 170, *upright[8:]]
    found = inverted_blips(_torsos(degrees), np.ones(len(degrees), bool), 30.0)
    assert np.flatnonzero(found).tolist() == [0, 6, 7]
    assert not inverted_blips(_torsos(upright), np.ones(len(upright), bool), 30.0).any()


def test_a_tumble_and_a_turn_over_across_lost_frames_are_kept():
    from core.tracks import inverted_blips

    flip = list(np.linspace(0, 360, 16)) + [0.0] * 5  # a back flip in half a second: 24 degrees a frame
    assert not inverted_blips(_torsos(flip), np.ones(len(flip), bool), 30.0).any()
    degrees = [0.0, 0, 0, 0, 180, 0, 0, 0]
    valid = np.ones(8, bool)
    valid[[3, 5]] = False  # upside down between two misses: turned over while the detector lost it
    assert not inverted_blips(_torsos(degrees), valid, 30.0).any()
    valid[:] = True
    assert inverted_blips(_torsos(degrees), valid, 30.0).tolist() == [False] * 4 + [True] + [False] * 3


def test_at_a_low_frame_rate_only_a_first_or_last_upside_down_detection_is_dropped():
    """At 5 fps one frame spans 0.2 s, in which a back tuck turns over: an upside-down frame between upright ones is
    kept. The first found frame upside down with steady upright ones after it (a 5 fps squat whose head is cropped;
    the lost frames before it copied it and the clip started upside down), or the last, is still dropped."""
    from core.tracks import inverted_blips

    tuck = [0.0, 0, 0, 180, 0, 0, 0]
    assert not inverted_blips(_torsos(tuck), np.ones(7, bool), 5.0).any()
    first = [180.0, 0, 5, -5, 0, 3]
    valid = np.ones(8, bool)
    valid[:2] = False  # lost first, then found upside down
    found = inverted_blips(_torsos([0.0, 0, *first]), valid, 5.0)
    assert np.flatnonzero(found).tolist() == [2]
    assert np.flatnonzero(inverted_blips(_torsos(first[::-1]), np.ones(6, bool), 5.0)).tolist() == [5]
    turning = [180.0, 120, 60, 0, 0, 0]  # rolling up over three frames: the frames after it do not agree
    assert not inverted_blips(_torsos(turning), np.ones(6, bool), 5.0).any()


def test_a_garbled_short_first_detection_upside_down_is_dropped_and_a_bow_is_kept():
    """A first detection upside down and a quarter of the torso's size (the 5 fps squats with the head cropped) is
    dropped; a short torso that the next frames go on with (a bow towards the camera), or one in mid-clip, is not."""
    from core.tracks import inverted_blips

    lm = _torsos([180.0, 0, 5, -5, 0, 3, 180, 2])
    lm[[0, 6], :, 1] = 300 + 0.25 * (lm[[0, 6], :, 1] - 300)  # short torsos: the first and one in mid-clip
    for fps in (5.0, 30.0):
        assert np.flatnonzero(inverted_blips(lm, np.ones(8, bool), fps)).tolist() == [0]
    bow = _torsos([180.0, 175, 170, 0, 0, 0, 0, 0, 0])
    bow[:3, :, 1] = 300 + 0.2 * (bow[:3, :, 1] - 300)
    assert not inverted_blips(bow, np.ones(9, bool), 30.0).any()
