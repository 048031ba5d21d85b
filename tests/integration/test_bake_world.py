"""Baking a cleaned clip from a pitched camera: upright character on the ground, planted feet still (bpy)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from walk_motion import FOCAL, FPS, IMAGE_SIZE, camera, to_camera, walk_world  # noqa: E402

from core.metrics import foot_skate  # noqa: E402
from core.motion_cleanup import clean_motion  # noqa: E402
from core.motion_file import MotionClip  # noqa: E402
from posemoe_blender import bake  # noqa: E402

BONES = ("LeftFoot", "RightFoot", "Hips", "Neck")


def _bake_and_track(clip: MotionClip) -> np.ndarray:
    """Return (T, 4, 3) world positions of the default armature's feet, hips and neck after baking ``clip``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = bake.create_default_armature(height=1.8)
    bake.bake_clip(clip, arm)
    out = []
    for f in range(1, clip.joints_3d.shape[0] + 1):
        bpy.context.scene.frame_set(f)
        out.append([np.array(arm.matrix_world @ arm.pose.bones[b].head) for b in BONES])
    return np.array(out)


def test_pitched_camera_walk_bakes_upright_on_the_ground_without_sliding():
    joints, stance = walk_world(seconds=3)
    cam, uv = to_camera(joints, camera(pitch_deg=20, roll_deg=0, height=1.6))
    rel, root, info = clean_motion(cam, uv, np.ones(cam.shape[:2]), np.ones(len(cam), bool), FPS, IMAGE_SIZE,
                                   subject_height=1.8, focal=FOCAL)
    args = (np.asarray(uv, np.float32), np.ones(cam.shape[:2], np.float32), np.ones(len(cam), bool), FPS,
            IMAGE_SIZE)
    cleaned = _bake_and_track(MotionClip(*args, joints_3d=rel, root=root, meta=info))
    level = _bake_and_track(MotionClip(*args, joints_3d=rel, root=root, meta={}))  # as before: camera taken as level

    def tilt(track: np.ndarray) -> float:
        torso = track[:, 3] - track[:, 2]
        return float(np.degrees(np.median(np.arccos(torso[:, 2] / np.linalg.norm(torso, axis=-1)))))

    assert tilt(cleaned) < 4.0 and tilt(level) > 12.0
    feet_z = cleaned[:, :2, 2]
    assert np.ptp(np.median(feet_z, axis=0)) < 0.03 and feet_z.min() > feet_z[0].min() - 0.03  # on one ground
    own = np.zeros((len(rel), 2), bool)
    for f, side in enumerate(("left", "right")):
        for first, last in info["contacts"][side]:
            own[first: last + 1, f] = True
    assert foot_skate(cleaned[:, :2], own, FPS) < 2.0
    travel = cleaned[-1, 2, :2] - cleaned[0, 2, :2]
    assert np.linalg.norm(travel) > 2.0  # walks 3 m (x 1.8 m rig / 1.75 m walker)
