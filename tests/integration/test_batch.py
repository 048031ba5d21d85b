"""``posemoe batch`` end to end on a folder with good, broken, personless and nested clips."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

from core.errors import ExitCode  # noqa: E402
from core.motion_file import read_motion  # noqa: E402
from posemoe_blender.batch import find_videos, plan_jobs  # noqa: E402


def _trim(src: Path, dst: Path, start: int, count: int) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < start + count:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    dst.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames[start:start + count]:
        out.write(f)
    out.release()
    return dst


@pytest.fixture
def clips(tmp_path, shared_data):
    src = shared_data / "video" / "pose_1.mp4"
    root = tmp_path / "clips"
    _trim(src, root / "a.mp4", 0, 16)
    _trim(src, root / "b.mp4", 40, 16)
    _trim(src, root / "nested" / "deeper" / "c.mp4", 80, 16)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    import cv2

    w = cv2.VideoWriter(str(root / "nested" / "empty_room.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(6):
        w.write(np.full((120, 160, 3), 60 + 5 * i, np.uint8))
    w.release()
    (root / "notes.txt").write_text("not a clip")
    return root


def _batch(*args):
    return subprocess.run([sys.executable, "-m", "posemoe_blender.cli", "batch", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def test_plan_mirrors_folders_and_disambiguates(tmp_path):
    for name in ("x/a.mp4", "x/a.mov", "y/a.mp4", "x/sub/b.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"0")
    jobs = plan_jobs(find_videos([str(tmp_path)]))
    rels = sorted(str(j.rel) for j in jobs)
    assert rels == ["x/a", "x/a_2", "x/sub/b", "y/a"]


def test_batch_good_bad_and_resume(clips, tmp_path):
    out = tmp_path / "out"
    r = _batch(clips, "--out", out, "--format", "npz", "--jobs", "2", "--device", "cpu")
    assert r.returncode == ExitCode.PARTIAL, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    status = {c["rel"]: c["status"] for c in summary["clips"]}
    assert status == {"a": "done", "b": "done", "nested/deeper/c": "done", "broken": "failed",
                      "nested/empty_room": "failed"}
    errors = {c["rel"]: (c["exit_code"], c["error"]) for c in summary["clips"] if c["status"] == "failed"}
    assert errors["broken"][0] == ExitCode.BAD_VIDEO and "broken.mp4" in errors["broken"][1]
    assert errors["nested/empty_room"][0] == ExitCode.NO_PERSON
    for rel in ("a", "b", "nested/deeper/c"):
        clip = read_motion(out / f"{rel}.motion.npz")
        assert clip.num_frames == 16
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or "tmp" in p.name]
    assert "broken" in r.stdout and "summary" in r.stdout
    mtimes = {p: p.stat().st_mtime for p in out.rglob("*.npz")}
    # resume: completed clips are skipped, failed ones retried (and fail again)
    r2 = _batch(clips, "--out", out, "--format", "npz", "--jobs", "2", "--device", "cpu")
    assert r2.returncode == ExitCode.PARTIAL
    s2 = {c["rel"]: c["status"] for c in json.loads((out / "summary.json").read_text())["clips"]}
    assert s2["a"] == s2["b"] == s2["nested/deeper/c"] == "skipped"
    assert {p: p.stat().st_mtime for p in out.rglob("*.npz")} == mtimes


def test_batch_all_good_exits_zero(clips, tmp_path):
    out = tmp_path / "out"
    r = _batch(clips / "a.mp4", str(clips / "nested" / "**" / "c.mp4"), "--out", out, "--format", "npz",
               "--progress", "json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert any(ln.get("stage") == "batch" and ln.get("done") == 2 for ln in lines)
    assert lines[-1] == {"result": str(out / "summary.json")}


def test_missing_input_is_a_clean_error(tmp_path):
    r = _batch(tmp_path / "nothing_here", "--out", tmp_path / "o")
    assert r.returncode == ExitCode.NOT_FOUND and "Traceback" not in r.stderr


def test_ray_backend_local_instance(clips, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    r = _batch(clips / "a.mp4", clips / "b.mp4", clips / "broken.mp4", "--out", out, "--format", "npz",
               "--backend", "ray", "--jobs", "2", "--device", "cpu")
    assert r.returncode == ExitCode.PARTIAL, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["backend"] == "ray"
    assert {c["rel"]: c["status"] for c in summary["clips"]} == {"a": "done", "b": "done", "broken": "failed"}
    r2 = _batch(clips / "a.mp4", "--out", out, "--format", "npz", "--backend", "ray", "--jobs", "1")
    assert r2.returncode == 0
    assert json.loads((out / "summary.json").read_text())["clips"][0]["status"] == "skipped"
