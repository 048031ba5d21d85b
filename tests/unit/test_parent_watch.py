"""posemoe_blender.parent_watch: a batch's children stop when the batch is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from posemoe_blender.batch import _Children
from posemoe_blender.parent_watch import PARENT_ENV

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import signal, sys, time
    from posemoe_blender.parent_watch import exit_with_parent

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    exit_with_parent(int(sys.argv[1]), every=0.05, grace=30)
    open(sys.argv[2] + ".started", "w").close()
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        open(sys.argv[2], "w").write("stopped cleanly")
""")
MIDDLE = textwrap.dedent("""
    import os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]])
    time.sleep(60)
""")


def _wait_for(path: Path, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(sys.platform == "win32", reason="Windows does not re-parent orphans")
def test_a_child_stops_cleanly_once_its_batch_is_killed_outright(tmp_path: Path) -> None:
    flag = tmp_path / "stopped"
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, CHILD, str(flag)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert _wait_for(Path(str(flag) + ".started"), 30.0)
        time.sleep(0.3)
        assert not flag.exists()  # its parent alive: it keeps working
        middle.send_signal(signal.SIGKILL)
        assert _wait_for(flag, 10.0), "the orphaned child did not stop"
        assert flag.read_text() == "stopped cleanly"
    finally:
        middle.kill()
        middle.wait()


def test_the_batch_names_itself_to_its_children() -> None:
    children = _Children()
    proc = children.start([sys.executable, "-c", f"import os; print(os.environ['{PARENT_ENV}'])"])
    out, _ = proc.communicate(timeout=30)
    children.finish(proc)
    assert out.strip() == str(os.getpid())


def test_a_process_not_started_by_that_parent_is_not_watched():
    """A pid that is not this process's parent when the watch starts (a venv launcher in between on Windows, a
    variable left in a shell) arms nothing: watching would stop the process at once."""
    import threading

    from posemoe_blender.parent_watch import exit_with_parent

    before = {t.name for t in threading.enumerate()}
    exit_with_parent(os.getppid() + 1_000_000)
    assert "posemoe-parent-watch" not in {t.name for t in threading.enumerate()} - before
