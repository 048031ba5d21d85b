"""addon/worker_client.py (no bpy) against small fake worker scripts: events, failures, stall, cancel."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from core.protocol import Failure, Message, Progress, Result

REPO = Path(__file__).resolve().parents[2]


def _load_addon_module(name: str):
    """Import addon/<name>.py without running addon/__init__.py (which needs bpy)."""
    pkg_name = "_posemoe_addon_nobpy"
    if pkg_name not in sys.modules:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [str(REPO / "addon")]
        sys.modules[pkg_name] = pkg
    return importlib.import_module(f"{pkg_name}.{name}")


wc = _load_addon_module("worker_client")


def _script(tmp_path: Path, body: str, name: str = "fake_worker.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _run(job, timeout: float = 15.0) -> list:
    """Poll ``job`` until done (as the modal timer would) and return every event."""
    events, deadline = [], time.monotonic() + timeout
    while not job.done:
        assert time.monotonic() < deadline, "worker job did not finish"
        events += job.poll()
        time.sleep(0.02)
    return events + job.poll()


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # still in the table: a zombie is dead too (Popen.wait reaped it, so this should not happen)
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] == "Z"


def test_progress_result_and_garbage(tmp_path):
    out = tmp_path / "motion.npz"
    script = _script(tmp_path, f"""
        import json, sys
        print("not json at all", flush=True)
        print("[1, 2, 3]", flush=True)
        for i in range(3):
            print(json.dumps({{"stage": "extract", "done": i + 1, "total": 3}}), flush=True)
        print(json.dumps({{"message": "using CPU", "level": "warning"}}), flush=True)
        print("log line", file=sys.stderr)
        open({str(out)!r}, "wb").write(b"x")
        print(json.dumps({{"result": {str(out)!r}}}), flush=True)
    """)
    log_path = tmp_path / "worker.log"
    job = wc.WorkerJob([sys.executable, str(script)], log_path=log_path).start()
    events = _run(job)
    assert [e for e in events if isinstance(e, Progress)] == [Progress("extract", i, 3) for i in (1, 2, 3)]
    assert Message("using CPU", "warning") in events
    assert job.result == Result(str(out)) and job.failure is None and job.returncode == 0
    assert "log line" in log_path.read_text()


def test_failure_line_and_exit_code(tmp_path):
    script = _script(tmp_path, """
        import json, sys
        print(json.dumps({"error": "no person in clip.mp4", "kind": "no_person"}), flush=True)
        sys.exit(4)
    """)
    job = wc.WorkerJob([sys.executable, str(script)]).start()
    events = _run(job)
    assert job.failure == Failure("no person in clip.mp4", "no_person")
    assert job.result is None and events[-1] == job.failure


def test_crash_without_protocol_reports_last_log_line(tmp_path):
    script = _script(tmp_path, """
        import sys
        print("Traceback ...", file=sys.stderr)
        print("ModuleNotFoundError: No module named 'torch'", file=sys.stderr)
        sys.exit(6)
    """)
    job = wc.WorkerJob([sys.executable, str(script)], log_path=tmp_path / "w.log").start()
    _run(job)
    assert job.failure.kind == "environment"
    assert "No module named 'torch'" in job.failure.message


def test_a_worker_killed_from_outside_says_by_what_and_where_its_log_is(tmp_path):
    """SIGKILL (often the system out of memory) leaves no error line: the message names the signal, what to try,
    and the log."""
    script = _script(tmp_path, """
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    log_path = tmp_path / "capture.log"
    job = wc.WorkerJob([sys.executable, str(script)], log_path=log_path).start()
    _run(job)
    message = job.failure.message
    assert "killed by SIGKILL" in message and "out of memory" in message and str(log_path) in message, message


def test_clean_exit_without_result_is_a_failure_unless_not_expected(tmp_path):
    script = _script(tmp_path, """
        import json
        print(json.dumps({"python": "3.11", "torch": "2.13.0", "cuda": False, "device": "cpu"}), flush=True)
    """)
    job = wc.WorkerJob([sys.executable, str(script)]).start()
    _run(job)
    assert job.failure is not None and job.failure.kind == "bug"
    check = wc.WorkerJob([sys.executable, str(script)], expect_result=False).start()
    _run(check)
    assert check.failure is None and check.data[-1]["torch"] == "2.13.0"


def test_stall_timeout_stops_the_worker(tmp_path):
    script = _script(tmp_path, """
        import json, time
        print(json.dumps({"stage": "lift", "done": 0, "total": 1}), flush=True)
        time.sleep(60)
    """)
    job = wc.WorkerJob([sys.executable, str(script)], stall_timeout=0.5).start()
    events = _run(job)
    assert job.failure.kind == "timeout" and events[-1] == job.failure
    assert _pid_gone(job.pid)


def test_cancel_kills_process_tree_and_removes_temp_files(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    partial = work / ".clip.123.tmp.npz"
    script = _script(tmp_path, f"""
        import json, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stubborn: forces the kill path
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(work / "child.pid")!r}, "w").write(str(child.pid))
        open({str(partial)!r}, "wb").write(b"partial")
        print(json.dumps({{"stage": "extract", "done": 1, "total": 100}}), flush=True)
        time.sleep(60)
    """)
    job = wc.WorkerJob([sys.executable, str(script)], cleanup_paths=[work])
    job.kill_after = 0.5  # the real 5 s grace, shortened for the test
    job.start()
    deadline = time.monotonic() + 10
    while not any(isinstance(e, Progress) for e in job.poll()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child_pid = int((work / "child.pid").read_text())
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 0.3 + 0.5  # Blender's thread waits STOP_GRACE at most, not kill_after
    assert job.done and job.failure.kind == "cancelled" and job.result is None
    assert job.poll() == [] and job.failure.kind == "cancelled"
    assert job.wait_stopped(10), "the stopper thread did not finish"
    assert _pid_gone(job.pid)
    deadline = time.monotonic() + 5
    while not _pid_gone(child_pid):  # the grandchild was in the same process group
        assert time.monotonic() < deadline, "worker's child survived cancel"
        time.sleep(0.05)
    assert not work.exists()


CHILD_IGNORING_TERMINATE = ("subprocess.Popen([sys.executable, '-c', 'import signal, time; "
                            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']{extra})")


def _worker_with_child(tmp_path: Path, extra: str = "", on_terminate: str = "") -> tuple:
    """Start a fake worker whose child ignores terminate; return (job, its temp folder, the child's pid) once the
    worker has reported progress. ``extra``: more Popen arguments of the child; ``on_terminate``: code the worker
    runs (as a SIGTERM handler body) before it exits."""
    work = tmp_path / "work"
    work.mkdir()
    handler = f"def late(*_):\n    {on_terminate}\n    sys.exit(0)\nsignal.signal(signal.SIGTERM, late)" \
        if on_terminate else ""
    script = _script(tmp_path, "import json, signal, subprocess, sys, time\n"
                     f"child = {CHILD_IGNORING_TERMINATE.format(extra=extra)}\n"
                     f"open({str(work / 'child.pid')!r}, 'w').write(str(child.pid))\n{handler}\n"
                     "print(json.dumps({'stage': 'extract', 'done': 1, 'total': 100}), flush=True)\n"
                     "time.sleep(60)\n")
    job = wc.WorkerJob([sys.executable, str(script)], cleanup_paths=[work])
    job.kill_after = 1.0
    job.start()
    deadline = time.monotonic() + 10
    while not any(isinstance(e, Progress) for e in job.poll()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # let the child set its SIGTERM handler
    return job, work, int((work / "child.pid").read_text())


def test_cancel_kills_a_child_that_outlives_the_worker(tmp_path):
    """The worker obeys terminate but its child ignores it and keeps the worker's output open: cancel still
    returns at once, and the stopper kills the child and removes the files."""
    job, work, child_pid = _worker_with_child(tmp_path)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 0.3 + 0.3
    assert job.wait_stopped(10)
    assert _pid_gone(job.pid) and _pid_gone(child_pid) and not work.exists()


def test_a_child_that_ignores_terminate_is_killed_and_late_output_ignored(tmp_path):
    """The worker exits on terminate but leaves a child that ignores it (not holding the output) and prints a
    result on its way out: the child is killed after the grace, and the cancelled job stays cancelled."""
    out = tmp_path / "work" / "late.npz"
    job, work, child_pid = _worker_with_child(
        tmp_path, extra=", stdout=subprocess.DEVNULL",
        on_terminate=f"open({str(out)!r}, 'wb').write(b'x'); print(json.dumps({{'result': {str(out)!r}}}), flush=True)")
    job.cancel()
    assert job.wait_stopped(10)
    assert _pid_gone(child_pid) and not work.exists()
    time.sleep(0.1)
    assert job.poll() == [] and job.result is None and job.failure.kind == "cancelled"


def test_failure_removes_cleanup_paths(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "half.npz").write_bytes(b"x")
    script = _script(tmp_path, "import sys; sys.exit(3)\n")
    job = wc.WorkerJob([sys.executable, str(script)], cleanup_paths=[work]).start()
    _run(job)
    assert job.failure.kind == "bad_input" and not work.exists()


def test_missing_python_is_a_clear_failure(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    job = wc.WorkerJob([str(tmp_path / "no-venv" / "bin" / "python"), "-m", "posemoe_blender.worker"],
                       cleanup_paths=[work]).start()
    assert job.done and job.failure.kind == "environment" and not work.exists()
    assert "worker Python not found" in job.failure.message
    assert job.poll() == [job.failure]
    bare = wc.WorkerJob(["posemoe-python-that-does-not-exist"]).start()
    assert bare.done and bare.failure.kind == "environment"


def test_poll_never_blocks(tmp_path):
    script = _script(tmp_path, "import time; time.sleep(5)\n")
    job = wc.WorkerJob([sys.executable, str(script)]).start()
    try:
        started = time.monotonic()
        for _ in range(20):
            assert job.poll() == []
        assert time.monotonic() - started < 0.5
    finally:
        job.cancel()


def test_commands_and_env(tmp_path):
    argv = wc.capture_command(Path("/venv/bin/python"), Path("a b.mp4"), Path("o.npz"), device="cpu",
                              smoothing="strong")
    assert argv[:3] == ["/venv/bin/python", "-m", "posemoe_blender.worker"] and "a b.mp4" in argv
    assert argv[argv.index("--device") + 1] == "cpu" and argv[argv.index("--smoothing") + 1] == "strong"
    assert not {"--no-foot-lock", "--level-camera", "--static-camera", "--lying-down"} & set(argv)
    assert "--lens-mm" not in argv  # unknown lens (0)
    argv = wc.capture_command(Path("py"), Path("v.mp4"), Path("o.npz"), subject_height=1.62, foot_lock=False,
                              static_camera=True, lens_mm=13.0)
    assert argv[argv.index("--subject-height") + 1] == "1.620" and argv[argv.index("--lens-mm") + 1] == "13"
    assert "--no-foot-lock" in argv and "--static-camera" in argv and "--level-camera" not in argv
    from posemoe_blender.worker import build_parser

    args = build_parser().parse_args(argv[3:])  # the worker takes every flag the add-on sends
    assert (args.subject_height, args.no_foot_lock, args.static_camera, args.level_camera) == (1.62, True, True, False)
    assert args.lens_mm == 13.0 and not args.ignore_lens_metadata
    assert build_parser().parse_args(wc.capture_command(Path("py"), Path("v.mp4"), Path("o.npz"),
                                                        lying_down=True)[3:]).lying_down
    argv = wc.capture_command(Path("py"), Path("v.mp4"), Path("o.npz"), lens_metadata=False)
    assert build_parser().parse_args(argv[3:]).ignore_lens_metadata
    assert "--ignore-lens-metadata" not in wc.capture_command(Path("py"), Path("v.mp4"), Path("o.npz"), lens_mm=26,
                                                              lens_metadata=False)  # a lens given: that lens
    assert wc.check_command(Path("py"), device="cuda")[-3:] == ["--check", "--device", "cuda"]
    env = wc.worker_env(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path) and "PYTHONHOME" not in env


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_engine_setup_script_speaks_the_protocol(tmp_path):
    """engine_setup.py emits lines core.protocol parses; a missing engine is a clean environment failure."""
    setup = REPO / "addon" / "engine_setup.py"
    job = wc.WorkerJob([sys.executable, str(setup), "--venv", str(tmp_path / "venv"), "--engine",
                        str(tmp_path / "nowhere"), "--requirements", str(tmp_path / "req.txt")]).start()
    _run(job)
    assert job.failure.kind == "environment" and "engine source incomplete" in job.failure.message
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout and shebang scripts")
def test_engine_setup_reports_pips_error(tmp_path):
    """A failing pip (a fake venv Python here) ends the set-up with pip's own ERROR line."""
    venv_python = tmp_path / "venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f"#!{sys.executable}\nimport sys\nprint('Collecting torch==9.9')\n"
                           "print('ERROR: No matching distribution found for torch==9.9')\nsys.exit(1)\n")
    venv_python.chmod(0o755)
    old_pth = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "posemoe_engine.pth"
    old_pth.parent.mkdir(parents=True)
    old_pth.write_text("/an/earlier/engine\n")  # a set-up that once finished: this re-run's failure unmakes it
    engine = tmp_path / "engine"
    (engine / "posemoe_blender").mkdir(parents=True)
    (engine / "requirements.txt").write_text("# pins\ntorch==9.9\nnumpy==1.26.4\n")
    job = wc.WorkerJob([sys.executable, str(REPO / "addon" / "engine_setup.py"), "--venv", str(tmp_path / "venv"),
                        "--engine", str(engine), "--requirements", str(engine / "requirements.txt")]).start()
    events = _run(job)
    assert Progress("download", 1, 2) in events
    assert job.failure.kind == "environment"
    assert "No matching distribution found for torch==9.9" in job.failure.message
    assert not old_pth.exists()  # the add-on no longer takes the venv as ready (preferences.setup_finished)


def test_a_flooding_worker_is_read_a_tick_at_a_time_and_its_result_kept(tmp_path):
    """20,000 progress lines then the result: no poll handles more than MAX_ITEMS_PER_POLL, none is lost."""
    out = tmp_path / "motion.npz"
    script = _script(tmp_path, f"""
        import json
        for i in range(20000):
            print(json.dumps({{"stage": "extract", "done": i + 1, "total": 20000}}))
        open({str(out)!r}, "wb").write(b"x")
        print(json.dumps({{"result": {str(out)!r}}}), flush=True)
    """)
    job = wc.WorkerJob([sys.executable, str(script)]).start()
    deadline = time.monotonic() + 30
    while job._queue.qsize() < 20001 and time.monotonic() < deadline:  # let the whole output queue up first
        time.sleep(0.05)
    sizes, events = [], []
    while not job.done:
        batch = job.poll()
        sizes.append(len(batch))
        events += batch
    assert max(sizes) <= wc.MAX_ITEMS_PER_POLL and len(sizes) >= 20000 // wc.MAX_ITEMS_PER_POLL
    assert sum(isinstance(e, Progress) for e in events) == 20000 and job.result == Result(str(out))
