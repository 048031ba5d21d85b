"""Put a written glTF's animation keys at the video's times when the scene's frame rate is not a whole number.

A 29.97 fps clip sets the scene to 30 fps with ``fps_base`` 1.001 (frame f at f * 1.001 / 30 s). Blender 4.5's glTF
exporter writes frame f at f / (30 * 1.001) s instead: an export audit found 29.97, 23.976 and 59.94 fps clips
0.2 % fast (120 ms over a minute) and a 12.5 fps one (13 fps, base 1.04) 7.5 % fast, while the .blend, FBX and BVH
were right. :func:`fix_key_times` looks at the spacing of the keys the exporter wrote and, where it is that
exporter's, scales every animation's times (and their accessors' min and max) to the scene's real rate, so an
exporter that gets it right is left alone.

Hand-written for the reason gltf_rotations.py is: no exporter option or library here does it. numpy and the standard
library only.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from posemoe_blender.gltf_rotations import FLOAT, GLB_MAGIC, JSON_CHUNK, glb_parts


def _time_accessors(doc: dict) -> list[int]:
    """Return the indices of every animation sampler's input (time) accessor, each once."""
    found: list[int] = []
    for anim in doc.get("animations", []):
        for sampler in anim.get("samplers", []):
            index = sampler.get("input")
            if isinstance(index, int) and index not in found:
                found.append(index)
    return found


def _times(doc: dict, index: int, buffers: list[bytearray]) -> np.ndarray | None:
    """Return a writable view of time accessor ``index``'s floats, or None where it is not plain float data."""
    acc = doc["accessors"][index]
    if acc.get("componentType") != FLOAT or acc.get("type") != "SCALAR" or "bufferView" not in acc \
            or acc.get("sparse"):
        return None
    view = doc["bufferViews"][acc["bufferView"]]
    if view.get("buffer", 0) >= len(buffers) or buffers[view.get("buffer", 0)] is None:
        return None
    stride = view.get("byteStride", 4)
    return np.ndarray((acc["count"],), np.dtype("<f4"), buffers[view.get("buffer", 0)],
                      view.get("byteOffset", 0) + acc.get("byteOffset", 0), (stride,))


def exporter_scale(doc: dict, buffers: list[bytearray], fps: float, fps_base: float) -> float:
    """Return the factor that puts the written keys at the scene's rate (fps / fps_base frames a second): fps_base
    squared where the keys are spaced 1 / (fps * fps_base) apart (the exporter's error), else 1."""
    if abs(fps_base - 1.0) < 1e-9:  # a whole-number rate: the exporter's times are right
        return 1.0
    gaps = []
    for index in _time_accessors(doc):
        t = _times(doc, index, buffers)
        if t is not None and len(t) > 1:
            gaps.append(np.diff(t.astype(np.float64)))
    if not gaps:
        return 1.0
    gap = float(np.median(np.concatenate(gaps)))
    written, real = 1.0 / (fps * fps_base), fps_base / fps
    return fps_base**2 if abs(gap - written) < 0.25 * abs(real - written) else 1.0


def _scale(doc: dict, buffers: list[bytearray], factor: float) -> None:
    for index in _time_accessors(doc):
        t = _times(doc, index, buffers)
        if t is None:
            continue
        t[:] = (t.astype(np.float64) * factor).astype(np.float32)
        acc = doc["accessors"][index]
        for key in ("min", "max"):
            if isinstance(acc.get(key), list) and acc[key]:
                acc[key] = [float(np.float32(t.min() if key == "min" else t.max()))]


def fix_key_times(path: Path, fps: float, fps_base: float) -> float:
    """Rewrite the .glb or .gltf (and its .bin buffers) at ``path`` so its keys play at ``fps`` / ``fps_base`` frames
    a second where the exporter wrote them at ``fps`` * ``fps_base``; return the factor applied (1.0: untouched).
    Embedded (data URI) buffers are left."""
    path = Path(path)
    raw = bytes(path.read_bytes())
    if path.suffix.lower() == ".glb":
        doc, version, bin_at, bin_len = glb_parts(raw, path)
        if bin_len < 0:
            return 1.0
        buffers = [bytearray(raw[bin_at + 8: bin_at + 8 + bin_len])]
        factor = exporter_scale(doc, buffers, fps, fps_base)
        if factor == 1.0:
            return factor
        _scale(doc, buffers, factor)
        text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 4)  # chunks are 4-byte aligned; JSON pads with spaces
        rest = raw[bin_at:]  # the binary chunk header as it was, then the (rewritten) data
        body = struct.pack("<II", len(text), JSON_CHUNK) + text + rest[:8] + bytes(buffers[0]) + rest[8 + bin_len:]
        path.write_bytes(struct.pack("<III", GLB_MAGIC, version, 12 + len(body)) + body)
        return factor
    doc = json.loads(raw.decode("utf-8"))
    files: list[Path | None] = []
    buffers: list[bytearray | None] = []
    for buffer in doc.get("buffers", []):
        uri = buffer.get("uri", "")
        file = None if not uri or uri.startswith("data:") else path.parent / unquote(uri)
        files.append(file)
        buffers.append(bytearray(file.read_bytes()) if file is not None else None)
    factor = exporter_scale(doc, buffers, fps, fps_base)
    if factor == 1.0:
        return factor
    _scale(doc, buffers, factor)
    for file, blob in zip(files, buffers, strict=True):
        if file is not None:
            file.write_bytes(bytes(blob))
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return factor
