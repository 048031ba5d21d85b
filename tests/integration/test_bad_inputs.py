"""Bad-input corpus through the real CLI: each case gives one stderr line, a documented distinct
exit code, no traceback, no partial output, and leaves earlier outputs untouched."""

import io
import os
import resource
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe]

from core.errors import ExitCode  # noqa: E402
from core.motion_file import MotionClip, write_motion  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def run(*args, cwd=None, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "posemoe_blender.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, preexec_fn=preexec_fn)


def _write_video(path: Path, frames: int, size=(160, 120), fourcc="MJPG", person=False):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, size)
    for i in range(frames):
        w.write(np.full((size[1], size[0], 3), 30 + 7 * i, np.uint8))
    w.release()
    return path


def _keypoints(path: Path, **over):
    base = dict(joints_2d=np.random.default_rng(0).uniform(20, 80, (4, 17, 2)).astype(np.float32),
                scores=np.ones((4, 17), np.float32),
                valid=np.ones(4, bool), fps=np.float64(30), image_size=np.array([100, 100]))
    base.update(over)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def _huge_header(path: Path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 17, 2)})
    buf.write(bytes(64))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("joints_2d.npy", buf.getvalue())
    return path


def _demo_frames(video: Path, n: int, start: int = 0) -> list[np.ndarray]:
    """Return ``n`` BGR frames (640x480, one person) of the demo clip ``video`` from frame ``start``."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def _mp4(path: Path, frames: list[np.ndarray], fps: float = 10) -> Path:
    """Write ``frames`` as MPEG-4 part 2 .mp4 (OpenCV puts 'moov' after 'mdat') and return its path."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for f in frames:
        w.write(f)
    w.release()
    return path


def _moov(data: bytes) -> int:
    """Return the offset of the top-level 'moov' box (walking the boxes: the video data could hold the bytes)."""
    i = 0
    while data[i + 4:i + 8] != b"moov":
        i += int.from_bytes(data[i:i + 4], "big")
    return i


def _av1(path: Path) -> Path:
    """An .mp4 whose video track says AV1 ('av01' sample entry, no MPEG-4 'esds'): no AV1 encoder is needed.

    This OpenCV build has no AV1 decoder either, so probing must give the AV1 message, not a generic one.
    """
    src = _mp4(path.with_suffix(".src.mp4"), [np.full((120, 160, 3), 90, np.uint8)] * 5)
    data = src.read_bytes()
    src.unlink()
    moov = _moov(data)
    path.write_bytes(data[:moov] + data[moov:].replace(b"mp4v", b"av01", 1).replace(b"esds", b"free", 1))
    return path


def _rotated(path: Path, upright: list[np.ndarray]) -> Path:
    """A phone-style clip: frames stored turned 90 degrees, with a 90 degree display matrix in 'tkhd'."""
    data = _mp4(path, [np.ascontiguousarray(np.rot90(f)) for f in upright]).read_bytes()
    i = data.index(b"tkhd", _moov(data)) - 4
    m = i + 8 + 4 + (32 if data[i + 8] == 1 else 20) + 16  # version/flags, times + track id, reserved, layer..
    fixed = [struct.pack(">i", v << 16) for v in (0, 1, 0, -1, 0, 0, 0, 0)] + [struct.pack(">i", 1 << 30)]
    assert data[m:m + 4] == struct.pack(">i", 1 << 16), "identity matrix expected"
    path.write_bytes(data[:m] + b"".join(fixed) + data[m + 36:])
    return path


def _variable_rate(path: Path, frames: list[np.ndarray]) -> Path:
    """An .mp4 whose frames last alternately 50 and 150 ms (mean 10 fps): a rewritten 'stts' box."""
    data = _mp4(path, frames, fps=10).read_bytes()
    moov = _moov(data)
    i = data.index(b"stts", moov) - 4
    old = int.from_bytes(data[i:i + 4], "big")
    deltas = [512, 1536] * (len(frames) // 2)  # time scale 10240 per second
    new = struct.pack(">I4sII", 16 + 8 * len(deltas), b"stts", 0, len(deltas))
    new += b"".join(struct.pack(">II", 1, d) for d in deltas)
    out = bytearray(data[:i] + new + data[i + old:])
    for box in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):  # the boxes around 'stts' grow with it
        j = data.index(box, moov) - 4
        out[j:j + 4] = (int.from_bytes(data[j:j + 4], "big") + len(new) - old).to_bytes(4, "big")
    path.write_bytes(bytes(out))
    return path


_CHARACTERS = """
import sys
import bpy
from core.rigs import default_armature_bones
from posemoe_blender.bake import create_armature

def armature(name, bones):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    create_armature(name, bones)

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.mesh.primitive_cube_add()
bpy.ops.wm.save_as_mainfile(filepath=out + "/no armature.blend")
armature("Fish", [("spine", None, (0, 0, 0), (0, 1, 0)), ("tail", "spine", (0, 1, 0), (0, 2, 0)),
                  ("fin", "spine", (0, 0.5, 0), (0.5, 0.5, 0))])
bpy.ops.wm.save_as_mainfile(filepath=out + "/fish.blend")
armature("Armature", [b for b in default_armature_bones() if b[0] not in ("LeftForeArm", "LeftHand")])
bpy.ops.wm.save_as_mainfile(filepath=out + "/no forearm.blend")
armature("Armature", default_armature_bones())
bpy.ops.wm.save_as_mainfile(filepath=out + "/library.blend")
bpy.ops.wm.read_factory_settings(use_empty=True)
with bpy.data.libraries.load(out + "/library.blend", link=True) as (src, dst):
    dst.objects = list(src.objects)
for obj in dst.objects:
    bpy.context.scene.collection.objects.link(obj)
bpy.ops.wm.save_as_mainfile(filepath=out + "/linked.blend")
"""


def _characters(d: Path) -> None:
    """Write three tiny .blend characters into ``d`` with bpy in a subprocess (a cube; a fish; a one-armed human)."""
    r = subprocess.run([sys.executable, "-c", _CHARACTERS, str(d)], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]


def _png(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path), np.full((120, 160, 3), 90, np.uint8))
    return path


def _motion(path: Path, joints_3d: np.ndarray | None = None):
    t = 5
    if joints_3d is None:
        joints_3d = np.random.default_rng(0).normal(0, 0.3, (t, 17, 3)).astype(np.float32)
    clip = MotionClip(np.zeros((t, 17, 2), np.float32), np.ones((t, 17), np.float32), np.ones(t, bool), 30.0,
                      (64, 64), joints_3d=joints_3d, root=np.zeros((t, 3), np.float32))
    return write_motion(path, clip)


def _cases(d: Path) -> dict:
    """name -> (argv, expected exit code, text or texts the message must contain)."""
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n" * 40)
    (d / "image.mp4").write_bytes(b"\xff\xd8\xff\xe0" + bytes(500))
    good = _write_video(d / "good.avi", 12)
    (d / "trunc.mp4").write_bytes(_write_video(d / "t.mp4", 10, fourcc="mp4v").read_bytes()[:300])
    _write_video(d / "zero.avi", 0)
    (d / "not_npz.npz").write_text("hello")
    (d / "weights.safetensors").write_bytes(b"garbage")
    (d / "a folder.mp4").mkdir()
    (d / "file").write_text("x")
    (d / "bad.blend").write_text("not a blend file")
    (d / "bad.fbx").write_bytes(b"Kaydara FBX Binary  \x00" + bytes(100))
    mo = _motion(d / "motion.npz")
    for pipe in ("pipe keypoints.npz", "pipe motion.npz", "pipe.safetensors", "pipe.json", "pipe.blend", "pipe.mp4"):
        os.mkfifo(d / pipe)  # opened for reading, a pipe nobody writes to blocks forever
    (d / "user.bin").write_text("a file of the user's")
    (d / "read-only").mkdir(mode=0o500)
    _characters(d)
    out = d / "out.npz"
    return {
        "missing video": (["capture", d / "nope.mp4", "-o", out], ExitCode.NOT_FOUND, "nope.mp4"),
        "empty file": (["extract", d / "empty.mp4", "-o", out], ExitCode.BAD_VIDEO, "empty"),
        "text as mp4": (["capture", d / "text.mp4", "-o", out], ExitCode.BAD_VIDEO, "text.mp4"),
        "jpeg bytes as mp4": (["extract", d / "image.mp4", "-o", out], ExitCode.BAD_VIDEO, "image.mp4"),
        "truncated mp4": (["extract", d / "trunc.mp4", "-o", out], ExitCode.BAD_VIDEO, "trunc.mp4"),
        "zero-frame video": (["extract", d / "zero.avi", "-o", out], ExitCode.BAD_VIDEO, "zero.avi"),
        "folder as video": (["extract", d / "a folder.mp4", "-o", out], ExitCode.BAD_VIDEO, "folder"),
        "no person": (["capture", good, "-o", out], ExitCode.NO_PERSON, "no person"),
        "output folder missing": (["extract", good, "-o", d / "nope" / "k.npz"], ExitCode.OUTPUT, "does not exist"),
        "output under a file": (["extract", good, "-o", d / "file" / "k.npz"], ExitCode.OUTPUT, "file"),
        "output wrong suffix": (["extract", good, "-o", d / "k.txt"], ExitCode.OUTPUT, ".npz"),
        "keypoints missing keys": (["lift", _keypoints(d / "k1.npz", scores=None), "-o", out], ExitCode.BAD_INPUT,
                                   "missing"),
        "keypoints wrong shape": (["lift", _keypoints(d / "k2.npz", joints_2d=np.zeros((4, 33, 2))), "-o", out],
                                  ExitCode.BAD_INPUT, "shape"),
        "keypoints NaN": (["lift", _keypoints(d / "k3.npz", joints_2d=np.full((4, 17, 2), np.nan)), "-o", out],
                          ExitCode.BAD_INPUT, "NaN"),
        "keypoints string dtype": (["lift", _keypoints(d / "k4.npz", fps=np.array("thirty")), "-o", out],
                                   ExitCode.BAD_INPUT, "fps"),
        "keypoints object array": (["lift", _keypoints(d / "k5.npz", valid=np.array([None] * 4, dtype=object)),
                                    "-o", out], ExitCode.BAD_INPUT, "k5.npz"),
        "keypoints huge header": (["lift", _huge_header(d / "k6.npz"), "-o", out], ExitCode.BAD_INPUT, "declares"),
        "keypoints not npz": (["lift", d / "not_npz.npz", "-o", out], ExitCode.BAD_INPUT, "not_npz.npz"),
        "keypoints missing": (["lift", d / "nope.npz", "-o", out], ExitCode.NOT_FOUND, "nope.npz"),
        "corrupt weights": (["lift", _keypoints(d / "k7.npz"), "-o", out, "--weights", d / "weights.safetensors"],
                            ExitCode.MODEL, "weights"),
        "missing weights": (["lift", _keypoints(d / "k8.npz"), "-o", out, "--weights", d / "nope.safetensors"],
                            ExitCode.MODEL, "nope.safetensors"),
        "cuda without cuda": (["lift", _keypoints(d / "k9.npz"), "-o", out, "--device", "cuda"],
                              ExitCode.ENVIRONMENT, "cuda"),
        "motion file is keypoints": (["bake", _keypoints(d / "k10.npz"), "-o", d / "o.fbx"], ExitCode.BAD_INPUT,
                                     "missing"),
        "bake unknown suffix": (["bake", mo, "-o", d / "o.xyz"], ExitCode.OUTPUT, ".xyz"),
        "bake a motion with no body": (["bake", _motion(d / "zeros.npz", np.zeros((5, 17, 3), np.float32)), "-o",
                                        d / "o.fbx"], ExitCode.BAD_INPUT, ("zeros.npz", "within a millimetre")),
        "bake character missing": (["bake", mo, "-o", d / "o.fbx", "--character", d / "nope.blend"],
                                   ExitCode.NOT_FOUND, "nope.blend"),
        "bake character wrong type": (["bake", mo, "-o", d / "o.fbx", "--character", d / "not_npz.npz"],
                                      ExitCode.BAD_INPUT, "not_npz.npz"),
        "bake corrupt blend": (["bake", mo, "-o", d / "o.fbx", "--character", d / "bad.blend"],
                               ExitCode.BAD_INPUT, "bad.blend"),
        "bake corrupt fbx": (["bake", mo, "-o", d / "o.glb", "--character", d / "bad.fbx"],
                             ExitCode.BAD_INPUT, "bad.fbx"),
        "AV1 video": (["capture", _av1(d / "av1.mp4"), "-o", out], ExitCode.BAD_VIDEO, ("av1.mp4", "AV1 video")),
        "keypoints inf": (["lift", _keypoints(d / "k11.npz", scores=np.full((4, 17), np.inf, np.float32)), "-o",
                           out], ExitCode.BAD_INPUT, ("k11.npz", "inf")),
        "keypoints bool dtype": (["lift", _keypoints(d / "k12.npz", joints_2d=np.ones((4, 17, 2), bool)), "-o", out],
                                 ExitCode.BAD_INPUT, ("k12.npz", "dtype bool")),
        "output folder not writable": (["extract", good, "-o", d / "read-only" / "k.npz"], ExitCode.OUTPUT,
                                       ("read-only", "choose a writable folder")),
        "character without armature": (["bake", mo, "-o", d / "o.fbx", "--character", d / "no armature.blend"],
                                       ExitCode.BAD_INPUT, ("no armature.blend", "contains no armature")),
        "non-humanoid armature": (["bake", mo, "-o", d / "o.fbx", "--character", d / "fish.blend"],
                                  ExitCode.BAD_INPUT, ("fish.blend", "could not recognise the armature's rig")),
        "image as video": (["capture", _png(d / "photo.png"), "-o", out], ExitCode.BAD_VIDEO,
                           ("photo.png", "is a PNG image, not a video")),
        "keypoints normalised": (["lift", _keypoints(d / "k13.npz", joints_2d=np.random.default_rng(2).uniform(
            0.2, 0.8, (4, 17, 2))), "-o", out], ExitCode.BAD_INPUT, ("k13.npz", "normalised")),
        "keypoints far off the image": (["lift", _keypoints(d / "k14.npz", joints_2d=np.full((4, 17, 2), 1e30)),
                                         "-o", out], ExitCode.BAD_INPUT, ("k14.npz", "reaches 1e+30 px")),
        "missing mapped bones": (["bake", mo, "-o", d / "o.blend", "--character", d / "no forearm.blend", "--rig",
                                  "mixamo_plain"], ExitCode.BAD_INPUT, ("no forearm.blend", "'LeftForeArm'")),
        "keypoints a named pipe": (["lift", d / "pipe keypoints.npz", "-o", out], ExitCode.BAD_INPUT,
                                   ("pipe keypoints.npz", "named pipe")),
        "motion a named pipe": (["bake", d / "pipe motion.npz", "-o", d / "o.fbx"], ExitCode.BAD_INPUT,
                                ("pipe motion.npz", "named pipe")),
        "weights a named pipe": (["lift", _keypoints(d / "k15.npz"), "-o", out, "--weights", d / "pipe.safetensors"],
                                 ExitCode.MODEL, ("pipe.safetensors", "named pipe")),
        "rig mapping a named pipe": (["bake", mo, "-o", d / "o.fbx", "--character", d / "library.blend", "--rig",
                                     d / "pipe.json"], ExitCode.BAD_INPUT, ("pipe.json", "named pipe")),
        "character a named pipe": (["bake", mo, "-o", d / "o.fbx", "--character", d / "pipe.blend"],
                                   ExitCode.BAD_INPUT, ("pipe.blend", "named pipe")),
        "video a named pipe": (["extract", d / "pipe.mp4", "-o", out], ExitCode.BAD_VIDEO, ("pipe.mp4", "named pipe")),
        "keypoints image size 1e10": (["lift", _keypoints(d / "k16.npz", image_size=np.array([1e10, 1e10])), "-o",
                                       out], ExitCode.BAD_INPUT, ("k16.npz", "image_size")),
        "keypoints fps 1e-160": (["lift", _keypoints(d / "k17.npz", fps=np.float64(1e-160)), "-o", out],
                                 ExitCode.BAD_INPUT, ("k17.npz", "fps=1e-160")),
        "a .gltf's buffer over a user's file": (["bake", mo, "-o", d / "user.gltf"], ExitCode.OUTPUT,
                                                ("user.gltf", "user.bin", "did not write")),
        "armature linked from another file": (["bake", mo, "-o", d / "o.fbx", "--character", d / "linked.blend"],
                                              ExitCode.BAD_INPUT, ("linked.blend", "linked from another .blend")),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad inputs ü")  # spaces and unicode in every path
    return d, _cases(d)




def _chmod_is_ignored(folder: Path) -> bool:
    """True when a 0o500 folder still takes files (running as root): the permission case cannot be made."""
    probe = folder / ".probe"
    try:
        probe.touch()
    except PermissionError:
        return False
    probe.unlink()
    return True


@pytest.mark.parametrize("name", [
    "missing video", "empty file", "text as mp4", "jpeg bytes as mp4", "truncated mp4", "zero-frame video",
    "folder as video", "no person", "output folder missing", "output under a file", "output wrong suffix",
    "keypoints missing keys", "keypoints wrong shape", "keypoints NaN", "keypoints string dtype",
    "keypoints object array", "keypoints huge header", "keypoints not npz", "keypoints missing", "corrupt weights",
    "missing weights", "cuda without cuda", "motion file is keypoints", "bake unknown suffix",
    "bake a motion with no body",
    "bake character missing", "bake character wrong type", "bake corrupt blend", "bake corrupt fbx",
    "AV1 video", "keypoints inf", "keypoints bool dtype", "output folder not writable",
    "character without armature", "non-humanoid armature", "missing mapped bones", "image as video",
    "keypoints normalised", "keypoints far off the image", "keypoints a named pipe", "motion a named pipe",
    "weights a named pipe", "rig mapping a named pipe", "character a named pipe", "video a named pipe",
    "keypoints image size 1e10", "keypoints fps 1e-160", "a .gltf's buffer over a user's file",
    "armature linked from another file",
])
def test_bad_input(corpus, name):
    d, cases = corpus
    argv, code, needles = cases[name]
    if name == "output folder not writable" and _chmod_is_ignored(d / "read-only"):
        pytest.skip("running as root: a 0o500 folder is still writable, so 'no write permission' cannot be made")
    out = Path(argv[argv.index("-o") + 1])
    before = {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()}
    r = run(*argv)
    assert r.returncode == code, (name, r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, (name, r.stderr)
    assert lines[0].startswith("posemoe: error: ") and "Traceback" not in r.stderr
    for needle in (needles,) if isinstance(needles, str) else needles:
        assert needle.lower() in lines[0].lower(), (name, needle, lines[0])
    assert not out.exists()
    after = {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()}
    assert after == before, "inputs or earlier outputs changed, or stray files were left"


def _file_size_limit(limit: int):
    """preexec_fn: the child may write files of at most ``limit`` bytes (a full disk: writes fail with EFBIG)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
    return apply


@pytest.mark.parametrize("command", ["lift", "bake .fbx", "bake .blend"])
def test_full_disk_keeps_earlier_output(tmp_path, command):
    """Writing on a full disk: one-line OUTPUT error, the earlier output with that name untouched, no temp files.

    (Blender's compressed .blend writer used to report success with a truncated file; FBX/BVH/glTF exporters
    printed their traceback.)"""
    if command == "lift":
        argv, out = ["lift", _keypoints(tmp_path / "k.npz")], tmp_path / "motion.npz"
    else:
        argv, out = ["bake", _motion(tmp_path / "m.npz")], tmp_path / f"baked{command[-6:].strip()}"
    out.write_bytes(b"earlier run's output")
    before = {p: (p.stat().st_mtime, p.stat().st_size) for p in tmp_path.iterdir()}
    r = run(*argv, "-o", out, preexec_fn=_file_size_limit(4096))
    assert r.returncode == ExitCode.OUTPUT, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("posemoe: WARNING: ")]
    assert len(lines) == 1 and lines[0].startswith("posemoe: error: ") and "Traceback" not in r.stderr, r.stderr
    assert out.name in lines[0] and "free space" in lines[0], lines[0]
    assert out.read_bytes() == b"earlier run's output"
    assert {p: (p.stat().st_mtime, p.stat().st_size) for p in tmp_path.iterdir()} == before, "temp files left"


@pytest.fixture(scope="module")
def odd_inputs(tmp_path_factory, demo_clip):
    """Inputs that are unusual but valid: name -> (argv, check(output path))."""
    d = tmp_path_factory.mktemp("odd inputs ü")
    frames = _demo_frames(demo_clip[0], 40)
    import cv2

    w = cv2.VideoWriter(str(d / "one frame.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    w.write(frames[0])
    w.release()
    portrait = [f[:, 160:520] for f in frames[:8]]  # 360x480, the person in the middle
    empty = cv2.resize(frames[0][:, :240], (640, 480))  # the set without the person (wall and floor)
    two = []
    for i, f in enumerate(frames):
        right = empty.copy()
        right[150:462, 100:516] = cv2.resize(frames[(i + 25) % 40], (416, 312))  # a second, smaller person
        two.append(np.concatenate([f, right], 1))
    leaving = [empty if 12 <= i < 24 else f for i, f in enumerate(frames)]

    def read(path):
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def one_frame(out):
        m = read(out)
        assert m["joints_3d"].shape == (1, 17, 3) and np.isfinite(m["joints_3d"]).all()

    def upright_portrait(out):
        k = read(out)
        assert tuple(k["image_size"]) == (360, 480) and k["valid"].all()  # size after the display rotation
        head_y, pelvis_y, ankle_y = k["joints_2d"][:, [10, 0, 3], 1].mean(0)
        assert head_y < pelvis_y - 60 < ankle_y - 120, (head_y, pelvis_y, ankle_y)  # upright, not on its side

    def variable_rate(out):
        k = read(out)  # every frame kept, one row each; timing taken as the mean rate
        assert k["joints_2d"].shape[0] == 8 and k["valid"].all() and float(k["fps"]) == pytest.approx(10)

    def most_prominent(out):
        k = read(out)  # the bigger person (left half) every frame: no switching to the smaller one
        assert k["valid"].all() and (k["joints_2d"][:, :, 0] < 640).all()

    def leaves_and_returns(out):
        k = read(out)  # absent frames are marked (and filled), the person is found again on return
        assert not k["valid"][13:23].any() and k["valid"][:11].all() and k["valid"][25:].all(), k["valid"]
        assert np.isfinite(k["joints_2d"]).all()

    nan_missed = np.random.default_rng(1).uniform(20, 80, (4, 17, 2))
    nan_missed[1] = np.nan  # as detectors write a frame where they found nobody

    def lifted(out):
        assert read(out)["joints_3d"].shape == (4, 17, 3)

    def eight_frames(out):  # OpenCV's reader crashed on such a name (a Latin-1 name from an old zip)
        assert read(out)["joints_3d"].shape == (8, 17, 3)

    return d, {
        "one-frame video": (["capture", d / "one frame.avi"], one_frame),
        "portrait phone video (rotation metadata)": (["extract", _rotated(d / "portrait.mp4", portrait)],
                                                     upright_portrait),
        "variable frame rate": (["extract", _variable_rate(d / "vfr.mp4", frames[:8])], variable_rate),
        "two people": (["extract", _mp4(d / "two.mp4", two, fps=30)], most_prominent),
        "person leaves and re-enters": (["extract", _mp4(d / "leaving.mp4", leaving, fps=30)], leaves_and_returns),
        "a file name that is not UTF-8": (["capture", _mp4(d / "latin.mp4", frames[:8]).rename(
            d / os.fsdecode(b"caf\xe9 latin-1.mp4"))], eight_frames),  # (OpenCV cannot write such a name either)
        "keypoints int16 and float16": (["lift", _keypoints(d / "k.npz", joints_2d=np.arange(136, dtype=np.int16)
                                                            .reshape(4, 17, 2) % 60 + 20,
                                                            scores=np.ones((4, 17), np.float16))], lifted),
        "keypoints NaN where nobody was found": (["lift", _keypoints(d / "nan.npz", joints_2d=nan_missed,
                                                                     valid=np.array([1, 0, 1, 1], bool))], lifted),
        "one frame at a low rate": (["lift", _keypoints(d / "slow.npz", joints_2d=nan_missed[:1],
                                                        scores=np.ones((1, 17)), valid=np.ones(1, bool),
                                                        fps=np.float64(0.002))], one_frame),
    }


@pytest.mark.parametrize("name", [
    "one-frame video", "portrait phone video (rotation metadata)", "variable frame rate", "two people",
    "person leaves and re-enters", "a file name that is not UTF-8", "keypoints int16 and float16",
    "keypoints NaN where nobody was found", "one frame at a low rate",
])
def test_odd_but_valid_input(odd_inputs, name):
    """Unusual inputs that must work: exit 0, no error line, the output complete, the inputs untouched."""
    d, cases = odd_inputs
    argv, check = cases[name]
    out = d / (name.split(" ")[0] + "_out.npz")
    before = {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()}
    r = run(*argv, "-o", out, "--progress", "none")
    assert r.returncode == 0, (name, r.returncode, r.stderr)
    assert "error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    check(out)
    out.unlink()
    assert {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()} == before


def test_a_cut_video_is_taken_as_far_as_it_decodes_with_a_warning(tmp_path, demo_clip):
    """A file cut short (a copy that stopped): its header states more frames than decode. What decodes is used,
    and the user is told, in one line, that the rest is missing and why."""
    import cv2

    full, cut = tmp_path / "full.avi", tmp_path / "cut.avi"
    w = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for f in _demo_frames(demo_clip[0], 40):
        w.write(f)
    w.release()
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    r = run("extract", cut, "-o", tmp_path / "k.npz", "--progress", "none")
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if "decoding stopped at frame" in line]
    assert len(warning) == 1 and "of the 40 the file states" in warning[0] and "cut.avi" in warning[0], r.stderr
    assert 10 <= np.load(tmp_path / "k.npz")["joints_2d"].shape[0] <= 30
    r = run("extract", full, "-o", tmp_path / "k2.npz", "--progress", "none")
    assert r.returncode == 0 and "decoding stopped" not in r.stderr
