"""posemoe_blender.gltf_rotations: rotation keys on one side of the quaternion sphere, in a GLB and a .gltf."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from posemoe_blender.gltf_rotations import continuous, make_rotations_continuous


def _quats(n: int = 12) -> np.ndarray:
    """A bone turning 10 degrees a key about X, every third key written with the other sign (as -q)."""
    a = np.radians(10.0) * np.arange(n) / 2
    q = np.stack([np.sin(a), 0 * a, 0 * a, np.cos(a)], -1).astype(np.float32)  # glTF order x, y, z, w
    q[::3] *= -1
    return q


def _document(q: np.ndarray, bin_uri: str | None) -> tuple[dict, bytes]:
    times = (np.arange(len(q)) / 30.0).astype(np.float32)
    translation = np.tile(np.float32([0, 1, 0]), (len(q), 1))
    blob = times.tobytes() + q.tobytes() + translation.tobytes()
    doc = {"asset": {"version": "2.0"}, "nodes": [{"name": "thigh"}],
           "buffers": [{"byteLength": len(blob), **({"uri": bin_uri} if bin_uri else {})}],
           "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": times.nbytes},
                           {"buffer": 0, "byteOffset": times.nbytes, "byteLength": q.nbytes},
                           {"buffer": 0, "byteOffset": times.nbytes + q.nbytes, "byteLength": translation.nbytes}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(q), "type": "SCALAR"},
                         {"bufferView": 1, "componentType": 5126, "count": len(q), "type": "VEC4"},
                         {"bufferView": 2, "componentType": 5126, "count": len(q), "type": "VEC3"}],
           "animations": [{"name": "clip", "samplers": [{"input": 0, "output": 1}, {"input": 0, "output": 2}],
                           "channels": [{"sampler": 0, "target": {"node": 0, "path": "rotation"}},
                                        {"sampler": 1, "target": {"node": 0, "path": "translation"}}]}]}
    return doc, blob


def _glb(doc: dict, blob: bytes) -> bytes:
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(blob), 0x004E4942) + blob
    return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body


def _read(blob: bytes, offset: int, n: int) -> np.ndarray:
    return np.frombuffer(blob, "<f4", count=4 * n, offset=offset).reshape(n, 4)


def test_keys_turned_to_the_side_of_the_key_before_change_no_pose(tmp_path: Path) -> None:
    q = _quats()
    fixed = continuous(q)
    assert (np.sum(fixed[1:] * fixed[:-1], axis=1) > 0).all()
    np.testing.assert_allclose(np.abs(np.sum(fixed * q, axis=1)), 1.0, atol=1e-6)  # the same turns
    doc, blob = _document(q, None)
    glb = tmp_path / "clip.glb"
    glb.write_bytes(_glb(doc, blob))
    size = glb.stat().st_size
    assert make_rotations_continuous(glb) == 8  # keys 1-2, 4-5, 7-8, 10-11: the first key sets the side
    raw = glb.read_bytes()
    json_len = struct.unpack_from("<I", raw, 12)[0]
    data = raw[20 + json_len + 8:]
    np.testing.assert_array_equal(_read(data, 12 * 4, 12), fixed)
    assert data[:48] == blob[:48] and data[48 + 192:] == blob[48 + 192:]  # times and translations untouched
    assert glb.stat().st_size == size and make_rotations_continuous(glb) == 0


def test_a_gltf_with_its_bin_beside_it(tmp_path: Path) -> None:
    q = _quats()
    doc, blob = _document(q, "my%20clip.bin")
    (tmp_path / "my clip.gltf").write_text(json.dumps(doc))
    (tmp_path / "my clip.bin").write_bytes(blob)
    assert make_rotations_continuous(tmp_path / "my clip.gltf") == 8
    np.testing.assert_array_equal(_read((tmp_path / "my clip.bin").read_bytes(), 48, 12), continuous(q))
