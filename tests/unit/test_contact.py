"""Foot contacts, ground plane and foot locking (core.contact) on a procedural walk."""

import numpy as np
import pytest
from walk_motion import (
    ANKLE_H,
    FOCAL,
    FPS,
    IMAGE_SIZE,
    camera,
    jump_world,
    sit_world,
    stand_world,
    to_camera,
    walk_world,
)

from core.contact import (
    FEET,
    camera_rays,
    clean_runs,
    detect_contacts,
    estimate_ground,
    fit_plane,
    foot_speed,
    hysteresis,
    level_prior,
    lock_feet,
    lying_down_prior,
    raised_contacts,
    reach_shift,
    runs,
    seated,
    seen_contacts,
    seen_spread,
    two_bone_ik,
)
from core.metrics import foot_skate
from core.skeleton import bone_lengths


def test_runs_clean_runs_and_hysteresis():
    mask = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    assert runs(mask) == [(1, 2), (4, 6), (10, 10)]
    assert runs(clean_runs(mask, min_on=2, min_off=2)) == [(1, 6)]  # 1-frame gap filled, lone frame dropped
    enter = np.array([0, 1, 0, 0, 0, 0], bool)
    leave = np.array([0, 0, 0, 1, 0, 0], bool)
    assert hysteresis(enter, leave).tolist() == [False, True, True, False, False, False]


def test_contacts_found_where_feet_are_still():
    joints, stance = walk_world()
    ankles = joints[:, [6, 3]]
    contacts = detect_contacts(ankles[..., 2] - ANKLE_H, foot_speed(ankles, FPS, 4.0), FPS)
    hit = (contacts & stance).sum()
    assert hit / contacts.sum() > 0.9  # precision
    assert hit / stance.sum() > 0.8  # recall
    assert len(runs(contacts[:, 0])) == len(runs(stance[:, 0]))


def test_fit_plane_is_robust_to_outliers_and_falls_back_to_the_prior():
    rng = np.random.default_rng(0)
    normal = np.array([0.1, -0.98, -0.2])
    normal /= np.linalg.norm(normal)
    pts = rng.uniform(-2, 2, (200, 3))
    pts -= np.outer(pts @ normal + 1.5, normal)  # on the plane n.p + 1.5 = 0
    pts[:20] += 0.3 * normal  # raised feet
    n, off = fit_plane(pts, np.array([0.0, -1.0, 0.0]))
    assert np.degrees(np.arccos(n @ normal)) < 0.5 and off == pytest.approx(1.5, abs=0.01)
    n1, _ = fit_plane(pts[:1], np.array([0.0, -1.0, 0.0]))  # one point: the prior decides
    assert np.degrees(np.arccos(-n1[1])) < 1.0


def _ground_error(joints: np.ndarray, pitch: float, roll: float, height: float) -> tuple[float, float, np.ndarray]:
    """Return (normal error deg, camera height, contacts) of estimate_ground on ``joints`` seen by a camera."""
    world = camera(pitch_deg=pitch, roll_deg=roll, height=height)
    normal, offset, contacts = estimate_ground(to_camera(joints, world)[0], FPS, ANKLE_H)
    return float(np.degrees(np.arccos(np.clip(normal @ world[2, :3], -1, 1)))), offset, contacts


def test_ground_of_a_pitched_rolled_camera():
    err, offset, contacts = _ground_error(walk_world()[0], 20, 5, 1.6)
    assert err < 1.0
    assert offset == pytest.approx(1.6, abs=0.03)
    assert contacts.mean() > 0.4


@pytest.mark.parametrize("lean", [35.0, 60.0])
def test_ground_of_a_leaning_jump_uses_both_standing_spots(lean):
    # The body's up leans ~15 degrees: along it the two standing spots differ by 30 cm in "height", and a
    # guess from the lowest ankles alone kept one spot and tilted the ground with the lean. Leaning further
    # (60), the fitted ground is far from the body's up but near the image's vertical: it is not taken for
    # feet on two levels.
    joints, planted = jump_world(lean)
    err, offset, contacts = _ground_error(joints, 5, 0, 1.2)
    assert err < 2.0
    assert offset == pytest.approx(1.2, abs=0.05)
    assert (contacts & planted).sum() / planted.sum() > 0.8


def test_ground_of_a_foot_on_one_spot_seen_from_above_keeps_the_bodys_up():
    # Standing on one foot on one spot (arms moving), filmed from 4 m high, 45 degrees down. One camera's depth
    # wobbles by +-15 cm along the view while the picture stays put; a plane fitted through that wobble leans
    # towards the view (a rendered dance in place: 38 degrees off). The planted ankle spreads 0 m across the view:
    # only the ground's height is fitted.
    world = camera(pitch_deg=45.0, roll_deg=0.0, height=4.0)
    cam = to_camera(stand_world(raised=0.3), world)[0]
    t = np.arange(len(cam)) / FPS
    view = cam[:, :1] / np.linalg.norm(cam[:, :1], axis=-1, keepdims=True)
    wobble = 0.1 * np.sin(2 * np.pi * 0.7 * t) + 0.05 * np.sin(2 * np.pi * 1.9 * t)
    normal, offset, contacts = estimate_ground(cam + wobble[:, None, None] * view, FPS, ANKLE_H)
    assert np.degrees(np.arccos(np.clip(normal @ world[2, :3], -1, 1))) < 2.0
    assert offset == pytest.approx(4.0, abs=0.2)
    assert contacts[:, 0].mean() > 0.6 and not contacts[:, 1].any()


def test_seen_spread_leaves_out_the_depth():
    rng = np.random.default_rng(0)
    spot = np.array([0.5, 1.5, 4.0])
    assert seen_spread(spot + np.outer(rng.normal(0, 0.3, 50), spot / np.linalg.norm(spot))) < 1e-9
    assert seen_spread(spot + np.outer(rng.normal(0, 0.3, 50), [1.0, 0.0, 0.0])) == pytest.approx(0.3, rel=0.25)
    assert seen_spread(spot[None]) == 0.0


@pytest.mark.parametrize("drop", [0.5, 1.0])
def test_ground_of_a_jump_down_from_a_box_is_the_floor_and_level(drop):
    # Standing on a box, then a jump forward down to the floor: one plane through both standing spots leans
    # 23-40 degrees (a real clip, sports2d_demo.mp4: the ground came out rolled 32 degrees). The ground keeps
    # the body's up, and it is the floor, which no foot stands under; the feet on the box are planted too.
    joints = _box_jump(drop)
    err, offset, contacts = _ground_error(joints, 10, 0, 1.5)
    assert err < 2.0
    assert offset == pytest.approx(1.5, abs=0.05)
    assert contacts[-30:].mean() > 0.8 and contacts[:25].mean() > 0.8


@pytest.mark.parametrize("pitch", [0.0, 15.0])
def test_ground_of_a_leaning_run_in_one_spot_is_level(pitch):
    # A short run seen from the side: one foot stands once, in one spot, the other is up, and the body leans
    # forward 10 degrees, a roll in the image. The body's up as the prior rolled the ground by the lean and put the
    # camera 0.9 m too high (rendered runs seen from 8-10 m: the lower foot floated a median 0.4-0.7 m).
    joints = walk_world(speed=3.0, stride=2.0)[0][:12].copy()
    joints[:, [2, 3]] += np.array([0.0, 0.0, 0.3])  # right knee and ankle up
    joints[..., 0] += np.tan(np.radians(10.0)) * joints[..., 2]  # leaning forward along the run (+X)
    err, offset, contacts = _ground_error(joints, pitch, 0.0, 1.5)
    assert err < 2.0
    assert offset == pytest.approx(1.5, abs=0.05)
    assert contacts[:, 0].mean() > 0.7 and not contacts[:, 1].any()  # FEET: left, right


def test_level_prior_takes_out_the_roll_only_of_a_body_standing_up_in_the_image():
    p, r = np.radians(15.0), np.radians(12.0)
    up = np.array([np.sin(r) * np.cos(p), -np.cos(r) * np.cos(p), -np.sin(p)])
    level = level_prior(up)
    assert level[0] == pytest.approx(0.0) and np.linalg.norm(level) == pytest.approx(1.0)
    assert np.degrees(np.arctan2(-level[2], -level[1])) == pytest.approx(np.degrees(np.arctan2(-up[2], -up[1])))
    sideways = np.array([-0.93, -0.36, 0.04])  # lying, or a sideways video: kept as it is
    assert np.allclose(level_prior(sideways), sideways / np.linalg.norm(sideways))


def _box_jump(drop: float) -> np.ndarray:
    """Return joints (T, 17, 3), Z-up world, floor z = 0, of a standing jump forward down from a box ``drop`` m
    high: 1 s on the box, 0.5 s in the air, 1 s on the floor."""
    joints, _ = jump_world(lean_deg=0.0)
    t = np.arange(len(joints)) / FPS
    joints[..., 2] += drop * np.clip(1.0 - (t - 1.0) / 0.5, 0.0, 1.0)[:, None]
    return joints


def test_feet_on_a_box_are_locked_on_it_and_on_the_floor_below():
    # Contacts on a raised level are found against it and held at its height: before, a foot lock pinned every
    # planted foot to the floor, which pulled a landing 2 m up or left feet on a box unlocked.
    rng = np.random.default_rng(1)
    truth = _box_jump(0.8)
    noisy = truth + rng.normal(0.0, 0.01, truth.shape)  # 1 cm of jitter, as the lifter's
    contacts = detect_contacts(noisy[:, [6, 3], 2] - ANKLE_H, foot_speed(noisy[:, [6, 3]], FPS, 4.0), FPS)
    contacts |= raised_contacts(noisy, np.array([0.0, 0.0, 1.0]), 0.0, ANKLE_H, FPS)
    assert contacts[:25].all() and contacts[-25:].all()
    locked, locks = lock_feet(noisy, contacts, FPS, ANKLE_H)
    assert [round(p[2], 2) for p in locks[0]] == [round(0.8 + ANKLE_H, 2), ANKLE_H]
    ankles = locked[:, [6, 3]]
    # held at each level, free only to rise a little (heel-off; here the 1 cm jitter)
    for frames, level in ((slice(0, 25), 0.8 + ANKLE_H), (slice(-25, None), ANKLE_H)):
        assert np.median(ankles[frames, :, 2]) == pytest.approx(level, abs=0.01)
        assert ankles[frames, :, 2].min() > level - 0.005 and ankles[frames, :, 2].max() < level + 0.05
    assert foot_skate(ankles, contacts, FPS) < 0.5


@pytest.mark.parametrize("pitch", [-15.0, 0.0, 20.0])
def test_ground_of_a_seated_person_leans_on_the_spine(pitch):
    # Seated, the feet rest in front of the hips and never move, so their two spots cannot show the ground's
    # tilt and the body's up decides it; mid-ankle -> thorax leans back 25 degrees there (a rendered sit-down
    # clip seen from a low camera: the ground 18.7 degrees off), the spine is upright.
    joints = sit_world()
    assert seated(joints).all()
    assert not seated(walk_world()[0]).any() and not seated(jump_world()[0]).any()
    err, offset, contacts = _ground_error(joints, pitch, 3, 0.3)
    assert err < 2.0
    assert offset == pytest.approx(0.3, abs=0.03)
    assert contacts.all()


def test_unseen_feet_make_no_contacts():
    contacts = np.zeros((40, 2), bool)
    contacts[5:30] = True
    seen = np.ones((40, 2), bool)
    seen[:, 1] = False  # the right foot behind a desk all along
    seen[14:26, 0] = False  # the left one hidden for a while
    seen[7:10, 0] = False  # and for three frames, leaving a 2-frame run: shorter than a contact (0.1 s)
    out = seen_contacts(contacts, seen, FPS)
    assert runs(out[:, 0]) == [(10, 13), (26, 29)] and not out[:, 1].any()


def test_feet_still_in_the_image_are_planted_whatever_the_depth():
    # The pelvis depth swings by 0.3 m while the feet stand still (one camera's depth error in a crouch):
    # the 3D ankles slide, the detected 2D does not.
    joints, planted = jump_world(lean_deg=0.0)
    world = camera(pitch_deg=5, roll_deg=0, height=1.5)
    cam, uv = to_camera(joints, world)
    t = np.arange(len(cam)) / FPS
    cam[..., 2] += (0.3 * np.sin(2 * np.pi * 2.0 * t) * (t < 1.0))[:, None]
    rays = camera_rays(uv[:, [6, 3]], IMAGE_SIZE, FOCAL)
    _, _, without = estimate_ground(cam, FPS, ANKLE_H)
    _, _, with_rays = estimate_ground(cam, FPS, ANKLE_H, ankle_rays=rays)
    first = planted & (t < 1.0)[:, None]
    assert (without & first).sum() / first.sum() < 0.5
    assert (with_rays & first).sum() / first.sum() > 0.9
    assert not (with_rays & ~planted).any()  # feet in the air move in the image: never planted


def test_two_bone_ik_reaches_and_keeps_lengths():
    hip = np.zeros((3, 3))
    knee = np.array([[0, 0, -0.45]] * 3) + [0.05, 0, 0]
    ankle = knee + [0, 0, -0.45]
    target = np.array([[0.2, 0.0, -0.8], [0.0, 0.1, -0.6], [0.0, 0.0, -2.0]])
    k2, a2 = two_bone_ik(hip, knee, ankle, target)
    assert np.allclose(a2[:2], target[:2], atol=1e-6)
    assert np.allclose(np.linalg.norm(k2 - hip, axis=-1), np.linalg.norm(knee - hip, axis=-1))
    assert np.allclose(np.linalg.norm(a2 - k2, axis=-1), np.linalg.norm(ankle - knee, axis=-1))
    reach = np.linalg.norm(knee[2] - hip[2]) + 0.45
    assert reach - 1e-3 < np.linalg.norm(a2[2]) < reach and a2[2, 2] < -0.89  # out of reach: straight at it


def test_locked_feet_do_not_slide_or_sink_and_legs_keep_their_lengths():
    joints, stance = walk_world()
    rng = np.random.default_rng(1)
    wobble = np.cumsum(rng.normal(0, 0.004, (len(joints), 3)), axis=0)  # a drifting, jittery root
    noisy = joints + wobble[:, None]
    noisy[:, [3, 6], 2] -= 0.03  # and feet 3 cm too low
    before = foot_skate(noisy[:, [6, 3]], stance, FPS)
    locked, locks = lock_feet(noisy, stance, FPS, ANKLE_H)
    assert before > 5.0
    assert foot_skate(locked[:, [6, 3]], stance, FPS) < 2.0
    assert locked[:, [3, 6], 2].min() >= ANKLE_H - 1e-6
    assert np.allclose(bone_lengths(locked), bone_lengths(noisy), atol=1e-6)
    assert len(locks[0]) == len(runs(stance[:, 0])) and len(locks[1][0]) == 3
    step = np.linalg.norm(np.diff(locked[:, [3, 6]], axis=0), axis=-1)
    true_step = np.linalg.norm(np.diff(joints[:, [3, 6]], axis=0), axis=-1)
    assert step.max() < 1.25 * true_step.max()  # no pops: feet never much faster than the true swing



def test_reach_shift_moves_the_body_just_enough_and_smoothly():
    """A pin far beyond a straight leg over frames 30-60: IK alone would leave the foot short (and dragging);
    the body offset brings the hip within reach there, stays ~0 far from it, and has no pop."""
    t_len = 90
    body = np.zeros((t_len, 17, 3))
    for hip, knee, ankle in FEET:
        body[:, hip] = [0.0, 0.0, 0.9]
        body[:, knee] = [0.1, 0.0, 0.475]
        body[:, ankle] = [0.0, 0.0, 0.05]  # a slightly bent leg: its own ankle is within reach
    reach = 0.995 * 2 * np.linalg.norm([0.1, 0.0, 0.425])
    pin = np.zeros((t_len, 3))
    ease = np.clip(np.minimum(np.arange(t_len) - 20, 70 - np.arange(t_len)) / 10, 0, 1)
    pin[:, 0] = 0.5 * ease * ease * (3 - 2 * ease)  # eased in over 20-30, out over 60-70, as locks are
    hip = body[:, FEET[0][0]]
    need = np.linalg.norm(pin - hip, axis=-1) - reach
    assert need[30:60].min() > 0.05
    shift = reach_shift(body, lambda b: [np.where(pin[:, :1] > 0, pin, b[:, a]) for _, _, a in FEET], FPS, 3.0)
    dist = np.linalg.norm(pin - (hip + shift), axis=-1)
    assert (dist[30:61] - reach).max() < 0.005  # within reach (to 5 mm) inside the pinned span
    assert np.abs(shift[:10]).max() < 0.005 and np.abs(shift[-10:]).max() < 0.005
    assert np.linalg.norm(np.diff(shift, 2, axis=0), axis=-1).max() < 0.02


def test_lock_offsets_pin_in_contact_and_ease_across_the_swing():
    from core.contact import lock_offsets

    t = np.arange(40, dtype=float)
    ankle = np.stack([0.05 * t, np.zeros(40), np.full(40, 0.08)], axis=1)  # a foot drifting forward 5 cm/frame
    contact = np.zeros(40, bool)
    contact[3:10] = contact[25:32] = True
    pins = [[0.3, 0.0, 0.08], [1.4, 0.0, 0.08]]
    off = lock_offsets(ankle, contact, pins, ease=5)
    target = ankle + off
    np.testing.assert_allclose(target[3:10], np.tile(pins[0], (7, 1)), atol=1e-12)  # exactly on the pins
    np.testing.assert_allclose(target[25:32], np.tile(pins[1], (7, 1)), atol=1e-12)
    # across the swing (frames 9 -> 25) the offset moves from one end value to the other, halfway at mid-swing,
    # never overshooting, with accelerations no larger than a smoothstep over the whole swing gives
    o_a, o_b = off[9, 0], off[25, 0]
    assert abs(off[17, 0] - (o_a + o_b) / 2) < 1e-12
    assert np.all(np.diff(off[9:26, 0]) * np.sign(o_b - o_a) >= -1e-12)
    assert np.abs(np.diff(off[9:26, 0], 2)).max() <= 6 * abs(o_b - o_a) / 16**2 + 1e-12
    # after the last contact it fades to nothing over `ease` frames; before the first, the fade would start
    # before the clip does, so frame 0 holds a partial offset rather than the lock jumping in at frame 3
    assert np.all(off[37:] == 0) and np.all(np.abs(off[32:37, 0]) > 0)
    assert 0 < abs(off[0, 0]) < abs(off[2, 0]) < abs(off[3, 0])
    assert not lock_offsets(ankle, np.zeros(40, bool), [], ease=5).any()
    # a gap longer than max_swing is no swing: the lock fades out and back in, and is off in between
    long = lock_offsets(ankle, contact, pins, ease=5, max_swing=10)
    assert np.all(long[15:20] == 0) and np.all(np.abs(long[10:15, 0]) > 0) and np.all(np.abs(long[20:25, 0]) > 0)
    # contacts touching both ends of the clip, and a one-frame contact, are pinned with nothing to fade
    edge = np.zeros(40, bool)
    edge[:4] = edge[20] = edge[36:] = True
    pins3 = [[0.0, 0.0, 0.08], [1.0, 0.0, 0.08], [2.0, 0.0, 0.08]]
    target = ankle + lock_offsets(ankle, edge, pins3, ease=5)
    np.testing.assert_allclose(target[edge], np.array(pins3)[[0] * 4 + [1] + [2] * 4], atol=1e-12)
    # heel-off: a planted ankle that rises above its pin is let up (held down, the leg would stretch);
    # one that sinks below it is held at the pin's height; with rise_from, the rise counts from there
    ankle[3:10, 2] = [0.06, 0.07, 0.08, 0.08, 0.09, 0.11, 0.13]
    target = ankle + lock_offsets(ankle, contact, pins, ease=5)
    np.testing.assert_allclose(target[3:10, 2], [0.08, 0.08, 0.08, 0.08, 0.09, 0.11, 0.13], atol=1e-12)
    np.testing.assert_allclose(target[3:10, :2], np.tile(pins[0][:2], (7, 1)), atol=1e-12)
    target = ankle + lock_offsets(ankle, contact, pins, ease=5, rise_from=[0.09, 0.08])
    np.testing.assert_allclose(target[3:10, 2], [0.08, 0.08, 0.08, 0.08, 0.08, 0.10, 0.12], atol=1e-12)
    with pytest.raises(ValueError, match="frames"):
        lock_offsets(ankle, contact[:30], pins, ease=5)


def test_soft_ik_has_no_knee_pop_near_a_straight_leg():
    """Sweeping the target through full extension in 0.5 mm steps: with soft IK the knee moves smoothly, exact
    targets inside (1 - soft) x reach are still met, and the leg never overstretches."""
    from core.contact import two_bone_ik

    n = 400
    hip = np.zeros((n, 3))
    knee = np.tile([0.0, 0.05, -0.45], (n, 1))  # slightly bent forward (the pole)
    ankle = np.tile([0.0, 0.0, -0.9], (n, 1))
    reach = 2 * np.hypot(0.05, 0.45)
    dist = np.linspace(0.86, 0.86 + 0.0005 * (n - 1), n)
    target = np.stack([np.zeros(n), np.zeros(n), -dist], -1)
    steps = {}
    for soft in (0.0, 0.02):
        k, a = two_bone_ik(hip, knee, ankle, target, soft=soft)
        steps[soft] = np.linalg.norm(np.diff(k, axis=0), axis=-1).max()
        assert np.all(np.linalg.norm(a - hip, axis=-1) <= reach + 1e-9)
        inside = dist < (1 - max(soft, 1e-4)) * reach
        assert np.allclose(a[inside], target[inside], atol=1e-9)
    assert steps[0.0] > 0.008  # the hard limit: about a centimetre of knee for 0.5 mm of target motion
    assert steps[0.02] < 0.002


def test_the_lying_down_prior_is_the_level_camera_unless_the_body_stands():
    lying = np.array([0.97, -0.1, 0.2])  # across the picture
    assert np.allclose(lying_down_prior(lying), [0.0, -1.0, 0.0])
    for pitch in (-20.0, 0.0, 30.0, 40.0):  # a standing body under a camera looking up 20 to down 40 degrees
        p = np.radians(pitch)
        standing = np.array([0.1, -np.cos(p), -np.sin(p)])
        assert np.allclose(lying_down_prior(standing), level_prior(standing))
    for pitch in (0.0, 30.0, 45.0):  # lying end-on, head away from a camera pitched down that much
        p = np.radians(pitch)
        assert np.allclose(lying_down_prior(np.array([0.0, -np.sin(p), np.cos(p)])), [0.0, -1.0, 0.0])


def test_frames_without_a_person_are_no_evidence_of_the_ground():
    """The detector's first detection was upside down and the frames before it held that pose (more than half the
    clip): the ground came out upside down too. Frames without a person are now no contact and no part of the
    body's up, so the ground is the walk's."""
    joints, _ = walk_world()
    world = camera(pitch_deg=10, roll_deg=0, height=1.5)
    cam = to_camera(joints, world)[0]
    held = len(cam) * 3 // 5
    flipped = cam[held].copy()
    flipped = flipped[:1] - (flipped - flipped[:1])  # turned half round about the pelvis: upside down
    cam[:held] = flipped
    valid = np.zeros(len(cam), bool)
    valid[held:] = True
    normal, _, contacts = estimate_ground(cam, FPS, ANKLE_H, valid=valid)
    fooled, _, held_contacts = estimate_ground(cam, FPS, ANKLE_H)
    assert not contacts[:held].any() and contacts[held:].any()
    error = lambda n: np.degrees(np.arccos(np.clip(n @ world[2, :3], -1, 1)))  # noqa: E731
    assert error(normal) < 2.0, error(normal)
    assert error(fooled) > 90.0 and held_contacts[:held].any()  # without the mask: upside down, held feet planted
