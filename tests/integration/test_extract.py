"""Real MediaPipe on real clips from ../shared/data/video."""

import json

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

from core.errors import NoPersonError  # noqa: E402
from core.extract import extract_keypoints, fill_invalid  # noqa: E402
from core.keypoints import blazepose_to_h36m  # noqa: E402

MAX_MEAN_PX = 8.0
"""The reference came from another BlazePose runtime (tfjs 'full'); we measured 4.0 px mean
over all 33 landmarks on this 720x1280 clip, so 8 px leaves room for runtime differences
while still catching a wrong mapping, scaling or orientation (those give 50+ px)."""


def test_squats_match_reference_keypoints(shared_data):
    video = shared_data / "video" / "pose_squats.mp4"
    ref = np.array(json.loads((shared_data / "video" / "pose_squats.full.json").read_text()), np.float32)
    kp = extract_keypoints(video)
    assert kp.num_frames == len(ref) == 65
    assert kp.image_size == (720, 1280)  # portrait kept
    assert kp.valid.all()
    lm = kp.extras["mp_landmarks"]
    err = np.linalg.norm(lm[:, :, :2] - ref[:, :, :2], axis=-1)
    assert err.mean() < MAX_MEAN_PX, f"mean landmark error {err.mean():.1f} px"
    ref17, _ = blazepose_to_h36m(ref[:, :, :2])
    err17 = np.linalg.norm(kp.joints_2d - ref17, axis=-1)
    body = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16]
    assert err17[:, body].mean() < MAX_MEAN_PX
    assert kp.extras["mp_world"].shape == (65, 33, 3)
    assert ((kp.scores >= 0) & (kp.scores <= 1)).all()


def test_no_person_raises(tmp_path):
    import cv2

    p = tmp_path / "empty_room.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(8):
        w.write(np.full((120, 160, 3), 40 + 10 * i, np.uint8))
    w.release()
    with pytest.raises(NoPersonError, match="no person"):
        extract_keypoints(p)


def test_fill_invalid_interpolates_and_holds_edges():
    v = np.array([[np.nan], [1.0], [np.nan], [3.0], [np.nan]])
    valid = np.array([False, True, False, True, False])
    assert fill_invalid(v, valid)[:, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]


def test_another_person_taking_over_is_left_out(shared_data, caplog):
    # Two people: one flipping off a box for most of the clip, one walking past; MediaPipe's tracker moves
    # from the first to the second at frame 170, mid-flip. Lifting both as one body teleports it across the
    # frame; the flipper, looked for again where the tracker left him, is kept through his landing.
    with caplog.at_level("INFO"):
        kp = extract_keypoints(shared_data / "video" / "sports2d_demo.mp4")
    assert "jumped to another person" in caplog.text and "found again" in caplog.text
    assert kp.valid[10:165].all() and kp.valid[175:225].mean() > 0.8
    hips = kp.joints_2d[:, 0]
    after = kp.valid & (np.arange(len(hips)) >= 165)
    assert (hips[after, 0] > 700).all()  # never on the walker, who is left of x = 400 from frame 170
    assert hips[195:200, 1].min() > 700  # landed on the grass, not held up on the box (y about 250)


def test_the_person_tracked_first_is_kept_when_hidden_beside_another(demo_clip, tmp_path, caplog):
    # Two dancers side by side (the demo clip, and beside it the same clip mirrored and 40 frames on). The
    # first is hidden for 1.5 s and MediaPipe's tracker re-detects on the second and stays on her until she
    # leaves at frame 120. The first dancer, looked for again where she was, is seen in more frames (130
    # against 90) and is kept; before, the second was, and the first's last 60 frames were filled.
    import cv2

    from core.video import iter_frames

    frames = list(iter_frames(demo_clip[0]))
    h, w = frames[0].shape[:2]
    video = tmp_path / "two_dancers.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (2 * w, h))
    grey = np.full_like(frames[0], 110)
    for i, frame in enumerate(frames):
        second = grey if i >= 120 else frames[(i + 40) % len(frames)][:, ::-1]
        out.write(np.hstack([grey if 30 <= i < 75 else frame, second]))
    out.release()
    with caplog.at_level("INFO"):
        kp = extract_keypoints(video)
    assert "found again" in caplog.text
    assert kp.valid[:30].all() and not kp.valid[30:75].any() and kp.valid[80:].mean() > 0.95
    assert (kp.joints_2d[:, 0, 0] < w).all(), "the second dancer's frames were kept"


def test_a_clip_edited_from_two_shots_is_said_to_cut(shared_data, tmp_path, caplog):
    """Half of one real clip, then half of another: the cut is found and said; the clips alone have none."""
    import cv2

    from core.video import iter_frames

    a = list(iter_frames(shared_data / "video" / "pose_1.mp4", rgb=False))[:30]
    b = list(iter_frames(shared_data / "video" / "pose_squats.mp4", rgb=False))[:30]
    b = [cv2.resize(f[200:1100, :], (460, 576)) for f in b]  # the squatter, framed like the dancer
    b = [cv2.copyMakeBorder(f, 0, 0, 58, 58, cv2.BORDER_REPLICATE) for f in b]
    p = tmp_path / "edited.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30, (576, 576))
    for f in a + b:
        w.write(f)
    w.release()
    with caplog.at_level("WARNING"):
        kp = extract_keypoints(p)
    assert "cuts to another shot at frame 30;" in caplog.text and "is lifted on its own" in caplog.text
    assert kp.extras["shot_cuts"].tolist() == [30] and kp.valid.mean() > 0.9, np.flatnonzero(~kp.valid)
    from posemoe_blender.pipeline import lift

    clip = lift(kp)
    assert clip.meta["shots"] == [[0, 29], [30, 59]]
    pelvis = clip.root @ np.asarray(clip.meta["world_from_camera"])[:3, :3].T
    steps = np.linalg.norm(np.diff(pelvis[:, :2], axis=0), axis=1)  # along the ground: a squat lowers the hips
    assert steps[29] < 0.1, steps[27:32]  # no jump from one camera's view to the other's


def test_an_animated_gif_is_read_as_a_video_and_a_still_one_refused(shared_data, tmp_path):
    """Dance clips are often shared as GIFs: an animated one is read by FFmpeg as a video (its frame rate from the
    GIF's frame delays); a GIF of one frame is an image and refused as one."""
    import cv2

    image_module = pytest.importorskip("PIL.Image")
    from core.errors import VideoError
    from core.video import probe

    cap = cv2.VideoCapture(str(shared_data / "video" / "pose_1.mp4"))
    frames = [image_module.fromarray(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)) for _ in range(30)]
    cap.release()
    gif = tmp_path / "dance.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=40, loop=0)  # 25 fps
    assert probe(gif).fps == pytest.approx(25.0, abs=0.5)
    kp = extract_keypoints(gif)
    assert kp.num_frames == 30 and kp.valid.mean() > 0.9
    frames[0].save(tmp_path / "still.gif")
    with pytest.raises(VideoError, match="is a still GIF image, not a video"):
        extract_keypoints(tmp_path / "still.gif")
