"""What kind of thing an input path names, checked before it is opened, and its name as text.

Opening a named pipe (FIFO) for reading blocks until something writes to it, which for a user's mistyped path is
forever: every reader of a user's file asks :func:`not_a_file` first and refuses in one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_a_file(path: Path) -> str | None:
    """Return what ``path`` is when it exists and is not a regular file ("a folder", "a named pipe (FIFO)", ...),
    else None (a regular file, a link to one, or nothing there: the caller says "not found")."""
    try:
        mode = Path(path).stat().st_mode
    except (OSError, ValueError):  # missing, a broken link, or a name the system refuses
        return None
    return next((kind for test, kind in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a regular file")


def utf8_name(name: str) -> str:
    """Return ``name`` as text Blender and exporters can hold: bytes of a file name that are not UTF-8 (a Latin-1 name
    from an old zip, which Python keeps as lone surrogates) as ``_``. Blender refused such a name for an action with
    a TypeError after the whole capture."""
    try:
        raw = os.fsencode(name)  # the name's own bytes back, where Python escaped them
    except UnicodeEncodeError:  # other lone surrogates: not from a file name
        raw = name.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace").replace("\ufffd", "_")
