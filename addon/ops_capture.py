"""Capture a video (modal, through the worker) and import motion files, baking new Actions.

POSEMOE_OT_capture starts the worker and returns at once; a 0.15 s timer drains the
worker's queue (modal_job.JobRunner). On success the motion file is read and baked on
the main thread into a NEW Action through posemoe_blender.bake (via ``_engine``); on
failure the worker's one-line error is reported and nothing is left in the scene.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from . import _engine, modal_job, ops_mapping, preferences, properties, worker_client

log = logging.getLogger(__name__)

KIND = "capture"
DEFAULT_ARMATURE_NAME = "PoseMoE_Armature"
KEEP_LOGS = 10


@dataclass(frozen=True)
class BakeOptions:
    """What to bake onto, taken from the panel when the job starts (later edits don't apply)."""

    armature_name: str | None
    create_armature: bool
    armature: object = None  # the object itself: renamed during a capture it is still the target
    armature_uid: int | None = None  # its session_uid: an undo during the capture invalidates the reference, not this
    rig: str = "auto"  # the panel's choice: auto, rigify, mixamo, unreal, cmu or custom
    mapping: dict[str, str] = field(default_factory=dict)
    frame_start: int = 1
    root_motion: bool = True
    in_place: bool = False
    travel_on_root: bool = False
    turn_on_root: bool = False

    @classmethod
    def from_settings(cls, settings) -> BakeOptions:
        """Return the options in a PosemoeSettings."""
        arm = settings.armature
        return cls(armature_name=arm.name if arm else None, create_armature=settings.create_armature or arm is None,
                   armature=arm, armature_uid=arm.session_uid if arm else None,
                   rig=settings.rig_preset, mapping=settings.mapping_dict() if settings.rig_preset == "custom" else {},
                   frame_start=settings.frame_start, root_motion=settings.root_motion, in_place=settings.in_place,
                   travel_on_root=settings.travel_on_root and settings.root_motion and not settings.in_place,
                   turn_on_root=settings.turn_on_root and settings.root_motion
                   and (settings.travel_on_root or settings.in_place))


def clip_name(path: Path) -> str:
    """Return an Action name for a clip file: its stem, 'motion' if empty."""
    return Path(path).stem.strip() or "motion"


def _remove_new(before_actions: set, created) -> None:
    for action in set(bpy.data.actions) - before_actions:
        bpy.data.actions.remove(action)
    if created is not None:
        data = created.data
        bpy.data.objects.remove(created)
        if data is not None and data.users == 0:
            bpy.data.armatures.remove(data)


def _still_there(options: BakeOptions) -> bpy.types.Object | None:
    """Return the armature the job was started for if it still exists (under any name), else None.

    Looked up by session_uid first: any undo during the capture (of anything) invalidates Python references to
    objects, though the armature is still there; then by the reference, then by name. An armature in no scene
    counts as gone: deleted from the scene, it stays in the file while the panel points at it."""
    def usable(arm) -> bpy.types.Object | None:  # deleted from the scene, the panel's pointer still keeps it
        return arm if arm is not None and arm.type == 'ARMATURE' and arm.users_scene else None

    if options.armature_uid is not None:
        arm = next((o for o in bpy.data.objects if o.session_uid == options.armature_uid), None)
        if arm is not None:
            return usable(arm)
    try:
        arm = options.armature or bpy.data.objects.get(options.armature_name or "")
        return usable(arm) if arm is not None and bpy.data.objects.get(arm.name) == arm else None
    except ReferenceError:  # deleted meanwhile, or invalidated by an undo: its name may still find it
        return usable(bpy.data.objects.get(options.armature_name or ""))


def bake_motion_file(context: bpy.types.Context, motion_path: Path, options: BakeOptions,
                     name: str | None = None, notes: list[str] | None = None
                     ) -> tuple[bpy.types.Action, bpy.types.Object]:  # fmt: skip
    """Read ``motion_path`` and bake it into a new Action; return (action, armature).

    All or nothing: on any error the new Action and a newly created armature are removed. What the user
    should know about the result (bone constraints that override it, ...) is appended to ``notes``.
    """
    clip = _engine.motion_file().read_motion(Path(motion_path))
    bake = _engine.bake()
    armature = None if options.create_armature else _still_there(options)
    if armature is None and not options.create_armature:
        raise _engine.errors().RigError(f"armature {options.armature_name!r} no longer exists (or is in no scene); "
                                        "pick another")
    before, created = set(bpy.data.actions), None
    try:
        if armature is None:
            armature = created = bake.create_default_armature(name=DEFAULT_ARMATURE_NAME,
                                                              height=bake.subject_height(clip))
            rig, mapping = "auto", None  # the default armature is recognised by its bone names
        else:
            rig, mapping = ops_mapping.rig_arguments(options.rig, options.mapping, armature)
        action = bake.bake_clip(clip, armature, rig=rig, mapping=mapping,
                                action_name=name or clip_name(motion_path), frame_start=options.frame_start,
                                root_motion=options.root_motion, in_place=options.in_place, notes=notes,
                                travel_on_root=options.travel_on_root, turn_on_root=options.turn_on_root)
    except BaseException:
        _remove_new(before, created)
        raise
    return action, armature  # bake_clip also set the scene's frame range and fps to the clip


def _finish_message(action, armature, scene) -> str:
    return (f"PoseMoE: new action '{action.name}' on '{armature.name}', "
            f"frames {scene.frame_start}-{scene.frame_end}")


_LOG_SEQ = itertools.count(1)
"""Numbers the capture logs of this session: two captures started in the same second get their own files."""


def logs_dir() -> Path:
    """Return the folder for worker logs (extension user dir), keeping only the newest few."""
    folder = preferences.user_dir("logs", create=True)
    try:
        for old in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)[:-KEEP_LOGS]:
            old.unlink(missing_ok=True)
    except OSError as e:  # another Blender pruning the same folder: old logs are no reason to refuse a capture
        log.debug("pruning old worker logs in %s: %s", folder, e)
    return folder


def make_capture_runner(context: bpy.types.Context, video: Path, python: Path, report) -> modal_job.JobRunner:
    """Return a JobRunner that captures ``video`` with the worker and bakes the result."""
    settings, prefs = context.scene.posemoe, preferences.get_prefs(context)
    options = BakeOptions.from_settings(settings)
    env = worker_client.worker_env(_engine.engine_root())  # EngineImportError before anything is made
    log_path = logs_dir() / f"capture-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_LOG_SEQ)}.log"
    work_dir = Path(tempfile.mkdtemp(prefix="posemoe-capture-"))  # last: nothing to remove if the above fail
    safe = re.sub(r"[^\w.-]+", "_", clip_name(video))
    weights = Path(bpy.path.abspath(prefs.weights)) if prefs and prefs.weights else None
    device = prefs.device if prefs else "auto"
    argv = worker_client.capture_command(python, video, work_dir / f"{safe}.npz", device=device,
                                         smoothing=settings.smoothing, weights=weights,
                                         subject_height=settings.subject_height, foot_lock=settings.foot_lock,
                                         level_camera=settings.level_camera, static_camera=settings.static_camera,
                                         lens_mm=settings.lens_mm, lens_metadata=settings.use_video_lens,
                                         lying_down=settings.lying_down)
    worker = worker_client.WorkerJob(argv, log_path=log_path, env=env,
                                     stall_timeout=prefs.stall_timeout if prefs else 300, cleanup_paths=[work_dir])

    # The capture belongs to the scene it was started in: progress shows there and the bake lands there (its
    # frame range, a new armature) even if the user switches scenes while the worker runs.
    # Looked up by session_uid, which survives undo and renaming (a Python reference to the scene does not).
    scene_uid, scene_name, layer_name = context.scene.session_uid, context.scene.name, context.view_layer.name

    def scene_of_job(ctx: bpy.types.Context) -> bpy.types.Scene:
        return (next((sc for sc in bpy.data.scenes if sc.session_uid == scene_uid), None)
                or bpy.data.scenes.get(scene_name) or ctx.scene)  # deleted meanwhile: the current scene takes it

    def on_done(ctx: bpy.types.Context, job: worker_client.WorkerJob) -> str:
        notes: list[str] = []
        scene = scene_of_job(ctx)
        layer = scene.view_layers.get(layer_name) or scene.view_layers[0]
        with ctx.temp_override(scene=scene, view_layer=layer):
            action, armature = bake_motion_file(bpy.context, Path(job.result.path), options, name=clip_name(video),
                                                notes=notes)
        if scene.posemoe.armature is None:
            scene.posemoe.armature = armature
        if notes:  # reported with the worker's warnings when the job concludes
            props = job_props(ctx)
            props.warning = modal_job.first_line("; ".join(n for n in (props.warning, *notes) if n), 400)
        message = _finish_message(action, armature, scene)
        return message if scene == ctx.scene else f"{message} in scene '{scene.name}'"

    def job_props(ctx: bpy.types.Context):
        return scene_of_job(ctx).posemoe.job

    return modal_job.JobRunner(KIND, worker, job_props, on_done, report, "PoseMoE capture", short_paths=(video,))


class POSEMOE_OT_capture(modal_job.ModalJobMixin, bpy.types.Operator):
    """Capture the person in the video and bake the motion onto the armature as a new Action"""

    bl_idname = "posemoe.capture"
    bl_label = "Capture"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        """Return whether a worker Python exists (else say why)."""
        reason = preferences.missing_worker_reason(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Check the inputs and start the worker; the timer does the rest."""
        if modal_job.is_active(KIND):
            self.report({'WARNING'}, "A capture is already running: wait for it or cancel it first")
            return {'CANCELLED'}
        settings = context.scene.posemoe
        video = Path(bpy.path.abspath(settings.video_path)) if settings.video_path else None
        if video is None or not video.is_file():
            return self._refuse(context, f"Video not found: {settings.video_path or '(none chosen)'}")
        if settings.armature is None and not settings.create_armature:
            return self._refuse(context, "Pick a target armature or tick Create New Armature")
        if settings.armature is not None and not settings.create_armature:
            if settings.armature.type != 'ARMATURE':
                return self._refuse(context, f"Object '{settings.armature.name}' is not an armature; pick the "
                                             "character's armature")
            if not settings.armature.users_scene:
                return self._refuse(context, f"Armature '{settings.armature.name}' is in no scene (deleted?); pick "
                                             "another or tick Create New Armature")
        if 0.0 < settings.lens_mm < properties.LENS_MM_MIN:
            return self._refuse(context, f"Lens {settings.lens_mm:g} mm: a 35 mm-equivalent focal length is "
                                         f"{properties.LENS_MM_MIN:g}-{properties.LENS_MM_MAX:g} mm (0 = not given)")
        if (why := _engine.unavailable()) is not None:  # before the panel shows a run or a temp folder is made
            return self._refuse(context, modal_job.first_line(why))
        try:
            if settings.armature is not None and not settings.create_armature:  # now, not after the worker's run
                rig, mapping = ops_mapping.rig_arguments(settings.rig_preset, BakeOptions.from_settings(settings)
                                                         .mapping, settings.armature)
                _engine.bake().check_target(settings.armature, rig, mapping, leave_edit_mode=False)
            python = preferences.worker_python(context)
            runner = make_capture_runner(context, video, python, self.report)
        except _engine.EngineImportError as e:
            return self._refuse(context, modal_job.first_line(str(e)))
        except _engine.errors().PosemoeError as e:
            return self._refuse(context, modal_job.first_line(str(e)))
        except OSError as e:  # the logs or temp folder cannot be made (read-only, full, removed)
            where = f" {e.filename}" if e.filename else ""
            return self._refuse(context, modal_job.first_line(f"cannot prepare the capture's files{where} "
                                                              f"({e.strerror or e}); free some space or check the "
                                                              "folder's permissions"))
        return self._start_modal(context, runner)

    def _refuse(self, context: bpy.types.Context, message: str) -> set[str]:
        """Say why the capture did not start, in the report and in the panel (not the last run's message)."""
        self.report({'ERROR'}, message)
        job = context.scene.posemoe.job
        job.error, job.message = message, ""
        return {'CANCELLED'}


class POSEMOE_OT_cancel_capture(bpy.types.Operator):
    """Stop the running capture; nothing is added to the scene"""

    bl_idname = "posemoe.cancel_capture"
    bl_label = "Cancel Capture"
    bl_options = {'INTERNAL'}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Ask the modal operator to stop (it acts on its next timer tick), from whichever scene is shown."""
        job = context.scene.posemoe.job
        if (runner := modal_job.active_runner(KIND)) is not None:
            runner.job_props(context).cancel_requested = True  # the capture's own scene's job
        else:  # a stale state (file saved while running): just clear it
            job.running, job.cancel_requested = False, False
        return {'FINISHED'}


class POSEMOE_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Bake a PoseMoE motion file (.npz from the CLI) onto the armature as a new Action"""

    bl_idname = "posemoe.import_motion"
    bl_label = "Import Motion File"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Bake a dropped file at once; otherwise open the file browser."""
        if self.filepath:
            return self.execute(context)
        return ImportHelper.invoke(self, context, event)

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Read the motion file and bake it with the panel's settings."""
        settings = context.scene.posemoe
        options = BakeOptions.from_settings(settings)
        notes: list[str] = []
        try:
            action, armature = bake_motion_file(context, Path(self.filepath), options, notes=notes)
        except _engine.errors().PosemoeError as e:
            self.report({'ERROR'}, modal_job.first_line(str(e)))
            return {'CANCELLED'}
        except Exception as e:  # a bug, or Blender refusing a change: one line; bake_motion_file undid its work
            log.exception("importing %s failed", self.filepath)
            self.report({'ERROR'}, modal_job.first_line(f"import failed ({type(e).__name__}: {e}); see the console"))
            return {'CANCELLED'}
        if settings.armature is None:
            settings.armature = armature
        self.report({'INFO'}, _finish_message(action, armature, context.scene))
        for note in notes:
            self.report({'WARNING'}, modal_job.first_line(note, 400))
        return {'FINISHED'}


class POSEMOE_FH_motion(bpy.types.FileHandler):
    """Drag and drop a PoseMoE motion .npz onto the 3D View to import it."""

    bl_idname = "POSEMOE_FH_motion"
    bl_label = "PoseMoE motion"
    bl_import_operator = "posemoe.import_motion"
    bl_file_extensions = ".npz"

    @classmethod
    def poll_drop(cls, context: bpy.types.Context) -> bool:
        """Accept drops on the 3D View only."""
        return context.area is not None and context.area.type == 'VIEW_3D'


@bpy.app.handlers.persistent
def _reset_stale_jobs(_dummy) -> None:
    """After loading a file, a job saved as running is not running here."""
    if modal_job.is_active(KIND):
        return
    for scene in bpy.data.scenes:
        settings = getattr(scene, "posemoe", None)
        if settings is not None:
            settings.job.running, settings.job.cancel_requested = False, False


classes = (POSEMOE_OT_capture, POSEMOE_OT_cancel_capture, POSEMOE_OT_import_motion, POSEMOE_FH_motion)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    """Register the operators and the stale-job reset handler."""
    _register_classes()
    bpy.app.handlers.load_post.append(_reset_stale_jobs)


def unregister() -> None:
    """Unregister the handler and the operators."""
    if _reset_stale_jobs in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_reset_stale_jobs)
    _unregister_classes()
