"""Engine set-up and check operators, both run as subprocesses through the modal machinery.

Set up engine: ``PYTHON engine_setup.py`` creates the worker venv in the extension's
user folder and pip-installs the bundled engine's pinned requirements (never into
Blender's own Python). Check: ``worker --check`` reports versions and the CUDA device.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import bpy

from . import _engine, modal_job, preferences, worker_client

log = logging.getLogger(__name__)

KIND = "engine"
SETUP_SCRIPT = Path(__file__).with_name("engine_setup.py")
SETUP_STALL_TIMEOUT = 1800.0
"""pip can sit on one large wheel (torch) for a long time without a new line."""
CHECK_STALL_TIMEOUT = 120.0


def _engine_job(context: bpy.types.Context):
    return context.window_manager.posemoe_engine.job


def _log_path(name: str) -> Path:
    return preferences.user_dir("logs", create=True) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"


def format_check_report(data: dict) -> str:
    """Return the ``worker --check`` JSON object as a few readable lines."""
    cuda = data.get("cuda_device") or ("available" if data.get("cuda") else "not available")
    lines = [
        f"Python {data.get('python', '?')} | torch {data.get('torch', '?')} | mediapipe {data.get('mediapipe', '?')}",
        f"CUDA: {cuda} | device used: {data.get('device', '?')}",
        f"Weights: {data.get('weights', '?')}" + ("" if data.get("weights_present", True) else " (MISSING)"),
    ]
    return "\n".join(lines)


def make_setup_runner(context: bpy.types.Context, report) -> modal_job.JobRunner:
    """Return a JobRunner that creates the worker venv and installs the engine into it."""
    venv = preferences.venv_dir()
    argv = [str(preferences.setup_python(context)), str(SETUP_SCRIPT), "--venv", str(venv),
            "--engine", str(_engine.engine_root()), "--requirements", str(_engine.requirements_file())]
    worker = worker_client.WorkerJob(argv, log_path=_log_path("setup"), env=worker_client.worker_env(),
                                     stall_timeout=SETUP_STALL_TIMEOUT)

    def on_done(ctx: bpy.types.Context, job: worker_client.WorkerJob) -> str:
        prefs = preferences.get_prefs(ctx)
        if prefs is not None and prefs.worker_python:  # an explicit choice wins over the new venv
            return f"PoseMoE engine ready in {job.result.path}; clear Worker Python to use it"
        return f"PoseMoE engine ready: {job.result.path}"

    return modal_job.JobRunner(KIND, worker, _engine_job, on_done, report, "PoseMoE set-up")


def make_check_runner(context: bpy.types.Context, python: Path, report) -> modal_job.JobRunner:
    """Return a JobRunner that runs ``worker --check`` and stores its report."""
    prefs = preferences.get_prefs(context)
    argv = worker_client.check_command(python, device=prefs.device if prefs else "auto")
    worker = worker_client.WorkerJob(argv, log_path=_log_path("check"),
                                     env=worker_client.worker_env(_engine.engine_root()),
                                     stall_timeout=CHECK_STALL_TIMEOUT, expect_result=False)

    def on_done(ctx: bpy.types.Context, job: worker_client.WorkerJob) -> str:
        if not job.data:
            raise _engine.errors().WorkerEnvError("the worker's --check printed no report; see its log")
        ctx.window_manager.posemoe_engine.report = format_check_report(job.data[-1])
        return f"PoseMoE worker OK: {ctx.window_manager.posemoe_engine.report.splitlines()[1]}"

    return modal_job.JobRunner(KIND, worker, _engine_job, on_done, report, "PoseMoE check")


class POSEMOE_OT_setup_engine(modal_job.ModalJobMixin, bpy.types.Operator):
    """Create the worker's Python environment and install the engine into it (downloads ~1 GB)"""

    bl_idname = "posemoe.setup_engine"
    bl_label = "Set up Engine"
    bl_options = {'REGISTER'}

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Start the set-up subprocess; progress shows in the preferences."""
        if modal_job.is_active(KIND):
            self.report({'WARNING'}, "An engine set-up or check is already running")
            return {'CANCELLED'}
        base = preferences.setup_python(context)
        if not base.is_file():  # the job's own message would name the worker Python, not this preference
            message = (f"Python for Set-up not found: {base}; choose a Python 3.11 or newer there, or clear it to use "
                       "Blender's own")
            self.report({'ERROR'}, message)
            _engine_job(context).error = message
            return {'CANCELLED'}
        context.window_manager.posemoe_engine.report = ""
        return self._start_modal(context, make_setup_runner(context, self.report))


class POSEMOE_OT_check_worker(modal_job.ModalJobMixin, bpy.types.Operator):
    """Run the worker's self-check: Python, torch and MediaPipe versions, CUDA device"""

    bl_idname = "posemoe.check_worker"
    bl_label = "Check"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        """Return whether a worker Python exists (else say why)."""
        reason = preferences.missing_worker_reason(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    @_engine.guarded
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Start ``worker --check``; the report shows in the preferences."""
        if modal_job.is_active(KIND):
            self.report({'WARNING'}, "An engine set-up or check is already running")
            return {'CANCELLED'}
        context.window_manager.posemoe_engine.report = ""
        runner = make_check_runner(context, preferences.worker_python(context), self.report)
        return self._start_modal(context, runner)


class POSEMOE_OT_cancel_engine_job(bpy.types.Operator):
    """Stop the running engine set-up or check"""

    bl_idname = "posemoe.cancel_engine_job"
    bl_label = "Cancel"
    bl_options = {'INTERNAL'}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Ask the modal operator to stop on its next tick."""
        job = _engine_job(context)
        if modal_job.is_active(KIND):
            job.cancel_requested = True
        else:
            job.running = False
        return {'FINISHED'}


classes = (POSEMOE_OT_setup_engine, POSEMOE_OT_check_worker, POSEMOE_OT_cancel_engine_job)
register, unregister = bpy.utils.register_classes_factory(classes)
