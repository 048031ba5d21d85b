"""``posemoe batch`` end to end on a folder with good, broken, personless and nested clips; interrupt + resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

from core.errors import ExitCode  # noqa: E402
from core.motion_file import read_motion  # noqa: E402
from posemoe_blender.batch import find_videos, plan_jobs  # noqa: E402


def _trim(src: Path, dst: Path, start: int, count: int) -> Path:
    """Return ``dst``: frames [start, start + count) of ``src``."""
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


def test_output_names_never_leave_the_out_folder(tmp_path):
    """Symlinks out of the input folder, '..' in globs and odd names still map to paths under --out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"0")
    shoot = tmp_path / "shoot" / "day1"
    shoot.mkdir(parents=True)
    (shoot / "take.mp4").write_bytes(b"0")
    (shoot / "link.mp4").symlink_to(outside / "secret.mp4")
    (shoot / "..weird..mp4").write_bytes(b"0")
    inputs = [str(tmp_path / "shoot"), str(shoot / ".." / ".." / "outside" / "*.mp4")]
    for job in plan_jobs(find_videos(inputs)):
        assert not job.rel.is_absolute() and ".." not in job.rel.parts, job.rel
        out = (tmp_path / "out" / job.rel).resolve()
        assert out.is_relative_to((tmp_path / "out").resolve()), (job.video, job.rel)


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
    assert not _temporaries(out)
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
               "--progress", "json", "--subject-height", "1.6", "--smoothing", "light")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert any(ln.get("stage") == "batch" and ln.get("done") == 2 for ln in lines)
    assert lines[-1] == {"result": str(out / "summary.json")}
    meta = read_motion(out / "c.motion.npz").meta  # the options reached the lifter process
    assert meta["cleanup"]["subject_height_m"] == 1.6 and meta["smoothing"] == "light"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"][0]["lift_args"] == ["--smoothing", "light", "--subject-height", "1.6"]


def test_missing_input_is_a_clean_error(tmp_path):
    r = _batch(tmp_path / "nothing_here", "--out", tmp_path / "o")
    assert r.returncode == ExitCode.NOT_FOUND and "Traceback" not in r.stderr


def test_ray_backend_local_instance(clips, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    r = _batch(clips / "a.mp4", clips / "b.mp4", clips / "broken.mp4", "--out", out, "--format", "npz",
               "--backend", "ray", "--jobs", "2", "--device", "cpu", "--subject-height", "1.6")
    assert r.returncode == ExitCode.PARTIAL, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["backend"] == "ray"
    assert {c["rel"]: c["status"] for c in summary["clips"]} == {"a": "done", "b": "done", "broken": "failed"}
    assert read_motion(out / "a.motion.npz").meta["cleanup"]["subject_height_m"] == 1.6  # reached capture
    r2 = _batch(clips / "a.mp4", "--out", out, "--format", "npz", "--backend", "ray", "--jobs", "1",
                "--subject-height", "1.6")
    assert r2.returncode == 0
    assert json.loads((out / "summary.json").read_text())["clips"][0]["status"] == "skipped"


def _temporaries(out: Path) -> list[Path]:
    from posemoe_blender.batch import LOCK_FILE, MANIFEST

    return [p for p in out.rglob("*") if (p.name.startswith(".") or "tmp" in p.name)
            and p.name not in (LOCK_FILE, MANIFEST)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-group"])
def test_interrupt_then_resume(clips, tmp_path, shared_data, sig):
    """Ctrl-C (SIGINT to the process group) or SIGKILL of every process once the first clip is out.

    The last input is the whole 4 s source clip, extracted last (--jobs 1), so work is left when the first
    output appears: three 16-frame clips alone can all be lifted in one group and written within
    milliseconds of each other, faster than the signal arrives."""
    out = tmp_path / "out"
    long_clip = _trim(shared_data / "video" / "pose_1.mp4", clips / "whole.mp4", 0, 120)
    inputs = [clips / "a.mp4", clips / "b.mp4", clips / "nested" / "deeper" / "c.mp4", long_clip]
    argv = [sys.executable, "-m", "posemoe_blender.cli", "batch", *map(str, inputs), "--out", str(out),
            "--format", "npz", "--device", "cpu"]
    # its own process group with Ctrl-C's default action, as a terminal gives it: a test run started in the
    # background (`cmd &` in a script) inherits SIGINT ignored, and Python keeps ignoring it
    proc = subprocess.Popen(argv + ["--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (first := sorted(out.rglob("*.motion.npz"))):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finished = {p.relative_to(out) for p in out.rglob("*.motion.npz")}
    assert first[0].relative_to(out) in finished and len(finished) < len(inputs), err[-3000:]
    for rel in finished:  # whatever has an output name is complete
        assert read_motion(out / rel).num_frames == (120 if rel.name.startswith("whole") else 16)
    if sig == signal.SIGINT:
        assert proc.returncode == ExitCode.CANCELLED, err
        assert not _temporaries(out), _temporaries(out)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["counts"]["cancelled"] >= 1 and summary["counts"]["failed"] == 0
    else:  # nothing could clean up: the work folder is left, and a kill mid-write leaves a temp file
        assert _temporaries(out)
        (out / ".b.motion.k2lq0x.tmp.npz").write_bytes(b"half a file")
    r = subprocess.run(argv + ["--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    status = {c["rel"]: c["status"] for c in json.loads((out / "summary.json").read_text())["clips"]}
    assert status == {v.stem: "skipped" if Path(f"{v.stem}.motion.npz") in finished else "done" for v in inputs}
    outputs = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert outputs == ["a.motion.npz", "b.motion.npz", "c.motion.npz", "summary.json",
                       "whole.motion.npz"]  # each exactly once
    from posemoe_blender.batch import Manifest

    made = Manifest(out).read()  # every clip's record, those made by the killed run included
    assert sorted(made) == ["a", "b", "c", "whole"] and all(r["lift_args"] == [] and r["source"] for r in made.values())
    assert not _temporaries(out)


CRASHING_LIFTER = """
import os, signal, sys
from posemoe_blender import batch_lifter
real = batch_lifter.lift_group
def lift_group(clips, *args, **kwargs):
    if any(c["source"] == "b.mp4" for c in clips):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    yield from real(clips, *args, **kwargs)
batch_lifter.lift_group = lift_group
sys.exit(batch_lifter.main(sys.argv[1:]))
"""


def _runner_without_mediapipe(tmp_path, lifter_argv=None, lift_args=()):
    """A BatchRunner whose 2D "extraction" writes synthetic keypoints at once (the lifter is real; ``lifter_argv``
    replaces its command line)."""
    from core.motion_file import Keypoints2D, write_keypoints
    from posemoe_blender.batch import BatchRunner

    videos = tmp_path / "v"
    videos.mkdir(exist_ok=True)
    for name in ("a", "b", "c"):
        if not (videos / f"{name}.mp4").exists():
            (videos / f"{name}.mp4").write_bytes(b"0")
    # one extraction slot: clips reach the lifter in order a, b, c, so the crash on b always leaves c to a
    # restarted lifter (with three slots c could be grouped before b, and the group sizes were a race)
    runner = BatchRunner(tmp_path / "out", "npz", device="cpu", jobs=1, lift_args=list(lift_args))
    runner.lifter_argv = lifter_argv or runner.lifter_argv

    def extract(job):
        rng = np.random.default_rng(len(job.rel.name))
        kp = Keypoints2D(rng.uniform(200, 400, (30, 17, 2)).astype(np.float32), np.ones((30, 17), np.float32),
                         np.ones(30, bool), 30.0, (640, 480))
        write_keypoints(runner._keypoints(job), kp)
        job.frames = 30
        runner._lift_q.put(job)

    runner._extract = extract
    return runner, plan_jobs(find_videos([str(videos)]))


def test_lifter_crash_fails_only_its_clip(tmp_path):
    runner, jobs = _runner_without_mediapipe(tmp_path, [sys.executable, "-c", CRASHING_LIFTER, "--device", "cpu"])
    runner.run(jobs)
    status = {str(j.rel): (j.status, j.error) for j in jobs}
    assert status["a"] == status["c"] == ("done", "")
    assert status["b"][0] == "failed" and "lifter process killed by signal 9" in status["b"][1]
    assert read_motion(tmp_path / "out" / "c.motion.npz").num_frames == 30
    assert runner.lift_groups[-1] == 1 and sum(runner.lift_groups) >= 3  # restarted for the clips after it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.motion.npz", "c.motion.npz"]


HANGING_LIFTER = CRASHING_LIFTER.replace("os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would",
                                         "import time; time.sleep(3600)  # a deadlock")


def test_hanging_lifter_is_stopped_and_fails_only_its_clip(tmp_path, monkeypatch):
    from posemoe_blender.batch_lifter import LifterClient

    monkeypatch.setattr(LifterClient, "stall_s", 3.0)
    runner, jobs = _runner_without_mediapipe(tmp_path, [sys.executable, "-c", HANGING_LIFTER, "--device", "cpu"])
    runner.run(jobs)
    status = {str(j.rel): (j.status, j.error) for j in jobs}
    assert status["a"] == status["c"] == ("done", "")
    assert status["b"][0] == "failed" and "stalled (no progress for 3 s)" in status["b"][1]


def test_unusable_weights_fail_every_clip_once(tmp_path):
    argv = [sys.executable, "-m", "posemoe_blender.batch_lifter", "--weights", str(tmp_path / "none.safetensors")]
    runner, jobs = _runner_without_mediapipe(tmp_path, argv)
    runner.run(jobs)
    assert {j.status for j in jobs} == {"failed"} and {j.exit_code for j in jobs} == {ExitCode.MODEL}
    assert all("none.safetensors" in j.error for j in jobs)
    assert len(runner.lift_groups) <= 3 and not list((tmp_path / "out").iterdir())


def test_options_reach_every_clip_and_other_options_remake_the_outputs(tmp_path):
    """Lifting options reach the lifter process; a rerun with other options makes the clips again, the same ones
    skip them."""
    from posemoe_blender.batch import recall_options, write_summary

    def run(*lift_args):
        runner, jobs = _runner_without_mediapipe(tmp_path, lift_args=lift_args)
        recall_options(runner.out_dir, jobs)
        runner.run(jobs)
        write_summary(runner.out_dir, jobs, {})
        return [j.status for j in jobs], read_motion(tmp_path / "out" / "c.motion.npz").meta

    status, meta = run("--subject-height", "1.5", "--smoothing", "light")
    assert status == ["done"] * 3 and meta["smoothing"] == "light" and meta["cleanup"]["subject_height_m"] == 1.5
    status, meta = run()
    assert status == ["done"] * 3 and meta["smoothing"] == "medium" and meta["cleanup"]["subject_height_m"] == 1.75
    assert run()[0] == ["skipped"] * 3


@pytest.mark.bpy
def test_a_character_no_clip_can_be_baked_onto_fails_before_any_work(clips, tmp_path, shared_data):
    """The character is tried once with a standing pose, as each clip's bake would use it: no armature, or a rig
    no preset or name guess fits, fails the batch in one line before any clip is extracted."""
    out = tmp_path / "out"
    r = _batch(clips / "a.mp4", "--out", out, "--character", tmp_path / "nothing.blend")
    assert r.returncode == ExitCode.NOT_FOUND and "nothing.blend" in r.stderr
    chars = shared_data / "characters"
    r = _batch(clips / "a.mp4", "--out", out, "--character", chars / "human_ue.blend", "--rig", "mixamo")
    assert r.returncode == ExitCode.BAD_INPUT and "mixamo" in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1 and not out.exists()
