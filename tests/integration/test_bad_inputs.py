"""Bad-input corpus through the real CLI: each case gives one stderr line, a documented distinct
exit code, no traceback, no partial output, and leaves earlier outputs untouched."""

import io
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


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "posemoe_blender.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _write_video(path: Path, frames: int, size=(160, 120), fourcc="MJPG", person=False):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, size)
    for i in range(frames):
        w.write(np.full((size[1], size[0], 3), 30 + 7 * i, np.uint8))
    w.release()
    return path


def _keypoints(path: Path, **over):
    base = dict(joints_2d=np.full((4, 17, 2), 50.0, np.float32), scores=np.ones((4, 17), np.float32),
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


def _motion(path: Path):
    t = 5
    clip = MotionClip(np.zeros((t, 17, 2), np.float32), np.ones((t, 17), np.float32), np.ones(t, bool), 30.0,
                      (64, 64), joints_3d=np.zeros((t, 17, 3), np.float32), root=np.zeros((t, 3), np.float32))
    return write_motion(path, clip)


def _cases(d: Path) -> dict:
    """name -> (argv, expected exit code, text the message must contain)."""
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
        "bake character missing": (["bake", mo, "-o", d / "o.fbx", "--character", d / "nope.blend"],
                                   ExitCode.NOT_FOUND, "nope.blend"),
        "bake character wrong type": (["bake", mo, "-o", d / "o.fbx", "--character", d / "not_npz.npz"],
                                      ExitCode.BAD_INPUT, "not_npz.npz"),
        "bake corrupt blend": (["bake", mo, "-o", d / "o.fbx", "--character", d / "bad.blend"],
                               ExitCode.BAD_INPUT, "bad.blend"),
        "bake corrupt fbx": (["bake", mo, "-o", d / "o.glb", "--character", d / "bad.fbx"],
                             ExitCode.BAD_INPUT, "bad.fbx"),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad inputs ü")  # spaces and unicode in every path
    return d, _cases(d)




@pytest.mark.parametrize("name", [
    "missing video", "empty file", "text as mp4", "jpeg bytes as mp4", "truncated mp4", "zero-frame video",
    "folder as video", "no person", "output folder missing", "output under a file", "output wrong suffix",
    "keypoints missing keys", "keypoints wrong shape", "keypoints NaN", "keypoints string dtype",
    "keypoints object array", "keypoints huge header", "keypoints not npz", "keypoints missing", "corrupt weights",
    "missing weights", "cuda without cuda", "motion file is keypoints", "bake unknown suffix",
    "bake character missing", "bake character wrong type", "bake corrupt blend", "bake corrupt fbx",
])
def test_bad_input(corpus, name):
    d, cases = corpus
    argv, code, needle = cases[name]
    out = Path(argv[argv.index("-o") + 1])
    before = {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()}
    r = run(*argv)
    assert r.returncode == code, (name, r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, (name, r.stderr)
    assert lines[0].startswith("posemoe: error: ") and "Traceback" not in r.stderr
    assert needle.lower() in lines[0].lower(), (name, lines[0])
    assert not out.exists()
    after = {p: p.stat().st_mtime for p in d.rglob("*") if p.is_file()}
    assert after == before, "inputs or earlier outputs changed, or stray files were left"
