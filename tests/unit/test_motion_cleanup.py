"""clean_motion (core.motion_cleanup): upright world, locked feet, rigid bones, presets; demo truth; baking axes."""

import json

import numpy as np
import pytest
from walk_motion import FOCAL, FPS, IMAGE_SIZE, camera, to_camera, walk_world

from core.metrics import bone_length_cv, foot_skate, ground_penetration, jitter, mpjpe
from core.motion_cleanup import PRESETS, clean_motion
from core.retarget import motion_to_world
from core.smoothing import METHODS, smooth_series
from core.world import camera_pose, stature, transform_points


@pytest.fixture(scope="module")
def noisy_walk():
    """A procedural walk seen by a camera pitched 20 degrees and rolled 5, with 1 cm 3D and 1.5 px 2D noise."""
    joints, stance = walk_world()
    world = camera(pitch_deg=20, roll_deg=5, height=1.6)
    cam, uv = to_camera(joints, world)
    rng = np.random.default_rng(0)
    rel = cam - cam[:, :1] + rng.normal(0, 0.01, cam.shape)
    uv = uv + rng.normal(0, 1.5, uv.shape)
    height = stature(joints - joints[:, :1])
    out = clean_motion(rel, uv, np.full(cam.shape[:2], 0.9), np.ones(len(cam), bool), FPS, IMAGE_SIZE, "medium",
                       subject_height=height, focal=FOCAL)
    return {"cam": cam, "world": world, "stance": stance, "height": height, "out": out}


def _contact_mask(info: dict, frames: int) -> np.ndarray:
    mask = np.zeros((frames, 2), bool)
    for f, side in enumerate(("left", "right")):
        for first, last in info["contacts"][side]:
            mask[first: last + 1, f] = True
    return mask


def test_outputs_and_info_follow_the_motion_file_contract(noisy_walk):
    rel, root, info = noisy_walk["out"]
    assert rel.shape == noisy_walk["cam"].shape and rel.dtype == np.float32 and root.shape == (len(rel), 3)
    assert np.abs(rel[:, 0]).max() == 0.0
    assert json.loads(json.dumps(info)) == info  # JSON-serialisable for the motion file's meta
    assert np.array(info["world_from_camera"]).shape == (4, 4)
    assert info["cleanup"]["preset"] == "medium" and info["cleanup"]["filter"] in METHODS


def test_pitched_camera_gives_an_upright_world_with_the_ground_at_zero(noisy_walk):
    rel, root, info = noisy_walk["out"]
    pose = camera_pose(np.array(info["world_from_camera"]))
    assert pose["pitch_deg"] == pytest.approx(20, abs=2) and pose["roll_deg"] == pytest.approx(5, abs=2)
    assert pose["height_m"] == pytest.approx(1.6, abs=0.15)  # 1 degree of pitch is 7 cm at 4 m
    body = motion_to_world(rel, info["world_from_camera"], translate=False)
    torso = body[:, 8] - body[:, 0]
    tilt = np.degrees(np.arccos(torso[:, 2] / np.linalg.norm(torso, axis=-1)))
    assert np.median(tilt) < 3.0  # the procedural walker is perfectly upright
    feet = motion_to_world(rel + root[:, None], info["world_from_camera"])[:, [3, 6], 2]
    assert np.median(feet.min(axis=1)) == pytest.approx(info["ground"]["ankle_height_m"], abs=0.02)


def test_contacts_found_feet_locked_not_underground_bones_rigid(noisy_walk):
    rel, root, info = noisy_walk["out"]
    own = _contact_mask(info, len(rel))
    stance = noisy_walk["stance"]
    assert (own & stance).sum() / own.sum() > 0.8 and (own & stance).sum() / stance.sum() > 0.8
    world = transform_points(rel + root[:, None], np.array(info["world_from_camera"]))
    assert foot_skate(world[:, [6, 3]], own, FPS) < 2.0
    assert ground_penetration(world[:, [6, 3], 2] - info["ground"]["ankle_height_m"])[1] < 0.005
    assert bone_length_cv(rel) < 0.01


def test_root_follows_the_true_path(noisy_walk):
    from core.metrics import root_trajectory_error

    _, root, _ = noisy_walk["out"]
    err = root_trajectory_error(root, noisy_walk["cam"][:, 0])
    assert err["percent"] < 10.0


def test_feet_out_of_view_are_reported_and_never_locked(noisy_walk, caplog):
    cam = noisy_walk["cam"]
    _, _, info = noisy_walk["out"]
    assert info["ground"]["feet_seen"] == 1.0
    scores = np.full(cam.shape[:2], 0.9)
    scores[:, [3, 6]] = 0.2  # MediaPipe's ankles when the legs are cut off by the frame's edge
    uv = to_camera(walk_world()[0], noisy_walk["world"])[1]
    with caplog.at_level("WARNING"):
        _, _, hidden = clean_motion(cam - cam[:, :1], uv, scores, np.ones(len(cam), bool), FPS, IMAGE_SIZE,
                                    "medium", subject_height=noisy_walk["height"], focal=FOCAL)
    assert hidden["ground"]["feet_seen"] == 0.0
    assert hidden["contacts"] == {"left": [], "right": []} and hidden["foot_locks"] == {"left": [], "right": []}
    assert "feet are out of view" in caplog.text
    assert camera_pose(np.array(hidden["world_from_camera"]))["pitch_deg"] == pytest.approx(20, abs=2)


def test_presets_trade_jitter_and_reject_unknown_names():
    joints, _ = walk_world(seconds=3)
    cam, uv = to_camera(joints, camera())
    rel = cam - cam[:, :1] + np.random.default_rng(2).normal(0, 0.01, cam.shape)
    args = (uv, np.ones(cam.shape[:2]), np.ones(len(cam), bool), FPS, IMAGE_SIZE)
    jit = {p: jitter(clean_motion(rel, *args, preset=p, focal=FOCAL, foot_lock=False)[0]) for p in PRESETS}
    assert jit["none"] > jit["light"] > jit["medium"] > jit["strong"]
    with pytest.raises(ValueError, match="preset"):
        clean_motion(rel, *args, preset="extreme")


def test_subject_height_sets_the_scale():
    joints, _ = walk_world(seconds=2)
    cam, uv = to_camera(joints, camera())
    args = (uv, np.ones(cam.shape[:2]), np.ones(len(cam), bool), FPS, IMAGE_SIZE)
    for height in (1.5, 1.9):
        rel, _, info = clean_motion(cam, *args, subject_height=height, focal=FOCAL, foot_lock=False)
        assert stature(rel) == pytest.approx(height, rel=1e-3)
        assert info["cleanup"]["subject_height_m"] == height


def test_low_confidence_samples_are_refilled_before_filtering():
    t = np.arange(60) / 30.0
    x = np.sin(2 * np.pi * 0.5 * t)[:, None] * np.ones((1, 3))
    spiky = x.copy()
    spiky[30] += 1.0
    w = np.ones(60)
    w[30] = 0.05
    assert np.abs(smooth_series(spiky, 30.0, 5.0, "butterworth", w) - x).max() < 0.01
    assert np.abs(smooth_series(spiky, 30.0, 5.0, "butterworth") - x).max() > 0.1


def test_demo_truth_filters_add_little_error(demo_clip):
    z = np.load(demo_clip[1])
    cam = z["joints_3d"].astype(np.float64)
    gt = cam - cam[:, :1]
    args = (z["joints_2d"], np.ones(cam.shape[:2]), np.ones(len(cam), bool), float(z["fps"]),
            tuple(z["image_size"]))
    height = stature(gt)
    base, _, _ = clean_motion(cam, *args, preset="none", subject_height=height, foot_lock=False)
    medium, root, info = clean_motion(cam, *args, preset="medium", subject_height=height, level_camera=True)
    assert mpjpe(base, gt) < 0.006  # constant bone lengths: the true virtual joints vary by 1 %
    assert mpjpe(medium, gt) - mpjpe(base, gt) < 0.003  # smoothing + foot locking on a fast dance
    assert abs(camera_pose(np.array(info["world_from_camera"]))["pitch_deg"]) < 0.01  # the level camera kept
    assert len(info["contacts"]["right"]) >= 1  # the dancer stands on the right foot


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_very_short_clips_do_not_fail(frames):
    rng = np.random.default_rng(frames)
    rel, root, info = clean_motion(rng.normal(0, 0.3, (frames, 17, 3)), rng.uniform(100, 400, (frames, 17, 2)),
                                   rng.uniform(0, 1, (frames, 17)), np.ones(frames, bool), 30.0, (640, 480))
    assert np.isfinite(rel).all() and np.isfinite(root).all() and json.dumps(info)


def test_planted_feet_stay_planted_on_a_rig_with_other_proportions():
    from core import retarget as rt
    from core import rigs

    joints, stance = walk_world(seconds=3)
    bones = []
    for name, parent, head, tail in rigs.default_armature_bones(1.6):  # knees 6 cm higher, hips 40 % wider
        head, tail = np.array(head), np.array(tail)
        if name.endswith("UpLeg"):
            head[0], tail[2] = 1.4 * head[0], tail[2] + 0.06
        elif name.endswith("Leg"):
            head[2] += 0.06
        bones.append((name, parent, tuple(head), tuple(tail), 0.0))
    rest = rt.make_rest_pose(bones, rigs.resolve_mapping([b[0] for b in bones]))
    res = rt.retarget(joints, rest, joints[:, 0], nose_neck=False)
    feet = [rest.index("l_ankle"), rest.index("r_ankle")]

    def ankles(r: rt.RetargetResult) -> np.ndarray:
        return rt.forward_kinematics(rest, r.rotations, r.root_location)[0][:, feet]

    assert foot_skate(ankles(res), stance, FPS) > 2.0
    locked = rt.lock_rig_feet(rest, res, stance)
    assert foot_skate(ankles(locked), stance, FPS) < 0.5
    assert np.allclose(np.linalg.norm(locked.rotations, axis=-1), 1.0)
    swing = ~stance[:, 0]
    moved = np.linalg.norm(ankles(locked)[:, 0] - ankles(res)[:, 0], axis=-1)
    assert moved[swing].max() < 0.1  # the lock's offset eases across the swing; the foot stays near the motion
    # in a ground-aligned world the flat-footed part of each contact sits at the rig's rest ankle height
    # (not left floating where other proportions put it); only a rising heel lifts it
    from core.contact import runs

    def raised(by: float) -> rt.RetargetResult:  # the retargeted body 'by' metres higher (root bone axes differ)
        for axis in range(3):
            loc = res.root_location.copy()
            loc[:, axis] += by
            r = rt.RetargetResult(res.bone_names, res.rotations, res.driven, res.root_bone, loc, res.translation)
            if np.allclose(ankles(r)[:, :, 2] - ankles(res)[:, :, 2], by, atol=1e-6):
                return r
        raise AssertionError("no root axis raises the body")

    floating = raised(0.04)  # proportions that leave planted feet 4 cm in the air
    grounded = rt.lock_rig_feet(rest, floating, stance, on_rest_ground=True)
    assert foot_skate(ankles(grounded), stance, FPS) < 0.5
    rest_z = rest.heads[feet, 2]
    for f in range(2):
        z_before, z_after = ankles(floating)[:, f, 2], ankles(grounded)[:, f, 2]
        for s, e in runs(stance[:, f]):
            flat = s + int(np.argmin(z_before[s: e + 1]))
            assert abs(z_after[flat] - rest_z[f]) < 0.01
            assert z_after[s: e + 1].min() > rest_z[f] - 0.01
    # on a box 0.8 m high the feet are held on the box, not pulled down to the floor's height
    on_box = raised(0.8)
    held = ankles(rt.lock_rig_feet(rest, on_box, stance, on_rest_ground=True))
    assert foot_skate(held, stance, FPS) < 0.5
    for f in range(2):
        z = held[stance[:, f], f, 2]
        assert np.median(z) == pytest.approx(np.median(ankles(on_box)[stance[:, f], f, 2]), abs=0.01)


def test_a_poorly_seen_joint_keeps_the_lifters_motion():
    """A forearm the detector barely sees (confidence 0.1 for 40 frames, as a far-side arm in a side view) keeps
    the lifted swing; only frames without a person are re-filled. Re-filling such joints from their confident
    neighbours froze the far arm of a real side walk (P-MPJPE 29.7 -> 45.8 mm)."""
    joints, _ = walk_world(seconds=3)
    cam, uv = to_camera(joints, camera())
    rel = cam - cam[:, :1]
    t = np.arange(len(rel)) / FPS
    length = np.linalg.norm(rel[:, 13] - rel[:, 12], axis=-1)[:, None]
    swing = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t), np.zeros_like(t)], -1)  # 1 Hz, in the image
    rel[:, 13] = rel[:, 12] + length * swing
    scores = np.full(rel.shape[:2], 0.9)
    scores[20:60, 13] = 0.1
    valid = np.ones(len(rel), bool)
    out, _, _ = clean_motion(rel, uv, scores, valid, FPS, IMAGE_SIZE, "medium", focal=FOCAL, foot_lock=False)
    fore = out[:, 13] - out[:, 12]
    cos = (fore * swing).sum(-1) / np.linalg.norm(fore, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos[25:55], -1, 1))).max() < 2.0
    valid[30:40] = False  # no person: those frames are re-filled from their neighbours (a third of a swing)
    gone, _, _ = clean_motion(rel, uv, scores, valid, FPS, IMAGE_SIZE, "none", focal=FOCAL, foot_lock=False)
    fore = gone[:, 13] - gone[:, 12]
    cos = (fore * swing).sum(-1) / np.linalg.norm(fore, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos[30:40], -1, 1))).max() > 12.0  # a chord across the swing's arc


def test_a_far_subjects_distance_is_filtered_harder_along_the_viewing_ray():
    """Depth from one camera is noisier the farther the subject: beyond FAR_M the distance along each frame's
    ray is filtered at a lower cut-off, while where the ray points (what the 2D measures) is filtered as usual;
    a near subject's root is filtered as usual (free ends, as every root)."""
    from core.motion_cleanup import FAR_M, FILTER_METHOD, _smooth_root

    rng = np.random.default_rng(0)
    t = np.arange(150) / 30.0
    valid = np.ones(len(t), bool)
    for dist in (2.5, 10.0):
        path = np.column_stack([0.6 * np.sin(t), 0.1 + 0 * t, dist + 0.5 * np.sin(0.7 * t)])  # walks about
        ray = path / np.linalg.norm(path, axis=1, keepdims=True)
        noisy = path + ray * rng.normal(0, 0.01 * dist, len(t))[:, None]  # 1 % distance noise along the ray
        out = _smooth_root(noisy, 30.0, 2.5, valid)
        plain = smooth_series(noisy, 30.0, 2.5, FILTER_METHOD, np.ones(len(t)), free_edges=True)
        if dist <= FAR_M:
            np.testing.assert_allclose(out, plain)
        else:
            err_out, err_plain = (np.linalg.norm(r - path, axis=1).mean() for r in (out, plain))
            assert err_out < 0.7 * err_plain
            direction = lambda r: r / np.linalg.norm(r, axis=1, keepdims=True)  # noqa: E731
            np.testing.assert_allclose(direction(out), direction(plain), atol=1e-9)
    centres = np.column_stack([0.5 * t, 0 * t, 0 * t])  # a travelling camera: rays start at its centres
    noisy = centres + np.array([0.0, 0.1, 10.0]) + rng.normal(0, [0.005, 0.005, 0.1], (len(t), 3))
    out = _smooth_root(noisy, 30.0, 2.5, valid, centres)
    plain = smooth_series(noisy, 30.0, 2.5, FILTER_METHOD, np.ones(len(t)), free_edges=True)
    assert (out[10:-10, 2] - 10.0).std() < 0.7 * (plain[10:-10, 2] - 10.0).std()


def test_a_frame_whose_depth_jumps_is_a_bad_detection_and_a_steady_approach_is_not():
    """A distance off its neighbours' median by more than 28 % for a frame or two is flagged, at the clip's first
    frame too (judged by the frames after it); a person running at the camera, 8 m to 2 m in 2 s, is not."""
    from core.trajectory import depth_outliers

    fps = 30.0
    steady = np.full(90, 6.0) + np.random.default_rng(1).normal(0, 0.05, 90)
    bad = steady.copy()
    bad[[0, 40, 41]] = (12.0, 3.5, 3.6)
    assert np.flatnonzero(depth_outliers(bad, np.ones(90, bool), fps)).tolist() == [0, 40, 41]
    assert not depth_outliers(steady, np.ones(90, bool), fps).any()
    running = np.linspace(8.0, 2.0, 60)
    assert not depth_outliers(running, np.ones(60, bool), fps).any()
    valid = np.ones(90, bool)
    valid[[0, 1]] = False  # frames without a person are not judged, nor used to judge
    assert np.flatnonzero(depth_outliers(bad, valid, fps)).tolist() == [40, 41]
    assert not depth_outliers(bad[:2], np.ones(2, bool), fps).any()  # too few frames to tell


def test_a_bad_first_detection_does_not_start_the_root_metres_off(noisy_walk):
    """The detector's first frame saw half the body (its 2D shrunk to half, as on a re-encoded 240p clip): the
    root's distance there came out double and the filter spread it over the next frames. Now that frame's root
    is filled from its neighbours."""
    from core.metrics import root_trajectory_error

    cam = noisy_walk["cam"]
    joints, _ = walk_world()
    world = camera(pitch_deg=20, roll_deg=5, height=1.6)
    _, uv = to_camera(joints, world)
    centre = uv[:, :1]
    uv[0] = centre[0] + 0.5 * (uv[0] - centre[0])
    rel = cam - cam[:, :1]
    _, root, _ = clean_motion(rel, uv, np.full(cam.shape[:2], 0.9), np.ones(len(cam), bool), FPS, IMAGE_SIZE,
                              "medium", subject_height=noisy_walk["height"], focal=FOCAL)
    start = np.linalg.norm(root[:5] - cam[:5, 0], axis=1)
    assert start.max() < 0.1, start
    assert root_trajectory_error(root, cam[:, 0])["percent"] < 10.0


def test_a_motion_no_body_on_a_floor_makes_is_said(caplog):
    """Feet floating in many frames, or a ground above the camera: the result is not to be trusted, and the
    user is told so (a handheld clip of floor work, a figure that is not a person)."""
    from core.contact import FEET
    from core.motion_cleanup import _warn_if_implausible

    joints = np.zeros((10, 17, 3))
    joints[:, [FEET[0][2], FEET[1][2]], 2] = 0.07  # standing: ankles at their height over the ground
    valid = np.ones(10, bool)
    _warn_if_implausible(joints, valid, 0.07, 1.5)
    assert caplog.text == ""
    joints[3:8, [FEET[0][2], FEET[1][2]], 2] = 0.6  # half the frames half a metre up
    _warn_if_implausible(joints, valid, 0.07, -2.0)
    assert "feet float over the ground the clip shows in 50 % of frames" in caplog.text
    assert "the ground fitted to the feet is above the camera (-2.0 m)" in caplog.text


def test_a_person_lying_down_lies_on_the_ground_when_the_clip_says_so():
    """A body lying along the floor seen by an upright camera is, by default, the body of a video on its side and
    is stood up; with ``lying_down`` the ground leans on the level camera and the body lies on it."""
    from core.contact import IMAGE_UP

    joints, _ = walk_world(seconds=2.0)
    pose = np.repeat(joints[:1], 60, axis=0)
    pose = pose - pose[:, :1] * np.array([1, 1, 0])
    lying = pose @ np.array([[0, 0, 1.0], [0, 1, 0], [-1, 0, 0]]).T  # the body's up onto the world's x
    lying[..., 2] += 0.12 - lying[..., 2].min()
    cam, uv = to_camera(lying, camera(pitch_deg=10, roll_deg=0, height=1.2))
    height = stature(pose - pose[:, :1])
    tilts = {}
    for flag in (False, True):
        rel, _, info = clean_motion(cam - cam[:, :1], uv, np.full(cam.shape[:2], 0.9), np.ones(60, bool), FPS,
                                    IMAGE_SIZE, "medium", subject_height=height, focal=FOCAL, lying_down=flag)
        body = motion_to_world(rel, info["world_from_camera"], translate=False)
        torso = body[:, 8] - body[:, 0]
        tilts[flag] = np.median(np.degrees(np.arccos(torso[:, 2] / np.linalg.norm(torso, axis=-1))))
        assert info["cleanup"]["lying_down"] is flag
    assert tilts[False] < 10.0 and tilts[True] > 80.0
    assert np.allclose(info["ground"]["normal_camera"], IMAGE_UP, atol=0.05)


def test_a_standing_clip_given_lying_down_keeps_its_ground():
    """A person standing in one spot before a camera pitched 20 degrees: contacts in one spot cannot show the
    pitch, and the option must not take it from the body's up (the level camera would read it 0)."""
    joints, _ = walk_world(seconds=2.0)
    pose = np.repeat(joints[:1], 60, axis=0)
    cam, uv = to_camera(pose, camera(pitch_deg=20, roll_deg=0, height=1.6))
    for flag in (False, True):
        _, _, info = clean_motion(cam - cam[:, :1], uv, np.full(cam.shape[:2], 0.9), np.ones(60, bool), FPS,
                                  IMAGE_SIZE, "medium", subject_height=stature(pose - pose[:, :1]), focal=FOCAL,
                                  lying_down=flag)
        assert info["ground"]["pitch_deg"] == pytest.approx(20.0, abs=3.0)


def test_one_leg_hidden_behind_the_other_is_not_legs_out_of_view(noisy_walk, caplog):
    """Seen side-on (push-ups, sit-ups) the far knee and foot hide behind the near ones in every frame: both legs
    are in the picture, so neither out-of-view warning is given; the hidden foot is still not locked."""
    cam = noisy_walk["cam"]
    scores = np.full(cam.shape[:2], 0.9)
    scores[:, [5, 6]] = 0.2  # the left knee and ankle
    uv = to_camera(walk_world()[0], noisy_walk["world"])[1]
    with caplog.at_level("WARNING"):
        _, _, info = clean_motion(cam - cam[:, :1], uv, scores, np.ones(len(cam), bool), FPS, IMAGE_SIZE,
                                  "medium", subject_height=noisy_walk["height"], focal=FOCAL)
    assert "out of view" not in caplog.text
    assert info["contacts"]["left"] == [] and info["contacts"]["right"]
