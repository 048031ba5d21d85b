"""End to end: real MediaPipe + the shipped PoseMoE weights + real bpy export and re-import."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mediapipe")
bpy = pytest.importorskip("bpy")
pytestmark = [pytest.mark.mediapipe, pytest.mark.bpy, pytest.mark.data]

from core.motion_file import read_motion  # noqa: E402
from core.protocol import Progress, Result, parse_line  # noqa: E402
from core.weights import DEFAULT_WEIGHTS  # noqa: E402


@pytest.fixture(scope="module")
def motion(tmp_path_factory, shared_data):
    if not DEFAULT_WEIGHTS.exists():
        pytest.fail(f"bundled weights missing: {DEFAULT_WEIGHTS}")
    out = tmp_path_factory.mktemp("capture") / "pose_1_motion.npz"
    video = shared_data / "video" / "pose_1.mp4"
    r = subprocess.run([sys.executable, "-m", "posemoe_blender.cli", "capture", str(video), "-o", str(out),
                        "--progress", "json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    events = [parse_line(line) for line in r.stdout.splitlines()]
    assert isinstance(events[-1], Result) and events[-1].path == str(out)
    assert any(isinstance(e, Progress) and e.stage == "extract" for e in events)
    assert any(isinstance(e, Progress) and e.stage == "lift" for e in events)
    return out


def test_capture_writes_a_valid_motion_file(motion):
    clip = read_motion(motion)
    assert clip.num_frames == 120 and clip.valid.mean() > 0.9
    assert np.abs(clip.joints_3d[:, 0]).max() == 0.0
    legs = np.linalg.norm(clip.joints_3d[:, [2, 5, 3, 6]] - clip.joints_3d[:, [1, 4, 2, 5]], axis=-1)  # metres
    assert 0.6 < legs.sum(axis=1).mean() / 2 < 1.2  # thigh + shin of a standing-height adult
    assert np.isfinite(clip.root).all() and (clip.root[:, 2] > 0).all()  # in front of the camera
    meta = clip.meta
    assert meta["weights"] == DEFAULT_WEIGHTS.name and len(meta["weights_sha256"]) == 64
    # the dancer moves: the 3D pose changes over the clip
    assert clip.joints_3d.std(axis=0).mean() > 0.02


def test_bake_fbx_and_reimport(motion, tmp_path):
    fbx = tmp_path / "pose_1.fbx"
    r = subprocess.run([sys.executable, "-m", "posemoe_blender.cli", "bake", str(motion), "-o", str(fbx)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert fbx.exists() and not list(tmp_path.glob(".*"))
    code = f"""
import bpy, json
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.fbx(filepath={str(fbx)!r})
arms = [o for o in bpy.data.objects if o.type == 'ARMATURE']
arm = arms[0]
act = arm.animation_data.action
scene = bpy.context.scene
lo, hi = act.frame_range
heads = []
for f in (int(lo), int((lo + hi) / 2), int(hi)):
    scene.frame_set(f)
    heads.append([list(arm.matrix_world @ pb.head) for pb in arm.pose.bones])
print(json.dumps({{"armatures": len(arms), "actions": len(bpy.data.actions), "range": [lo, hi], "heads": heads}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["armatures"] == 1 and d["actions"] == 1
    assert d["range"][1] - d["range"][0] + 1 == 120
    heads = np.array(d["heads"])
    moved = np.linalg.norm(heads[0] - heads[1], axis=-1).max()
    assert moved > 0.05, "bones do not move"
