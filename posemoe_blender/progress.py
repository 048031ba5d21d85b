"""Progress display for the CLI and the worker: tqdm bars, protocol JSON lines, or nothing.

Everything writes through ``sys.stderr``/``sys.stdout`` looked up at call time (see
:class:`LiveStream`), so redirections made while MediaPipe runs are honoured.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from core.protocol import Event, Progress, to_line

MODES = ("bar", "json", "none")


class LiveStream:
    """A file-like object that forwards to ``sys.<name>`` as it is at each call."""

    def __init__(self, name: str = "stderr") -> None:
        self._name = name

    def write(self, s: str) -> int:
        return getattr(sys, self._name).write(s)

    def flush(self) -> None:
        getattr(sys, self._name).flush()

    def isatty(self) -> bool:
        stream = getattr(sys, self._name)
        return bool(getattr(stream, "isatty", lambda: False)())


def default_mode() -> str:
    """Return "bar" on an interactive terminal, "none" otherwise."""
    return "bar" if sys.stderr.isatty() else "none"


class Reporter:
    """Callable sink for protocol events in one of :data:`MODES`.

    ``json`` writes protocol lines to ``channel`` (stdout by default), at most about
    ``rate_hz`` progress lines a second (stage changes and completions always pass).
    """

    def __init__(self, mode: str = "bar", channel: TextIO | None = None, rate_hz: float = 10.0) -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self._channel = channel
        self._min_gap = 1.0 / rate_hz
        self._last = (None, 0.0)
        self._bar = None
        self._bar_stage: str | None = None

    def __call__(self, event: Event) -> None:
        if self.mode == "json":
            self._json(event)
        elif self.mode == "bar" and isinstance(event, Progress):
            self._progress_bar(event)

    def _json(self, event: Event) -> None:
        if isinstance(event, Progress):
            now = time.monotonic()
            stage, last = self._last
            final = event.done >= event.total
            if stage == event.stage and not final and now - last < self._min_gap:
                return
            self._last = (event.stage, now)
        out = self._channel or sys.stdout
        out.write(to_line(event) + "\n")
        out.flush()

    def _progress_bar(self, event: Progress) -> None:
        from tqdm import tqdm

        if self._bar is None or self._bar_stage != event.stage:
            self.close()
            self._bar = tqdm(total=event.total, desc=event.stage, unit="it", file=LiveStream("stderr"),
                             leave=False, dynamic_ncols=True)
            self._bar_stage = event.stage
        if event.total != self._bar.total:
            self._bar.total = event.total
        self._bar.n = event.done
        self._bar.refresh()
        if event.done >= event.total:
            self.close()

    def close(self) -> None:
        """Close the open progress bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._bar_stage = None
