"""Bounded, reproducible fuzzing of the file readers (issue 9, security): keypoints/motion .npz, BVH
(plain and gzip) and lifter weights (.safetensors + JSON). Whatever the bytes, a reader either returns
a result that keeps its documented contract (docs/FORMATS.md) or raises one of the documented errors
of core/errors.py; any other exception is a bug.

Hypothesis runs derandomized with no example database, so CI sees the same examples every run; the
whole file takes well under 30 s on 2 cores.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import signal
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from quicktime_boxes import ffmpeg_movie  # noqa: E402

from core.bvh import forward_kinematics, read_bvh  # noqa: E402
from core.errors import InputFileError, ModelError  # noqa: E402
from core.motion_file import (  # noqa: E402
    MAX_FRAMES,
    MOTION_REQUIRED,
    MotionClip,
    keypoints_arrays,
    read_keypoints,
    read_motion,
    write_motion,
)
from core.skeleton import JOINT_NAMES  # noqa: E402


def fuzz(examples: int):
    """Hypothesis settings: ``examples`` derandomized examples, no deadline, no example database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# ---------------------------------------------------------------- keypoints / motion .npz

def _valid_arrays(t: int = 4) -> dict[str, np.ndarray]:
    clip = MotionClip(np.full((t, 17, 2), 50.0, np.float32), np.ones((t, 17), np.float32), np.ones(t, bool), 30.0,
                      (64, 48), joints_3d=np.zeros((t, 17, 3), np.float32), root=np.zeros((t, 3), np.float32))
    arrays = keypoints_arrays(clip)
    arrays.update(joints_3d=clip.joints_3d, root=clip.root, joint_names=np.asarray(JOINT_NAMES),
                  meta=np.asarray(json.dumps({"format_version": 1})))
    return arrays


def _valid_bytes(t: int = 4) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **_valid_arrays(t))
    return buf.getvalue()


VALID_NPZ = _valid_bytes()

_dtypes = st.one_of(
    hnp.boolean_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
    hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=4), hnp.byte_string_dtypes(max_len=4),
    hnp.datetime64_dtypes(),
)
_shape_of = {"joints_2d": (4, 17, 2), "scores": (4, 17), "valid": (4,), "fps": (), "image_size": (2,),
             "joints_3d": (4, 17, 3), "root": (4, 3), "joint_names": (17,), "meta": ()}


@st.composite
def _random_array(draw, key: str) -> np.ndarray:
    """An array for ``key``: often the right shape with a wrong dtype or odd values, sometimes anything."""
    kind = draw(st.sampled_from(["right shape", "near shape", "any shape", "object", "special floats"]))
    if kind == "object":
        return np.array([draw(st.one_of(st.none(), st.integers(), st.text(max_size=3)))] * 3, dtype=object)
    shape = _shape_of.get(key, (3,))
    if kind == "near shape":
        shape = draw(st.lists(st.integers(0, 18), min_size=max(0, len(shape) - 1), max_size=len(shape) + 1))
    elif kind == "any shape":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    if kind == "special floats":
        dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
        values = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, -1e300, 1e-300, 65504.0, 3e38])
        with np.errstate(over="ignore"):  # 1e300 as float16 is inf: one more special value
            return draw(hnp.arrays(np.float64, tuple(shape), elements=values)).astype(dtype)
    return draw(hnp.arrays(draw(_dtypes), tuple(shape)))


@st.composite
def npz_dicts(draw) -> dict[str, np.ndarray]:
    """A valid motion file's arrays with a few keys dropped, replaced or added."""
    arrays = _valid_arrays(draw(st.integers(1, 5)))
    keys = list(MOTION_REQUIRED) + ["extra", "mp_world"]
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["replace"] * 5 + ["drop"]))
        if action == "drop":
            arrays.pop(key, None)
        else:
            arrays[key] = draw(_random_array(key))
    if draw(st.booleans()):
        meta = draw(st.one_of(st.text(max_size=20), st.sampled_from(
            ['{"format_version": 2}', '{"format_version": "1"}', "[1, 2]", "null", "[" * 5000 + "]" * 5000,
             '{"format_version": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}"]),
            st.dictionaries(st.text(max_size=5), st.integers()).map(json.dumps)))
        arrays["meta"] = np.asarray(meta)
    return arrays


def _huge_header_npz(shape: tuple, descr: str, key: str) -> bytes:
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": descr, "fortran_order": False, "shape": shape})
    head.write(bytes(64))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in _valid_arrays().items():
            if k != key:
                member = io.BytesIO()
                np.save(member, v)
                z.writestr(k + ".npy", member.getvalue())
        z.writestr(key + ".npy", head.getvalue())
    return buf.getvalue()


@st.composite
def npz_bytes(draw) -> bytes:
    """Raw file contents: random bytes, truncated or bit-flipped valid files, lying .npy headers."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "huge header"]))
    if kind == "random":
        return draw(st.one_of(st.binary(max_size=300), st.binary(max_size=40).map(lambda b: b"PK\x03\x04" + b),
                              st.binary(max_size=80).map(lambda b: b"\x93NUMPY\x01\x00" + b)))
    if kind == "truncated":
        return VALID_NPZ[: draw(st.integers(0, len(VALID_NPZ) - 1))]
    if kind == "flipped":
        data = bytearray(VALID_NPZ)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    shape = tuple(draw(st.lists(st.integers(0, 10**12), min_size=0, max_size=4)))
    descr = draw(st.sampled_from(["<f4", "<f8", "|b1", "<U8", "|O", "<c16", "|V0"]))
    return _huge_header_npz(shape, descr, draw(st.sampled_from(list(_shape_of))))


def _check_keypoints_contract(kp) -> None:
    t = kp.num_frames
    assert 1 <= t <= MAX_FRAMES
    assert kp.joints_2d.shape == (t, 17, 2) and kp.joints_2d.dtype == np.float32
    assert kp.scores.shape == (t, 17) and kp.scores.dtype == np.float32
    assert kp.valid.shape == (t,) and kp.valid.dtype == bool and kp.valid.any()
    assert np.isfinite(kp.joints_2d[kp.valid]).all()
    assert np.isfinite(kp.scores).all() and (kp.scores >= 0).all() and (kp.scores <= 1).all()
    assert np.isfinite(kp.fps) and 0 < kp.fps <= 1000
    assert all(isinstance(v, int) and v >= 1 for v in kp.image_size) and len(kp.image_size) == 2


def _check_motion_contract(clip) -> None:
    _check_keypoints_contract(clip)
    t = clip.num_frames
    assert clip.joints_3d.shape == (t, 17, 3) and clip.joints_3d.dtype == np.float32
    assert np.isfinite(clip.joints_3d).all()
    assert clip.root.shape == (t, 3) and clip.root.dtype == np.float32
    assert not np.isinf(clip.root).any()  # NaN = unknown is allowed, infinity is not a position
    assert isinstance(clip.meta, dict)


def _read_both(path: Path) -> None:
    """Read ``path`` as keypoints and as motion: each succeeds with its contract kept or raises InputFileError."""
    try:
        _check_keypoints_contract(read_keypoints(path))
    except InputFileError as e:
        assert str(e) and "\n" not in str(e)
    try:
        _check_motion_contract(read_motion(path))
    except InputFileError as e:
        assert str(e) and "\n" not in str(e)


def _valid_with(**over) -> dict[str, np.ndarray]:
    return {**_valid_arrays(), **over}


@fuzz(200)
@given(arrays=npz_dicts(), compressed=st.booleans())
@example(arrays=_valid_with(image_size=np.zeros(2, "datetime64[s]")), compressed=False)  # was a 2-line message
@example(arrays=_valid_with(joints_3d=np.full((4, 17, 3), 1e300)), compressed=False)  # inf once float32
@example(arrays=_valid_with(root=np.full((4, 3), -np.inf)), compressed=False)
@example(arrays=_valid_with(meta=np.asarray("[" * 5000 + "]" * 5000)), compressed=True)  # RecursionError
def test_fuzz_npz_arrays(tmp_path, arrays, compressed):
    path = tmp_path / "fuzz.npz"
    with open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)  # object arrays are pickled here
    _read_both(path)


@fuzz(200)
@given(data=npz_bytes())
def test_fuzz_npz_bytes(tmp_path, data):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    _read_both(path)


def test_valid_motion_still_reads(tmp_path):
    """The fuzz baseline itself is accepted (so the fuzzers do reach the deep checks)."""
    path = tmp_path / "ok.npz"
    path.write_bytes(VALID_NPZ)
    _check_motion_contract(read_motion(path))
    clip = read_motion(path)
    _check_motion_contract(read_motion(write_motion(tmp_path / "again.npz", clip)))


# ---------------------------------------------------------------- BVH

from test_bvh import BVH as VALID_BVH  # noqa: E402  (the reader tests' sample, a valid two-joint file)

_NUMBERS = ["-3", "-2", "-1", "0", "1", "2", "3", "4", "7", "99999999999", "2.5", "nan", "inf", "-inf", "1e400",
            "1e-320", "-0.04", "1e308"]
_CHANNELS = ["Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation", "Wrotation"]
_WORDS = ["HIERARCHY", "ROOT", "JOINT", "End", "Site", "{", "}", "OFFSET", "CHANNELS", "MOTION", "Frames:", "Frame",
          "Time:", "\x00", "é"]
_TOKENS = _NUMBERS + _CHANNELS + _WORDS


def _like(token: str) -> st.SearchStrategy[str]:
    """Tokens of the same sort as ``token`` (numbers for numbers, channels for channels) or any token."""
    try:
        float(token)
        same = _NUMBERS
    except ValueError:
        same = _CHANNELS if token in _CHANNELS else _WORDS
    return st.one_of(st.sampled_from(same), st.sampled_from(_TOKENS))


@st.composite
def _grammar_bvh(draw) -> str:
    """A structurally plausible BVH: random tree, channel lists (counts may lie), numbers, frame header."""
    plain = st.floats(-1e3, 1e3).map(lambda v: f"{v:.3f}")
    number = st.one_of(plain, plain, plain, plain, plain, st.sampled_from(_NUMBERS))  # mostly plain numbers
    lines, n_ch = ["HIERARCHY"], 0

    def joint(depth: int, word: str) -> None:
        nonlocal n_ch
        lines.extend([f"{word} j{len(lines)}", "{", "OFFSET " + " ".join(draw(st.lists(number, min_size=3,
                                                                                        max_size=3)))])
        channels = draw(st.lists(st.sampled_from(_CHANNELS), max_size=7))
        count = draw(st.sampled_from([len(channels)] * 12 + [-3, -2, -1, 0, 7, 99999999999]))  # mostly honest
        lines.append(f"CHANNELS {count} " + " ".join(channels))
        n_ch += len(channels)
        for _ in range(draw(st.integers(0, 2 if depth < 3 else 0))):
            joint(depth + 1, "JOINT")
        if draw(st.booleans()):
            lines.extend(["End Site", "{", "OFFSET 0 1 0", "}"])
        lines.append("}")

    joint(0, "ROOT")
    frames = draw(st.integers(1, 3))
    lines += ["MOTION", f"Frames: {draw(st.sampled_from([str(frames)] * 5 + _NUMBERS))}",
              f"Frame Time: {draw(st.sampled_from(['0.0333'] * 5 + _NUMBERS))}"]
    extra = draw(st.sampled_from([0, 0, 0, 1, -1]))
    values = draw(st.lists(number, min_size=max(0, frames * n_ch + extra), max_size=max(0, frames * n_ch + extra)))
    lines.append(" ".join(values))
    return "\n".join(lines) + "\n"


@st.composite
def bvh_texts(draw) -> str:
    """Grammar-made BVH, mutated valid BVH (token edits), token soup, or random text."""
    kind = draw(st.sampled_from(["grammar", "grammar", "mutate", "mutate", "soup", "text"]))
    if kind == "grammar":
        return draw(_grammar_bvh())
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "soup":
        body = draw(st.lists(st.sampled_from(_TOKENS), max_size=60))
        return "HIERARCHY\n" + " ".join(body)
    tokens = VALID_BVH.split()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["replace", "replace", "delete", "insert", "duplicate"]))
        if op == "replace":
            tokens[i] = draw(_like(tokens[i]))
        elif op == "delete":
            del tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(_TOKENS)))
        else:
            j = draw(st.integers(i, min(len(tokens), i + 8)))
            tokens[i:i] = tokens[i:j]
        if not tokens:
            tokens = ["HIERARCHY"]
    return " ".join(tokens)


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Fail (instead of hanging CI) when a reader loops: TimeoutError after ``seconds``."""
    def alarm(*_):
        raise TimeoutError(f"reader still running after {seconds} s (an endless loop?)")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read_bvh_checked(path: Path) -> None:
    try:
        with _time_limit(10):
            bvh = read_bvh(path)
    except InputFileError as e:
        assert str(e) and "\n" not in str(e)
        return
    f, c = bvh.motion.shape
    assert f >= 1 and c == sum(len(j.channels) for j in bvh.joints)
    assert np.isfinite(bvh.motion).all() and np.isfinite(bvh.offsets).all()
    assert np.isfinite(bvh.frame_time) and bvh.frame_time > 0 and np.isfinite(bvh.fps)
    assert all(0 <= j.channel_start and j.channel_start + len(j.channels) <= c for j in bvh.joints)
    pos, rot = forward_kinematics(bvh)  # a parsed file must be usable, not just parsed
    assert pos.shape == (f, len(bvh.joints), 3) and np.isfinite(pos).all()


@fuzz(300)
@given(text=bvh_texts(), gz=st.booleans())
@example(text=VALID_BVH.replace("CHANNELS 3 Zrotation Yrotation Xrotation", "CHANNELS -2"), gz=False)  # hung
@example(text=VALID_BVH.replace("Yrotation Xrotation\n", "Xrotation Xrotation\n"), gz=False)  # FK crashed
@example(text=VALID_BVH.replace("OFFSET 10 0 0", "OFFSET 10 0 0 CHANNELS 1 Xrotation"), gz=True)  # FK crashed
@example(text=VALID_BVH.replace("0.04", "nan"), gz=False)
@example(text=VALID_BVH.replace("OFFSET 10 0 0", "OFFSET nan 0 0"), gz=False)
def test_fuzz_bvh_text(tmp_path, text, gz):
    path = tmp_path / ("fuzz.bvh.gz" if gz else "fuzz.bvh")
    data = text.encode("utf-8", errors="surrogatepass")
    path.write_bytes(gzip.compress(data) if gz else data)
    _read_bvh_checked(path)


VALID_GZ = gzip.compress(VALID_BVH.encode())


@fuzz(150)
@given(kind=st.sampled_from(["random", "random gz", "corrupt gz", "truncated gz"]), data=st.binary(max_size=300),
       at=st.integers(0, len(VALID_GZ) - 1), value=st.integers(0, 255))
@example(kind="corrupt gz", data=b"", at=10, value=VALID_GZ[10] ^ 0xFF)  # zlib.error escaped
def test_fuzz_bvh_bytes(tmp_path, kind, data, at, value):
    """Random bytes (named .bvh or .bvh.gz), and corrupted or truncated gzip streams of a valid BVH."""
    path = tmp_path / ("fuzz.bvh" if kind == "random" else "fuzz.bvh.gz")
    if kind == "corrupt gz":
        data = VALID_GZ[:at] + bytes([value]) + VALID_GZ[at + 1:]
    elif kind == "truncated gz":
        data = VALID_GZ[:at]
    path.write_bytes(data)
    _read_bvh_checked(path)


def test_valid_bvh_still_reads(tmp_path):
    path = tmp_path / "ok.bvh.gz"
    path.write_bytes(gzip.compress(VALID_BVH.encode()))
    _read_bvh_checked(path)
    assert read_bvh(path).motion.shape == (2, 9)


# ---------------------------------------------------------------- weights (.safetensors + .json)

@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    """A tiny valid weights pair: (safetensors bytes, JSON dict)."""
    import torch

    from core.config import ModelConfig
    from core.model import build_model
    from core.weights import save_weights

    torch.manual_seed(0)
    cfg = ModelConfig(arch="mlp", window=9, channels=8, heads=2)
    path = save_weights(build_model(cfg), cfg, tmp_path_factory.mktemp("w") / "w.safetensors")
    return path.read_bytes(), json.loads(path.with_suffix(".json").read_text())


def _load_checked(path: Path) -> None:
    from core.weights import load_lifter

    try:
        model, cfg, meta = load_lifter(path)
    except ModelError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(meta, dict) and not model.training


def _write_pair(tmp_path: Path, blob: bytes, meta) -> Path:
    import hashlib

    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(blob)
    if isinstance(meta, dict):
        meta = json.dumps({**meta, "sha256": hashlib.sha256(blob).hexdigest()})
    path.with_suffix(".json").write_bytes(meta if isinstance(meta, bytes) else meta.encode())
    return path


@fuzz(100)
@given(data=st.data())
def test_fuzz_weights_safetensors(tmp_path, small_weights, data):
    """Random, truncated and corrupted .safetensors whose JSON checksum matches (so the loader parses them)."""
    blob, meta = small_weights
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped", "header"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=200))
    elif kind == "truncated":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flipped":
        raw = bytearray(blob)
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        blob = bytes(raw)
    else:  # a lying header: length prefix and JSON rewritten
        n = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8: 8 + n])
        key = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[key][field] = data.draw(st.one_of(
            st.sampled_from(["F16", "I64", "BOOL", "U8", "F64", "XX"]),
            st.lists(st.integers(-2, 2**40), max_size=4)))
        head = json.dumps(header).encode()
        blob = len(head).to_bytes(8, "little") + head + blob[8 + n:]
    _load_checked(_write_pair(tmp_path, blob, meta))


@fuzz(100)
@given(data=st.data())
def test_fuzz_weights_json(tmp_path, small_weights, data):
    """Random JSON sidecars: bytes, non-objects, and configs with keys of the wrong type or value."""
    blob, meta = small_weights
    kind = data.draw(st.sampled_from(["bytes", "json value", "config"]))
    if kind == "bytes":
        side = data.draw(st.binary(max_size=100))
    elif kind == "json value":
        side = json.dumps(data.draw(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=4),
                                                 lambda c: st.lists(c, max_size=3), max_leaves=6)))
    else:
        model = dict(meta["model"])
        for _ in range(data.draw(st.integers(1, 3))):
            key = data.draw(st.sampled_from(sorted(model) + ["bogus"]))
            model[key] = data.draw(st.one_of(st.integers(-2, 70), st.floats(allow_nan=True), st.booleans(),
                                             st.none(), st.text(max_size=4), st.lists(st.integers(), max_size=2),
                                             st.sampled_from(["posemoe", "entangled", "mlp"])))
        side = {**meta, "model": model}
    _load_checked(_write_pair(tmp_path, blob, side))


def test_fuzz_weights_baseline_loads(tmp_path, small_weights):
    blob, meta = small_weights
    _load_checked(_write_pair(tmp_path, blob, meta))
    from core.weights import load_lifter

    load_lifter(tmp_path / "fuzz.safetensors")  # the unmutated pair loads


@pytest.mark.parametrize("side", [
    "null", "[1, 2]", b"\xff\xfe{}", "[" * 5000 + "]" * 5000,  # crashed: not an object / not UTF-8 / too deep
    {"model": {"num_joints": None}}, {"model": {"num_joints": ""}}, {"model": {"window": 1.5}},
    {"model": "mlp"}, {"model": {"channels": 2**30, "heads": 2}},  # would have allocated a huge model
])
def test_weights_sidecar_regressions(tmp_path, small_weights, side):
    blob, meta = small_weights
    if isinstance(side, dict):
        model = side["model"] if isinstance(side["model"], str) else {**meta["model"], **side["model"]}
        side = {**meta, "model": model}
    with pytest.raises(ModelError):
        from core.weights import load_lifter

        load_lifter(_write_pair(tmp_path, blob, side))


# ---------------------------------------------------------------- the lens a video states (QuickTime metadata)

FFMPEG_LENS_MOVIE = ffmpeg_movie()


@fuzz(300)
@given(data=st.data())
def test_fuzz_video_lens_metadata(tmp_path, data):
    """Byte flips, cuts and box-size lies in a movie holding ffmpeg's metadata box: the reader returns a finite
    number or None, never raises, never hangs, whatever a box claims."""
    from core.video_metadata import read_lens_mm

    raw = bytearray(FFMPEG_LENS_MOVIE)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 4))
        kind = data.draw(st.sampled_from(["byte", "size", "cut"]))
        if kind == "byte":
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "size":  # a box size field that lies: 0, 1 (64-bit follows), tiny, huge
            raw[at:at + 4] = struct.pack(">I", data.draw(st.sampled_from([0, 1, 7, 8, 2**31, 2**32 - 1])))
        else:
            del raw[at:]
            if len(raw) < 4:
                break
    path = tmp_path / "fuzz.mov"
    path.write_bytes(bytes(raw))
    with _time_limit(10):
        value = read_lens_mm(path)
    assert value is None or (isinstance(value, float) and np.isfinite(value))
