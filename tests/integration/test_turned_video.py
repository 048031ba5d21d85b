"""A video turned on its side (recorded without rotation metadata): found, lifted upright, turned back."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]


def test_a_video_on_its_side_is_captured_as_well_as_upright(demo_clip, tmp_path):
    # Before the lifter was given the person upright, this clip's P-MPJPE was 86 mm against 57 upright.
    import cv2

    from core.metrics import p_mpjpe
    from core.motion_file import read_motion
    from core.video import iter_frames
    from posemoe_blender.pipeline import capture

    video, truth = demo_clip
    frames = [np.ascontiguousarray(np.rot90(f)) for f in iter_frames(video)]  # turned a quarter anticlockwise
    sideways = tmp_path / "sideways.avi"
    out = cv2.VideoWriter(str(sideways), cv2.VideoWriter_fourcc(*"MJPG"), 30, frames[0].shape[1::-1])
    for frame in frames:
        out.write(frame)
    out.release()
    clip = read_motion(capture(sideways, tmp_path / "sideways.npz"))
    assert clip.meta["upright_quarter_turns"] == 1
    assert abs(abs(clip.meta["ground"]["roll_deg"]) - 90.0) < 15.0  # the camera was on its side
    gt = np.load(truth)["joints_3d"]
    gt = gt - gt[:, :1]
    # the truth in the turned camera: (x, y) -> (y, -x) for a quarter turn anticlockwise
    gt_turned = np.stack([gt[..., 1], -gt[..., 0], gt[..., 2]], axis=-1)
    rel = clip.joints_3d - clip.joints_3d[:, :1]
    assert 1000 * p_mpjpe(rel, gt_turned) < 70.0
