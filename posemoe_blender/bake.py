"""Bake a MotionClip onto an armature as a new Action (bpy and its mathutils + numpy + Blender-safe core modules only).

Shared by headless export (``posemoe_blender.export``) and the add-on, so no scipy/torch/cv2 here.
Works on Blender 4.5 (legacy ``action.fcurves``) and 5.0 (slotted actions, channelbags) by feature
detection. Keys are written in bulk (``keyframe_points.add`` + ``foreach_set``), never one by one.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Quaternion

from core.contact import DEFAULT_PARAMS
from core.errors import RigError
from core.file_checks import utf8_name
from core.motion_file import MotionClip
from core.retarget import (
    UNDER_FLOOR_M,
    RestPose,
    RetargetResult,
    check_mapping_shape,
    check_upright,
    lock_rig_feet,
    mirror_motion,
    motion_to_world,
    move_travel_to_root,
    retarget,
    travel_bone,
    under_floor,
    unmirror,
)
from core.rigs import PARENT_OVERRIDES, RIG_SETTINGS, default_armature_bones, resolve_rig

log = logging.getLogger(__name__)

_LINEAR = 1  # FCurve keyframe interpolation enum value of 'LINEAR' (CONSTANT=0, LINEAR=1, BEZIER=2)

EULER_MODES = frozenset({"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"})
"""Pose-bone rotation modes keyed as Euler angles: a rig the animator keeps in Euler (a BVH import, a hand-made
rig) stays in Euler, so its other actions still play and its curves stay editable."""


def rotation_channel(pose_bone: bpy.types.PoseBone) -> str:
    """Return the property the bake keys on ``pose_bone``: rotation_euler for Euler bones, else
    rotation_quaternion (axis-angle bones are switched to quaternions)."""
    return "rotation_euler" if pose_bone.rotation_mode in EULER_MODES else "rotation_quaternion"


def euler_keys(quaternions: np.ndarray, order: str) -> np.ndarray:
    """Return (T, 3) Euler angles (radians, Blender's ``order``) of (T, 4) w-x-y-z quaternions, each frame's the
    nearest to the frame before: no 360-degree jumps, which would spin the bone between two keys.

    mathutils (Blender's own) rather than scipy: this runs inside Blender, and its ``compatible`` Euler argument
    is exactly the continuity wanted (about 2.5 us a frame)."""
    out = np.empty((len(quaternions), 3), np.float64)
    previous = None
    for t, q in enumerate(np.asarray(quaternions, np.float64)):
        e = Quaternion(q).to_euler(order) if previous is None else Quaternion(q).to_euler(order, previous)
        out[t], previous = e, e
    return out


def subject_height(clip: MotionClip, default: float = 1.75) -> float:
    """Return the subject height (metres) the clip was scaled to (meta ``cleanup.subject_height_m``), else
    ``default``: the generated armature is built at that height, so the height given to capture shows."""
    cleanup = (clip.meta or {}).get("cleanup")
    value = cleanup.get("subject_height_m") if isinstance(cleanup, dict) else None
    return float(value) if isinstance(value, int | float) and 0.5 <= value <= 2.6 else default


def create_default_armature(name: str = "PoseMoE_Armature", height: float = 1.75) -> bpy.types.Object:
    """Return a new T-pose humanoid armature (Mixamo-like bone names, no prefix) linked to the context's scene."""
    obj = create_armature(name, default_armature_bones(height))
    obj.show_in_front = True
    return obj


def create_armature(name: str, bones: list[tuple[str, str | None, tuple, tuple]]) -> bpy.types.Object:
    """Return a new armature object of ``bones`` ((name, parent name or None, head, tail), parents first, metres)
    linked to the context's scene; a bone whose head is its parent's tail is connected to it.

    Mode switches name their object (not whatever Blender's window has active: a capture that finishes after the
    user switched scenes builds in the capture's own scene). On failure nothing new is left behind."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    try:
        bpy.context.scene.collection.objects.link(obj)
        view_layer = bpy.context.view_layer
        previous = view_layer.objects.active
        if previous is not None and previous.mode != "OBJECT":
            with bpy.context.temp_override(active_object=previous, object=previous):
                bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = obj
        with bpy.context.temp_override(active_object=obj, object=obj):
            bpy.ops.object.mode_set(mode="EDIT")
            try:
                for bone_name, parent, head, tail in bones:
                    eb = data.edit_bones.new(bone_name)
                    eb.head, eb.tail, eb.roll = head, tail, 0.0
                    if parent is not None:
                        eb.parent = data.edit_bones[parent]
                        eb.use_connect = (eb.parent.tail - eb.head).length < 1e-5
            finally:
                bpy.ops.object.mode_set(mode="OBJECT")
    except BaseException:
        bpy.data.objects.remove(obj)
        bpy.data.armatures.remove(data)
        raise
    return obj


def _topological(bones: bpy.types.ArmatureBones, overrides: dict[str, str]) -> tuple[list, dict[str, str | None]]:
    """Return the bones ordered parents before children, and bone name -> (effective) parent name."""
    names = {b.name for b in bones}
    parent_of = {b.name: b.parent.name if b.parent else None for b in bones}
    parent_of.update({k: v for k, v in overrides.items() if k in names and v in names})
    order: list = []
    placed: set[str] = set()
    for bone in bones:
        chain = [bone.name]
        while (p := parent_of[chain[-1]]) is not None and p not in placed and p not in chain:
            chain.append(p)
        for name in reversed(chain):
            if name not in placed:
                placed.add(name)
                order.append(bones[name])
    return order, parent_of


def _uneven(matrix) -> bool:
    """True for a matrix whose 3x3 part has a zero or non-uniform scale (or a shear)."""
    lin = np.array(matrix, dtype=np.float64)[:3, :3]
    scale = float(abs(np.linalg.det(lin)) ** (1.0 / 3.0))
    return scale <= 0 or not np.allclose(lin.T @ lin, scale**2 * np.eye(3), atol=1e-4 * scale**2)


def _scale_message(armature_obj: bpy.types.Object) -> str:
    """Say where an armature's zero or non-uniform world scale comes from, and how to take it out: its own scale,
    or a parent's (applying the armature's own scale alone then changes nothing)."""
    name = armature_obj.name
    parents = []
    parent = armature_obj.parent
    while parent is not None and len(parents) < 64:
        parents.append(parent)
        parent = parent.parent
    if _uneven(armature_obj.matrix_basis) or not parents:
        return f"armature {name!r} has a zero or non-uniform scale; apply scale (Ctrl+A > Scale) and try again"
    culprit = next((p for p in parents if _uneven(p.matrix_basis)), parents[0])
    return (f"armature {name!r} takes a zero or non-uniform scale from its parent {culprit.name!r}; select "
            f"{culprit.name!r} and the armature, apply scale (Ctrl+A > Scale), and try again")


def armature_rest_pose(armature_obj: bpy.types.Object, mapping: dict[str, str],
                       parent_overrides: dict[str, str] | None = None) -> tuple[RestPose, float]:
    """Return the armature's rest pose in world axes (metres) and its object scale factor.

    Bone data is armature space; the object's world matrix (e.g. an FBX import at 0.01 scale, rotated
    90 degrees about X) is applied so the rest pose lives in the same axes as the motion.
    ``parent_overrides`` (bone -> bone) replace parents a bone follows only through constraints.
    """
    world = np.array(armature_obj.matrix_world, dtype=np.float64)
    lin = world[:3, :3]
    if _uneven(lin):
        raise RigError(_scale_message(armature_obj))
    scale = float(abs(np.linalg.det(lin)) ** (1.0 / 3.0))
    if (mirror := unmirror(lin)) is not None:  # a mirrored character: its rig without the mirror (bake_clip)
        lin = mirror @ lin
    bones, parent_of = _topological(armature_obj.data.bones, parent_overrides or {})
    index = {b.name: i for i, b in enumerate(bones)}
    parents = np.array([-1 if parent_of[b.name] is None else index[parent_of[b.name]] for b in bones])
    heads = np.array([b.head_local for b in bones], dtype=np.float64) @ lin.T + world[:3, 3]
    tails = np.array([b.tail_local for b in bones], dtype=np.float64) @ lin.T + world[:3, 3]
    mats = (lin / scale) @ np.array([np.array(b.matrix_local, dtype=np.float64)[:3, :3] for b in bones])
    no_inherit = frozenset(i for i, b in enumerate(bones) if b.parent is not None and not b.use_inherit_rotation
                           and b.name not in (parent_overrides or {}))
    return RestPose(tuple(b.name for b in bones), parents, heads, tails, mats, dict(mapping), no_inherit), scale


def apply_rig_settings(armature_obj: bpy.types.Object, preset: str | None) -> None:
    """Set the pose-bone custom properties that preset ``preset`` needs (e.g. Rigify limbs to FK)."""
    for bone, props in RIG_SETTINGS.get(preset or "", {}).items():
        pb = armature_obj.pose.bones.get(bone)
        for key, value in props.items():
            if pb is not None and key in pb:
                pb[key] = value
                log.info("%s: set %s[%r] = %s for the baked motion", armature_obj.name, bone, key, value)


def overriding_constraints(armature_obj: bpy.types.Object, bone_names: set[str]) -> list[tuple[str, object]]:
    """Return (pose bone name, constraint) of the armature's active constraints that would override keys on
    ``bone_names``: any on those bones, and IK / spline IK whose chain reaches one of them (an IK on the shin
    turns the thigh too). Muted, zero-influence and invalid (target-less) constraints do nothing and are left out."""
    found = []
    for pb in armature_obj.pose.bones:
        for con in pb.constraints:
            if con.mute or con.influence <= 0.0 or not con.is_valid:
                continue
            chain = [pb.name]
            if con.type in {"IK", "SPLINE_IK"}:
                bone, count = pb.parent, con.chain_count or 10_000  # 0: up to the root
                while bone is not None and len(chain) < count:
                    chain.append(bone.name)
                    bone = bone.parent
            if bone_names.intersection(chain):
                found.append((pb.name, con))
    return found


def overriding_drivers(armature_obj: bpy.types.Object, bone_names: set[str], located: tuple[str, ...] = ()
                       ) -> list[tuple[str, bpy.types.FCurve]]:  # fmt: skip
    """Return (pose bone name, driver F-Curve) of the armature's active drivers that would override keys: on the
    rotation the bake keys on ``bone_names`` (:func:`rotation_channel`; a driver on the other one stops mattering),
    and on the location of the ``located`` bones (root motion: the pelvis, and the root bone with the travel), whose
    rotation must stay as the bake leaves it too."""
    anim = armature_obj.animation_data
    found = []
    for fc in anim.drivers if anim is not None else ():
        if fc.mute or not fc.driver.is_valid:  # an invalid driver (a script not allowed to run) does nothing
            continue
        owner, _, prop = fc.data_path.rpartition(".")  # property names have no dot; a bone name may
        try:
            pb = armature_obj.path_resolve(owner) if owner.startswith("pose.bones[") else None
        except ValueError:
            continue
        if isinstance(pb, bpy.types.PoseBone) and (
                ((pb.name in bone_names or pb.name in located) and prop == rotation_channel(pb))
                or (prop == "location" and pb.name in located)):
            found.append((pb.name, fc))
    return found


def _mute_overriding(armature_obj: bpy.types.Object, bone_names: set[str], located: tuple[str, ...], mute: bool,
                     notes: list[str]) -> list:
    """Deal with the constraints and drivers that would override the baked keys: mute them (``mute``) or say how
    to; return what was muted (each has ``.mute``). The note goes to the log and to ``notes`` (what the add-on
    shows)."""
    found = [(f"{bone} ({con.name})", con)
             for bone, con in overriding_constraints(armature_obj, bone_names | set(located))]
    found += [(f"{bone} (driver on {fc.data_path.rpartition('.')[2]})", fc)
              for bone, fc in overriding_drivers(armature_obj, bone_names, located)]
    if not found:
        return []
    listed = ", ".join(label for label, _ in found[:6]) + (" ..." if len(found) > 6 else "")
    if mute:
        note = (f"{armature_obj.name}: muted {len(found)} bone constraint(s) or driver(s) that would override the "
                f"captured motion: {listed}")
    else:
        note = (f"{armature_obj.name}: bone constraints or drivers override the captured motion on {listed}; mute "
                "them (Bone Constraints tab; Drivers editor) or switch the rig to FK")
    log.warning("%s", note)
    notes.append(note)
    if not mute:
        return []
    for _, thing in found:
        thing.mute = True
    return [thing for _, thing in found]


def _other_animation(armature_obj: bpy.types.Object, driven: set[str], clear: bool, notes: list[str],
                     moved: tuple[str, ...] = (), turned: tuple[str, ...] = ()) -> list:
    """Deal with what would play on top of, or under, the baked keys: the armature left in Rest Position (set to
    Pose Position, either way), bones the bake does not drive left posed (hands, collar bones, fingers: back to
    rest with ``clear``, the headless export, which must carry the capture alone; else said; the ``moved`` bones,
    keyed in location only, count as posed when turned or scaled, the ``turned`` ones, keyed in location and
    rotation, when scaled) and NLA tracks that would blend other actions in
    (muted with ``clear``, else said). Return the NLA tracks muted (each ``.mute``)."""
    if armature_obj.data.pose_position != "POSE":
        armature_obj.data.pose_position = "POSE"
        notes.append(f"{armature_obj.name}: the armature was set to Rest Position, which shows no animation; set "
                     "to Pose Position")
        log.warning("%s", notes[-1])
    def left_posed(pb) -> bool:
        m = np.array(pb.matrix_basis)
        if pb.name in turned:  # its location and rotation are keyed anyway: a scale is left over
            return not np.allclose(np.linalg.norm(m[:3, :3], axis=0), 1.0, atol=1e-5)
        n = 3 if pb.name in moved else 4  # a location the bake keys anyway is no pose left over
        return not np.allclose(m[:n, :n], np.eye(n), atol=1e-5)

    posed = [pb for pb in armature_obj.pose.bones if pb.name not in driven and left_posed(pb)]
    if posed:
        listed = ", ".join(pb.name for pb in posed[:6]) + (" ..." if len(posed) > 6 else "")
        if clear:
            for pb in posed:
                pb.matrix_basis = Matrix.Identity(4)
            notes.append(f"{armature_obj.name}: bones the capture does not drive were posed ({listed}); put back "
                         "to rest")
        else:
            notes.append(f"{armature_obj.name}: bones the capture does not drive keep their current pose ({listed}); "
                         "clear it (Pose > Clear Transform) if they should rest")
        log.warning("%s", notes[-1])
    anim = armature_obj.animation_data
    tracks = [t for t in (anim.nla_tracks if anim is not None else []) if not t.mute and len(t.strips)]
    if not tracks:
        return []
    listed = ", ".join(t.name for t in tracks[:6]) + (" ..." if len(tracks) > 6 else "")
    if not clear:
        notes.append(f"{armature_obj.name}: NLA tracks {listed} still play under the captured action; mute them in "
                     "the NLA editor if they should not")
        log.warning("%s", notes[-1])
        return []
    for t in tracks:
        t.mute = True
    notes.append(f"{armature_obj.name}: muted NLA tracks {listed}, which would blend other actions into the capture")
    log.warning("%s", notes[-1])
    return tracks


def _say_under_floor(armature_obj: bpy.types.Object, depth: np.ndarray, frame_start: int, notes: list[str]) -> None:
    """Note the frames where the rig's hands or head go under its floor (core.retarget.under_floor)."""
    from core.tracks import frame_ranges

    sunk = np.flatnonzero(depth > 0)
    if not len(sunk):
        return
    runs = [(int(f) + frame_start, int(f) + frame_start) for f in sunk]
    notes.append(f"{armature_obj.name}: its hands or head go under the floor, by up to "
                 f"{100 * (float(depth.max()) + UNDER_FLOOR_M):.0f} cm, in frames {frame_ranges(runs)}: the captured "
                 "directions are copied and its arms or head are long for its legs; check those frames")
    log.warning("%s", notes[-1])


def clip_name(clip: MotionClip) -> str:
    """Return a short name for ``clip``: meta ``name``, else the stem of meta ``source``, else "PoseMoE"; as UTF-8
    text (:func:`core.file_checks.utf8_name`: a video's Latin-1 file name)."""
    meta = clip.meta or {}
    if meta.get("name"):
        return utf8_name(str(meta["name"]))
    if meta.get("source"):
        return utf8_name(Path(str(meta["source"])).stem) or "PoseMoE"
    return "PoseMoE"


def _new_fcurve(action: bpy.types.Action, obj: bpy.types.Object, path: str, index: int,
                group: str) -> bpy.types.FCurve:
    """Return a new F-Curve on ``action`` for ``obj`` (slotted API on 4.4+/5.0, legacy before)."""
    if hasattr(action, "fcurve_ensure_for_datablock"):
        fc = action.fcurve_ensure_for_datablock(obj, path, index=index)
        bag = action_channelbag(action, obj)
        if bag is not None and hasattr(bag, "groups"):
            grp = bag.groups.get(group) or bag.groups.new(group)
            fc.group = grp
        return fc
    return action.fcurves.new(path, index=index, action_group=group)


def action_channelbag(action: bpy.types.Action, obj: bpy.types.Object):
    """Return the channelbag of ``obj``'s slot in ``action`` (Blender 4.4+), or None on older versions."""
    try:
        from bpy_extras.anim_utils import action_get_channelbag_for_slot
    except ImportError:
        return None
    slot = obj.animation_data.action_slot if obj.animation_data else None
    return action_get_channelbag_for_slot(action, slot) if slot is not None else None


def action_fcurves(action: bpy.types.Action, obj: bpy.types.Object) -> list:
    """Return the F-Curves of ``action`` as assigned to ``obj`` on Blender 4.5 and 5.0 alike."""
    bag = action_channelbag(action, obj)
    if bag is not None:
        return list(bag.fcurves)
    return list(getattr(action, "fcurves", []))


def _write_keys(fc: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Fill ``fc`` with linear keys at ``frames`` (n,) with ``values`` (n,) in one bulk call each."""
    n = frames.shape[0]
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    points = fc.keyframe_points
    points.add(n)
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(n, _LINEAR, dtype=np.int32))
    fc.update()


def _key_result(action: bpy.types.Action, obj: bpy.types.Object, res: RetargetResult, frames: np.ndarray,
                scale: float | None) -> int:
    """Key the driven bones' rotations (in each bone's mode: :func:`rotation_channel`) and, with ``scale`` (root
    motion: the armature object's scale, metres per bone unit), the locations of ``res``'s pelvis and travel bone;
    return the number of F-Curves."""
    count = 0
    for b in res.driven:
        name = res.bone_names[b]
        pb = obj.pose.bones[name]
        channel = rotation_channel(pb)
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"].{channel}'
        values = res.rotations[:, b] if channel == "rotation_quaternion" else euler_keys(res.rotations[:, b],
                                                                                          pb.rotation_mode)
        for k in range(values.shape[1]):
            _write_keys(_new_fcurve(action, obj, path, k, name), frames, values[:, k])
            count += 1
    located = [] if scale is None else [(res.root_bone, res.root_location / scale)]
    if scale is not None and res.travel_bone >= 0:
        located.append((res.travel_bone, res.travel_location / scale))
    for bone, values in located:
        name = res.bone_names[bone]
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"].location'
        for k in range(3):
            _write_keys(_new_fcurve(action, obj, path, k, name), frames, values[:, k])
            count += 1
    return count


def _set_scene_range(clip: MotionClip, frame_start: int) -> float:
    """Set the scene frame range to the clip and its frame rate to the clip's fps (fps_base for 29.97 & co); return
    the scene's frame rate before."""
    scene = bpy.context.scene
    before = scene.render.fps / scene.render.fps_base
    scene.frame_start = frame_start
    scene.frame_end = frame_start + clip.joints_3d.shape[0] - 1
    fps = max(1, int(math.ceil(float(clip.fps) - 1e-3)))  # a clip under 1 fps: 1 fps slowed by fps_base
    scene.render.fps, scene.render.fps_base = fps, fps / float(clip.fps)
    return before


def _world_from_camera(clip: MotionClip) -> np.ndarray | None:
    """Return the clip's meta ``world_from_camera`` (4, 4) (ground-aligned Z-up world), or None (level camera)."""
    value = (clip.meta or {}).get("world_from_camera")
    if value is None:
        return None
    try:
        m = np.asarray(value, dtype=np.float64)
        motion_to_world(np.zeros(3), m)  # validates: finite, rigid, 4x4
    except (TypeError, ValueError) as e:
        log.warning("ignoring the motion's meta world_from_camera (%s); the camera is assumed level", e)
        return None
    return m


def _contacts(clip: MotionClip) -> np.ndarray | None:
    """Return (T, 2) bool planted left/right feet from the clip's meta ``contacts`` ranges, or None."""
    ranges = (clip.meta or {}).get("contacts")
    if not isinstance(ranges, dict):
        return None
    t = clip.joints_3d.shape[0]
    mask = np.zeros((t, 2), bool)
    try:
        for f, side in enumerate(("left", "right")):
            for first, last in ranges.get(side, []):
                mask[max(0, int(first)): min(t, int(last) + 1), f] = True
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity as a frame
        log.warning("ignoring the motion's meta contacts: not lists of [first, last] frame ranges")
        return None
    return mask if mask.any() else None


def check_target(armature_obj: bpy.types.Object, rig: str = "auto", mapping: dict | None = None,
                 leave_edit_mode: bool = True) -> tuple[str | None, dict[str, str], RestPose, float]:
    """Return (preset, mapping, rest pose, object scale) of the armature a bake would key, or raise RigError for
    one it cannot (not an armature, linked, in NLA tweak mode, a rig no preset / mapping / name guess fits, not a
    standing humanoid): what :func:`bake_clip` checks first, and the add-on before it starts a capture (not after
    minutes of worker run; it passes ``leave_edit_mode`` False, checking an armature in edit mode as last saved)."""
    if armature_obj is None or armature_obj.type != "ARMATURE":
        name = getattr(armature_obj, "name", None)
        raise RigError(f"object {name!r} is not an armature; select the character's armature")
    if armature_obj.library is not None:  # its changes would not be saved with the file
        raise RigError(f"armature {armature_obj.name!r} is linked from {armature_obj.library.filepath}; make a "
                       "library override (Object > Library Override) or bake onto a local armature")
    if armature_obj.animation_data is not None and armature_obj.animation_data.use_tweak_mode:
        raise RigError(f"armature {armature_obj.name!r} is in NLA tweak mode; leave it (Tab in the NLA editor) and "
                       "capture again")
    bpy.context.view_layer.update()  # an object just appended from a .blend has no world matrix until then
    if armature_obj.mode == "EDIT" and leave_edit_mode:  # edit-bone changes reach data.bones only after leaving it
        with bpy.context.temp_override(active_object=armature_obj, object=armature_obj):
            bpy.ops.object.mode_set(mode="OBJECT")
    names = [b.name for b in armature_obj.data.bones]
    parents = {b.name: b.parent.name if b.parent else None for b in armature_obj.data.bones}
    preset, mapping = resolve_rig(names, rig, mapping, parents)
    rest, scale = armature_rest_pose(armature_obj, mapping, PARENT_OVERRIDES.get(preset or ""))
    check_mapping_shape(rest, f"armature {armature_obj.name!r}")
    check_upright(rest, f"armature {armature_obj.name!r}")
    return preset, mapping, rest, scale


def bake_clip(clip: MotionClip, armature_obj: bpy.types.Object, rig: str = "auto", mapping: dict | None = None,
              action_name: str | None = None, frame_start: int = 1, root_motion: bool = True,
              in_place: bool = False, mute_constraints: bool = False, notes: list[str] | None = None,
              travel_on_root: bool = False, turn_on_root: bool = False) -> bpy.types.Action:
    """Return a NEW Action holding ``clip`` retargeted onto ``armature_obj`` (assigned to it).

    Keys the driven bones' rotations in their own mode (Euler bones keep their order and get continuous
    ``rotation_euler`` keys; the others get ``rotation_quaternion``, axis-angle ones becoming QUATERNION) and the
    pelvis bone ``location`` (root motion, scaled to the rig's leg length; ``in_place`` keeps it over
    the origin horizontally; ``travel_on_root`` puts the travel over the ground on the bone above the pelvis, an
    Unreal-style root, where game engines read root motion: core.retarget.move_travel_to_root; ``turn_on_root``
    that bone also takes the body's heading, and implies ``travel_on_root``; in place it takes the turn alone). With
    ``clip.meta["world_from_camera"]`` (written by core.motion_cleanup) the
    motion is baked in that ground-aligned world, so the character stands upright even when the camera was
    pitched; without it the camera is taken as level. With ``meta["contacts"]`` (and root motion) planted
    feet are pinned on the rig itself (core.retarget.lock_rig_feet), whose proportions differ from the
    motion's. Bone constraints and drivers that would override the keys (IK, copy rotation, ...) are muted with
    ``mute_constraints`` (headless export: the file must carry the captured motion), else reported; what the user
    should know is logged and appended to ``notes``. Never reuses an existing action; on any failure the
    partly-made action is removed and the previous assignment (and muting) restored. Raises RigError for unusable
    armatures/mappings.
    """
    started = time.perf_counter()
    notes = [] if notes is None else notes
    editing = armature_obj is not None and getattr(armature_obj, "mode", "") == "EDIT"
    preset, mapping, rest, scale = check_target(armature_obj, rig, mapping)
    if editing:  # its edited bones reach the armature only in Object Mode
        notes.append(f"{armature_obj.name}: was in Edit Mode; left it (Object Mode) to key its bones")
        log.warning("%s", notes[-1])
    world = _world_from_camera(clip)
    joints = motion_to_world(clip.joints_3d, world, translate=False)
    root = motion_to_world(clip.root, world) if clip.root is not None and len(clip.root) else None
    contacts = _contacts(clip)
    if (mirror := unmirror(np.array(armature_obj.matrix_world, dtype=np.float64)[:3, :3])) is not None:
        joints, root, contacts = mirror_motion(joints, root, contacts, mirror)  # for the rig without the mirror
    ground = (clip.meta or {}).get("ground")
    ankle_h = ground.get("ankle_height_m") if world is not None and isinstance(ground, dict) else None
    res = retarget(joints, rest, root, root_motion=root_motion, in_place=in_place,
                   ankle_height=float(ankle_h) if isinstance(ankle_h, int | float) else None)
    if contacts is not None and root_motion and not in_place:
        fps = float(clip.fps)
        res = lock_rig_feet(rest, res, contacts, blend_frames=max(1, round(DEFAULT_PARAMS.blend_s * fps)),
                            on_rest_ground=world is not None,
                            max_swing=max(1, round(DEFAULT_PARAMS.max_swing_s * fps)))
    travel_on_root = travel_on_root or turn_on_root
    if travel_on_root and not (root_motion and (turn_on_root or not in_place)):  # in place: the turn, no travel
        notes.append(f"{armature_obj.name}: no {'travel or turn' if turn_on_root else 'travel'} to put on the root "
                     f"bone ({'in place' if root_motion else 'no root motion'})")
        log.warning("%s", notes[-1])
    elif travel_on_root:  # last: the foot locks work on the pelvis's travel
        top, what = travel_bone(rest), "travel and turn" if turn_on_root else "travel"
        note = None
        if top < 0:
            note = (f"no bone above the hips bone {res.bone_names[res.root_bone]!r} to carry the {what} (root "
                    "motion); it stays on the hips")
        elif not armature_obj.data.bones[rest.bone_names[top]].use_local_location:
            note = (f"bone {rest.bone_names[top]!r} takes its location in its parent's axes (Bone > Relations > Local "
                    f"Location off); the {what} stays on the hips")
        else:
            res = move_travel_to_root(rest, res, turn=turn_on_root, fps=float(clip.fps))
            if not in_place and (root is None or not np.isfinite(root).all(axis=-1).any()):
                note = (f"the motion has no root track (where the body went), so nothing travels on bone "
                        f"{rest.bone_names[top]!r}; make the motion with posemoe capture or lift")
        if note is not None:
            notes.append(f"{armature_obj.name}: {note}")
            log.warning("%s", notes[-1])
    if world is not None and root_motion:  # placed on the floor: a hand through it shows
        _say_under_floor(armature_obj, under_floor(rest, res), frame_start, notes)
    frames = np.arange(frame_start, frame_start + joints.shape[0], dtype=np.float64)
    root_bone = armature_obj.data.bones[res.bone_names[res.root_bone]]
    located = (root_bone.name,) + ((res.bone_names[res.travel_bone],) if res.travel_bone >= 0 else ())
    if root_motion and root_bone.use_connect:
        lost = "the hips' height" if res.travel_bone >= 0 else "root motion"
        notes.append(f"{armature_obj.name}: bone {root_bone.name!r} is connected to its parent, so its location keys "
                     f"({lost}) have no effect")
        log.warning("%s", notes[-1])
    had_anim = armature_obj.animation_data is not None
    anim = armature_obj.animation_data or armature_obj.animation_data_create()
    previous = anim.action
    previous_fake_user = previous.use_fake_user if previous is not None else False
    scene = bpy.context.scene
    scene_timing = (scene.frame_start, scene.frame_end, scene.render.fps, scene.render.fps_base)
    pose_bones = [armature_obj.pose.bones[res.bone_names[b]] for b in res.driven]
    modes = [pb.rotation_mode for pb in pose_bones]
    action = bpy.data.actions.new(action_name or clip_name(clip))
    muted = []
    try:
        muted = _mute_overriding(armature_obj, {pb.name for pb in pose_bones} | {root_bone.name},
                                 located if root_motion else (), mute_constraints, notes)
        # The travel bone is keyed only in location: a turn or scale left on it is said (or cleared) like any
        # other bone's pose.
        travel = located[1:]  # the travel bone, if any: keyed in location, and in rotation with the turn
        turned = tuple(b for b in travel if res.bone_names.index(b) in res.driven)
        muted += _other_animation(armature_obj, {pb.name for pb in pose_bones} - set(travel) | {root_bone.name},
                                  mute_constraints, notes, moved=travel, turned=turned)
        anim.action = action
        if previous is not None:
            previous.use_fake_user = True  # replaced, not lost: kept in the file for the user to switch back to
        axis_angle = [pb.name for pb in pose_bones if pb.rotation_mode == "AXIS_ANGLE"]
        for pb in pose_bones:
            if pb.rotation_mode not in EULER_MODES:
                pb.rotation_mode = "QUATERNION"
        count = _key_result(action, armature_obj, res, frames, scale if root_motion else None)
        before = _set_scene_range(clip, frame_start)
        others = [o.name for o in scene.objects if o is not armature_obj and o.animation_data is not None
                  and o.animation_data.action is not None]
        if others and abs(before - float(clip.fps)) > 1e-3:  # their keys now play at the clip's rate
            notes.append(f"the scene's frame rate is now the clip's, {float(clip.fps):g} fps (was {before:g}): "
                         f"the other animation in it ({', '.join(others[:3])}{' ...' if len(others) > 3 else ''}) "
                         "plays at that rate; set it back in Output Properties if it should not")
            log.warning("%s", notes[-1])
        apply_rig_settings(armature_obj, preset)
    except BaseException:  # all or nothing: the scene as it was
        anim.action = previous
        if previous is not None:
            previous.use_fake_user = previous_fake_user
        scene.frame_start, scene.frame_end, scene.render.fps, scene.render.fps_base = scene_timing
        bpy.data.actions.remove(action)
        for pb, mode in zip(pose_bones, modes, strict=True):
            pb.rotation_mode = mode
        for thing in muted:
            thing.mute = False
        if not had_anim:
            armature_obj.animation_data_clear()
        raise
    if axis_angle:  # keyed as quaternions; an older action keyed in axis-angle no longer moves these bones
        listed = ", ".join(axis_angle[:6]) + (" ..." if len(axis_angle) > 6 else "")
        notes.append(f"{armature_obj.name}: bones {listed} were in axis-angle rotation mode and are now quaternion; "
                     "set their mode back (Bone > Transform) to play older axis-angle actions")
        log.warning("%s", notes[-1])
    log.info("baked %d frames x %d F-Curves onto %s as action %r in %.2f s", len(frames), count,
             armature_obj.name, action.name, time.perf_counter() - started)
    return action
