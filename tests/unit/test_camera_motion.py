"""A turning camera (core.camera_motion): the turn fitted to background corners, and the clean-up that takes
it out so a walker followed by a panning camera walks across the world, not on the spot."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from walk_motion import FOCAL, FPS, IMAGE_SIZE, camera, to_camera, walk_world

from core.camera_motion import BackgroundTracker, fit_rotation, refocus, turn_angles, turning_rotations
from core.metrics import root_trajectory_error
from core.motion_cleanup import clean_motion
from core.world import invert, transform_points

SIZE = (320, 240)
F = 280.0
K = np.array([[F, 0, SIZE[0] / 2], [0, F, SIZE[1] / 2], [0, 0, 1.0]])


def _scene(seed: int = 0) -> np.ndarray:
    """A textured panorama (blobs of colour) to look at: (H, W, 3) uint8, wider than any view of it."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((600, 1400, 3), 90, np.uint8)
    for _ in range(900):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 1400)), int(rng.integers(0, 600))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(3, 25)), y + int(rng.integers(3, 25))), c, -1)
    return img


def _views(pans_deg: np.ndarray, person: bool = True) -> tuple[list[np.ndarray], list]:
    """Return frames of the panorama seen by a camera turning about its vertical axis by ``pans_deg`` (T,), and
    the boxes of a grey "person" rectangle that stays mid-frame (the camera follows it)."""
    import cv2

    pano = _scene()
    k_pano = np.array([[F, 0, 700.0], [0, F, 300.0], [0, 0, 1.0]])  # the panorama is the first camera's image
    frames, boxes = [], []
    for a in pans_deg:
        r = Rotation.from_euler("y", a, degrees=True).as_matrix()  # camera t -> camera 0
        h = k_pano @ r @ np.linalg.inv(K)  # pixels of frame t -> panorama pixels
        frame = cv2.warpPerspective(pano, h, SIZE, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
        box = (140.0, 60.0, 180.0, 200.0)
        if person:
            frame[60:200, 140:180] = 160
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        boxes.append(box)
    return frames, boxes


def test_fit_rotation_recovers_a_turn_despite_outliers():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(60, 3)) + np.array([0, 0, 4.0])
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    true = Rotation.from_euler("xyz", [2.0, -7.0, 1.0], degrees=True).as_matrix()
    dst = src @ true.T
    dst[:15] = rng.normal(size=(15, 3))  # a quarter of the corners on something moving
    dst /= np.linalg.norm(dst, axis=1, keepdims=True)
    rot, inliers = fit_rotation(src, dst, 1e-3, rng)
    assert inliers[15:].all() and not inliers[:15].any()
    assert turn_angles((rot.T @ true)[None])[0] < 0.01


def test_tracker_measures_a_pan_and_nothing_for_a_standing_camera():
    pans = np.linspace(0.0, 20.0, 25)
    frames, boxes = _views(pans)
    tracker = BackgroundTracker(SIZE, F)
    for frame, box in zip(frames, boxes, strict=True):
        tracker.update(frame, box)
    rot = tracker.rotations().astype(np.float64)
    true = Rotation.from_euler("y", pans, degrees=True).as_matrix()
    err = turn_angles(np.einsum("tji,tjk->tik", rot, true))
    assert err.max() < 0.5, f"turn error up to {err.max():.2f} deg over a 20 deg pan"
    still = BackgroundTracker(SIZE, F)
    for frame in _views(np.zeros(10))[0]:
        still.update(frame, None)
    assert np.array_equal(still.rotations(), np.broadcast_to(np.eye(3, dtype=np.float32), (10, 3, 3)))


def test_refocus_scales_pan_and_tilt_not_roll():
    r = Rotation.from_euler("y", [10.0], degrees=True).as_matrix()
    assert turn_angles(refocus(r, 500.0, 1000.0))[0] == pytest.approx(5.0, abs=1e-6)
    roll = Rotation.from_euler("z", [10.0], degrees=True).as_matrix()
    assert turn_angles(refocus(roll, 500.0, 1000.0))[0] == pytest.approx(10.0, abs=1e-6)


def test_malformed_or_small_turns_are_ignored(caplog):
    assert turning_rotations(None, 5) is None
    assert turning_rotations(np.broadcast_to(np.eye(3), (5, 3, 3)), 5) is None  # a standing camera
    with caplog.at_level("WARNING"):
        assert turning_rotations(np.ones((5, 3, 3)), 5) is None
        assert turning_rotations(np.broadcast_to(np.eye(3), (4, 3, 3)), 5) is None
    assert caplog.text.count("ignoring camera_rotation") == 2


def test_a_walker_followed_by_a_panning_camera_walks_across_the_world():
    joints, _ = walk_world(seconds=4.0, speed=1.0)
    base = camera(pitch_deg=10, roll_deg=0, height=1.5)
    # the camera stands still and turns (about the world's vertical) to keep the pelvis in the middle
    centre = base[:3, 3]
    aim = np.degrees(np.arctan2(joints[:, 0, 0] - centre[0], joints[:, 0, 1] - centre[1]))
    turn_world = Rotation.from_euler("z", -(aim - aim[0]), degrees=True).as_matrix()  # (T,3,3) world
    cams, uv, turns = [], [], []
    for t in range(len(joints)):
        w = base.copy()
        w[:3, :3] = turn_world[t] @ base[:3, :3]
        cam = transform_points(joints[t:t + 1], invert(w))[0]
        cams.append(cam)
        uv.append(FOCAL * cam[:, :2] / cam[:, 2:] + np.array(IMAGE_SIZE) / 2.0)
        turns.append(base[:3, :3].T @ w[:3, :3])  # camera t -> camera 0
    cams, uv, turns = np.array(cams), np.array(uv), np.array(turns)
    assert turn_angles(turns).max() > 20
    rel = cams - cams[:, :1]
    args = (rel, uv, np.full(rel.shape[:2], 0.9), np.ones(len(rel), bool), FPS, IMAGE_SIZE, "medium")
    kw = {"subject_height": 1.75, "focal": FOCAL}
    _, root_fixed, _ = clean_motion(*args, **kw)
    _, root, info = clean_motion(*args, camera_rotation=turns, **kw)
    true_root = to_camera(joints, base)[0][:, 0]
    assert info["camera_turn_deg"] > 20
    assert root_trajectory_error(root, true_root)["percent"] < 5
    assert root_trajectory_error(root_fixed, true_root)["percent"] > 20  # without: it walks on the spot


def test_a_frame_opencv_cannot_read_stops_the_measure_not_the_capture(caplog):
    frames, boxes = _views(np.linspace(0.0, 4.0, 6))
    tracker = BackgroundTracker(SIZE, F)
    with caplog.at_level("WARNING"):
        for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
            tracker.update(frame if i != 2 else np.zeros((0, 0, 3), np.uint8), box)
    rot = tracker.rotations()
    assert rot.shape == (6, 3, 3) and np.isfinite(rot).all()
    assert np.allclose(rot[2:], rot[2]) and "camera turn not measured from frame 2" in caplog.text


def _shot_frame(seed: int, shift: int = 0, brightness: float = 1.0) -> np.ndarray:
    """Return a 120x160 textured frame (a shot of its own per seed), moved ``shift`` px and brightened."""
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 255, (12, 20)), np.ones((10, 8)))
    return np.clip(np.roll(base, shift, axis=1) * brightness, 0, 255).astype(np.uint8)[..., None].repeat(3, -1)


def test_shot_cuts_are_found_and_pans_flicker_flashes_and_fades_are_not():
    from core.camera_motion import ShotCuts

    frames = [_shot_frame(1, shift=i) for i in range(30)]  # a slow pan
    frames += [_shot_frame(1, shift=30, brightness=1.0 + 0.4 * (i % 2)) for i in range(10)]  # flicker
    frames += [_shot_frame(2, shift=i) for i in range(30)]  # a cut to another shot at frame 40
    frames[55] = _shot_frame(9)  # a flash of something else for one frame
    frames[60] = np.full_like(frames[60], 255)  # a white one
    frames += [np.zeros_like(frames[0])] * 5 + [_shot_frame(2, shift=29)] * 10  # a fade through black and back
    frames += [_shot_frame(3)] * 10  # a cut at frame 85
    covered = _shot_frame(3)
    covered[:, :80] = 110  # somebody close to the camera covers half the picture for a while: no cut
    frames += [covered] * 10 + [_shot_frame(3)] * 10
    frames += [np.zeros_like(frames[0])] * 3 + [_shot_frame(4)] * 10  # a dip to black into another shot: 118
    shots = ShotCuts(fps=10.0)
    for f in frames:
        shots.update(f)
    assert shots.cuts() == [40, 85, 118]
