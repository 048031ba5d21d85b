"""addon/_engine.py: the single import gate finds the engine and refuses non-Blender-safe or foreign modules."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _gate():
    pkg_name = "_posemoe_addon_nobpy"  # addon/ as a package without running its bpy __init__
    if pkg_name not in sys.modules:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [str(REPO / "addon")]
        sys.modules[pkg_name] = pkg
    return importlib.import_module(f"{pkg_name}._engine")


engine = _gate()


def test_checkout_engine_root_and_safe_modules():
    assert engine.engine_root() == REPO
    assert engine.protocol().parse_line('{"result": "x.npz"}').path == "x.npz"
    assert engine.motion_file().read_motion is not None and engine.rigs().resolve_mapping is not None
    for name in engine.BLENDER_SAFE_MODULES:
        assert (REPO / (name.replace(".", "/") + ".py")).is_file(), name


def test_requirements_file_is_found():
    assert engine.requirements_file().name in ("requirements.txt", "requirements-worker.txt")


def test_refuses_modules_that_are_not_blender_safe():
    with pytest.raises(engine.EngineImportError, match="not Blender-safe"):
        engine.load("core.video")


def test_refuses_a_foreign_package_with_the_same_name(monkeypatch, tmp_path):
    foreign = types.ModuleType("core")
    foreign.__file__ = str(tmp_path / "other_addon" / "core" / "__init__.py")
    foreign.__doc__ = "Some other add-on's core package."
    monkeypatch.setitem(sys.modules, "core", foreign)
    with pytest.raises(engine.EngineImportError, match="another add-on uses the same package name"):
        engine.load("core.errors")
