"""Children that stop when the batch that started them is gone.

``posemoe batch`` runs each clip's steps as subprocesses and names itself in their environment; a batch killed
outright (SIGKILL, the kernel's OOM killer) cannot stop them, and before this they went on writing outputs that a
rerun of the batch, finding its lock free, wrote too. Hand-written: the standard library has no portable "die with
the parent" (Linux's PR_SET_PDEATHSIG needs a ``preexec_fn``, which is unsafe in a threaded parent such as the
batch runner).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from core.errors import ExitCode

PARENT_ENV = "POSEMOE_PARENT_PID"
"""Set by ``batch`` for the subprocesses it starts: the process that must outlive them (:func:`exit_with_parent`)."""


def exit_with_parent(pid: int, every: float = 1.0, grace: float = 60.0) -> None:
    """Stop this process, as SIGTERM does (set its handler first), once process ``pid`` is no longer its parent:
    the CLI's and the lifter's handlers stop cleanly and remove half-written files; a process that has not stopped
    within ``grace`` seconds (deep in an exporter) exits anyway. A daemon thread polls ``os.getppid`` (Linux and
    macOS re-parent orphans); nothing is watched on Windows, or where ``pid`` is not this process's parent when it
    starts (a launcher between them, a variable left in a shell): the watch would stop a process at once."""

    if sys.platform == "win32" or os.getppid() != pid:
        return  # not started by that process as its direct child (a venv launcher in between): nothing to watch

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal: it also breaks a blocking call in the main thread
        time.sleep(grace)
        os._exit(int(ExitCode.CANCELLED))

    threading.Thread(target=watch, name="posemoe-parent-watch", daemon=True).start()
