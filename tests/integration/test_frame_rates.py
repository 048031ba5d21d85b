"""A clip filmed at 6 fps (a slow webcam): lifted at a rate the lifter learnt, and better for it."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

EVERY = 5  # the 30 fps demo clip cut to 6 fps


def test_a_slow_camera_is_lifted_at_a_rate_the_lifter_learnt(demo_clip, tmp_path):
    # benchmarks/frame_rates.py: on rendered clips cut to 5 fps, P-MPJPE 55-94 mm as they are, 33-50 planned.
    import cv2

    from core.inference import lift_sequence
    from core.metrics import p_mpjpe
    from core.motion_file import read_motion
    from core.video import iter_frames
    from posemoe_blender.pipeline import capture, extract, load_model

    video, truth = demo_clip
    frames = [f for i, f in enumerate(iter_frames(video, rgb=False)) if i % EVERY == 0]
    slow = tmp_path / "slow.avi"
    out = cv2.VideoWriter(str(slow), cv2.VideoWriter_fourcc(*"MJPG"), 30 / EVERY, frames[0].shape[1::-1])
    for frame in frames:
        out.write(frame)
    out.release()
    gt = np.load(truth)["joints_3d"][::EVERY]
    gt = gt - gt[:, :1]

    clip = read_motion(capture(slow, tmp_path / "slow.npz"))
    assert clip.fps == pytest.approx(6.0) and len(clip.joints_3d) == len(frames)
    assert clip.meta["lifted_at_fps"] == pytest.approx(30.0)  # 2D interpolated 5x
    rel = clip.joints_3d - clip.joints_3d[:, :1]
    assert 1000 * p_mpjpe(rel, gt) < 70.0

    kp, lifter = extract(slow), load_model()
    err = {fps: 1000 * p_mpjpe(lift_sequence(kp.joints_2d, kp.image_size, lifter.model, lifter.window,
                                             valid=kp.valid, fps=fps), gt)
           for fps in (None, kp.fps)}  # fmt: skip
    assert err[kp.fps] < err[None] - 5.0, err
