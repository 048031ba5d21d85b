"""Layer rules (STYLE.md rule 4): dependencies point one way, and Blender-safe modules need numpy only."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLENDER_SAFE = ("core.errors", "core.protocol", "core.skeleton", "core.frames", "core.motion_file",
                "core.keypoints", "core.rotations", "core.retarget", "core.rigs", "core.rig_names")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_blender_safe_modules_need_no_heavy_deps():
    present = [m for m in BLENDER_SAFE if (REPO / (m.replace(".", "/") + ".py")).exists()]
    block = "import sys\nfor m in ('torch','cv2','mediapipe','scipy','bpy','mathutils'): sys.modules[m] = None\n"
    code = block + "".join(f"import {m}\n" for m in present)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("path", sorted((REPO / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_core_never_imports_blender_or_upper_layers(path):
    bad = {m for m in _imports(path) if m.split(".")[0] in ("bpy", "mathutils", "bpy_extras", "posemoe_blender",
                                                            "addon")}
    assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("path", sorted((REPO / "posemoe_blender").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_application_layer_never_imports_addon(path):
    assert not {m for m in _imports(path) if m.split(".")[0] == "addon"}


@pytest.mark.parametrize("path", sorted((REPO / "addon").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_addon_reaches_the_engine_only_through_the_gate(path):
    heavy = {m for m in _imports(path) if m.split(".")[0] in ("torch", "cv2", "mediapipe", "scipy")}
    assert not heavy, f"{path} imports {heavy}"
    if path.name != "_engine.py":
        direct = {m for m in _imports(path) if m.split(".")[0] in ("core", "posemoe_blender")}
        assert not direct, f"{path} imports {direct} directly; go through addon/_engine.py"


def test_cli_docs_are_current():
    r = subprocess.run([sys.executable, "scripts/gen_cli_docs.py", "--check"], cwd=REPO)
    assert r.returncode == 0, "docs/CLI.md is stale: run python scripts/gen_cli_docs.py"
