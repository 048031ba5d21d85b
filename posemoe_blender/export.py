"""Headless export: bake a MotionClip onto a character (or a default armature) and write .blend/FBX/BVH/glTF.

Uses bpy global state: every call starts from an empty factory scene. Files are written into a
temporary folder beside the target and moved into place with ``os.replace``, so a failed or
interrupted export never leaves a partial file behind.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np

from core.errors import CancelledError, InputFileError, InputNotFoundError, OutputError, RigError
from core.file_checks import not_a_file
from core.motion_file import MotionClip, temp_stem
from core.retarget import unmirror
from core.video import is_git_lfs_pointer
from posemoe_blender.bake import bake_clip, create_default_armature, subject_height
from posemoe_blender.gltf_rotations import make_rotations_continuous
from posemoe_blender.gltf_times import fix_key_times

log = logging.getLogger(__name__)

SUFFIXES = (".blend", ".fbx", ".bvh", ".glb", ".gltf")


def _write_blend(path: Path, obj: bpy.types.Object) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=True)
    # Blender's compressed writer ignores write errors: on a full disk it leaves a truncated .blend and
    # reports success. Reading the file back (its block index, nothing appended) proves it is whole.
    try:
        with bpy.data.libraries.load(str(path)) as (_src, _dst):
            pass
    except OSError:
        raise RuntimeError("Blender saved a truncated .blend (a write failed)") from None


def _bone_action(action: bpy.types.Action) -> bool:
    """True when ``action`` keys pose bones (an armature's), in either of Blender's action layouts."""
    curves = getattr(action, "fcurves", None)
    if curves is None:  # Blender 5.0: layered (slotted) actions only
        curves = [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                  for fc in bag.fcurves]
    return any(fc.data_path.startswith("pose.bones[") for fc in curves)


def _write_fbx(path: Path, obj: bpy.types.Object) -> None:
    """Write the scene's armature and meshes with the captured action as the file's take, keyed on the same frames
    as the .blend. (Exported as the scene's timeline instead, its keys came back one frame late in any FBX importer
    that counts from frame 1, Blender's included; so the other armature actions of this throwaway scene, a
    character's earlier ones, are removed and each action is its own take. Shape-key and other actions stay.)"""
    keep = obj.animation_data.action if obj.animation_data else None
    for action in list(bpy.data.actions):
        if action is not keep and _bone_action(action):
            bpy.data.actions.remove(action)
    bpy.ops.export_scene.fbx(filepath=str(path), use_selection=False, object_types={"ARMATURE", "MESH"},
                             add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=keep is not None,
                             bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0,
                             apply_scale_options=fbx_scale_option(obj.matrix_world.to_scale()))


def fbx_scale_option(scale) -> str:
    """Return the FBX exporter's ``apply_scale_options`` that leaves the armature's node at a scale nearest 1, which
    Unity shows on the rig's root object: an armature at scale 1 (made in Blender, from glTF, the generated one) is
    written in metres (``FBX_SCALE_UNITS``: Blender's default would put 100 on it); one imported from a centimetre FBX
    (Mixamo's, Unreal's: scale 0.01) in centimetres, as it came (``FBX_SCALE_NONE``: in metres it would keep 0.01)."""
    s = float(np.mean(np.abs(np.asarray(scale, np.float64))))
    return "FBX_SCALE_UNITS" if s > 0.1 else "FBX_SCALE_NONE"


BVH_FROM_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Blender's world (Z up, -Y facing the viewer) to BVH's usual axes (Y up, +Z facing the viewer), as Blender's own
BVH importer reads files by default."""


def _write_bvh(path: Path, obj: bpy.types.Object) -> None:
    """Write the armature's animation as BVH in metres, Y up, whatever the armature's own axes (Blender's exporter
    writes those: Z up for a Blender-made rig, Y up in centimetres for an imported FBX), joint names without
    spaces (BVH tokens are separated by spaces: "Bip01 Pelvis" becomes Bip01_Pelvis), position channels only on
    the root and on joints that move (core.bvh.drop_still_positions)."""
    from core.bvh import change_axes, drop_still_positions, parse_bvh, to_text

    for bone in obj.data.bones:  # the scene is thrown away after the export: renaming here changes no file
        if any(c.isspace() for c in bone.name):
            bone.name = "_".join(bone.name.split())
    scene = bpy.context.scene
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj]):
        bpy.ops.export_anim.bvh(filepath=str(path), frame_start=scene.frame_start, frame_end=scene.frame_end)
    loc, rot, scale = obj.matrix_world.decompose()
    bvh = parse_bvh(path.read_text(encoding="utf-8"), str(path))
    q = BVH_FROM_BLENDER @ np.array(rot.to_matrix())
    turned = change_axes(bvh, q, float(np.mean(scale)), BVH_FROM_BLENDER @ np.array(loc))
    path.write_text(to_text(drop_still_positions(turned)), encoding="utf-8")


def _influences_note(record: logging.LogRecord) -> bool:
    """Logging filter: False (dropped, logged at debug level here) for the glTF exporter's note on joint influences."""
    if "joint vertex influences" in record.getMessage():
        log.debug("glTF exporter: %s", record.getMessage())
        return False
    return True


def _write_gltf(path: Path, obj: bpy.types.Object) -> None:
    fmt = "GLB" if path.suffix.lower() == ".glb" else "GLTF_SEPARATE"
    # Only the active actions: a character's earlier action (kept with a fake user by the bake) would otherwise be
    # exported too, first, and engines that play the first animation would play it instead of the capture.
    action = obj.animation_data.action if obj.animation_data else None
    # Its note that a mesh's vertices keep their 4 strongest bone weights (glTF's limit) is no error of the user's:
    # logged at debug level only (the exporter sets its logger's level and handlers itself).
    gltf_log = logging.getLogger("glTFImporter")
    gltf_log.addFilter(_influences_note)
    try:
        # slide to zero: the first key at time 0, as engines start a clip (not at frame 1's 1/30 s, held a frame)
        bpy.ops.export_scene.gltf(filepath=str(path), export_format=fmt, export_animations=True, export_skins=True,
                                  export_animation_mode="ACTIVE_ACTIONS",  # Blender 4.0+ (we need 4.2)
                                  export_anim_slide_to_zero=True,
                                  export_nla_strips_merged_animation_name=action.name if action else "Animation")
    finally:
        gltf_log.removeFilter(_influences_note)
    render = bpy.context.scene.render
    try:
        factor = fix_key_times(path, float(render.fps), float(render.fps_base))
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error) as e:  # a layout it does not know
        log.warning("%s: key times left as the exporter wrote them (%s)", path.name, e)
    else:
        if factor != 1.0:
            log.debug("%s: key times scaled by %.6f to %g fps", path.name, factor, render.fps / render.fps_base)
    try:
        flipped = make_rotations_continuous(path)
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error) as e:  # a layout it does not know
        log.debug("%s: rotation keys left as written (%s)", path.name, e)
    else:
        log.debug("%s: %d rotation keys turned to the side of the key before", path.name, flipped)


_WRITERS: dict[str, Callable[[Path, bpy.types.Object], None]] = {
    ".blend": _write_blend, ".fbx": _write_fbx, ".bvh": _write_bvh, ".glb": _write_gltf, ".gltf": _write_gltf,
}


def _check_output(out_path: Path) -> str:
    """Return the lower-case suffix of ``out_path`` after checking it and its folder; OutputError if unusable."""
    suffix = out_path.suffix.lower()
    if suffix not in _WRITERS:
        raise OutputError(f"{out_path}: unknown output type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    _check_folder(out_path)
    return suffix


def _check_folder(out_path: Path) -> None:
    """Raise OutputError unless the folder of ``out_path`` exists and is writable."""
    parent = out_path.parent
    if not parent.is_dir():
        raise OutputError(f"{out_path}: folder {parent} does not exist; create it or choose another output")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out_path}: folder {parent} is not writable; choose a writable folder")


def _operator_error(e: RuntimeError) -> str:
    """Return the line of a bpy operator's RuntimeError that says what failed (not its traceback or Location)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("Location:")]
    return lines[-1] if lines else type(e).__name__


def write_atomic(out_path: Path, writer: Callable[[Path], None]) -> Path:
    """Return ``out_path`` after ``writer(tmp_path)`` wrote it in a temp folder beside it (moved in last)."""
    out_path = Path(out_path)
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{temp_stem(out_path.stem)}.", suffix=".tmp", dir=out_path.parent))
    except OSError as e:
        raise OutputError(f"{out_path}: cannot write in {out_path.parent} ({e.strerror}); "
                          "choose a writable folder") from None
    try:
        tmp = tmp_dir / out_path.name
        chatter = io.StringIO()  # Python exporters print their traceback on sys.stderr when they fail
        try:
            with contextlib.redirect_stderr(chatter):
                writer(tmp)
        except RuntimeError as e:  # bpy operators report failures as RuntimeError
            log.debug("%s: exporter output:\n%s%s", out_path, chatter.getvalue(), e)
            if "KeyboardInterrupt" in str(e):  # Ctrl-C inside the exporter reaches us wrapped
                raise CancelledError(f"{out_path}: cancelled; nothing was written") from None
            raise OutputError(f"{out_path}: export failed ({_operator_error(e)}); check free space and "
                              "permissions, --log-level DEBUG shows Blender's messages") from None
        sys.stderr.write(chatter.getvalue())
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise OutputError(f"{out_path}: exporter wrote nothing; see the log for Blender's messages")
        extras = [p for p in tmp_dir.iterdir() if p != tmp]  # e.g. the .bin of a .gltf: moved before the main file
        # The .gltf's buffer is named after it, so a file of that name beside it is the user's unless the output being
        # replaced refers to it (textures keep their images' names: a character's own, written again, are not checked).
        theirs = [p.name for p in extras if p.stem == out_path.stem and (out_path.parent / p.name).exists()
                  and not _own_file(out_path, p.name)]
        if theirs:
            raise OutputError(f"{out_path}: would replace {out_path.parent / theirs[0]}, which this output did not "
                              "write; move that file or choose another output name")
        for p in extras + [tmp]:
            os.replace(p, out_path.parent / p.name)
    except OSError as e:
        raise OutputError(f"{out_path}: write failed ({e.strerror}); check free space and permissions") from None
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_path


def _own_file(out_path: Path, name: str) -> bool:
    """True when the file ``name`` beside ``out_path`` belongs to it: the output already there (a .gltf written
    before, being replaced) refers to it by name."""
    try:
        return out_path.is_file() and name in out_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


GLTF_CHARACTERS = (".glb", ".gltf", ".vrm")
"""Characters read with Blender's glTF importer: the formats of web avatars (Ready Player Me, VRoid's VRM, three.js)."""


def _import(character: Path, kind: str, advice: str, run: Callable[[str], object]) -> None:
    """Run the importer ``run`` on ``character``; its failure is one InputFileError line (``kind`` import failed;
    ``advice``), a Ctrl-C inside it a cancel. The importer's chatter on stderr is logged (DEBUG), not shown."""
    chatter = io.StringIO()  # the importer prints its traceback on sys.stderr before it fails
    try:
        with contextlib.redirect_stderr(chatter):
            run(str(character))
    except RuntimeError as e:
        log.debug("%s: importer output:\n%s", character, chatter.getvalue())
        if "KeyboardInterrupt" in str(e):  # Ctrl-C inside the importer reaches us wrapped
            raise CancelledError(f"{character}: cancelled while importing it; nothing was written") from None
        raise InputFileError(f"{character}: {kind} import failed ({_operator_error(e)}); {advice}") from None
    sys.stderr.write(chatter.getvalue())


def load_character(character: Path, armature: str | None = None) -> bpy.types.Object:
    """Return the armature object of ``character`` (.blend objects appended; .fbx, .glb, .gltf or .vrm imported) in
    the scene."""
    character = Path(character)
    if (kind := not_a_file(character)) is not None:
        raise InputFileError(f"{character}: is {kind}, not a character file; give the .blend, .fbx, .glb, .gltf or "
                             ".vrm file itself")
    if not character.is_file():
        raise InputNotFoundError(f"{character}: character file not found; check the path")
    if is_git_lfs_pointer(character):
        raise InputFileError(f"{character}: is a Git LFS pointer, not the character; fetch the file itself "
                             "(git lfs pull)")
    suffix = character.suffix.lower()
    if suffix == ".blend":
        try:
            with bpy.data.libraries.load(str(character), link=False) as (src, dst):
                dst.objects = list(src.objects)
        except (OSError, RuntimeError) as e:  # not a .blend, truncated, or from an unreadable version
            first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise InputFileError(f"{character}: cannot read this .blend ({first}); "
                                 "re-save it from Blender or export an .fbx") from None
        for obj in dst.objects:
            if obj is not None and obj.name not in bpy.context.scene.collection.objects:
                bpy.context.scene.collection.objects.link(obj)
        bpy.context.view_layer.update()  # world matrices (a parent, an FBX's 0.01 scale) are computed here
    elif suffix == ".fbx":
        _import(character, "FBX", "re-export it from the program that made it (binary FBX 7.x)",
                lambda path: bpy.ops.import_scene.fbx(filepath=path))
    elif suffix in GLTF_CHARACTERS:  # a VRM is a .glb with extensions the importer skips; it reads the content
        _import(character, "glTF", "re-export it as a .glb, or open it in Blender and save a .blend",
                lambda path: bpy.ops.import_scene.gltf(filepath=path))
    elif suffix in (".pmx", ".pmd"):  # MikuMikuDance: Blender reads them through the mmd_tools add-on only
        raise InputFileError(f"{character}: an MMD model; import it in Blender with the mmd_tools add-on and save a "
                             ".blend (its bones are recognised), then give that")
    else:
        raise InputFileError(f"{character}: unsupported character type {suffix!r}; use a .blend, .fbx, .glb, .gltf "
                             "or .vrm file")
    return pick_armature(character, armature)


def pick_armature(source: Path | str, armature: str | None = None) -> bpy.types.Object:
    """Return the scene's armature object named ``armature`` (its object name first, else its armature data's name,
    when only one has it), or its only armature."""
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    names = sorted(o.name for o in arms)
    if armature is not None:
        found = [o for o in arms if o.name == armature] or [o for o in arms if o.data.name == armature]
        if not found:
            raise RigError(f"{source}: no armature named {armature!r}; armatures there: {names or 'none'}")
        if len(found) > 1:
            raise RigError(f"{source}: armatures {sorted(o.name for o in found)} all use the armature data "
                           f"{armature!r}; pass --armature one of those object names")
        return found[0]
    if not arms:
        linked = (" (an armature linked from another .blend is not read: give that file, or make it local in "
                  "Blender, Object > Relations > Make Local)") if str(source).lower().endswith(".blend") else ""
        raise RigError(f"{source}: contains no armature; rig the character or export without --character{linked}")
    if len(arms) > 1:
        raise RigError(f"{source}: has several armatures {names}; choose one with --armature NAME")
    return arms[0]


def add_stick_mesh(armature_obj: bpy.types.Object, radius: float = 0.035) -> bpy.types.Object:
    """Return a new mesh object of one octahedron per bone, rigidly skinned to ``armature_obj`` (visible in exports)."""
    verts, faces, groups = [], [], []
    for bone in armature_obj.data.bones:
        head, tail = bone.head_local, bone.tail_local
        r = min(radius, 0.15 * bone.length)
        mid = head.lerp(tail, 0.15)
        ring = [mid + r * axis for axis in (bone.x_axis, bone.z_axis, -bone.x_axis, -bone.z_axis)]
        base = len(verts)
        verts += [head, *ring, tail]
        faces += [(base, base + 1 + i, base + 1 + (i + 1) % 4) for i in range(4)]
        faces += [(base + 5, base + 1 + (i + 1) % 4, base + 1 + i) for i in range(4)]
        groups.append((bone.name, list(range(base, base + 6))))
    mesh = bpy.data.meshes.new(armature_obj.name + "_mesh")
    mesh.from_pydata([tuple(v) for v in verts], [], faces)
    obj = bpy.data.objects.new(armature_obj.name + "_mesh", mesh)
    bpy.context.scene.collection.objects.link(obj)
    for name, idx in groups:
        obj.vertex_groups.new(name=name).add(idx, 1.0, "REPLACE")
    obj.parent = armature_obj
    obj.modifiers.new("Armature", "ARMATURE").object = armature_obj
    return obj


def _front_camera(armature_obj: bpy.types.Object, distance: float) -> bpy.types.Object:
    """Return a new scene camera at ``distance`` metres in front (-Y) of the armature, aimed at its middle."""
    corners = [armature_obj.matrix_world @ b.head_local for b in armature_obj.data.bones]
    zs = [c.z for c in corners]
    cam = bpy.data.objects.new("PoseMoE_Camera", bpy.data.cameras.new("PoseMoE_Camera"))
    bpy.context.scene.collection.objects.link(cam)
    x0, y0 = armature_obj.matrix_world.translation.xy
    cam.location = (x0, y0 - distance, 0.5 * (min(zs) + max(zs)))
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
    bpy.context.scene.camera = cam
    return cam


def render_frames(clip: MotionClip, out_dir: Path, character: Path | None = None, armature: str | None = None,
                  frames: list[int] | None = None, resolution: tuple[int, int] = (512, 512),
                  engine: str = "BLENDER_WORKBENCH", distance: float = 4.0, rig: str = "auto") -> list[Path]:
    """Return the PNG paths of ``clip`` baked onto ``character`` (or the default armature) and rendered.

    ``frames``: 0-based clip frames (default: all); a fixed camera ``distance`` metres in front (-Y)
    of the character looks at its middle. Each PNG is written atomically as ``frame_00000.png``.
    """
    out_dir = Path(out_dir)
    _check_folder(out_dir / "frame.png")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = load_character(Path(character), armature) if character is not None else create_default_armature()
    if character is None:
        add_stick_mesh(obj)
    bake_clip(clip, obj, rig=rig, root_motion=True)
    scene = bpy.context.scene
    scene.render.engine = engine
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.image_settings.file_format = "PNG"
    _front_camera(obj, distance)
    paths = []
    for f in range(clip.joints_3d.shape[0]) if frames is None else frames:
        scene.frame_set(scene.frame_start + f)

        def render(tmp: Path) -> None:
            scene.render.filepath = str(tmp)
            bpy.ops.render.render(write_still=True)

        paths.append(write_atomic(out_dir / f"frame_{f:05d}.png", render))
    return paths


def bake_to_file(clip: MotionClip, out_path: Path, character: Path | None = None, armature: str | None = None,
                 rig: str = "auto", root_motion: bool = True, in_place: bool = False, mesh: bool = True,
                 travel_on_root: bool = False, turn_on_root: bool = False) -> Path:
    """Return ``out_path`` after baking ``clip`` onto ``character`` (or a default armature) and writing it.

    The type follows the suffix: .blend, .fbx (baked animation), .bvh, .glb/.gltf (animation on).
    ``mesh`` adds a simple skinned stick mesh to the default armature so the export shows something.
    Raises OutputError (bad suffix, unwritable folder, exporter failure), RigError (no/several
    armatures, missing bones), InputNotFoundError/InputFileError (character file).
    """
    out_path = Path(out_path)
    suffix = _check_output(out_path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if character is not None:
        obj = load_character(Path(character), armature)
        if suffix in (".glb", ".gltf") and unmirror(np.array(obj.matrix_world, dtype=np.float64)[:3, :3]) is not None:
            # Blender's glTF exporter writes a mirrored armature's node with the mirror lost (re-imported: scale -1
            # on every axis, the limbs up to 1.2 m off); FBX and BVH keep it
            raise RigError(f"{character}: armature {obj.name!r} is mirrored (a negative scale), which Blender's glTF "
                           "exporter does not keep; export .fbx, .bvh or .blend instead")
    else:
        obj = create_default_armature(height=subject_height(clip))
        if mesh:
            add_stick_mesh(obj)
    try:
        bake_clip(clip, obj, rig=rig, root_motion=root_motion, in_place=in_place, mute_constraints=True,
                  travel_on_root=travel_on_root, turn_on_root=turn_on_root)
    except RigError as e:  # name the character file the armature came from
        raise RigError(f"{character}: {e}" if character is not None else str(e)) from None
    write_atomic(out_path, lambda tmp: _WRITERS[suffix](tmp, obj))
    log.info("wrote %s (%d frames, armature %s)", out_path, clip.joints_3d.shape[0], obj.name)
    return out_path
