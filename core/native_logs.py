"""Keep native libraries' log lines (FFmpeg, OpenCV, TFLite, absl) off the user's terminal.

They write straight to file descriptor 2, at times Python cannot predict (MediaPipe's graph
threads), and would drown the one-line messages users must see.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send C++ log lines (TFLite/absl/glog, written straight to fd 2) to /dev/null.

    MediaPipe's graph threads log at start-up and later, at times Python cannot predict,
    and they would drown the one-line messages users must see. Python's own writes keep
    reaching the real stderr: ``sys.stderr`` is re-pointed at a duplicate of it (log
    handlers and progress bars must write through ``sys.stderr`` at call time, as
    posemoe_blender's do). Set POSEMOE_NATIVE_LOGS=1 to keep the native lines.
    """
    if os.environ.get("POSEMOE_NATIVE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters)
        yield
        return
    old = sys.stderr
    py_err = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        sys.stderr = py_err
        yield
    finally:
        sys.stderr = old
        py_err.flush()
        os.dup2(saved, 2)
        for fd in (saved, devnull):
            os.close(fd)
        py_err.close()


@contextlib.contextmanager
def stdout_to_stderr(keep: bool = True) -> Iterator[None]:
    """Send everything written to stdout (fd 1 and ``sys.stdout``) to stderr for the duration.

    Blender's exporters print progress chatter on stdout, which belongs to the command's
    result (or the JSON protocol); this keeps it in the log stream instead, or drops it
    (``keep=False``) so an error stays the only line a user sees.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    old = sys.stdout
    sink = os.open(os.devnull, os.O_WRONLY) if not keep else 2
    try:
        os.dup2(sink, 1)
        sys.stdout = sys.stderr if keep else open(os.devnull, "w")  # noqa: SIM115 - closed below
        yield
    finally:
        if not keep:
            sys.stdout.close()
            os.close(sink)
        sys.stdout = old
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
