"""Bake synthetic motion onto the default armature and the shared characters with bpy; export and re-import."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.bpy

from mathutils import Euler, Matrix  # noqa: E402

from core import retarget as rt  # noqa: E402
from core import rigs  # noqa: E402
from core.errors import InputFileError, OutputError, RigError  # noqa: E402
from core.frames import blender_to_camera, camera_to_blender  # noqa: E402
from core.motion_file import MotionClip, write_motion  # noqa: E402
from core.skeleton import JOINT_INDEX as J  # noqa: E402
from core.skeleton import JOINT_NAMES  # noqa: E402
from posemoe_blender import bake, export  # noqa: E402

log = logging.getLogger(__name__)
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CHARACTERS = ("human_mixamo", "human_ue", "human_rigify", "human_cmu", "human_small")
SEGMENTS = [("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
            ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
            ("r_hip", "l_hip"), ("r_shoulder", "l_shoulder"), ("pelvis", "thorax")]
FRAMES = 24


def synth_clip(frames: int = FRAMES, seed: int = 0, turn: float = 0.0) -> MotionClip:
    """Return a clip of a 1.6 m default-armature body waving every driven bone and walking 1 m along -Y, turning
    by ``turn`` radians about the vertical (left) at an even rate."""
    bones = rigs.default_armature_bones(1.6)
    rest = rt.make_rest_pose([(*b, 0.0) for b in bones], rigs.resolve_mapping([b[0] for b in bones]))
    plan = rt.plan_bones(rest)
    rng = np.random.default_rng(seed)
    q = np.zeros((frames, len(rest.bone_names), 4))
    q[..., 0] = 1.0
    phase = np.linspace(0, 2 * np.pi, frames)
    for b in {plan.pelvis, plan.head, *plan.spine, *plan.neck, *(x for limb in plan.limbs for x in limb[:2])}:
        angle = (0.15 if b in plan.spine else rng.uniform(0.3, 0.9)) * np.sin(phase + rng.uniform(0, 6))
        q[:, b] = np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * rt.normalize(
            rng.normal(size=3))], -1)
    heads, deltas = rt.forward_kinematics(rest, q)
    joints = rt.joints_from_pose(rest, heads, deltas)
    yaw = np.linspace(0.0, turn, frames)
    c, s, z = np.cos(yaw), np.sin(yaw), np.zeros(frames)
    turns = np.stack([c, -s, z, s, c, z, z, z, z + 1], -1).reshape(-1, 3, 3)
    joints = np.einsum("tij,tkj->tki", turns, joints - joints[:, :1]) + joints[:, :1]
    root = joints[:, J["pelvis"]] + np.linspace(0, 1, frames)[:, None] * [0.0, -1.0, 0.0]
    rel = blender_to_camera(joints - joints[:, :1]).astype(np.float32)
    return MotionClip(np.zeros((frames, 17, 2), np.float32), np.ones((frames, 17), np.float32), np.ones(frames, bool),
                      30.0, (640, 480), joints_3d=rel, root=blender_to_camera(root).astype(np.float32),
                      meta={"name": "synth"})


def pose_errors(obj, clip: MotionClip, mapping: dict[str, str], frame_start: int = 1) -> np.ndarray:
    """Return (T, segments) angles, degrees, between evaluated pose-bone and motion joint directions."""
    bpy.context.view_layer.update()  # the object's true world matrix, whatever the bake assumed
    world = np.array(obj.matrix_world)
    motion = camera_to_blender(clip.joints_3d)
    out = []
    for f in range(clip.joints_3d.shape[0]):
        bpy.context.scene.frame_set(frame_start + f)
        pos = {j: (world @ np.r_[np.array(obj.pose.bones[mapping[j]].head), 1.0])[:3] for j in JOINT_NAMES}
        for a, b in SEGMENTS:
            v1, v2 = pos[b] - pos[a], motion[f, J[b]] - motion[f, J[a]]
            out.append(math.degrees(math.acos(np.clip(rt.normalize(v1) @ rt.normalize(v2), -1, 1))))
    return np.array(out).reshape(clip.joints_3d.shape[0], -1)


def _empty() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_bake_default_armature_new_action_each_time() -> None:
    _empty()
    clip = synth_clip()
    obj = bake.create_default_armature()
    first = bake.bake_clip(clip, obj, frame_start=10)
    second = bake.bake_clip(clip, obj, frame_start=10)
    assert first.name != second.name and first.name in bpy.data.actions and obj.animation_data.action == second
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (10, 10 + FRAMES - 1, 30)
    curves = bake.action_fcurves(second, obj)
    assert len(curves) == 4 * 16 + 3 and all(len(fc.keyframe_points) == FRAMES for fc in curves)
    assert obj.pose.bones["LeftForeArm"].rotation_mode == "QUATERNION"
    errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]), frame_start=10)
    log.info("default armature: mean direction error %.3f deg", errors.mean())
    assert errors.mean() < 1.0
    bpy.context.scene.frame_set(10 + FRAMES - 1)  # root motion: walked ~1 m along -Y (same leg length ratio ~1)
    moved = np.array(obj.pose.bones["Hips"].head) - np.array(obj.data.bones["Hips"].head_local)
    assert moved[1] < -0.8


@pytest.mark.parametrize("name", CHARACTERS)
def test_bake_shared_character(name: str) -> None:
    path = SHARED / "characters" / f"{name}.blend"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path.parent}")
    _empty()
    obj = export.load_character(path)  # .blend saved by Blender 5.0, appended by this bpy
    clip = synth_clip()
    bake.bake_clip(clip, obj)
    errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]))
    log.info("%s: mean direction error %.3f deg (max %.3f)", name, errors.mean(), errors.max())
    assert errors.mean() < 5.0


def test_fbx_style_armature_scaled_and_rotated() -> None:
    """An armature at 0.01 scale rotated 90 degrees about X (Y-up bone data), like a Mixamo FBX import."""
    _empty()
    obj = bake.create_default_armature()
    fix = np.diag([100.0, 100.0, 100.0, 1.0]) @ np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])
    obj.data.transform(Matrix(fix.tolist()))  # bone data now Y-up, centimetres (all bones at once: connected
    obj.rotation_euler = (math.pi / 2, 0.0, 0.0)  # children moved one by one would be moved twice)
    obj.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    clip = synth_clip()
    bake.bake_clip(clip, obj)
    errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]))
    assert errors.mean() < 1.0
    bpy.context.scene.frame_set(FRAMES)
    world = np.array(obj.matrix_world)
    hips = (world @ np.r_[np.array(obj.pose.bones["Hips"].head), 1.0])[:3]
    hips_rest = (world @ np.r_[np.array(obj.data.bones["Hips"].head_local), 1.0])[:3]
    assert hips[1] - hips_rest[1] < -0.8 and abs(hips[0] - hips_rest[0]) < 0.1
    # exported as it came, in centimetres: its node keeps scale 1 (0.01 x 100), not 0.01 in a file in metres
    assert export.fbx_scale_option(obj.matrix_world.to_scale()) == "FBX_SCALE_NONE"
    assert export.fbx_scale_option((1.0, 1.0, 1.0)) == "FBX_SCALE_UNITS"


def test_transformed_armature_saved_as_blend(tmp_path: Path) -> None:
    """A .blend whose armature stands rotated, scaled and under a parent (an FBX import saved as .blend): its
    world matrix is computed once appended, not taken as the identity."""
    _empty()
    obj = bake.create_default_armature()
    parent = bpy.data.objects.new("Rig_Root", None)
    bpy.context.scene.collection.objects.link(parent)
    parent.rotation_euler, parent.scale, parent.location = (0.0, 0.0, math.pi / 2), (2.0, 2.0, 2.0), (1.0, 2.0, 0.0)
    obj.parent = parent
    obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
    path = tmp_path / "turned.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    _empty()
    obj = export.load_character(path)
    clip = synth_clip()
    bake.bake_clip(clip, obj)
    errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]))
    assert errors.mean() < 1.0, errors.mean()


def _swap_sides(mapping: dict[str, str]) -> dict[str, str]:
    """Return ``mapping`` with its l_ and r_ joints' bones swapped."""
    side = {"l_": "r_", "r_": "l_"}
    return {j: mapping[side[j[:2]] + j[2:] if j[:2] in side else j] for j in mapping}


def test_a_mirrored_character_shows_the_motion_as_filmed(tmp_path: Path) -> None:
    """A character mirrored by a negative object scale (a left-handed copy) shows its .L bones on its right. Its
    rest frames through that transform are left-handed: the bake turned the torso and feet round with no error.
    Now the subject's left arm and leg move the character's visual left ones (its .R bones), torso facing the
    motion's way; glTF, whose exporter loses the mirror, is refused in one line; FBX keeps it."""
    _empty()
    obj = bake.create_default_armature()
    obj.scale = (-1.0, 1.0, 1.0)
    bpy.context.view_layer.update()
    clip = synth_clip(turn=0.6)
    bake.bake_clip(clip, obj)
    mapping = rigs.resolve_mapping([b.name for b in obj.data.bones])
    errors = pose_errors(obj, clip, _swap_sides(mapping))
    assert errors.mean() < 1.0, errors.mean()
    assert pose_errors(obj, clip, mapping)[:, -3:-1].mean() > 150  # by name, hips and shoulders point the other way
    path = tmp_path / "mirrored.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    with pytest.raises(RigError, match=r"mirrored\.blend: armature 'PoseMoE_Armature' is mirrored .*export \.fbx"):
        export.bake_to_file(clip, tmp_path / "m.glb", character=path)
    assert not (tmp_path / "m.glb").exists()
    export.bake_to_file(clip, tmp_path / "m.fbx", character=path)
    assert (tmp_path / "m.fbx").stat().st_size > 0


def test_a_parent_s_uneven_scale_is_named() -> None:
    """The armature's own scale is 1, its parent's (1, 1, 1.2): the message names the parent, since applying the
    armature's own scale alone changes nothing."""
    _empty()
    obj = bake.create_default_armature()
    parent = bpy.data.objects.new("Rig_Root", None)
    bpy.context.scene.collection.objects.link(parent)
    parent.scale = (1.0, 1.0, 1.2)
    obj.parent = parent
    bpy.context.view_layer.update()
    with pytest.raises(RigError, match="from its parent 'Rig_Root'; select 'Rig_Root' and the armature, apply scale"):
        bake.bake_clip(synth_clip(), obj)
    obj.parent, obj.scale = None, (1.0, 1.0, 1.2)
    bpy.context.view_layer.update()
    with pytest.raises(RigError, match="armature 'PoseMoE_Armature' has a zero or non-uniform scale; apply scale"):
        bake.bake_clip(synth_clip(), obj)


def test_a_video_name_that_is_not_utf8_names_the_action() -> None:
    """capture keeps the video's name in the motion; a Latin-1 one (Python's lone surrogates) made Blender refuse the
    action's name with a TypeError, after the whole capture."""
    _empty()
    clip = synth_clip()
    clip.meta = {"source": os.fsdecode(b"caf\xe9.mp4")}
    action = bake.bake_clip(clip, bake.create_default_armature())
    assert action.name == "caf_"


def test_blender_human_metarig_is_recognised_and_baked() -> None:
    """Blender's own human metarig (Rigify's; 159 bones with the face, torso bones numbered spine.000-006) bakes with
    rig auto: the neck and head are read off the numbered chain above the arms."""
    _empty()
    addon_utils = pytest.importorskip("addon_utils")
    if not addon_utils.enable("rigify", default_set=True):
        pytest.skip("this bpy build has no Rigify add-on")
    try:
        bpy.ops.object.armature_human_metarig_add()
    finally:
        addon_utils.disable("rigify", default_set=True)
    obj = bpy.context.object
    clip = synth_clip()
    notes: list[str] = []
    bake.bake_clip(clip, obj, notes=notes)
    parents = {b.name: b.parent.name if b.parent else None for b in obj.data.bones}
    mapping = rigs.resolve_rig([b.name for b in obj.data.bones], "auto", parents=parents)[1]
    assert (mapping["thorax"], mapping["neck"], mapping["pelvis"]) == ("spine.004", "spine.006", "spine")
    errors = pose_errors(obj, clip, mapping)
    assert errors.mean() < 1.5, errors.mean()


def _mmd_armature() -> bpy.types.Object:
    """Return an armature laid out and named as MikuMikuDance models are (mmd_tools keeps the Japanese names): the
    legs on the lower body (下半身, pointing down from the waist), the spine on the upper body beside it, both under
    the groove bone (グルーブ) over the centre bone (センター) at 0.43 of the height, under the parent of all
    (全ての親); D bones, a leg-IK bone with an IK constraint on the knee, twist bones."""
    std = {n: (p, h, t) for n, p, h, t in rigs.default_armature_bones(1.6)}
    waist = std["Hips"][1]
    bones = [("全ての親", None, (0, 0, 0), (0, 0, 0.2)), ("センター", "全ての親", (0, 0, 0.69), (0, 0, 0.6)),
             ("グルーブ", "センター", (0, 0, 0.8), (0, 0, 0.7)), ("下半身", "グルーブ", waist, (0, 0.02, 0.8)),
             ("上半身", "グルーブ", waist, std["Spine1"][1]), ("上半身２", "上半身", std["Spine1"][1], std["Neck"][1]),
             ("首", "上半身２", std["Neck"][1], std["Head"][1]), ("頭", "首", std["Head"][1], std["Head"][2])]
    for side, en in (("左", "Left"), ("右", "Right")):
        def at(name: str, en: str = en) -> tuple:
            return std[en + name][1], std[en + name][2]

        bones += [(f"{side}足", "下半身", *at("UpLeg")), (f"{side}ひざ", f"{side}足", *at("Leg")),
                  (f"{side}足首", f"{side}ひざ", *at("Foot")), (f"{side}足D", "下半身", *at("UpLeg")),
                  (f"{side}足ＩＫ", "全ての親", at("Foot")[0], at("ToeBase")[0]),
                  (f"{side}肩", "上半身２", *at("Shoulder")), (f"{side}腕", f"{side}肩", *at("Arm")),
                  (f"{side}腕捩", f"{side}腕", *at("Arm")), (f"{side}ひじ", f"{side}腕", *at("ForeArm")),
                  (f"{side}手首", f"{side}ひじ", *at("Hand"))]
    obj = bake.create_armature("MMD", bones)
    for side in "左右":
        ik = obj.pose.bones[f"{side}ひざ"].constraints.new("IK")
        ik.target, ik.subtarget, ik.chain_count = obj, f"{side}足ＩＫ", 2
    return obj


def test_an_mmd_model_is_recognised_and_baked_with_its_groove_bone_carrying_the_body() -> None:
    """MMD models (Japanese bone names; lower and upper body side by side under the centre bone) bake with rig auto:
    the lower body turns as the pelvis, the bone both hang from (the groove) takes the root motion, the IK on the
    knees is muted for the export, and every limb and the spine point where the motion has them."""
    _empty()
    obj = _mmd_armature()
    clip = synth_clip()
    notes: list[str] = []
    bake.bake_clip(clip, obj, mute_constraints=True, notes=notes)
    parents = {b.name: b.parent.name if b.parent else None for b in obj.data.bones}
    mapping = rigs.resolve_rig([b.name for b in obj.data.bones], "auto", parents=parents)[1]
    assert (mapping["pelvis"], mapping["spine"], mapping["l_hip"], mapping["r_shoulder"]) == (
        "下半身", "上半身２", "左足", "右腕")
    assert any("muted 2 bone constraint(s)" in n for n in notes), notes
    errors = pose_errors(obj, clip, mapping)
    assert errors.mean() < 1.0 and errors.max() < 5.0, (errors.mean(), errors.max())
    curves = {(fc.data_path, fc.array_index) for fc in bake.action_fcurves(obj.animation_data.action, obj)}
    assert ('pose.bones["グルーブ"].location', 1) in curves and ('pose.bones["下半身"].location', 1) not in curves
    assert ('pose.bones["下半身"].rotation_quaternion', 0) in curves
    bpy.context.scene.frame_set(FRAMES)  # walked ~1 m along -Y: the whole body, upper body included
    for bone in ("下半身", "首"):
        moved = np.array(obj.pose.bones[bone].head) - np.array(obj.data.bones[bone].head_local)
        assert moved[1] < -0.8, (bone, moved)


def test_default_armature_is_built_whatever_object_blender_has_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture finishing after the user switched scenes builds its armature in the capture's scene while the
    window's active object (here a mesh of the other scene) is something else; a failure leaves nothing."""
    _empty()
    home = bpy.context.scene
    other = bpy.data.scenes.new("Other")
    mesh = bpy.data.objects.new("Mesh", bpy.data.meshes.new("mesh"))
    other.collection.objects.link(mesh)
    with bpy.context.temp_override(scene=home, view_layer=home.view_layers[0], active_object=mesh, object=mesh):
        arm = bake.create_default_armature()
    assert len(arm.data.bones) == len(rigs.default_armature_bones()) and arm.mode == "OBJECT"
    assert arm.name in home.objects and arm.name not in other.objects and mesh.mode == "OBJECT"

    def broken(height: float):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bake, "default_armature_bones", broken)
    before = (len(bpy.data.objects), len(bpy.data.armatures))
    with pytest.raises(RuntimeError, match="disk on fire"):
        bake.create_default_armature("Broken")
    assert (len(bpy.data.objects), len(bpy.data.armatures)) == before


def test_euler_bones_keep_their_mode_and_get_continuous_euler_keys() -> None:
    """A rig kept in Euler (a BVH import, a hand-made rig) stays in Euler, so its older Euler actions still play:
    those bones get rotation_euler keys in their own order; axis-angle bones become quaternions."""
    _empty()
    obj = bake.create_default_armature()
    orders = {"Hips": "ZXY", "LeftUpLeg": "XYZ", "RightForeArm": "YZX", "Spine": "ZYX"}
    for name, order in orders.items():
        obj.pose.bones[name].rotation_mode = order
    obj.pose.bones["LeftArm"].rotation_mode = "AXIS_ANGLE"
    clip = synth_clip()
    notes: list[str] = []
    action = bake.bake_clip(clip, obj, notes=notes)
    assert len(notes) == 1 and "bones LeftArm were in axis-angle rotation mode" in notes[0]
    assert {n: obj.pose.bones[n].rotation_mode for n in orders} == orders
    assert obj.pose.bones["LeftArm"].rotation_mode == "QUATERNION"
    paths = {fc.data_path for fc in bake.action_fcurves(action, obj)}
    assert 'pose.bones["LeftUpLeg"].rotation_euler' in paths
    assert 'pose.bones["LeftUpLeg"].rotation_quaternion' not in paths
    assert 'pose.bones["LeftArm"].rotation_quaternion' in paths
    assert len(bake.action_fcurves(action, obj)) == 4 * 16 - len(orders) + 3
    errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]))
    assert errors.mean() < 1.0, errors.mean()


def test_euler_keys_do_not_jump_a_turn() -> None:
    """Two whole turns about Z: the keyed angle keeps climbing (to 4 pi) instead of wrapping at +-pi, which would
    spin the bone backwards between two keys."""
    angle = np.linspace(0.0, 4 * np.pi, 200)
    tilt = 0.3 * np.sin(angle)  # and a wobble about X, so all three angles move
    qz = np.stack([np.cos(angle / 2), 0 * angle, 0 * angle, np.sin(angle / 2)], 1)
    qx = np.stack([np.cos(tilt / 2), np.sin(tilt / 2), 0 * tilt, 0 * tilt], 1)
    w1, v1, w2, v2 = qz[:, :1], qz[:, 1:], qx[:, :1], qx[:, 1:]
    q = np.concatenate([w1 * w2 - (v1 * v2).sum(1, keepdims=True), w1 * v2 + w2 * v1 + np.cross(v1, v2)], 1)
    for order in bake.EULER_MODES:
        e = bake.euler_keys(q, order)
        assert np.abs(np.diff(e, axis=0)).max() < 0.3, order  # steps of 0.063 rad: no wrap anywhere
        back = np.array([Euler(x, order).to_quaternion() for x in e])
        assert np.abs(np.abs((back * q).sum(1)) - 1).max() < 1e-6, order  # the same rotations (mathutils is float32)
    assert bake.euler_keys(q, "XYZ")[-1, 2] == pytest.approx(4 * np.pi, abs=1e-5)


def test_constraints_that_override_the_keys_are_reported_or_muted() -> None:
    _empty()
    obj = bake.create_default_armature()
    target = bpy.data.objects.new("IK_Target", None)
    bpy.context.scene.collection.objects.link(target)
    target.location = (0.5, -0.5, 0.2)
    ik = obj.pose.bones["LeftLeg"].constraints.new("IK")  # on the shin; its chain of 2 turns the thigh too
    ik.target, ik.chain_count = target, 2
    copy = obj.pose.bones["RightForeArm"].constraints.new("COPY_ROTATION")
    copy.target, copy.subtarget = obj, "Head"
    idle = obj.pose.bones["LeftArm"].constraints.new("COPY_ROTATION")  # no target: does nothing, not reported
    driven = obj.pose.bones["RightUpLeg"].driver_add("rotation_quaternion", 1)  # a driver beats keys as well
    driven.driver.expression = "0.5"
    euler = obj.pose.bones["LeftArm"].driver_add("rotation_euler", 0)  # ignored once the bone is in quaternion mode
    euler.driver.expression = "1.0"
    hips = obj.pose.bones["Hips"].driver_add("location", 2)  # overrides root motion only
    hips.driver.expression = "0.0"
    by_index = obj.driver_add(f"pose.bones[{list(obj.pose.bones).index(obj.pose.bones['LeftForeArm'])}]"
                              ".rotation_quaternion", 2)  # a bone addressed by its index: found as well
    by_index.driver.expression = "0.3"
    scripted = obj.pose.bones["RightLeg"].driver_add("rotation_quaternion", 1)
    scripted.driver.expression = "__import__('os').getpid() * 0"  # not a simple expression: needs auto-run
    mapping = rigs.resolve_mapping([b.name for b in obj.data.bones])
    assert {b for b, _ in bake.overriding_constraints(obj, {"LeftUpLeg"})} == {"LeftLeg"}
    assert [b for b, _ in bake.overriding_drivers(obj, {"RightUpLeg", "LeftArm", "Hips"})] == ["RightUpLeg"]
    assert "LeftForeArm" in [b for b, _ in bake.overriding_drivers(obj, {"LeftForeArm"})]
    clip = synth_clip()
    notes: list[str] = []
    bake.bake_clip(clip, obj, notes=notes)
    assert len(notes) == 1 and "LeftLeg (IK)" in notes[0] and "RightForeArm" in notes[0] and "LeftArm" not in notes[0]
    assert "RightUpLeg (driver on rotation_quaternion)" in notes[0] and "Hips (driver on location)" in notes[0]
    assert not scripted.driver.is_valid and "RightLeg" not in notes[0]  # auto-run is off: the script does nothing
    assert not ik.mute and not driven.mute and pose_errors(obj, clip, mapping).max() > 10.0  # they win over keys
    notes.clear()
    bake.bake_clip(clip, obj, root_motion=False, notes=notes)
    assert "Hips" not in notes[0]
    notes.clear()
    bake.bake_clip(clip, obj, mute_constraints=True, notes=notes)
    assert ik.mute and copy.mute and not idle.mute
    assert "muted 5 bone constraint(s) or driver(s)" in notes[0] and not scripted.mute
    assert driven.mute and hips.mute and not euler.mute
    assert pose_errors(obj, clip, mapping).mean() < 1.0


def test_what_else_would_play_is_said_or_cleared_for_export() -> None:
    """A character saved posed, in Rest Position, with an NLA track: the capture shows (Pose Position set); bones it
    does not drive (collar bones, hands) are put back to rest and NLA tracks muted for an export, else said."""
    path = SHARED / "characters" / "human_mixamo.blend"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path.parent}")
    for clear in (False, True):
        _empty()
        obj = export.load_character(path)
        collar = obj.pose.bones["mixamorig:LeftShoulder"]
        collar.rotation_mode = "XYZ"
        collar.rotation_euler = (0.0, 0.0, 0.8)
        wave = bpy.data.actions.new("Wave")
        anim = obj.animation_data or obj.animation_data_create()
        track = anim.nla_tracks.new()
        track.strips.new("Wave", 1, wave)
        obj.data.pose_position = "REST"
        notes: list[str] = []
        bake.bake_clip(synth_clip(), obj, mute_constraints=clear, notes=notes)
        said = " ".join(notes)
        assert obj.data.pose_position == "POSE" and "Rest Position" in said
        assert "mixamorig:LeftShoulder" in said and "mixamorig:LeftArm" not in said  # a driven bone is not listed
        assert track.mute == clear and "NLA tracks" in said
        posed = not np.allclose(np.array(collar.matrix_basis), np.eye(4), atol=1e-6)
        assert posed != clear


def test_failures_leave_no_action(monkeypatch: pytest.MonkeyPatch) -> None:
    _empty()
    obj = bake.create_default_armature()
    clip = synth_clip(frames=4)
    keep = bake.bake_clip(clip, obj)
    with pytest.raises(RigError, match="the armature lacks 1: 'Elbow_missing'"):
        bake.bake_clip(clip, obj, mapping={**rigs.PRESETS["mixamo_plain"], "l_elbow": "Elbow_missing"})
    calls = []

    def broken(fc, frames, values) -> None:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(bake, "_write_keys", broken)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 7, 70
    with pytest.raises(RuntimeError, match="disk on fire"):
        bake.bake_clip(clip, obj, action_name="half")
    assert [a.name for a in bpy.data.actions] == [keep.name] and obj.animation_data.action == keep
    assert not keep.use_fake_user and (scene.frame_start, scene.frame_end) == (7, 70)  # as it was
    fresh = bake.create_default_armature("Fresh")
    fresh.pose.bones["LeftArm"].rotation_mode = "XYZ"
    calls.clear()
    with pytest.raises(RuntimeError, match="disk on fire"):
        bake.bake_clip(clip, fresh)
    assert fresh.animation_data is None and fresh.pose.bones["LeftArm"].rotation_mode == "XYZ"
    assert [a.name for a in bpy.data.actions] == [keep.name]


def test_the_replaced_action_is_kept_and_unbakeable_armatures_are_refused(tmp_path: Path) -> None:
    """The action a bake replaces gets a fake user (saved with the file); a linked armature (changes not saved)
    and one in NLA tweak mode are refused with the way out, the scene unchanged."""
    _empty()
    obj = bake.create_default_armature()
    clip = synth_clip()
    first = bake.bake_clip(clip, obj)
    bake.bake_clip(clip, obj)
    assert first.use_fake_user
    path = tmp_path / "lib.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    _empty()
    with bpy.data.libraries.load(str(path), link=True) as (src, dst):
        dst.objects = ["PoseMoE_Armature"]
    linked = dst.objects[0]
    bpy.context.scene.collection.objects.link(linked)
    with pytest.raises(RigError, match="is linked from .*lib.blend; make a library override"):
        bake.bake_clip(clip, linked)
    _empty()
    obj = bake.create_default_armature()
    bake.bake_clip(clip, obj)
    track = obj.animation_data.nla_tracks.new()
    track.strips.new("walk", 1, obj.animation_data.action)
    obj.animation_data.action = None
    obj.animation_data.use_tweak_mode = True
    actions = set(bpy.data.actions)
    with pytest.raises(RigError, match="NLA tweak mode"):
        bake.bake_clip(clip, obj)
    assert set(bpy.data.actions) == actions


def test_odd_meta_and_ctrl_c_in_an_exporter(tmp_path: Path) -> None:
    """A meta 'ground' that is not an object is ignored; Ctrl-C inside Blender's exporter (which wraps it in a
    RuntimeError) is a cancel, and writes nothing."""
    from core.errors import CancelledError

    clip = synth_clip()
    clip.meta.update(ground="level", world_from_camera=np.eye(4).tolist())
    assert export.bake_to_file(clip, tmp_path / "odd.bvh").stat().st_size > 0

    def interrupted(tmp: Path) -> None:
        raise RuntimeError("Error: Python: Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n")

    with pytest.raises(CancelledError, match="cancelled; nothing was written"):
        export.write_atomic(tmp_path / "x.fbx", interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.bvh"]
    fbx = tmp_path / "hero.fbx"
    fbx.write_bytes(b"0")

    def import_interrupted(**_kw) -> None:  # Ctrl-C inside the FBX importer: a cancel, not a bad file
        raise RuntimeError("Error: Python: Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n")

    from types import SimpleNamespace

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(export.bpy, "ops", SimpleNamespace(import_scene=SimpleNamespace(fbx=import_interrupted)))
        with pytest.raises(CancelledError, match="cancelled while importing it"):
            export.load_character(fbx)


def test_gltf_holds_only_the_captured_action(tmp_path: Path) -> None:
    """A character that already has an action (a BVH import brings one): the .glb holds the capture alone, not the
    old action that the bake keeps in the file with a fake user."""
    _empty()
    obj = bake.create_default_armature()
    old = bake.bake_clip(synth_clip(frames=5, seed=3), obj, action_name="old_take")
    assert old.use_fake_user is False and obj.animation_data.action == old
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "char.blend"))
    export.bake_to_file(synth_clip(), tmp_path / "walk.glb", character=tmp_path / "char.blend")
    glb = (tmp_path / "walk.glb").read_bytes()
    gltf = json.loads(glb[20:20 + struct.unpack("<I", glb[12:16])[0]])
    assert [a["name"] for a in gltf["animations"]] == ["synth"]
    export.bake_to_file(synth_clip(), tmp_path / "walk.fbx", character=tmp_path / "char.blend")  # the FBX too
    _empty()
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "walk.fbx"))
    assert [a.name.rpartition("|")[2] for a in bpy.data.actions] == ["synth"]
    assert tuple(bpy.data.actions[0].frame_range) == (1.0, FRAMES)


@pytest.mark.parametrize("fps, suffix", [(29.97, ".glb"), (12.5, ".gltf"), (30.0, ".glb")])
def test_gltf_keys_play_at_the_clips_rate(tmp_path: Path, fps: float, suffix: str) -> None:
    """A 29.97 fps clip sets the scene to 30 fps, base 1.001; Blender's glTF exporter wrote frame f at
    f / (30 * 1.001) s: 0.2 % fast, 7.5 % at 12.5 fps (13, base 1.04). The keys are now at f / fps s, their
    accessors' max too, and the file still imports."""
    from posemoe_blender.gltf_times import _time_accessors

    _empty()
    clip = synth_clip()
    clip.fps = fps
    out = export.bake_to_file(clip, tmp_path / f"clip{suffix}")
    if suffix == ".glb":
        raw = out.read_bytes()
        n = struct.unpack("<I", raw[12:16])[0]
        doc, blob = json.loads(raw[20:20 + n]), raw[20 + n + 8:]
    else:
        doc = json.loads(out.read_text())
        blob = (tmp_path / doc["buffers"][0]["uri"]).read_bytes()
    for index in _time_accessors(doc):
        acc = doc["accessors"][index]
        view = doc["bufferViews"][acc["bufferView"]]
        times = np.frombuffer(blob, "<f4", acc["count"], view.get("byteOffset", 0) + acc.get("byteOffset", 0))
        if acc["count"] == FRAMES:
            np.testing.assert_allclose(times, np.arange(FRAMES) / fps, rtol=1e-5, atol=1e-6)
        assert acc["max"][0] == pytest.approx(float(times.max()), rel=1e-6)
    _empty()
    bpy.ops.import_scene.gltf(filepath=str(out))
    assert any(o.type == "ARMATURE" for o in bpy.data.objects)


def _fbx_unit_scale(path: Path) -> float:
    """Return a binary FBX's GlobalSettings UnitScaleFactor (centimetres per unit): its P record is the name, then
    three strings (type, label, flags), then the value as a double."""
    data = path.read_bytes()
    at = data.index(b"UnitScaleFactor") + len(b"UnitScaleFactor")
    for _ in range(3):
        assert data[at:at + 1] == b"S"
        at += 5 + struct.unpack_from("<I", data, at + 1)[0]
    assert data[at:at + 1] == b"D"
    return struct.unpack_from("<d", data, at + 1)[0]


def test_export_all_formats_and_fbx_round_trip(tmp_path: Path) -> None:
    clip = synth_clip()
    for suffix in (".blend", ".bvh", ".glb", ".gltf", ".fbx"):
        assert export.bake_to_file(clip, tmp_path / f"walk{suffix}").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["walk.blend", "walk.bvh", "walk.glb", "walk.gltf", "walk.bin", "walk.fbx"])
    text = (tmp_path / "walk.bvh").read_text()
    assert f"Frames: {FRAMES}" in text
    _empty()
    bpy.ops.import_anim.bvh(filepath=str(tmp_path / "walk.bvh"))  # Blender's importer as it comes: Y up, metres
    bvh_arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    bpy.context.scene.frame_set(1)
    z = {b: (bvh_arm.matrix_world @ bvh_arm.pose.bones[b].head).z for b in ("Hips", "Head", "LeftFoot")}
    assert z["Head"] - z["Hips"] > 0.3 and z["Hips"] - z["LeftFoot"] > 0.5, z  # standing, not lying on its back
    glb = (tmp_path / "walk.glb").read_bytes()
    json_len = struct.unpack("<I", glb[12:16])[0]
    gltf, data = json.loads(glb[20:20 + json_len]), glb[20 + json_len + 8:]
    assert len(gltf["animations"]) == 1 and gltf["animations"][0]["channels"]

    def accessor(i: int) -> np.ndarray:
        acc = gltf["accessors"][i]
        view = gltf["bufferViews"][acc["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        return np.frombuffer(data, "<f4", acc["count"] * width, start).reshape(acc["count"], width)

    anim = gltf["animations"][0]
    for channel in anim["channels"]:  # engines start a clip at time 0; rotation keys one side of the sphere
        sampler = anim["samplers"][channel["sampler"]]
        assert accessor(sampler["input"])[0, 0] == 0.0
        if channel["target"]["path"] == "rotation":
            q = accessor(sampler["output"])
            assert (np.sum(q[1:] * q[:-1], axis=1) >= 0).all()
    assert _fbx_unit_scale(tmp_path / "walk.fbx") == 100.0  # metres, so engines put no scale on the rig
    _empty()
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "walk.fbx"))
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 1 and len(bpy.data.actions) == 1
    action = bpy.data.actions[0]
    assert tuple(action.frame_range) == (1.0, FRAMES)  # the frames of the .blend, not one late
    pb = arms[0].pose.bones["LeftForeArm"]
    bpy.context.scene.frame_set(int(action.frame_range[0]))
    a = np.array(pb.matrix)
    bpy.context.scene.frame_set(int(action.frame_range[0]) + FRAMES // 3)
    assert np.abs(np.array(pb.matrix) - a).max() > 1e-3


def test_export_errors(tmp_path: Path) -> None:
    clip = synth_clip(frames=3)
    with pytest.raises(OutputError, match=r"\.blend, \.fbx"):
        export.bake_to_file(clip, tmp_path / "walk.mp4")
    with pytest.raises(OutputError, match="does not exist"):
        export.bake_to_file(clip, tmp_path / "missing" / "walk.fbx")
    _empty()
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cube.blend"))
    with pytest.raises(RigError, match="no armature"):
        export.bake_to_file(clip, tmp_path / "a.fbx", character=tmp_path / "cube.blend")
    _empty()
    for name in ("One", "Two"):
        bake.create_default_armature(name)
    bpy.data.objects["Two"].data.name = "TwoData"
    bpy.data.objects["One"].data.name = "Two"  # an object named like another's armature data: the object wins
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "two.blend"))
    with pytest.raises(RigError, match="several armatures"):
        export.bake_to_file(clip, tmp_path / "b.bvh", character=tmp_path / "two.blend")
    assert export.bake_to_file(clip, tmp_path / "c.bvh", character=tmp_path / "two.blend", armature="Two").is_file()
    assert export.pick_armature("two.blend", "Two").name == "Two"
    assert export.pick_armature("two.blend", "TwoData").name == "Two"  # else the data name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_render_frames(tmp_path: Path) -> None:
    paths = export.render_frames(synth_clip(frames=6), tmp_path, frames=[0, 5], resolution=(64, 64))
    assert [p.name for p in paths] == ["frame_00000.png", "frame_00005.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_bake_generated_rigify_rig_drives_its_deform_bones() -> None:
    """A real Rigify rig (human metarig -> Generate, the bundled rigify add-on): the FK controls are keyed
    (IK/FK switched to FK) and the DEF- bones that deform the mesh follow the motion."""
    import addon_utils

    _empty()
    addon_utils.enable("rigify", default_set=True)
    try:
        bpy.ops.object.armature_human_metarig_add()
        metarig = bpy.context.active_object
        bpy.ops.pose.rigify_generate()
        rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not metarig)
        assert rigs.resolve_rig([b.name for b in rig.data.bones])[0] == "rigify_fk"
        clip = synth_clip()
        bake.bake_clip(clip, rig)
        assert rig.pose.bones["thigh_parent.L"]["IK_FK"] == 1.0
        errors = pose_errors(rig, clip, rigs.PRESETS["rigify"])  # measured on the deform bones
        log.info("generated Rigify: DEF direction error mean %.2f deg, per segment %s", errors.mean(),
                 errors.mean(0).round(2))
        assert errors[:, :10].mean(0).max() < 1.0  # limbs, hips and shoulders follow exactly
        assert errors.mean() < 2.0  # the spine chain distributes the pelvis-thorax bend
    finally:
        addon_utils.disable("rigify", default_set=True)


def test_the_generated_armature_has_the_subject_height(tmp_path: Path) -> None:
    """The height given to capture (meta cleanup.subject_height_m) sizes the armature a bake generates."""
    tops = {}
    for height in (1.2, 2.0):
        clip = synth_clip(frames=3)
        clip.meta["cleanup"] = {"subject_height_m": height}
        export.bake_to_file(clip, tmp_path / f"h{height}.blend")
        _empty()
        with bpy.data.libraries.load(str(tmp_path / f"h{height}.blend")) as (src, dst):
            dst.objects = [n for n in src.objects if n == "PoseMoE_Armature"]
        arm = dst.objects[0]
        tops[height] = max(b.tail_local.z for b in arm.data.bones) * arm.matrix_world.to_scale().z
    assert tops[2.0] / tops[1.2] == pytest.approx(2.0 / 1.2, rel=0.02), tops
    assert bake.subject_height(synth_clip(frames=3)) == 1.75  # none given: the default


def test_gltf_and_vrm_characters_are_imported(tmp_path: Path) -> None:
    """Web avatars come as .glb / .gltf / .vrm (a .glb with VRM extensions): Blender's glTF importer reads them."""
    _empty()
    bake.create_default_armature()
    bpy.ops.export_scene.gltf(filepath=str(tmp_path / "avatar.glb"), export_format="GLB")
    (tmp_path / "avatar.vrm").write_bytes((tmp_path / "avatar.glb").read_bytes())
    clip = synth_clip()
    for name in ("avatar.glb", "avatar.vrm"):
        _empty()
        obj = export.load_character(tmp_path / name)
        bake.bake_clip(clip, obj)
        errors = pose_errors(obj, clip, rigs.resolve_mapping([b.name for b in obj.data.bones]))
        assert errors.mean() < 5.0, name
    (tmp_path / "broken.glb").write_bytes(b"glTF" + bytes(40))
    with pytest.raises(InputFileError, match="broken.glb: glTF import failed .*re-export it as a .glb"):
        export.load_character(tmp_path / "broken.glb")


def test_a_hand_made_mapping_that_is_no_body_is_refused() -> None:
    """Left and right swapped (the character would face backwards), knees crossed to the other leg, a foot that
    is not below its shin: refused before any key, with what to fix."""
    _empty()
    obj = bake.create_default_armature()
    good = rigs.resolve_mapping([b.name for b in obj.data.bones])
    swapped = {j: good[("r_" + j[2:]) if j.startswith("l_") else ("l_" + j[2:]) if j.startswith("r_") else j]
               for j in good}
    crossed = {**good, "l_knee": good["r_knee"], "r_knee": good["l_knee"]}
    detached = {**good, "l_ankle": good["r_wrist"], "r_wrist": good["l_ankle"]}
    clip = synth_clip()
    for mapping, message in ((swapped, "left and right look swapped"), (crossed, "do not make one body"),
                             (detached, "l_hip above l_knee above l_ankle")):
        with pytest.raises(RigError, match=message):
            bake.bake_clip(clip, obj, mapping=mapping)
    assert obj.animation_data is None or obj.animation_data.action is None
    bake.bake_clip(clip, obj, mapping=good)


def _world_heads(obj, frames: list[int]) -> np.ndarray:
    """Return (frames, bones, 3) world positions of every posed bone's head."""
    world = np.array(obj.matrix_world)
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        out.append([(world @ np.r_[np.array(pb.head), 1.0])[:3] for pb in obj.pose.bones])
    return np.array(out)


def _baked_through_the_cli(tmp_path: Path, clip: MotionClip, character: Path, *options: str):
    """Return the armature of ``clip`` baked onto ``character`` by ``posemoe bake ... -o X.fbx`` with ``options``,
    imported back into an empty scene."""
    motion = write_motion(tmp_path / "motion.npz", clip)
    out = tmp_path / "baked.fbx"
    r = subprocess.run([sys.executable, "-m", "posemoe_blender.cli", "bake", str(motion), "-o", str(out), "--character",
                        str(character), *options], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    _empty()
    bpy.ops.import_scene.fbx(filepath=str(out))
    return next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")


def test_travel_on_root_keys_the_unreal_root_and_poses_the_same(tmp_path: Path) -> None:
    """--travel-on-root on the Unreal mannequin: its ``root`` bone carries the walk over the floor, the pelvis the
    height, and every other bone is where the plain bake puts it; the FBX carries the root's travel. A rig whose
    hips are its top bone keeps the travel there and says so."""
    path = SHARED / "characters" / "human_ue.blend"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path.parent}")
    clip, frames = synth_clip(), [1, FRAMES // 2, FRAMES]
    _empty()
    obj = export.load_character(path)
    bake.bake_clip(clip, obj)
    plain = _world_heads(obj, frames)
    notes: list[str] = []
    action = bake.bake_clip(clip, obj, travel_on_root=True, notes=notes)
    moved = _world_heads(obj, frames)
    names = [pb.name for pb in obj.pose.bones]
    root = names.index("root")
    others = [i for i in range(len(names)) if i != root]
    assert np.abs(moved[:, others] - plain[:, others]).max() < 1e-3
    travel = moved[:, root] - moved[0, root]
    assert travel[-1, 1] < -0.8 and np.abs(travel[:, 2]).max() < 1e-4  # walked ~1 m along -Y, on the floor
    pelvis = moved[:, names.index("pelvis")] - moved[:, root]
    assert np.abs(pelvis[:, :2] - pelvis[0, :2]).max() < 1e-4  # the pelvis keeps no travel of its own
    assert {fc.data_path for fc in bake.action_fcurves(action, obj)} >= {'pose.bones["root"].location',
                                                                         'pose.bones["pelvis"].location'}
    assert not notes
    bake.bake_clip(clip, obj, travel_on_root=True, notes=notes)  # the root's keyed location is no pose left over
    assert not notes
    obj.pose.bones["root"].rotation_mode = "XYZ"
    obj.pose.bones["root"].rotation_euler = (0.0, 0.0, 0.5)  # a turn left on it is, and export clears it
    bake.bake_clip(clip, obj, travel_on_root=True, notes=notes)
    assert len(notes) == 1 and "keep their current pose (root)" in notes[0]
    notes = []
    bake.bake_clip(clip, obj, travel_on_root=True, notes=notes, mute_constraints=True)
    assert "put back to rest" in notes[0]
    assert np.abs(_world_heads(obj, frames)[:, others] - plain[:, others]).max() < 1e-3

    _empty()  # as an FBX import has it: bone data Y-up in centimetres, the object at 0.01 scale, turned
    obj = export.load_character(path)
    fix = np.diag([100.0, 100.0, 100.0, 1.0]) @ np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])
    obj.data.transform(Matrix(fix.tolist()))
    obj.rotation_euler = (math.pi / 2, 0.0, 0.7)
    obj.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    bake.bake_clip(clip, obj)
    plain = _world_heads(obj, frames)
    bake.bake_clip(clip, obj, travel_on_root=True)
    moved = _world_heads(obj, frames)
    assert np.abs(moved[:, others] - plain[:, others]).max() < 1e-3
    assert np.linalg.norm(moved[-1, root] - moved[0, root]) > 0.8 and np.ptp(moved[:, root, 2]) < 1e-4
    arm = _baked_through_the_cli(tmp_path, clip, path, "--travel-on-root")  # as batch runs it
    heads, r = _world_heads(arm, [1, FRAMES]), [pb.name for pb in arm.pose.bones].index("root")
    assert heads[1, r, 1] - heads[0, r, 1] < -0.8

    _empty()
    obj = bake.create_default_armature()
    notes = []
    bake.bake_clip(clip, obj, travel_on_root=True, notes=notes)
    assert any("no bone above the hips bone 'Hips'" in n for n in notes), notes
    notes = []
    bake.bake_clip(clip, obj, travel_on_root=True, in_place=True, notes=notes)
    assert notes == [f"{obj.name}: no travel to put on the root bone (in place)"]


def _world_turns(obj, bone: str, frames: list[int]) -> np.ndarray:
    """Return (frames,) degrees: how far ``bone`` has turned about the world's vertical since the first frame
    (AssertionError where its turn is not about the vertical)."""
    world = np.array(obj.matrix_world)[:3, :3]
    rots = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        m = world @ np.array(obj.pose.bones[bone].matrix)[:3, :3]
        rots.append(m / np.linalg.norm(m, axis=0))
    out = []
    for m in rots:
        d = m @ rots[0].T
        np.testing.assert_allclose(d[2], [0.0, 0.0, 1.0], atol=1e-4)
        out.append(math.atan2(d[1, 0], d[0, 0]))
    return np.degrees(np.unwrap(out))


def test_turn_on_root_keys_the_heading_on_the_unreal_root_and_poses_the_same(tmp_path: Path) -> None:
    """--turn-on-root on the Unreal mannequin, on a walk that turns 90 degrees left: its ``root`` bone turns with
    the body about the vertical only, every other bone is where the plain bake puts it, and the FBX carries the
    turn. It implies --travel-on-root; in place the root takes the turn alone; a scale left on the root is said."""
    path = SHARED / "characters" / "human_ue.blend"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path.parent}")
    frames = 90
    clip, at = synth_clip(frames, turn=math.pi / 2), list(range(1, frames + 1, 8))
    _empty()
    obj = export.load_character(path)
    bake.bake_clip(clip, obj)
    plain = _world_heads(obj, at)
    notes: list[str] = []
    action = bake.bake_clip(clip, obj, turn_on_root=True, notes=notes)
    assert not notes
    names = [pb.name for pb in obj.pose.bones]
    others = [i for i in range(len(names)) if i != names.index("root")]
    assert np.abs(_world_heads(obj, at)[:, others] - plain[:, others]).max() < 1e-3
    turned = _world_turns(obj, "root", at)
    # left, as the body: all of its 90 degrees from the first frame to the last (where its wave is back in phase)
    assert turned[-1] == pytest.approx(90.0 * (at[-1] - 1) / (frames - 1), abs=1.5), turned
    paths = {fc.data_path for fc in bake.action_fcurves(action, obj)}
    assert any(p.startswith('pose.bones["root"].rotation') for p in paths) and 'pose.bones["root"].location' in paths

    obj.pose.bones["root"].scale = (1.2, 1.2, 1.2)  # a scale left on it is still said: only it is not keyed
    bake.bake_clip(clip, obj, turn_on_root=True, notes=notes)
    assert len(notes) == 1 and "keep their current pose (root)" in notes[0], notes
    notes.clear()
    obj.pose.bones["root"].scale = (1.0, 1.0, 1.0)
    bake.bake_clip(clip, obj, turn_on_root=True, in_place=True, notes=notes)  # in place: the turn alone
    assert not notes
    in_place = _world_heads(obj, at)[:, names.index("root")]
    assert np.abs(in_place - in_place[0]).max() < 1e-4
    np.testing.assert_allclose(_world_turns(obj, "root", at), turned, atol=1e-3)
    bake.bake_clip(clip, obj, turn_on_root=True, root_motion=False, notes=notes)
    assert f"{obj.name}: no travel or turn to put on the root bone (no root motion)" in notes
    notes.clear()
    rootless = MotionClip(clip.joints_2d, clip.scores, clip.valid, clip.fps, clip.image_size,
                          joints_3d=clip.joints_3d, root=np.full_like(clip.root, np.nan), meta=clip.meta)
    bake.bake_clip(rootless, obj, travel_on_root=True, notes=notes)  # from a tool that wrote no root: said
    assert any("the motion has no root track" in n and "'root'" in n for n in notes), notes

    arm = _baked_through_the_cli(tmp_path, clip, path, "--turn-on-root")
    np.testing.assert_allclose(_world_turns(arm, "root", at), turned, atol=0.5)


def test_contacts_that_are_not_frame_ranges_are_ignored_with_a_warning(caplog) -> None:
    """A motion file's meta from another tool: contacts with Infinity (JSON allows it) or text as frames. The bake
    goes on without the foot locks and says why, instead of an OverflowError's traceback."""
    base = synth_clip()
    for contacts in ({"left": [[0, float("inf")]], "right": []}, {"left": [["a", 3]]}):
        clip = MotionClip(base.joints_2d, base.scores, base.valid, base.fps, base.image_size,
                          joints_3d=base.joints_3d, root=base.root, meta={**base.meta, "contacts": contacts})
        _empty()
        obj = bake.create_default_armature()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            bake.bake_clip(clip, obj)
        assert "ignoring the motion's meta contacts" in caplog.text
        assert obj.animation_data.action is not None


def test_a_scene_rate_changed_under_other_animation_is_said() -> None:
    """The bake sets the scene's frame rate to the clip's: other animation in the scene then plays at that rate,
    which the user is told; a scene with nothing else animated changes silently."""
    _empty()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    obj = bake.create_default_armature()
    notes: list[str] = []
    bake.bake_clip(synth_clip(), obj, notes=notes)
    assert not notes and scene.render.fps == 30
    scene.render.fps = 24
    prop = bpy.data.objects.new("Prop", None)
    scene.collection.objects.link(prop)
    prop.keyframe_insert("location", frame=1)
    bake.bake_clip(synth_clip(), obj, notes=notes)
    assert len(notes) == 1 and "the scene's frame rate is now the clip's, 30 fps (was 24)" in notes[0]
    assert "(Prop)" in notes[0]


def test_an_armature_in_edit_mode_is_baked_and_the_mode_change_said() -> None:
    _empty()
    obj = bake.create_default_armature()
    with bpy.context.temp_override(active_object=obj, object=obj):
        bpy.context.view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="EDIT")
    notes: list[str] = []
    action = bake.bake_clip(synth_clip(), obj, notes=notes)
    assert obj.mode == "OBJECT" and obj.animation_data.action == action
    assert notes == [f"{obj.name}: was in Edit Mode; left it (Object Mode) to key its bones"]
