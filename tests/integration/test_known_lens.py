"""A capture told the camera's lens (--lens-mm): the focal length reaches both the lifter and the clean-up."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]


def test_the_lens_given_as_35mm_equivalent_is_the_renders_focal_length(demo_clip, tmp_path):
    from core.metrics import p_mpjpe
    from core.motion_file import read_motion
    from core.world import FULL_FRAME_DIAGONAL_MM
    from posemoe_blender.pipeline import capture

    video, truth = demo_clip
    t = np.load(truth)
    focal, (w, h) = float(t["intrinsics"][0, 0]), t["image_size"]
    lens_mm = focal * FULL_FRAME_DIAGONAL_MM / np.hypot(w, h)  # what the phone would state for this camera
    clip = read_motion(capture(video, tmp_path / "m.npz", lens_mm=lens_mm))
    assert clip.meta["cleanup"]["focal_px"] == pytest.approx(focal, rel=1e-3)
    gt = t["joints_3d"] - t["joints_3d"][:, :1]
    assert 1000 * p_mpjpe(clip.joints_3d - clip.joints_3d[:, :1], gt) < 70.0
