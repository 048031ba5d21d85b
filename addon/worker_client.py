"""Drive a worker subprocess without blocking Blender: Popen, a reader thread, a queue.

No bpy here, so this is unit-tested on its own. The worker prints protocol JSON lines
on stdout (core.protocol, reached through ``_engine``); its stderr goes to a log file.
``WorkerJob.poll()`` never blocks; ``cancel()`` stops the process tree and removes the
job's temporary files without holding the caller more than STOP_GRACE.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import _engine

log = logging.getLogger(__name__)

_EOF = object()
"""Queue sentinel: the worker's stdout closed."""

EOF_GRACE = 2.0
"""Seconds to wait for the end of stdout after the worker exited (a leftover child may hold the pipe)."""

KEEP_DATA_LINES = 20
"""How many non-protocol JSON objects (such as the ``--check`` report) a job keeps."""

MAX_ITEMS_PER_POLL = 2000
"""Output lines handled per timer tick at most (600,000 queued lines once held Blender for 33 s)."""

STOP_GRACE = 0.3
"""Seconds a cancel waits on the calling (main) thread for the worker to obey terminate; a worker that takes
longer is waited for, killed and cleaned up by a stopper thread, so Blender never hangs on it."""
KILL_SETTLE = 1.0
"""Seconds the stopper thread waits, after killing a stubborn group, for it to be gone before it returns."""


def venv_python(venv_dir: Path) -> Path:
    """Return the Python executable inside the virtual environment ``venv_dir``."""
    if sys.platform == "win32":
        return Path(venv_dir) / "Scripts" / "python.exe"
    return Path(venv_dir) / "bin" / "python"


def worker_env(engine_root: Path | None = None) -> dict[str, str]:
    """Return the environment for a worker: unbuffered, engine source first on PYTHONPATH."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)  # Blender's own Python home must not leak into the venv
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if engine_root is not None:
        parts = [str(engine_root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def capture_command(python: Path, video: Path, out: Path, *, device: str = "auto", smoothing: str = "medium",
                    weights: Path | None = None, subject_height: float = 1.75, foot_lock: bool = True,
                    level_camera: bool = False, static_camera: bool = False, lens_mm: float = 0.0,
                    lens_metadata: bool = True, lying_down: bool = False) -> list[str]:
    """Return the argument list of ``python -m posemoe_blender.worker`` for one capture (``lens_mm`` 0: not
    given; the worker then takes the lens the video states, where it states one, unless ``lens_metadata`` is
    False)."""
    argv = [str(python), "-m", "posemoe_blender.worker", str(video), "--out", str(out),
            "--device", device, "--smoothing", smoothing, "--subject-height", f"{subject_height:.3f}"]
    if weights:
        argv += ["--weights", str(weights)]
    if lens_mm > 0:
        argv += ["--lens-mm", f"{lens_mm:g}"]
    elif not lens_metadata:
        argv += ["--ignore-lens-metadata"]
    argv += [flag for flag, on in (("--no-foot-lock", not foot_lock), ("--level-camera", level_camera),
                                   ("--static-camera", static_camera), ("--lying-down", lying_down)) if on]
    return argv


def check_command(python: Path, *, device: str = "auto") -> list[str]:
    """Return the argument list of ``python -m posemoe_blender.worker --check``."""
    return [str(python), "-m", "posemoe_blender.worker", "--check", "--device", device]


def remove_paths(paths: Sequence[Path]) -> None:
    """Delete each file or folder in ``paths``; missing ones are fine, errors are logged."""
    for p in paths:
        p = Path(p)
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        except OSError as e:
            log.warning("could not remove %s: %s", p, e)


class WorkerJob:
    """One worker subprocess whose protocol events are read by a daemon thread.

    ``argv`` is an argument list (never a shell string). ``cleanup_paths`` (files or
    folders) are removed when the job is cancelled, fails, or :meth:`cleanup` is called.
    With ``expect_result`` False (``--check``), a clean exit without a Result succeeds.
    """

    def __init__(self, argv: Sequence[str], *, log_path: Path | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, stall_timeout: float | None = 300.0,
                 cleanup_paths: Sequence[Path] = (), expect_result: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path) if log_path else None
        self.env, self.cwd = env, cwd
        self.stall_timeout = stall_timeout
        self.cleanup_paths = [Path(p) for p in cleanup_paths]
        self.expect_result = expect_result
        self.kill_after = 5.0  # seconds cancel() waits after terminate before it kills
        self._clock = clock
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._stopper: threading.Thread | None = None  # finishes off a worker that ignored terminate
        self._stopped = False  # cancelled or stalled: what the worker still prints is ignored
        self._eof = False
        self._exited_at: float | None = None
        self._last_event = clock()
        self.result = None  # protocol.Result once the worker reports success
        self.failure = None  # protocol.Failure when the job failed, was cancelled or stalled
        self.data: list[dict] = []  # JSON objects that are not protocol events
        self.done = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Return the worker's process id once started."""
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """Return the worker's exit code, or None while it runs."""
        return self._proc.returncode if self._proc else None

    def start(self) -> WorkerJob:
        """Start the worker; a missing Python ends the job at once with a Failure."""
        protocol = _engine.protocol()
        exe = Path(self.argv[0])
        if (exe.is_absolute() or os.sep in self.argv[0]) and not exe.is_file():
            return self._fail_early(f"worker Python not found: {exe}; press Set up engine in the PoseMoE "
                                    "add-on preferences or choose a Python there", protocol)
        try:
            log_file = open(self.log_path, "a", encoding="utf-8") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        except OSError as e:  # its folder removed, a full or read-only disk
            # the advice before the path: the panel shows a message's first 200 characters
            return self._fail_early(f"cannot write the worker's log ({e.strerror or e}); free some space or check the "
                                    f"permissions of its folder: {self.log_path}", protocol)
        try:
            self._proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL, text=True,
                encoding="utf-8", errors="replace", bufsize=1, env=self.env, cwd=self.cwd,
                **_new_group_kwargs())
        except OSError as e:
            return self._fail_early(f"cannot start the worker {exe} ({e.strerror or e}); check the worker Python "
                                    "in the PoseMoE add-on preferences", protocol)
        finally:
            if log_file is not subprocess.DEVNULL:
                log_file.close()  # the child holds its own handle
        self._last_event = self._clock()
        self._thread = threading.Thread(target=self._read, name="posemoe-worker-reader", daemon=True)
        self._thread.start()
        log.info("worker started (pid %d): %s", self._proc.pid, " ".join(self.argv))
        return self

    def _fail_early(self, message: str, protocol) -> WorkerJob:
        self.failure = protocol.Failure(message=message, kind="environment")
        remove_paths(self.cleanup_paths)
        self._queue.put(self.failure)
        self._eof = True
        self.done = True
        return self

    def _read(self) -> None:
        """Reader thread: parse each stdout line and queue events; never touches Blender."""
        protocol = _engine.protocol()
        stream = self._proc.stdout
        try:
            for line in stream:
                event = protocol.parse_line(line)
                if event is not None:
                    self._queue.put(event)
                    continue
                obj = _json_object(line)
                if obj is not None:
                    self._queue.put(obj)
        except (OSError, ValueError) as e:  # pipe closed under us by cancel()
            log.debug("reader stopped: %s", e)
        finally:
            self._queue.put(_EOF)

    # -- polling ---------------------------------------------------------------------------

    def poll(self) -> list:
        """Return the protocol events received since the last call; never blocks.

        When the worker has ended (or stalled), ``done`` becomes True and ``result`` or
        ``failure`` is set; a final Failure is also returned as an event.
        """
        if self.done:
            return self._drain()
        events = self._drain()
        if events:
            self._last_event = self._clock()
        exited = self._proc is not None and self._proc.poll() is not None
        if exited and self._exited_at is None:
            self._exited_at = self._clock()
        if exited and (self._eof or self._clock() - self._exited_at > EOF_GRACE):  # a grandchild may hold stdout
            events.extend(self._drain())
            if not self._queue.empty():  # more than a tick's worth left: conclude once they are read
                return events
            events.extend(self._conclude())
        elif self.stall_timeout and self._clock() - self._last_event > self.stall_timeout:
            events.append(self._stalled())
        return events

    def _drain(self) -> list:
        """Return the events queued so far, at most MAX_ITEMS_PER_POLL: a worker flooding its output must not hold
        Blender's main thread (the rest come on the next ticks)."""
        protocol = _engine.protocol()
        events = []
        for _ in range(MAX_ITEMS_PER_POLL):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return events
            if item is _EOF:
                self._eof = True
            elif isinstance(item, dict):
                self.data = (self.data + [item])[-KEEP_DATA_LINES:]
            elif not self._stopped:  # after a cancel or a stall the job is decided; late output changes nothing
                if isinstance(item, protocol.Result):
                    self.result = item
                elif isinstance(item, protocol.Failure) and self.failure is None:
                    self.failure = item
                events.append(item)
        return events

    def _conclude(self) -> list:
        """The process has exited: decide success or failure once."""
        protocol = _engine.protocol()
        self.done = True
        code = self._proc.returncode
        extra = []
        if self.failure is None:
            if code != 0:
                self.failure = protocol.Failure(message=self._exit_message(code), kind=_kind_for_code(code))
            elif self.expect_result and self.result is None:
                self.failure = protocol.Failure(message=f"worker ended without a result; see its log{self._where()}",
                                                kind="bug")
            elif self.result is not None and not Path(self.result.path).exists():
                self.failure = protocol.Failure(
                    message=f"worker reported {self.result.path} but the file is missing", kind="output")
            if self.failure is not None:
                extra.append(self.failure)
        if self.failure is not None:
            self.result = None
            remove_paths(self.cleanup_paths)
        log.info("worker %d ended with code %s", self._proc.pid, code)
        return extra

    def _stalled(self):
        protocol = _engine.protocol()
        self.failure = protocol.Failure(
            message=f"the worker made no progress for {self.stall_timeout:g} s and was stopped; see its "
                    f"log{self._where()}", kind="timeout")
        self.result = None
        self.done = self._stopped = True
        self._stop_process(then_remove=self.cleanup_paths)
        return self.failure

    # -- cancel and clean up ------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the worker (terminate, wait ``kill_after`` = 5 s, kill) and remove its temporary files.

        Returns within about STOP_GRACE: a worker still running then is finished off (and its files removed)
        by a stopper thread; :meth:`wait_stopped` waits for that."""
        protocol = _engine.protocol()
        if not self.done or self.failure is None:
            self.failure = protocol.Failure(message="cancelled", kind="cancelled")
        self.result = None
        self.done = self._stopped = True
        self._stop_process(then_remove=self.cleanup_paths)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until a cancelled or stalled worker is gone and its files removed; return True if so."""
        if self._stopper is not None:
            self._stopper.join(timeout)
            return not self._stopper.is_alive()
        return self._proc is None or self._proc.poll() is not None

    def cleanup(self) -> None:
        """Remove the job's temporary files after the caller is done with the result."""
        remove_paths(self.cleanup_paths)

    def _stop_process(self, then_remove: Sequence[Path] = ()) -> None:
        """Terminate the worker's process group, then remove ``then_remove``: at once when the worker obeys within
        STOP_GRACE and nothing of its group still holds its output, otherwise from a stopper thread that waits
        ``kill_after`` and kills the group. The thread is not a daemon, so Python's shutdown (Blender quitting)
        waits for it rather than leaving a stubborn worker or child running."""
        proc = self._proc
        if proc is None:
            remove_paths(then_remove)
            return
        if proc.poll() is None:
            _signal_group(proc, terminate=True)
            try:
                proc.wait(min(STOP_GRACE, self.kill_after))
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is not None:
            if self._thread is not None:
                self._thread.join(0.05)  # the end of its output follows the worker's exit unless a child holds it
            if (self._thread is None or not self._thread.is_alive()) and not _group_alive(proc):
                remove_paths(then_remove)
                return
        if self._stopper is None:
            self._stopper = threading.Thread(target=self._finish_stopping, args=(proc, list(then_remove)),
                                             name="posemoe-worker-stopper")
            self._stopper.start()

    def _finish_stopping(self, proc: subprocess.Popen, then_remove: list[Path]) -> None:
        """Stopper thread: wait out the grace; kill the group if the worker, or a child of it still holding its
        output, is there; then remove its files."""
        deadline = time.monotonic() + max(0.0, self.kill_after - STOP_GRACE)
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d ignored terminate; killing it", proc.pid)
            _signal_group(proc, terminate=False)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                log.warning("worker %d survived kill", proc.pid)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        while _group_alive(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(proc) or (self._thread is not None and self._thread.is_alive()):
            log.warning("a child of worker %d outlived it; killing its process group", proc.pid)
            _signal_group(proc, terminate=False)
            if self._thread is not None:
                self._thread.join(1.0)
            _wait_group_gone(proc, KILL_SETTLE)
        remove_paths(then_remove)

    def _where(self) -> str:
        return f" ({self.log_path})" if self.log_path else ""

    def _exit_message(self, code: int) -> str:
        """Return one line for a worker that exited with ``code`` and no error of its own: the signal that killed it
        (SIGKILL is most often the system out of memory) or its log's last line, and where the log is."""
        detail = self.last_log_line()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = ("; the system may have run out of memory: close other programs or capture a shorter clip"
                    if -code == getattr(signal, "SIGKILL", 9) else "")
            return f"the worker was killed by {name}{hint}; its log{self._where()}" + (f" ends: {detail}" if detail
                                                                                        else " is empty")
        if "ModuleNotFoundError" in detail:  # the worker Python lacks the engine's packages
            return (f"the worker Python lacks a package ({detail.split(':', 1)[-1].strip()}); press Set up engine in "
                    f"the PoseMoE add-on preferences; its log{self._where()}")
        return f"worker exited with code {code}: {detail or 'no error message'}; see its log{self._where()}"

    def last_log_line(self) -> str:
        """Return the last non-empty line of the worker's log (its stderr), or ''."""
        if not self.log_path or not self.log_path.is_file():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(max(0, self.log_path.stat().st_size - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""


def _json_object(line: str) -> dict | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _kind_for_code(code: int) -> str:
    """Return the error kind for a worker exit code (core.errors.ExitCode)."""
    errors = _engine.errors()
    if code < 0:
        return "crashed"
    try:
        return errors.ExitCode(code).name.lower()  # the names match the PosemoeError kinds
    except ValueError:
        return "bug"


def _new_group_kwargs() -> dict:
    """Return Popen kwargs that put the worker in its own process group (to stop its children too)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _group_alive(proc: subprocess.Popen) -> bool:
    """Return True while any process of the worker's group (POSIX), or the worker itself (Windows), is running."""
    if sys.platform == "win32":
        return proc.poll() is None
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return True


def _wait_group_gone(proc: subprocess.Popen, timeout: float) -> None:
    """Wait up to ``timeout`` for the worker's group to go after a kill: the signal is delivered asynchronously, so
    on a loaded machine a killed child can still be running for a moment (a zombie nobody reaps waits it out)."""
    end = time.monotonic() + timeout
    while _group_alive(proc) and time.monotonic() < end:
        time.sleep(0.02)


def _signal_group(proc: subprocess.Popen, *, terminate: bool) -> None:
    """Send terminate/kill to the worker's process group (POSIX) or the process (Windows)."""
    try:
        if sys.platform == "win32":
            proc.terminate() if terminate else proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError) as e:
        log.debug("signal to worker %d failed: %s", proc.pid, e)
