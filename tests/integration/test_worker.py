"""The worker as a real subprocess: protocol lines on stdout, exit codes, clean cancellation."""

import json
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

from core.errors import ExitCode  # noqa: E402
from core.protocol import Failure, Progress, Result, parse_line  # noqa: E402

WORKER = [sys.executable, "-m", "posemoe_blender.worker"]


def test_check_reports_environment():
    r = subprocess.run(WORKER + ["--check", "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert d["device"] == "cpu" and d["mediapipe"] == "0.10.21" and d["weights_present"] is True


def test_capture_speaks_the_protocol(tmp_path, shared_data):
    out = tmp_path / "m.npz"
    r = subprocess.run(WORKER + [str(shared_data / "video" / "pose_squats.mp4"), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    events = [parse_line(ln) for ln in r.stdout.splitlines()]
    assert None not in events, "stdout must carry protocol lines only"
    assert isinstance(events[-1], Result) and out.exists()
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert stages.index("extract") < stages.index("lift") < stages.index("filter")


def test_bad_video_is_a_failure_line(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_text("nope")
    r = subprocess.run(WORKER + [str(bad), "--out", str(tmp_path / "m.npz")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == ExitCode.BAD_VIDEO
    ev = parse_line(r.stdout.strip().splitlines()[-1])
    assert isinstance(ev, Failure) and ev.kind == "bad_video" and "x.mp4" in ev.message
    assert not (tmp_path / "m.npz").exists()


def test_sigterm_cancels_cleanly(tmp_path, shared_data):
    out = tmp_path / "m.npz"
    proc = subprocess.Popen(WORKER + [str(shared_data / "video" / "sports2d_demo.mp4"), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:  # wait until extraction is under way
        ev = parse_line(line)
        if isinstance(ev, Progress) and ev.done >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    rest = proc.stdout.read()
    code = proc.wait(timeout=30)
    assert time.monotonic() - t0 < 30
    assert code == ExitCode.CANCELLED
    last = parse_line(rest.strip().splitlines()[-1])
    assert isinstance(last, Failure) and last.kind == "cancelled"
    assert list(tmp_path.iterdir()) == []


def test_sigterm_stops_the_cli_like_ctrl_c(tmp_path, shared_data):
    """`posemoe capture` killed with SIGTERM (a job scheduler, `timeout`): exit 130, one line, nothing written."""
    out = tmp_path / "m.npz"
    proc = subprocess.Popen([sys.executable, "-m", "posemoe_blender.cli", "capture",
                             str(shared_data / "video" / "sports2d_demo.mp4"), "-o", str(out),
                             "--keypoints-out", str(tmp_path / "k.npz"), "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait until extraction is under way
        ev = parse_line(line)
        if isinstance(ev, Progress) and ev.stage == "extract" and ev.done >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    assert proc.wait(timeout=30) == ExitCode.CANCELLED
    assert proc.stderr.read().strip().splitlines()[-1] == "posemoe: cancelled"
    assert list(tmp_path.iterdir()) == []
