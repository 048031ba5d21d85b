"""Modal + timer machinery shared by the capture, set-up and check operators.

The modal operator reads the worker's queue only on TIMER events (every 0.15 s) and
never waits on the process. :func:`apply_event` is the state update applied to a
PosemoeJob for each protocol event; it is plain code so tests can drive it directly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import bpy

from . import _engine
from .worker_client import WorkerJob

log = logging.getLogger(__name__)

TIMER_STEP = 0.15
"""Seconds between two reads of the worker's queue."""


def apply_event(job, event, short_paths: tuple = ()) -> None:
    """Apply one protocol event (Progress, Message, Result, Failure) to a PosemoeJob; ``short_paths`` (the video's)
    are named by their file name in what the panel shows, so a long folder does not push the advice off the line."""
    protocol = _engine.protocol()
    if isinstance(event, protocol.Message | protocol.Failure):
        event = _shortened(event, short_paths)
    if isinstance(event, protocol.Progress):
        job.stage, job.done, job.total = event.stage, max(0, event.done), max(0, event.total)
        job.progress = event.fraction
    elif isinstance(event, protocol.Message):
        job.message = event.message
        if event.level in {"warning", "error"}:
            log.warning("worker: %s", event.message)
            note = first_line(event.message)
            job.warning = note if not job.warning else first_line(f"{job.warning}; {note}", 400)
    elif isinstance(event, protocol.Result):
        job.progress, job.stage = 1.0, "finishing"
    elif isinstance(event, protocol.Failure) and event.kind == "cancelled":
        job.message, job.error = "Cancelled", ""
    elif isinstance(event, protocol.Failure):
        job.error = first_line(in_addon_words(event.message), ERROR_CHARS)


ADDON_WORDS: tuple[tuple[str, str], ...] = (
    ("pass --weights to a trained .safetensors", "choose trained .safetensors in the add-on preferences (Weights)"),
    ("pass --weights the .safetensors file", "choose the .safetensors file in the add-on preferences (Weights)"),
    ("--device cuda was asked for", "Device CUDA was chosen"),
    ("use --device auto or cpu", "set Device to Auto or CPU in the add-on preferences"),
)
"""The worker's advice in command-line words, as the add-on's user changes it: its preferences."""


def in_addon_words(message: str) -> str:
    """Return the worker's ``message`` with command-line advice put as the add-on's preferences (ADDON_WORDS)."""
    for cli, addon in ADDON_WORDS:
        message = message.replace(cli, addon)
    return message


def _shortened(event, paths: tuple):
    """Return ``event`` with each of ``paths`` in its message replaced by the file's name."""
    from dataclasses import replace

    message = event.message
    for p in paths:
        full = str(p)
        if full and full in message:
            message = message.replace(full, os.path.basename(full) or full)
    return event if message == event.message else replace(event, message=message)


ERROR_CHARS = 1000
"""A job's error is kept to this many characters: whole, as the worker's messages end with where its log is (cut at
200, a user's log path was lost). The panel and the pop-up show it wrapped (:func:`wrapped_labels`)."""


def wrapped_labels(layout: bpy.types.UILayout, text: str, icon: str = 'NONE', width: int = 80) -> None:
    """Draw ``text`` as labels of about ``width`` characters (a long path on its own lines), the first with
    ``icon``: one label shows only what fits its width."""
    import textwrap

    for i, line in enumerate(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]):
        layout.label(text=line, icon=icon if i == 0 else 'BLANK1')


def first_line(text: str, limit: int = 200) -> str:
    """Return the first line of ``text``, at most ``limit`` characters."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def set_status(context: bpy.types.Context, text: str | None) -> None:
    """Show ``text`` in the status bar (None clears it); a no-op without a workspace."""
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


def show_error(context: bpy.types.Context, title: str, message: str) -> None:
    """Pop up ``message`` near the mouse (a no-op without a window, e.g. background mode)."""
    wm = getattr(context, "window_manager", None)
    if wm is None or getattr(context, "window", None) is None or bpy.app.background:
        return

    def draw(menu, _context) -> None:
        wrapped_labels(menu.layout, message)

    wm.popup_menu(draw, title=title, icon='ERROR')


def redraw(context: bpy.types.Context) -> None:
    """Redraw the areas that show job progress (3D view sidebar, preferences)."""
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type in {'VIEW_3D', 'PREFERENCES'}:
            area.tag_redraw()


_ACTIVE: dict[str, JobRunner] = {}
"""The running job of each kind ("capture", "engine"): one at a time per kind."""


def is_active(kind: str) -> bool:
    """Return True while a job of ``kind`` runs."""
    return kind in _ACTIVE


def active_runner(kind: str) -> JobRunner | None:
    """Return the running job of ``kind``, if any."""
    return _ACTIVE.get(kind)


class JobRunner:
    """Plain (non-RNA) driver of one WorkerJob for a modal operator, so tests can run it directly.

    ``on_done(context, worker) -> str`` runs once on the main thread after a successful
    run and returns the report message; ``report(levels, message)`` is the operator's report.
    """

    def __init__(self, kind: str, worker: WorkerJob, job_props: Callable[[bpy.types.Context], object],
                 on_done: Callable[[bpy.types.Context, WorkerJob], str],
                 report: Callable[[set[str], str], None], label: str = "PoseMoE", short_paths: tuple = ()) -> None:
        self.kind, self.worker, self.job_props = kind, worker, job_props
        self.on_done, self.report, self.label = on_done, report, label
        self.short_paths = tuple(short_paths)
        self.timer = None
        self.finished = False

    def start(self, context: bpy.types.Context) -> bool:
        """Start the worker; return False when it could not start (the job then holds the error)."""
        job = self.job_props(context)
        job.reset("starting")
        self.worker.start()
        if self.worker.done:
            return False
        _ACTIVE[self.kind] = self
        set_status(context, f"{self.label}: starting (Esc to cancel)")
        return True

    def add_timer(self, context: bpy.types.Context) -> None:
        """Add the window timer that wakes the modal operator."""
        self.timer = context.window_manager.event_timer_add(TIMER_STEP, window=context.window)

    def tick(self, context: bpy.types.Context) -> set[str]:
        """Apply the queued events; finish when the worker is done. Never blocks."""
        job = self.job_props(context)
        if job.cancel_requested:
            return self.end(context, cancelled=True)
        job.running = True  # an undo meanwhile restores the saved False: the panel would lose Cancel
        for event in self.worker.poll():
            apply_event(job, event, self.short_paths)
        if self.worker.done:
            return self.end(context, cancelled=False)
        set_status(context, f"{self.label}: {job.status_line()} (Esc to cancel)")
        redraw(context)
        return {'PASS_THROUGH'}

    def end(self, context: bpy.types.Context, *, cancelled: bool) -> set[str]:
        """Remove the timer and status text on every path; then report success or failure."""
        if self.finished:
            return {'CANCELLED'}
        self.finished = True
        job = self.job_props(context)
        if self.timer is not None:
            context.window_manager.event_timer_remove(self.timer)
            self.timer = None
        set_status(context, None)
        if _ACTIVE.get(self.kind) is self:
            del _ACTIVE[self.kind]
        if cancelled:
            self.worker.cancel()
        try:
            return self._conclude(context, job, cancelled)
        finally:
            job.running, job.cancel_requested = False, False
            redraw(context)

    def _conclude(self, context: bpy.types.Context, job, cancelled: bool) -> set[str]:
        worker = self.worker
        if worker.failure is None:
            try:
                message = self.on_done(context, worker)
            except Exception as e:  # a bake/rig error: reported; on_done leaves the scene as it was
                if isinstance(e, _engine.errors().PosemoeError):  # expected (a rig the bake refuses): one line
                    log.warning("%s: %s", self.label, first_line(str(e), ERROR_CHARS))
                else:  # a bug: its traceback in the console
                    log.exception("finishing the %s job failed", self.kind)
                job.error = first_line(str(e), ERROR_CHARS) or type(e).__name__
            else:
                job.message, job.progress, job.stage = message, 1.0, "done"
                self.report({'INFO'}, message)
                if job.warning:  # the result is there, but the user should know what it rests on
                    self.report({'WARNING'}, f"{self.label}: {job.warning}")
                return {'FINISHED'}
            finally:
                worker.cleanup()
        else:
            apply_event(job, worker.failure, self.short_paths)
        if cancelled or (worker.failure is not None and worker.failure.kind == "cancelled"):
            self.report({'WARNING'}, f"{self.label}: cancelled")
        else:
            self.report({'ERROR'}, f"{self.label}: {job.error}")
            show_error(context, f"{self.label} failed", job.error)
        return {'CANCELLED'}


class ModalJobMixin:
    """Modal-operator side of a JobRunner: Esc/Cancel handling and timer events."""

    _runner: JobRunner | None = None

    def _start_modal(self, context: bpy.types.Context, runner: JobRunner) -> set[str]:
        self._runner = runner
        if not runner.start(context):  # e.g. the worker Python is missing: report at once
            return runner.end(context, cancelled=False)
        runner.add_timer(context)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Poll the worker on timer ticks; Esc or the Cancel button stop it."""
        if event.type == 'ESC' and event.value == 'PRESS':  # not the release of an Esc that stopped playback
            return self._runner.end(context, cancelled=True)
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        return self._runner.tick(context)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender cancels the operator (file load, window closed, quit): stop the worker."""
        if self._runner is not None:
            self._runner.end(context, cancelled=True)


def stop_all() -> None:
    """Cancel every running job (the add-on is being disabled): no orphan worker is left."""
    for runner in list(_ACTIVE.values()):
        try:
            runner.end(bpy.context, cancelled=True)  # also removes its timer and status text
        except (AttributeError, RuntimeError, ReferenceError) as e:  # restricted context while disabling
            log.debug("stopping the %s job without a context: %s", runner.kind, e)
            runner.worker.cancel()
    _ACTIVE.clear()
