"""A travelling camera (core.camera_travel): its path measured on the floor's corners, and the clean-up that adds
it to the root so a walker followed by a camera walking alongside walks across the world, not on the spot."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from walk_motion import FOCAL, FPS, IMAGE_SIZE, camera, to_camera, walk_world

from core.camera_motion import EVERY, REDETECT_EVERY, BackgroundTracker, turn_angles
from core.camera_travel import camera_path, checked_flow, path_length
from core.metrics import root_trajectory_error
from core.motion_cleanup import clean_motion
from core.world import invert, transform_points


def _project(world: np.ndarray, world_from_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels (N,2), seen (N,) bool) of world points in a camera of walk_motion's intrinsics."""
    cam = transform_points(world[None], invert(world_from_cam))[0]
    uv = FOCAL * cam[:, :2] / np.maximum(cam[:, 2:], 1e-6) + np.array(IMAGE_SIZE) / 2.0
    seen = (cam[:, 2] > 0.5) & (uv >= 0).all(axis=1) & (uv < np.array(IMAGE_SIZE)).all(axis=1)
    return uv, seen


def _flow(cams: np.ndarray, points: np.ndarray, noise_px: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return camera_flow-like (points (P,64,4), frames (P,2)) of world ``points`` seen from cameras (T,4,4): every
    EVERY-th frame against the frame its corners were found in (every REDETECT_EVERY measured frames), as
    core.camera_motion.BackgroundTracker.flow() keeps them."""
    rng = np.random.default_rng(seed)
    out, frames = [], []
    for b in range(EVERY, len(cams), EVERY):
        a = (b - 1) // (EVERY * REDETECT_EVERY) * EVERY * REDETECT_EVERY
        (ua, sa), (ub, sb) = _project(points, cams[a]), _project(points, cams[b])
        both = np.flatnonzero(sa & sb)
        pick = rng.choice(both, min(64, len(both)), replace=False)
        pts = np.full((64, 4), np.nan)
        pts[: len(pick)] = np.hstack([ua[pick], ub[pick]]) + rng.normal(0, noise_px, (len(pick), 4))
        out.append(pts)
        frames.append((a, b))
    return np.array(out, np.float32), np.array(frames, np.int32)


def _scene(rng: np.random.Generator, outliers: float = 0.25) -> np.ndarray:
    """Return world points (N,3), Z-up, ground z = 0: corners on the floor in front of walk_motion's camera, and
    a fraction ``outliers`` of them off it, on boxes behind the walk and on a wall 10 m away."""
    n = 3000
    floor = np.column_stack([rng.uniform(-8, 8, n), rng.uniform(-3.5, 12, n), np.zeros(n)])
    m = int(outliers * n)
    floor[:m, 1] = np.where(np.arange(m) % 2, rng.uniform(2.0, 8.0, m), 10.0)
    floor[:m, 2] = rng.uniform(0.5, 3.0, m)
    return floor


def _tracking_shot(joints: np.ndarray, shake_deg: float = 0.3, pitch_deg: float = 12.0,
                   roll_deg: float = 2.0) -> np.ndarray:
    """Return cameras (T,4,4) that travel beside the walker, 0.3 s behind its pelvis, with a little hand shake."""
    base = camera(pitch_deg=pitch_deg, roll_deg=roll_deg, height=1.5)
    lag = int(0.3 * FPS)
    pelvis_x = np.concatenate([np.full(lag, joints[0, 0, 0]), joints[:-lag, 0, 0]])
    rng = np.random.default_rng(3)
    shake = np.cumsum(rng.normal(0, shake_deg / 6, (len(joints), 3)), axis=0)
    cams = np.repeat(base[None], len(joints), axis=0)
    cams[:, 0, 3] += pelvis_x - joints[0, 0, 0]
    cams[:, :3, :3] = Rotation.from_euler("xyz", shake, degrees=True).as_matrix() @ base[:3, :3]
    return cams


def _in_first_camera(cams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (turns (T,3,3) camera t -> camera 0, centres (T,3) in camera 0) of cameras (T,4,4)."""
    first = invert(cams[0])
    return first[:3, :3] @ cams[:, :3, :3], transform_points(cams[None, :, :3, 3], first)[0]


def _ground(cams: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the true ground (normal up, offset) in the first camera's frame."""
    up = invert(cams[0])[:3, :3] @ np.array([0, 0, 1.0])
    return up, float(cams[0, 2, 3])


def test_the_path_is_measured_on_the_floor_despite_corners_off_it():
    joints, _ = walk_world(seconds=4.0, speed=1.2)
    cams = _tracking_shot(joints)
    flow = _flow(cams, _scene(np.random.default_rng(0)), noise_px=0.3)
    normal, offset = _ground(cams)
    tilted = Rotation.from_euler("x", 6.0, degrees=True).apply(normal)  # the feet's ground, 6 degrees off
    turns, centres, found = camera_path(*flow, len(cams), tilted, offset, IMAGE_SIZE, FOCAL)
    true_turns, true_centres = _in_first_camera(cams)
    # the background puts the floor's normal within 0.4-1.0 degrees of the truth (from 6 off; scene seeds 0-7;
    # 0.05 without the corners off the floor), and the turn drifts by about twice what is left over the clip's
    # 4.4 m (0.9-2.1 degrees, the centres 0.03-0.13 m off). Left at the feet's normal: 7-11 degrees, 0.9-1.2 m.
    assert np.degrees(np.arccos(np.clip(found @ normal, -1, 1))) < 1.5, "the floor's normal from the background"
    assert turn_angles(np.einsum("tji,tjk->tik", turns, true_turns)).max() < 3.0
    assert np.abs(centres - true_centres).max() < 0.25
    assert path_length(centres) == pytest.approx(path_length(true_centres), rel=0.05)


def _turning(frames: int, pan_deg: float, shake_deg: float = 0.3) -> np.ndarray:
    """Return cameras (T,4,4) standing where walk_motion's camera stands, panning by ``pan_deg`` about the
    vertical over the clip, with a little hand shake."""
    base = camera(pitch_deg=12, roll_deg=2, height=1.5)
    rng = np.random.default_rng(4)
    shake = np.cumsum(rng.normal(0, shake_deg / 6, (frames, 3)), axis=0)
    cams = np.repeat(base[None], frames, axis=0)
    pan = Rotation.from_euler("z", np.linspace(0.0, pan_deg, frames), degrees=True).as_matrix()
    cams[:, :3, :3] = pan @ Rotation.from_euler("xyz", shake, degrees=True).as_matrix() @ base[:3, :3]
    return cams


def test_a_camera_that_pauses_holds_its_place_and_the_floor_is_still_found():
    """The camera stops for a moment before frames where corners are found again (no flow is kept while the
    background stands still): those frames hold the camera before them."""
    joints, _ = walk_world(seconds=4.0, speed=1.2)
    moving = _tracking_shot(joints)
    pauses = range(8, len(moving), 20)  # stand still over frames s+1, s+2
    source, back = [], 0
    for t in range(len(moving)):
        back += any(t in (s + 1, s + 2) for s in pauses)
        source.append(t - back)
    cams = moving[np.array(source)]
    pts, frames = _flow(cams, _scene(np.random.default_rng(1)), noise_px=0.3)
    still = np.isin(frames[:, 1], [s + 2 for s in pauses])  # the tracker keeps nothing where nothing moved
    normal, offset = _ground(cams)
    tilted = Rotation.from_euler("x", 6.0, degrees=True).apply(normal)
    turns, centres, found = camera_path(pts[~still], frames[~still], len(cams), tilted, offset, IMAGE_SIZE, FOCAL)
    # 0.6-1.1 degrees over scene seeds 0-5 (0.73 here); 1.2-1.7 (1.66) when the held frames' pairs were placed
    # by the first chain's turns
    assert np.degrees(np.arccos(np.clip(found @ normal, -1, 1))) < 1.3
    assert np.abs(centres - _in_first_camera(cams)[1]).max() < 0.25


@pytest.mark.parametrize("pan_deg", [0.0, 40.0])
def test_a_camera_that_only_turns_or_shakes_does_not_travel(pan_deg):
    cams = _turning(60, pan_deg)
    normal, offset = _ground(cams)
    flow = _flow(cams, _scene(np.random.default_rng(1)), noise_px=0.3)
    assert camera_path(*flow, len(cams), normal, offset, IMAGE_SIZE, FOCAL) is None


def test_pairs_in_any_order_or_out_of_the_clip_give_the_same_path():
    joints, _ = walk_world(seconds=2.0, speed=1.2)
    cams = _tracking_shot(joints)
    normal, offset = _ground(cams)
    pts, frames = _flow(cams, _scene(np.random.default_rng(3)), noise_px=0.3)
    ref = camera_path(pts, frames, len(cams), normal, offset, IMAGE_SIZE, FOCAL, refine_normal=False)
    order = np.random.default_rng(0).permutation(len(frames))
    odd = np.concatenate([frames[order], [[5, 500], [-4, 2], [9, 9]]])  # past the end, before the start, empty
    odd_pts = np.concatenate([pts[order], pts[:3]])
    got = camera_path(odd_pts, odd, len(cams), normal, offset, IMAGE_SIZE, FOCAL, refine_normal=False)
    assert ref is not None and got is not None
    assert np.allclose(got[1], ref[1]) and np.allclose(got[0], ref[0])


def test_traffic_behind_a_standing_camera_does_not_move_it():
    """Most corners on cars driving past (a flow a travelling camera would give): the path they fake would make
    the walker's planted feet slide, so the clean-up keeps the standing camera."""
    joints, _ = walk_world(seconds=3.0, speed=1.2)
    cams = np.repeat(camera(pitch_deg=12, roll_deg=2, height=1.5)[None], len(joints), axis=0)
    rng = np.random.default_rng(6)
    cars = np.column_stack([rng.uniform(-8, 8, 2000), rng.uniform(4.0, 9.0, 2000), np.zeros(2000)])
    out, frames = [], []
    for b in range(EVERY, len(cams), EVERY):
        a = (b - 1) // (EVERY * REDETECT_EVERY) * EVERY * REDETECT_EVERY
        ua, sa = _project(cars, cams[a])
        ub, sb = _project(cars + np.array([-6.0 * (b - a) / FPS, 0.0, 0.0]), cams[b])  # 6 m/s, all one way
        pick = np.flatnonzero(sa & sb)[:64]
        out.append(np.hstack([ua[pick], ub[pick]]))
        frames.append((a, b))
    flow = np.array(out, np.float32), np.array(frames, np.int32)
    assert camera_path(*flow, len(cams), *_ground(cams), IMAGE_SIZE, FOCAL) is not None  # a path is there to fake
    _, root, info = _clean_tracking_shot(cams, joints, camera_flow=flow)
    _, root_still, _ = _clean_tracking_shot(cams, joints)
    assert info["camera_travel_m"] == 0.0 and np.allclose(root, root_still)


def test_a_plain_floor_or_malformed_flow_give_no_path(caplog):
    joints, _ = walk_world(seconds=2.0, speed=1.2)
    moving = _tracking_shot(joints)
    normal, offset = _ground(moving)
    plain = _flow(moving, _scene(np.random.default_rng(1), outliers=1.0), noise_px=0.3)  # corners only off the floor
    assert camera_path(*plain, len(moving), normal, offset, IMAGE_SIZE, FOCAL) is None
    assert checked_flow(None, None) is None
    with caplog.at_level("WARNING"):
        assert checked_flow(np.zeros((3, 64, 2)), np.zeros((3, 2), int)) is None
        assert checked_flow(np.zeros((3, 64, 4)), np.zeros((2, 2), int)) is None
    assert caplog.text.count("ignoring camera_flow") == 2


def _clean_tracking_shot(cams: np.ndarray, joints: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return clean_motion's (rel, root, info) of the walk seen from cameras (T,4,4) with the floor's flow."""
    cam_joints = np.array([to_camera(joints[t:t + 1], cams[t])[0][0] for t in range(len(joints))])
    uv = FOCAL * cam_joints[..., :2] / cam_joints[..., 2:] + np.array(IMAGE_SIZE) / 2.0
    rel = cam_joints - cam_joints[:, :1]
    return clean_motion(rel, uv, np.full(rel.shape[:2], 0.9), np.ones(len(rel), bool), FPS, IMAGE_SIZE, "medium",
                        subject_height=1.75, focal=FOCAL, **kw)


def test_a_level_camera_stays_level_when_it_travels():
    joints, _ = walk_world(seconds=4.0, speed=1.2)
    cams = _tracking_shot(joints, shake_deg=0.0, pitch_deg=0.0, roll_deg=0.0)
    flow = _flow(cams, _scene(np.random.default_rng(5)), noise_px=0.3)
    _, _, level = _clean_tracking_shot(cams, joints, camera_flow=flow, level_camera=True)
    _, _, free = _clean_tracking_shot(cams, joints, camera_flow=flow)
    assert level["camera_travel_m"] > 3.0 and free["camera_travel_m"] > 3.0
    assert level["ground"]["pitch_deg"] == 0.0 and level["ground"]["roll_deg"] == 0.0  # the user's word is kept
    assert (free["ground"]["pitch_deg"], free["ground"]["roll_deg"]) != (0.0, 0.0)  # else measured (and close)
    assert abs(free["ground"]["pitch_deg"]) < 2.0 and abs(free["ground"]["roll_deg"]) < 2.0


def test_a_walker_followed_by_a_travelling_camera_walks_across_the_world():
    joints, _ = walk_world(seconds=4.0, speed=1.2)
    cams = _tracking_shot(joints)
    flow = _flow(cams, _scene(np.random.default_rng(2)), noise_px=0.3)
    _, root_fixed, _ = _clean_tracking_shot(cams, joints)
    seen: list[tuple[int, int]] = []
    _, root, info = _clean_tracking_shot(cams, joints, camera_flow=flow, on_progress=lambda d, t: seen.append((d, t)))
    assert len(seen) >= 2 and seen == sorted(seen) and all(0 <= d < t for d, t in seen)  # both chains reported
    true_root = to_camera(joints, cams[0])[0][:, 0]
    assert info["camera_travel_m"] == pytest.approx(path_length(_in_first_camera(cams)[1]), rel=0.1)
    assert root_trajectory_error(root, true_root)["percent"] < 5
    assert root_trajectory_error(root_fixed, true_root)["percent"] > 20  # without: it walks on the spot
    assert info["ground"]["pitch_deg"] == pytest.approx(12.0, abs=1.5)


def _floor_views(centres_x: np.ndarray, size: tuple[int, int] = (320, 240), f: float = 280.0,
                 height: float = 1.5, pitch_deg: float = 30.0) -> list[np.ndarray]:
    """Return frames (H,W,3) uint8 of a textured floor seen from a camera ``height`` m up, pitched down, moving
    sideways to x = ``centres_x`` (T,) metres; the floor fills the view (the horizon is above it)."""
    import cv2

    rng = np.random.default_rng(0)
    tex = np.full((1600, 2400, 3), 100, np.uint8)  # 100 px a metre: x -12..12 m, z 0..16 m ahead
    for _ in range(6000):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 2400)), int(rng.integers(0, 1600))
        cv2.rectangle(tex, (x, y), (x + int(rng.integers(3, 14)), y + int(rng.integers(3, 14))), c, -1)
    k = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]])
    r = Rotation.from_euler("x", -pitch_deg, degrees=True).as_matrix()  # camera -> world (x right, y down, z ahead)
    a = np.array([[0.01, 0.0, -12.0], [0.0, 0.0, height], [0.0, 0.01, 0.0]])  # texture px -> floor point
    frames = []
    for cx in centres_x:
        h = k @ r.T @ (a - np.outer([cx, 0.0, 0.0], [0.0, 0.0, 1.0]))
        frames.append(cv2.warpPerspective(tex, h, size, flags=cv2.INTER_LINEAR))
    return frames


def test_the_tracker_keeps_the_floor_corners_a_travelling_camera_needs():
    xs = np.linspace(0.0, 1.2, 31)  # 1.2 m sideways in one second
    tracker = BackgroundTracker((320, 240), 280.0)
    for frame in _floor_views(xs):
        tracker.update(frame, None)
    pts, frames = tracker.flow()
    assert len(frames) == 15 and pts.shape == (15, 64, 4) and np.isfinite(pts).all()
    assert (frames[:, 1] - frames[:, 0] <= EVERY * REDETECT_EVERY).all() and (np.diff(frames[:, 1]) == EVERY).all()
    up = Rotation.from_euler("x", -30.0, degrees=True).as_matrix().T @ np.array([0, -1.0, 0])
    turns, centres, _ = camera_path(pts, frames, len(xs), up, 1.5, (320, 240), 280.0)
    assert np.abs(centres[:, 0] - xs).max() < 0.05 and np.abs(centres[:, 1:]).max() < 0.05
    assert turn_angles(turns).max() < 0.5
    still = BackgroundTracker((320, 240), 280.0)
    for frame in _floor_views(np.zeros(9)):
        still.update(frame, None)
    assert still.flow()[0].shape == (0, 64, 4)  # a standing camera keeps nothing


def test_a_path_that_goes_back_and_forth_is_not_used(caplog):
    """A camera moving to and fro beside the walker (as floor corners matched wrongly make it look: 43 m of path
    with its ends 8.7 m apart on a real tracking shot) is not a camera travelling with a person: no path; one that
    travels gives its path."""
    joints, _ = walk_world(seconds=4.0, speed=1.2)
    cams = _tracking_shot(joints)
    normal, offset = _ground(cams)
    scene = _scene(np.random.default_rng(0))
    assert camera_path(*_flow(cams, scene, noise_px=0.3), len(cams), normal, offset, IMAGE_SIZE, FOCAL) is not None
    to_and_fro = cams.copy()
    t = np.arange(len(cams)) / FPS
    to_and_fro[:, 0, 3] = cams[0, 0, 3] + 0.8 * np.sin(2 * np.pi * 0.75 * t)  # 3 swings of 1.6 m in 4 s
    with caplog.at_level("INFO", logger="core.camera_travel"):
        found = camera_path(*_flow(to_and_fro, scene, noise_px=0.3), len(cams), normal, offset, IMAGE_SIZE, FOCAL)
    assert found is None and "goes back and forth" in caplog.text
