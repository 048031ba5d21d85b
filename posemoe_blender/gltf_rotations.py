"""Keep a written glTF's rotation keys on one side of the quaternion sphere, key to key.

Blender's glTF exporter turns each bone's keys from bone space into node space one key at a time, and the sign
of each quaternion comes out as it may (q and -q are the same turn): an export audit found 298 keys whose
quaternion points the other way from the one before (on thighs barely turning between them). Slerp on the short
path (three.js, Unity's glTFast) plays them right; a runtime that blends the four numbers, or rebuilds curves
from them, turns the leg almost a whole turn between two frames. Flipping those keys changes no pose.

Hand-written: neither Blender's exporter nor a library here offers it; it only reads the JSON and rewrites the
rotation samplers' float data in place (GLB's binary chunk, or a .gltf's .bin), so the file's layout is unchanged.
numpy and the standard library only.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from urllib.parse import unquote

import numpy as np

GLB_MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
FLOAT = 5126  # glTF componentType of 32-bit floats


def continuous(q: np.ndarray) -> np.ndarray:
    """Return (T, 4) quaternions with each key's sign chosen so that it points the way of the key before."""
    out = np.array(q, np.float32, copy=True)
    for t in range(1, len(out)):
        if float(out[t] @ out[t - 1]) < 0.0:
            out[t] = -out[t]
    return out


def _rotation_views(doc: dict) -> list[tuple[int, int, int, int]]:
    """Return (buffer, byte offset, key count, byte stride) of every rotation sampler's output in ``doc``."""
    views = []
    seen = set()
    for anim in doc.get("animations", []):
        for channel in anim.get("channels", []):
            if channel.get("target", {}).get("path") != "rotation":
                continue
            sampler = anim["samplers"][channel["sampler"]]
            if sampler.get("interpolation", "LINEAR") == "CUBICSPLINE":
                continue  # tangents between the keys: flipping a key alone would bend the curve
            index = sampler["output"]
            acc = doc["accessors"][index]
            if index in seen or acc.get("componentType") != FLOAT or acc.get("type") != "VEC4" \
                    or "bufferView" not in acc or acc.get("sparse"):
                continue
            seen.add(index)
            view = doc["bufferViews"][acc["bufferView"]]
            views.append((view["buffer"], view.get("byteOffset", 0) + acc.get("byteOffset", 0), acc["count"],
                          view.get("byteStride", 16)))
    return views


def _fix(buffer: bytearray, offset: int, count: int, stride: int) -> int:
    """Make one sampler's keys continuous in ``buffer``; return how many keys were flipped."""
    rows = np.ndarray((count, 4), np.dtype("<f4"), buffer, offset, (stride, 4))
    fixed = continuous(rows)
    flipped = int(np.sum(np.any(fixed != rows, axis=1)))
    rows[:] = fixed
    return flipped


def glb_parts(raw: bytes, path: Path) -> tuple[dict, int, int, int]:
    """Return a GLB's (JSON document, version, offset of its binary chunk's header, binary length), the length -1
    where no binary chunk follows the JSON; ValueError for what is not a GLB with its JSON chunk first."""
    magic, version, _length = struct.unpack_from("<III", raw, 0)
    json_len, json_type = struct.unpack_from("<II", raw, 12)
    if magic != GLB_MAGIC or json_type != JSON_CHUNK:
        raise ValueError(f"{path}: not a GLB file with its JSON chunk first")
    bin_at = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<II", raw, bin_at)
    return json.loads(raw[20: bin_at]), version, bin_at, bin_len if bin_type == BIN_CHUNK else -1


def make_rotations_continuous(path: Path) -> int:
    """Rewrite the rotation keys of the .glb or .gltf (with its .bin buffers) at ``path`` in place so that each
    points the way of the one before; return how many keys were flipped. Embedded (data URI) buffers are left."""
    path = Path(path)
    raw = bytearray(path.read_bytes())
    if path.suffix.lower() == ".glb":
        doc, _version, bin_at, bin_len = glb_parts(raw, path)
        if bin_len < 0:
            return 0
        body = memoryview(raw)[bin_at + 8: bin_at + 8 + bin_len]
        blob = bytearray(body)
        flipped = sum(_fix(blob, off, n, stride) for buf, off, n, stride in _rotation_views(doc) if buf == 0)
        if flipped:
            raw[bin_at + 8: bin_at + 8 + bin_len] = blob
            path.write_bytes(raw)
        return flipped
    doc = json.loads(raw.decode("utf-8"))
    flipped = 0
    buffers = doc.get("buffers", [])
    for number, buffer in enumerate(buffers):
        uri = buffer.get("uri", "")
        if not uri or uri.startswith("data:"):
            continue
        file = path.parent / unquote(uri)
        blob = bytearray(file.read_bytes())
        n = sum(_fix(blob, off, count, stride) for buf, off, count, stride in _rotation_views(doc) if buf == number)
        if n:
            file.write_bytes(blob)
        flipped += n
    return flipped
