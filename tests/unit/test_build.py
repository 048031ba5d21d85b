"""build.py: the extension zip's layout, and the manifest checks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_build():
    spec = importlib.util.spec_from_file_location("posemoe_build", REPO / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    return build.build(tmp_path_factory.mktemp("dist"))


def test_zip_layout(built_zip):
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert built_zip.name == f"posemoe_blender-{manifest['version']}.zip"
    with zipfile.ZipFile(built_zip) as zf:
        names = set(zf.namelist())
        assert tomllib.loads(zf.read("blender_manifest.toml").decode())["id"] == "posemoe_blender"
        worker_reqs = zf.read("engine/requirements-worker.txt").decode()
    addon_files = {p.name for p in (REPO / "addon").glob("*.py")}
    assert addon_files <= names  # the add-on package is the zip root
    assert {"__init__.py", "_engine.py", "worker_client.py", "engine_setup.py"} <= names
    for module in build.blender_safe_modules():
        assert f"engine/{module.replace('.', '/')}.py" in names
    assert {"engine/posemoe_blender/worker.py", "engine/requirements.txt", "engine/pyproject.toml"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith("addon/") for n in names)
    assert "torch==" in worker_reqs and "bpy==" not in worker_reqs and "pytest" not in worker_reqs
    weights = build.default_weights_name()
    assets = {n for n in names if n.startswith("engine/core/assets/")}
    assert {f"engine/core/assets/{weights}", f"engine/core/assets/{weights[:-12]}.json"} <= assets
    assert not any(n.endswith(".safetensors") and not n.endswith(weights) for n in assets)  # no comparison lifters


def test_blender_safe_list_is_read_from_the_gate():
    modules = build.blender_safe_modules()
    assert "core.motion_file" in modules and "posemoe_blender.bake" in modules


def test_repo_manifest_is_valid():
    data = build.check_manifest(REPO / "blender_manifest.toml")
    assert data["blender_version_min"] == "4.2.0" and isinstance(data["permissions"], dict)


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d.pop("maintainer"), "missing required key 'maintainer'"),
    (lambda d: d.update(id="posemoe-blender"), "id:"),
    (lambda d: d.update(version="0.1"), "version:"),
    (lambda d: d.update(tagline="Ends with a period."), "punctuation"),
    (lambda d: d.update(tagline="x" * 65), "at most 64"),
    (lambda d: d.update(blender_version_min="4.1.0"), "4.2.0 or newer"),
    (lambda d: d.update(type="addon"), "type:"),
    (lambda d: d.update(permissions=["files"]), "must be a table"),
    (lambda d: d.update(permissions={"files": "Read videos."}), "permissions.files"),
    (lambda d: d.update(permissions={"disk": "Read videos"}), "unknown key 'disk'"),
    (lambda d: d.update(license=[]), "license"),
])
def test_manifest_problems_are_reported(edit, expected):
    data = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    edit(data)
    problems = build.manifest_problems(data)
    assert any(expected in p for p in problems), problems


def test_cli_rejects_a_broken_manifest_file(tmp_path):
    broken = tmp_path / "blender_manifest.toml"
    broken.write_text('schema_version = "1.0.0"\nid = "posemoe_blender"\nversion = "0.1.0"\npermissions = ["files"]\n')
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "--validate", "--manifest", str(broken)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "missing required key 'name'" in proc.stderr and "missing required key 'tagline'" in proc.stderr


def test_validate_the_built_zip(built_zip):
    build.validate(built_zip)  # Blender's validator when a blender binary or the bpy module is present


def test_worker_requirements_drop_dev_pins():
    text = build.worker_requirements("torch==2.13.0\nbpy==4.5.15\npytest==8.3.3\n# c\nruff==0.7.4\nnumpy==1.26.4\n")
    assert "torch==2.13.0" in text and "numpy==1.26.4" in text
    assert "bpy" not in text.split("\n", 1)[1] and "pytest" not in text and "ruff" not in text
