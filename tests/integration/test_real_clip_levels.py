"""The whole capture on real footage with two people and two floor levels (../shared/data/video/sports2d_demo.mp4:
a man back-flips off a box about 1.5 m high and walks away over the grass while a woman walks past)."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]


def test_a_flip_off_a_box_stays_level_lands_on_the_floor_and_keeps_the_flipper(shared_data, tmp_path):
    from core.motion_file import read_motion
    from posemoe_blender.pipeline import capture

    out = capture(shared_data / "video" / "sports2d_demo.mp4", tmp_path / "flip.npz")
    clip = read_motion(out)
    meta = clip.meta
    ground = meta["ground"]
    # the camera is about level; one plane through the box's top and the grass leaned 32 degrees
    assert abs(ground["roll_deg"]) < 10 and abs(ground["pitch_deg"]) < 15
    world = np.array(meta["world_from_camera"])
    joints = (clip.joints_3d + clip.root[:, None]) @ world[:3, :3].T + world[:3, 3]
    lower_ankle = joints[:, [3, 6], 2].min(axis=1)
    on_box, landed = np.median(lower_ankle[20:160]), np.median(lower_ankle[200:225])
    assert on_box > 1.0 and abs(landed - ground["ankle_height_m"]) < 0.1  # the box's top is not the ground
    assert lower_ankle.min() > -0.05  # nothing under the floor
    locks = [p[2] for side in meta["foot_locks"].values() for p in side]
    assert any(z > 1.0 for z in locks) and any(z < 0.2 for z in locks)  # feet locked on the box and the grass
    assert clip.valid[175:225].mean() > 0.8  # the flipper's landing kept, not the walker's frames
