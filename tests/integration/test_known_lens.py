"""A capture that knows the camera's lens, stated by the video file (as iPhones do) or by --lens-mm: the focal
length reaches both the lifter and the clean-up."""

import shutil

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]


def test_the_lens_the_video_states_is_the_renders_focal_length(demo_clip, tmp_path):
    from core.metrics import p_mpjpe
    from core.motion_file import read_keypoints, read_motion
    from core.video_metadata import write_lens_mm
    from core.world import FULL_FRAME_DIAGONAL_MM
    from posemoe_blender.pipeline import capture, lift

    video, truth = demo_clip
    t = np.load(truth)
    focal, (w, h) = float(t["intrinsics"][0, 0]), t["image_size"]
    lens_mm = focal * FULL_FRAME_DIAGONAL_MM / np.hypot(w, h)  # what the phone would state for this camera
    phone = tmp_path / "phone.mp4"
    shutil.copy(video, phone)
    write_lens_mm(phone, lens_mm)
    clip = read_motion(capture(phone, tmp_path / "m.npz", keypoints_out=tmp_path / "kp.npz"))
    assert clip.meta["focal_from"] == "video metadata"
    assert clip.meta["cleanup"]["focal_px"] == pytest.approx(focal, rel=1e-3)
    gt = t["joints_3d"] - t["joints_3d"][:, :1]
    assert 1000 * p_mpjpe(clip.joints_3d - clip.joints_3d[:, :1], gt) < 70.0

    kp = read_keypoints(tmp_path / "kp.npz")
    assert float(kp.extras["lens_mm"]) == pytest.approx(lens_mm, rel=1e-6)
    told = lift(kp, lens_mm=lens_mm)  # the option says the same: the same motion
    assert told.meta["focal_from"] == "--lens-mm"
    np.testing.assert_allclose(told.joints_3d, clip.joints_3d, atol=1e-3)
    unknown = lift(kp, lens_metadata=False)
    assert unknown.meta["focal_from"] == "" and unknown.meta["cleanup"]["focal_px"] != pytest.approx(focal, rel=1e-2)
