"""Worker progress protocol: one JSON object per line on the worker's stdout.

Both sides import this module: the worker writes with :func:`to_line`, the add-on and
the batch runner read with :func:`parse_line`. See docs/FORMATS.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``stage`` (extract, lift, filter, bake, ...)."""

    stage: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


@dataclass(frozen=True)
class Message:
    """A human-readable note (a warning such as a CUDA fallback), not an error."""

    message: str
    level: str = "info"


@dataclass(frozen=True)
class Result:
    """The run finished; ``path`` is the complete output file."""

    path: str


@dataclass(frozen=True)
class Failure:
    """The run failed with a one-line ``message``; ``kind`` is a PosemoeError kind."""

    message: str
    kind: str


Event = Progress | Message | Result | Failure


def to_line(event: Event) -> str:
    """Return the JSON line (no newline) for ``event``."""
    if isinstance(event, Progress):
        d: dict = {"stage": event.stage, "done": int(event.done), "total": int(event.total)}
    elif isinstance(event, Message):
        d = {"message": event.message, "level": event.level}
    elif isinstance(event, Result):
        d = {"result": event.path}
    elif isinstance(event, Failure):
        d = {"error": event.message, "kind": event.kind}
    else:
        raise TypeError(f"not a protocol event: {event!r}")
    return json.dumps(d, ensure_ascii=False)


def parse_line(line: str) -> Event | None:
    """Return the event on ``line``, or None for blank, non-JSON or unknown lines."""
    line = line.strip()
    if not line:
        return None
    try:
        d = json.loads(line)
    except ValueError:
        log.debug("ignoring non-protocol line: %.200s", line)
        return None
    if not isinstance(d, dict):
        return None
    try:
        if "result" in d:
            return Result(path=str(d["result"]))
        if "error" in d:
            return Failure(message=str(d["error"]), kind=str(d.get("kind", "bug")))
        if "stage" in d:
            return Progress(stage=str(d["stage"]), done=int(d.get("done", 0)), total=int(d.get("total", 0)))
        if "message" in d:
            return Message(message=str(d["message"]), level=str(d.get("level", "info")))
    except (TypeError, ValueError):
        pass
    log.debug("ignoring unknown protocol line: %.200s", line)
    return None
