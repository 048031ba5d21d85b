"""The camera's lens as a video file states it: the 35 mm-equivalent focal length that iPhones (and other
recorders built on AVFoundation) write into QuickTime metadata under ``LENS_KEY``.

The lifter is more accurate told the lens (docs/model.md, "Known focal length"); phone clips through the
ultra-wide or telephoto lens gain most, and users rarely know to say which lens they filmed with.

Written here because no library we ship reads it: OpenCV reads no metadata; PyAV or ffprobe would add a
34 MB wheel (or an outside program) for one number; mutagen reads iTunes-style tags (``moov/udta/meta/ilst``
with four-character names), not QuickTime's keyed ones (``meta/keys`` + ``meta/ilst``, items named by key
index). Only box headers and the small ``meta`` boxes are read, so a multi-GB clip costs a few seeks. A file
that does not state the lens, or states it in a broken structure, reads as None: never an error.
Box layout: Apple's QuickTime File Format, "Metadata" (keys atom, item list atom, data atom) and ISO/IEC 14496-12.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

LENS_KEY = "com.apple.quicktime.camera.focal_length.35mm_equivalent"
MAX_META_BYTES = 1 << 20
"""A metadata box holds a few kB; a larger one is not read (a broken size must not cost memory)."""
_CONTAINERS = (b"moov", b"trak", b"udta")
"""Boxes searched for ``meta``: the movie (where iPhones write it), its tracks and user data."""
_MAX_DEPTH = 4

# Data atom value types (QuickTime "well-known types"): how each number is stored.
_UTF8, _UTF16 = 1, 2
_NUMBER_FORMATS = {23: ">f", 24: ">d", 65: ">b", 66: ">h", 67: ">i", 74: ">q", 75: ">B", 76: ">H", 77: ">I", 78: ">Q"}
_BE_SIGNED, _BE_UNSIGNED = 21, 22  # big-endian integers of 1-4 or 8 bytes


def read_lens_mm(path: Path) -> float | None:
    """Return the 35 mm-equivalent focal length (mm) that the video ``path`` states, or None where it states
    none (most files), or the file cannot be read. Never raises for a file's content."""
    try:
        with open(path, "rb") as f:
            return _lens_in(f, os.fstat(f.fileno()).st_size)
    except (OSError, struct.error, ValueError) as e:  # unreadable or malformed: the lens is unknown
        log.debug("%s: no lens read from the metadata (%s)", path, e)
        return None


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload start, payload end) of the boxes laid end to end in [start, end); stop at the first
    box whose size does not fit."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:  # 64-bit size follows
            ext = f.read(8)
            if len(ext) < 8:
                return
            size, header = struct.unpack(">Q", ext)[0], 16
        elif size == 0:  # runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def lacks_mp4_index(path: Path) -> bool:
    """True for an MP4 / MOV file (an ``ftyp`` box first) with no ``moov`` box at its top level: a recording that
    never finished or a copy cut short, whose frames no reader can find."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            kinds = [kind for kind, _, _ in _boxes(f, 0, size)]
    except OSError:
        return False
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" not in kinds


def _lens_in(f: BinaryIO, size: int) -> float | None:
    for kind, start, end in _boxes(f, 0, size):
        if kind == b"moov":
            return _lens_under(f, start, end, 1)
    return None


def _lens_under(f: BinaryIO, start: int, end: int, depth: int) -> float | None:
    for kind, s, e in _boxes(f, start, end):
        if kind == b"meta" and e - s <= MAX_META_BYTES:
            f.seek(s)
            value = _lens_in_meta(f.read(e - s))
            if value is not None:
                return value
        elif kind in _CONTAINERS and depth < _MAX_DEPTH:
            value = _lens_under(f, s, e, depth + 1)
            if value is not None:
                return value
    return None


def _lens_in_meta(payload: bytes) -> float | None:
    """Return the lens from one ``meta`` box's payload. QuickTime's meta holds its boxes directly; the ISO
    form (as under ``udta``) starts with 4 bytes of version and flags: both are tried."""
    for skip in (0, 4):
        buf = io.BytesIO(payload)
        found = {kind: (s, e) for kind, s, e in _boxes(buf, skip, len(payload))}
        if b"keys" in found and b"ilst" in found:
            index = _key_index(payload, *found[b"keys"])
            return None if index is None else _item_value(buf, *found[b"ilst"], index)
    return None


def _key_index(payload: bytes, start: int, end: int) -> int | None:
    """Return the 1-based index of LENS_KEY in a ``keys`` box (version/flags, count, then size + namespace + key
    entries), or None."""
    if end - start < 8:
        return None
    count = struct.unpack_from(">I", payload, start + 4)[0]
    pos = start + 8
    for i in range(1, count + 1):
        if pos + 8 > end:
            return None
        size = struct.unpack_from(">I", payload, pos)[0]
        if size < 8 or pos + size > end:
            return None
        if payload[pos + 8:pos + size].decode("utf-8", "replace") == LENS_KEY:
            return i
        pos += size
    return None


def _item_value(buf: io.BytesIO, start: int, end: int, index: int) -> float | None:
    """Return the number in item ``index`` of an ``ilst`` box: items are boxes whose type is the key's index,
    holding a ``data`` box (type indicator, locale, value)."""
    for kind, s, e in _boxes(buf, start, end):
        if struct.unpack(">I", kind)[0] != index:
            continue
        for dkind, ds, de in _boxes(buf, s, e):
            if dkind == b"data" and de - ds >= 8:
                buf.seek(ds)
                raw = buf.read(de - ds)
                return _number(struct.unpack_from(">I", raw)[0] & 0xFFFFFF, raw[8:])
    return None


def _number(value_type: int, data: bytes) -> float | None:
    """Return a data atom's value as a finite float, or None for a type that is not a number or text of one."""
    if value_type in (_UTF8, _UTF16):
        try:
            value = float(data.decode("utf-8" if value_type == _UTF8 else "utf-16-be").strip().strip("\x00"))
        except (UnicodeDecodeError, ValueError):
            return None
    elif value_type in _NUMBER_FORMATS:
        fmt = _NUMBER_FORMATS[value_type]
        if len(data) != struct.calcsize(fmt):
            return None
        value = float(struct.unpack(fmt, data)[0])
    elif value_type in (_BE_SIGNED, _BE_UNSIGNED) and len(data) in (1, 2, 3, 4, 8):
        value = float(int.from_bytes(data, "big", signed=value_type == _BE_SIGNED))
    else:
        return None
    return value if math.isfinite(value) else None


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def lens_meta_box(lens_mm: float) -> bytes:
    """Return a QuickTime ``meta`` box stating ``lens_mm`` under LENS_KEY (float32), as an iPhone writes it."""
    key = b"mdta" + LENS_KEY.encode()
    keys = _box(b"keys", struct.pack(">II", 0, 1) + struct.pack(">I", 4 + len(key)) + key)
    hdlr = _box(b"hdlr", struct.pack(">II4s12x", 0, 0, b"mdta") + b"\x00")
    item = _box(struct.pack(">I", 1), _box(b"data", struct.pack(">II", 23, 0) + struct.pack(">f", lens_mm)))
    return _box(b"meta", hdlr + keys + _box(b"ilst", item))


def write_lens_mm(path: Path, lens_mm: float) -> None:
    """State ``lens_mm`` in the video ``path`` as a phone would, for clips we render (make_demo_clip.py, tests).

    Grows the ``moov`` box in place, so it must be the file's last box (as OpenCV and ffmpeg write MP4s unless
    asked for a fast start); chunk offsets then stay right. Raises ValueError otherwise."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        last = None
        for kind, start, end in _boxes(f, 0, size):
            last = (kind, start, end)
        if last is None or last[0] != b"moov" or last[2] != size or last[1] - 8 < 0:
            raise ValueError(f"{path}: the movie box is not the file's last box (a fast-start file)")
        begin = last[1] - 8
        f.seek(begin)
        if struct.unpack(">I", f.read(4))[0] != size - begin:  # a 64-bit or to-the-end size: not grown here
            raise ValueError(f"{path}: unexpected movie box header")
        box = lens_meta_box(lens_mm)
        f.seek(size)
        f.write(box)
        f.seek(begin)
        f.write(struct.pack(">I", size - begin + len(box)))
