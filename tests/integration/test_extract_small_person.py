"""Real MediaPipe on a person far from the camera: the demo clip shrunk into a larger frame."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

from core.extract import crop_square, extract_keypoints  # noqa: E402

FRAMES = 40
SHRINK = 0.3
OFFSET = (380.0, 250.0)


def _far_clip(src, dst) -> None:
    """Write the first FRAMES frames of ``src`` shrunk by SHRINK at OFFSET in a grey 640x480 frame."""
    import cv2

    from core.video import iter_frames

    w = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i, frame in enumerate(iter_frames(src)):
        if i == FRAMES:
            break
        small = cv2.resize(frame, None, fx=SHRINK, fy=SHRINK, interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 110, np.uint8)
        x, y = int(OFFSET[0]), int(OFFSET[1])
        canvas[y: y + small.shape[0], x: x + small.shape[1]] = small
        w.write(canvas)
    w.release()


def test_a_small_far_person_is_found_and_placed_right(demo_clip, tmp_path):
    video = demo_clip[0]
    far = tmp_path / "far.avi"
    _far_clip(video, far)
    near = tmp_path / "near.avi"  # the same frames at full size, through the same codec
    import cv2

    from core.video import iter_frames

    w = cv2.VideoWriter(str(near), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i, frame in enumerate(iter_frames(video)):
        if i == FRAMES:
            break
        w.write(frame)
    w.release()
    ref = extract_keypoints(near)
    kp = extract_keypoints(far)
    assert kp.valid.mean() > 0.9, f"person found in {kp.valid.mean():.0%} of the frames"
    both = kp.valid & ref.valid
    expected = ref.joints_2d[both] * SHRINK + np.array(OFFSET)
    err = np.linalg.norm(kp.joints_2d[both] - expected, axis=-1)
    assert np.median(err) < 4.0, f"median keypoint error {np.median(err):.1f} px (body about 60 px tall)"


def test_crop_square_maps_back_to_frame_pixels():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40, 150] = 255  # one white pixel at x=150, y=40
    crop, (x0, y0, scale) = crop_square(frame, 160.0, 30.0, 50.0, out_px=500)  # partly outside the frame
    assert crop.shape == (500, 500, 3) and scale == pytest.approx(10.0)
    v, u = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert x0 + (u + 0.5) / scale == pytest.approx(150.5, abs=0.6)
    assert y0 + (v + 0.5) / scale == pytest.approx(40.5, abs=0.6)
    assert crop[:100].max() == 0  # rows above the frame are black


class _FirstLookMisses:
    """A single-image BlazePose whose first look finds nobody, as it does on most upside-down bodies."""

    def __init__(self, pose) -> None:
        self.pose, self.calls = pose, 0

    def process(self, image):
        from types import SimpleNamespace

        self.calls += 1
        return SimpleNamespace(pose_landmarks=None) if self.calls == 1 else self.pose.process(image)


def test_a_body_found_turned_half_round_maps_back_to_the_frame(demo_clip):
    # A flip or a handstand: BlazePose's single-image detector misses most upside-down bodies, so a square
    # retry looks again with the crop turned half round. What it finds there must come back to the frame's
    # pixels and camera axes: the same as a direct look, where that finds the body (it does on this frame).
    import mediapipe as mp

    from core.extract import body_square, look_in_square
    from core.video import iter_frames

    frame = np.ascontiguousarray(next(iter(iter_frames(demo_clip[0])))[::-1, ::-1])  # the dancer upside down
    h, w = frame.shape[:2]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        direct = look_in_square(pose, frame, (w / 2, h / 2, max(w, h)), turned=False)
        assert direct is not None
        square = body_square(direct[0])
        retry = _FirstLookMisses(pose)
        turned = look_in_square(retry, frame, square)
    assert turned is not None and retry.calls == 2, "the turned look did not find the upside-down dancer"
    err = np.linalg.norm(turned[0][:, :2] - direct[0][:, :2], axis=-1)
    assert np.median(err[11:29]) < 6.0, f"median body landmark error {np.median(err[11:29]):.1f} px"
    depth = np.abs(turned[0][11:29, 2] - direct[0][11:29, 2])  # relative depth, in frame pixels: not turned
    assert np.median(depth) < 0.1 * np.ptp(direct[0][11:29, 2]) + 5.0, f"median depth difference {np.median(depth):.1f}"
    assert turned[1][0, 1] > turned[1][23:25, 1].mean() + 0.3  # world y is down the image: the head is below
    assert np.median(np.abs(turned[1] - direct[1])) < 0.05
