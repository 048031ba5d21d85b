"""Add-on preferences: the worker's Python, its device, engine set-up and check.

Keyed by ``__package__`` (4.2 extensions live under ``bl_ext.<repo>.<id>``), never by
a hard-coded name. The set-up and check buttons run operators from ops_setup.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import worker_client

DEVICES = (
    ("auto", "Auto", "CUDA when the worker sees a GPU, else CPU"),
    ("cpu", "CPU", "Always run on the CPU"),
    ("cuda", "CUDA", "Require an NVIDIA GPU"),
)
VENV_DIRNAME = "engine-venv"


class POSEMOE_AddonPreferences(bpy.types.AddonPreferences):
    """PoseMoE preferences: worker Python and device."""

    bl_idname = __package__

    worker_python: StringProperty(
        name="Worker Python", subtype='FILE_PATH',
        description="Python of the worker environment (empty: the one made by Set up engine)")
    base_python: StringProperty(
        name="Python for Set-up", subtype='FILE_PATH',
        description="Python 3.11 used to create the worker environment (empty: Blender's own Python)")
    device: EnumProperty(name="Device", items=DEVICES, default="auto")
    weights: StringProperty(name="Weights", subtype='FILE_PATH',
                            description="Custom PoseMoE weights (.safetensors); empty: the bundled ones")
    stall_timeout: IntProperty(name="Stall Timeout (s)", default=300, min=10, max=3600,
                               description="Stop a worker that reports nothing for this many seconds")

    def draw(self, context: bpy.types.Context) -> None:
        """Draw the preferences: environment, set-up progress, device and the last check."""
        layout = self.layout
        state = getattr(context.window_manager, "posemoe_engine", None)
        col = layout.column()
        col.prop(self, "worker_python")
        python = worker_python(context)
        col.label(text=f"Using: {python}" if python else "No worker environment yet: press Set up engine",
                  icon='CHECKMARK' if python else 'ERROR')
        row = col.row(align=True)
        row.prop(self, "base_python")
        row = col.row(align=True)
        row.operator("posemoe.setup_engine", icon='CONSOLE')
        row.operator("posemoe.check_worker", icon='VIEWZOOM')
        if state is not None:
            draw_job(col, state.job, "posemoe.cancel_engine_job")
            for line in state.report.splitlines():
                col.label(text=line)
        layout.prop(self, "device")
        layout.prop(self, "weights")
        layout.prop(self, "stall_timeout")


def draw_job(layout: bpy.types.UILayout, job, cancel_op: str) -> None:
    """Draw a job's progress bar (or a text fallback before Blender 4.0), Cancel, and its error."""
    if job.running:
        row = layout.row(align=True)
        text = job.status_line()
        if hasattr(row, "progress"):
            row.progress(factor=job.progress, type='BAR', text=text)
        else:
            row.label(text=text, icon='TIME')
        row.operator(cancel_op, text="", icon='CANCEL')
    if job.error:
        from .modal_job import wrapped_labels

        wrapped_labels(layout.column(align=True), job.error, 'ERROR', 60)
    elif job.message and not job.running:
        layout.label(text=job.message, icon='INFO')
    if job.warning and not job.error:
        layout.label(text=job.warning, icon='ERROR')


def get_prefs(context: bpy.types.Context | None = None) -> POSEMOE_AddonPreferences | None:
    """Return this add-on's preferences, or None while it is not enabled."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def user_dir(name: str, create: bool = False) -> Path:
    """Return the folder ``name`` in the extension's user directory (kept across updates)."""
    try:
        return Path(bpy.utils.extension_path_user(__package__, path=name, create=create))
    except (ValueError, AttributeError):  # a legacy add-on, not an extension: use the user config folder
        return Path(bpy.utils.user_resource('CONFIG', path=f"posemoe/{name}", create=create))


def venv_dir(create: bool = False) -> Path:
    """Return the worker venv folder in the extension's user directory."""
    return user_dir(VENV_DIRNAME, create=create)


def worker_python(context: bpy.types.Context | None = None) -> Path | None:
    """Return the worker Python to run (preference, else the set-up venv), or None if there is none."""
    prefs = get_prefs(context)
    if prefs is not None and prefs.worker_python:
        path = Path(bpy.path.abspath(prefs.worker_python))
        return path if path.is_file() else None
    python = worker_client.venv_python(venv_dir())
    return python if python.is_file() and setup_finished(venv_dir()) else None


def setup_finished(venv: Path) -> bool:
    """Return whether the set-up finished in ``venv``: the engine's .pth, written last (engine_setup.write_pth). A
    set-up that failed halfway (no network, a package missing) leaves a venv with a Python but not the engine."""
    from .engine_setup import pth_files

    return bool(pth_files(venv))


def setup_python(context: bpy.types.Context | None = None) -> Path:
    """Return the Python that creates the venv: the chosen one, else Blender's own."""
    prefs = get_prefs(context)
    if prefs is not None and prefs.base_python:
        return Path(bpy.path.abspath(prefs.base_python))
    return Path(sys.executable)


def missing_worker_reason(context: bpy.types.Context | None = None) -> str:
    """Return why no worker can run (for poll_message_set), or '' when one can."""
    if worker_python(context) is not None:
        return ""
    prefs = get_prefs(context)
    if prefs is not None and prefs.worker_python:
        return f"Worker Python not found: {prefs.worker_python}"
    if worker_client.venv_python(venv_dir()).is_file():
        return ("The engine set-up did not finish (see its log in the add-on's logs folder): press Set up engine "
                "in the PoseMoE add-on preferences again")
    return "No worker environment: press Set up engine in the PoseMoE add-on preferences"


classes = (POSEMOE_AddonPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
