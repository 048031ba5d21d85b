"""Rig presets and the custom bone mapping: list editing, fill from a preset, JSON load/save.

A mapping is ``{H36M joint name: bone name}`` (core.rigs); the panel's rig families
(Rigify, Mixamo, ...) are resolved to a core.rigs preset by the armature's bone names.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import _engine

RIG_FAMILIES: dict[str, str] = {"rigify": "rigify", "mixamo": "mixamo", "unreal": "ue", "cmu": "cmu"}
"""Panel rig choice -> name (or ``name_*`` prefix) of core.rigs presets; the best match is picked by bones."""


def family_presets(family: str) -> list[str]:
    """Return the core.rigs presets of a panel rig choice ([] for auto/custom)."""
    prefix = RIG_FAMILIES.get(family)
    if prefix is None:
        return []
    return [p for p in _engine.rigs().PRESETS if p == prefix or p.startswith(prefix + "_")]


def bone_names(armature: bpy.types.Object | None) -> list[str]:
    """Return the bone names of ``armature`` ([] for None)."""
    return [b.name for b in armature.data.bones] if armature is not None else []


def missing_bones(armature: bpy.types.Object | None, mapping: dict[str, str]) -> list[str]:
    """Return the bones ``mapping`` names that ``armature`` lacks, sorted ([] without an armature)."""
    names = set(bone_names(armature))
    return sorted({bone for bone in mapping.values() if bone not in names}) if armature is not None else []


def rig_preset_for(family: str, names: list[str]) -> str:
    """Return the core.rigs preset for a panel rig choice ('auto' stays 'auto')."""
    presets = family_presets(family)
    if not presets:
        return "auto"
    if len(presets) == 1 or not names:
        return presets[0]
    rigs = _engine.rigs()
    return min(presets, key=lambda p: len(rigs.missing_bones(rigs.preset_mapping(p, names), names)))


def rig_arguments(family: str, mapping: dict[str, str], armature: bpy.types.Object) -> tuple[str, dict | None]:
    """Return (rig, mapping) for posemoe_blender.bake.bake_clip from the panel's rig choice."""
    if family == "custom":
        if not mapping:
            raise _engine.errors().RigError("the custom mapping is empty: press Fill from Rig or load a JSON file")
        return "auto", dict(mapping)
    return rig_preset_for(family, bone_names(armature)), None


class POSEMOE_OT_mapping_add(bpy.types.Operator):
    """Add a row to the custom mapping"""

    bl_idname = "posemoe.mapping_add"
    bl_label = "Add Mapping Row"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Append an empty row and make it active."""
        settings = context.scene.posemoe
        settings.mapping.add()
        settings.mapping_index = len(settings.mapping) - 1
        return {'FINISHED'}


class POSEMOE_OT_mapping_remove(bpy.types.Operator):
    """Remove the active row of the custom mapping"""

    bl_idname = "posemoe.mapping_remove"
    bl_label = "Remove Mapping Row"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        """Return whether there is a row to remove."""
        return len(context.scene.posemoe.mapping) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Remove the active row."""
        settings = context.scene.posemoe
        settings.mapping.remove(settings.mapping_index)
        settings.mapping_index = max(0, min(settings.mapping_index, len(settings.mapping) - 1))
        return {'FINISHED'}


class POSEMOE_OT_mapping_fill(bpy.types.Operator):
    """Fill the custom mapping with every H36M joint, using the rig preset (or auto-detect) on the armature"""

    bl_idname = "posemoe.mapping_fill"
    bl_label = "Fill from Rig"
    bl_options = {'REGISTER', 'UNDO'}

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Replace the rows with the preset's mapping (blank bones where the armature lacks them)."""
        settings = context.scene.posemoe
        rigs, skeleton = _engine.rigs(), _engine.load("core.skeleton")
        names = bone_names(settings.armature)
        family = "auto" if settings.rig_preset == "custom" else settings.rig_preset
        preset = rig_preset_for(family, names)
        guessed = None
        if preset == "auto":  # no armature yet: the default armature's convention
            preset, miss = rigs.detect_rig(names or [b[0] for b in rigs.default_armature_bones()])
            if miss and names:  # no preset fits: read the rig off its bone names and hierarchy
                arm = settings.armature.data.bones
                guessed = _engine.load("core.rig_names").guess_mapping(
                    {b.name: b.parent.name if b.parent else None for b in arm})
        mapping = guessed or rigs.preset_mapping(preset, names or None)
        present = set(names)
        settings.set_mapping({j: (mapping.get(j, "") if not names or mapping.get(j) in present else "")
                              for j in skeleton.JOINT_NAMES})
        settings.rig_preset = "custom"
        source = "the bone names" if guessed else f"the {preset} preset"
        self.report({'INFO'}, f"Mapping filled from {source}; blank rows need a bone")
        return {'FINISHED'}


class POSEMOE_OT_mapping_load(bpy.types.Operator, ImportHelper):
    """Load a custom mapping from a JSON file"""

    bl_idname = "posemoe.mapping_load"
    bl_label = "Load Mapping"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Read the JSON mapping and switch the rig choice to Custom."""
        try:
            mapping = _engine.rigs().load_mapping(Path(self.filepath))
        except _engine.errors().PosemoeError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        settings = context.scene.posemoe
        settings.set_mapping(mapping)
        settings.rig_preset = "custom"
        missing = missing_bones(settings.armature, mapping)
        if missing:  # loaded as asked, but said now, not when a capture fails on it
            self.report({'WARNING'}, f"Loaded {len(mapping)} mapping rows; armature '{settings.armature.name}' "
                                     f"lacks {len(missing)} of their bones: {', '.join(missing[:3])}"
                                     + (" ..." if len(missing) > 3 else ""))
        else:
            self.report({'INFO'}, f"Loaded {len(mapping)} mapping rows")
        return {'FINISHED'}


class POSEMOE_OT_mapping_save(bpy.types.Operator, ExportHelper):
    """Save the custom mapping as a JSON file"""

    bl_idname = "posemoe.mapping_save"
    bl_label = "Save Mapping"

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Write the mapping rows to the chosen JSON file."""
        try:
            path = _engine.rigs().save_mapping(Path(self.filepath), context.scene.posemoe.mapping_dict())
        except _engine.errors().PosemoeError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Saved mapping to {path}")
        return {'FINISHED'}


classes = (POSEMOE_OT_mapping_add, POSEMOE_OT_mapping_remove, POSEMOE_OT_mapping_fill, POSEMOE_OT_mapping_load,
           POSEMOE_OT_mapping_save)
register, unregister = bpy.utils.register_classes_factory(classes)
