"""Shared fixtures: the read-only shared data folder (skips cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return ../shared/data, or skip the test with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data absent: {SHARED_DATA} (tests that need real clips/mocap/characters skip)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_clip(shared_data: Path) -> tuple[Path, Path]:
    """Return (video, truth) of the demo clip, rendered once from ../shared/data into the user cache."""
    from posemoe_blender.demo import ensure_demo_clip

    return ensure_demo_clip()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without running native exit handlers once bpy is loaded.

    With bpy and torch (OpenMP) loaded in one process, Blender's exit handlers can deadlock
    after every test has passed (seen: tests/unit + tests/integration/test_bake.py). The
    summary is printed by now; exit with pytest's own status.
    """
    import os
    import sys

    if "bpy" in sys.modules:
        session = getattr(config, "_posemoe_session", None)
        status = int(session.exitstatus) if session is not None else 0
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._posemoe_session = session
