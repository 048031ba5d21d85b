"""Scene settings (Scene.posemoe) and the state of running jobs, as Blender properties.

PosemoeSettings holds what the animator picks in the panel; PosemoeJob holds a job's
progress, stage, error and cancel request, which the modal operators update and the
panels only draw. PosemoeEngineState (WindowManager.posemoe_engine, never saved) does
the same for the engine set-up and check jobs.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

RIG_PRESETS = (
    ("auto", "Auto-detect", "Detect the rig convention from the bone names"),
    ("rigify", "Rigify", "Rigify FK controls, or DEF bones of a rig without controls"),
    ("mixamo", "Mixamo", "Mixamo bone names, with or without the mixamorig: prefix"),
    ("unreal", "Unreal", "Unreal mannequin bone names"),
    ("cmu", "MakeHuman / CMU", "MakeHuman / CMU bone names"),
    ("custom", "Custom mapping", "Use the mapping table below"),
)
PATH_OPTIONS = {'PATH_SUPPORTS_BLEND_RELATIVE'} if bpy.app.version >= (4, 5, 0) else set()
"""Blender 4.5+ warns about '//' paths unless a path property says it takes them."""
SMOOTHING = (
    ("none", "None", "No temporal smoothing"),
    ("light", "Light", "Remove jitter, keep fast motion"),
    ("medium", "Medium", "Balanced smoothing"),
    ("strong", "Strong", "Smooth heavily; fast motion gets softened"),
)


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == 'ARMATURE'


LENS_MM_MIN, LENS_MM_MAX = 5.0, 600.0
"""The engine's range of 35 mm-equivalent focal lengths (core.world.LENS_MM_RANGE); 0 means not given (the
lens the video's metadata states, where it states one)."""


class PosemoeJob(bpy.types.PropertyGroup):
    """Progress of one worker job; written by the modal operator, drawn by the panel."""

    running: BoolProperty(name="Running", default=False, options={'SKIP_SAVE'})
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype='FACTOR', options={'SKIP_SAVE'})
    stage: StringProperty(name="Stage", options={'SKIP_SAVE'})
    done: IntProperty(name="Done", options={'SKIP_SAVE'})
    total: IntProperty(name="Total", options={'SKIP_SAVE'})
    message: StringProperty(name="Message", description="Last note or result from the worker")
    error: StringProperty(name="Error", description="One-line error of the last failed job")
    warning: StringProperty(name="Warning",
                            description="The worker's warnings about the clip (feet out of view, another person, "
                                        "a camera that moved), kept after the job ends")
    cancel_requested: BoolProperty(name="Cancel", description="Stop the running job", default=False,
                                   options={'SKIP_SAVE'})

    def reset(self, stage: str = "starting") -> None:
        """Mark the job as starting afresh."""
        self.running, self.cancel_requested = True, False
        self.progress, self.done, self.total = 0.0, 0, 0
        self.stage, self.error, self.message, self.warning = stage, "", "", ""

    def status_line(self) -> str:
        """Return a one-line description such as 'extract 120/900 (13%)'."""
        if self.total > 0:
            return f"{self.stage} {self.done}/{self.total} ({self.progress:.0%})"
        return self.stage


class PosemoeBoneMap(bpy.types.PropertyGroup):
    """One row of a custom mapping: a retarget source key -> a bone of the target armature."""

    source: StringProperty(name="Source", description="Retarget source key (skeleton joint or bone slot)")
    target: StringProperty(name="Bone", description="Name of the target armature's bone")


class PosemoeSettings(bpy.types.PropertyGroup):
    """Everything the animator picks in the PoseMoE panel (Scene.posemoe)."""

    video_path: StringProperty(name="Video", description="Video of one person to capture", subtype='FILE_PATH',
                               options=PATH_OPTIONS)
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                              description="Armature that receives the new Action")
    create_armature: BoolProperty(name="Create New Armature", default=False,
                                  description="Bake onto a new default armature instead of the picked one")
    rig_preset: EnumProperty(name="Rig", items=RIG_PRESETS, default="auto",
                             description="Bone naming convention of the target armature")
    mapping: CollectionProperty(type=PosemoeBoneMap, name="Custom Mapping")
    mapping_index: IntProperty(name="Active Mapping Row", default=0)
    frame_start: IntProperty(name="Frame Start", default=1, min=0, max=1_000_000,
                             description="Frame of the clip's first key (Blender's scene frames run 0 to 1,048,574)")
    smoothing: EnumProperty(name="Smoothing", items=SMOOTHING, default="medium")
    root_motion: BoolProperty(name="Root Motion", default=True,
                              description="Move the hips bone with the estimated root translation")
    in_place: BoolProperty(name="In Place", default=False,
                           description="Keep the character over the origin (drop horizontal root motion)")
    travel_on_root: BoolProperty(name="Travel on Root Bone", default=False,
                                 description="Key the travel over the ground on the bone above the hips (an "
                                             "Unreal-style root), where game engines read root motion; the hips "
                                             "keep the height")
    turn_on_root: BoolProperty(name="Turn on Root Bone", default=False,
                               description="Also key the body's heading (its turn about the vertical, smoothed over "
                                           "the stride's swing) on the bone above the hips, for engines that take "
                                           "root motion with rotation (In Place: the turn alone); the hips keep the "
                                           "rest of their turn")
    subject_height: FloatProperty(name="Subject Height", default=1.75, min=0.5, max=2.6, unit='LENGTH',
                                  description="The person's height: sets the motion's scale (one camera cannot) "
                                              "and the size of a new armature; a character keeps its own size")
    lens_mm: FloatProperty(name="Lens (35 mm equiv.)", default=0.0, min=0.0, max=LENS_MM_MAX, precision=0,
                           description="The camera's 35 mm-equivalent focal length as the phone states it (main "
                                       "camera about 26, ultra-wide 0.5x about 13, telephoto 3x about 77); "
                                       "0 = the lens the video states (iPhones write it), else unknown")
    use_video_lens: BoolProperty(name="Lens from Video", default=True,
                                 description="With Lens 0, use the lens the video's metadata states (iPhones write "
                                             "it); off: lift as with an unknown lens")
    foot_lock: BoolProperty(name="Foot Lock", default=True,
                            description="Pin feet to the ground while they are planted")
    level_camera: BoolProperty(name="Level Camera", default=False,
                               description="The camera was level (a tripod): fit only the ground's height")
    lying_down: BoolProperty(name="Lying Down", default=False,
                             description="The person lies down for most of the clip (floor work, a bench): lift as "
                                         "filmed with the ground under the body, not as a video on its side")
    static_camera: BoolProperty(name="Static Camera", default=False,
                                description="The camera stood still: ignore its turn and travel measured on the "
                                            "background (by default a camera that followed the person is taken out)")
    job: PointerProperty(type=PosemoeJob)

    def mapping_dict(self) -> dict[str, str]:
        """Return the custom mapping as {source: bone}, skipping incomplete rows."""
        return {row.source: row.target for row in self.mapping if row.source and row.target}

    def set_mapping(self, mapping: dict[str, str]) -> None:
        """Replace the custom mapping rows with ``mapping`` ({source: bone})."""
        self.mapping.clear()
        for source, target in mapping.items():
            row = self.mapping.add()
            row.source, row.target = str(source), str(target)
        self.mapping_index = 0


class PosemoeEngineState(bpy.types.PropertyGroup):
    """Engine set-up / check jobs (WindowManager.posemoe_engine: session only, never saved)."""

    job: PointerProperty(type=PosemoeJob)
    report: StringProperty(name="Check Report", description="What the worker reported at the last check")


classes = (PosemoeJob, PosemoeBoneMap, PosemoeSettings, PosemoeEngineState)
register, unregister = bpy.utils.register_classes_factory(classes)
