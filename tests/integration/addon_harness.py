"""Shared harness for the add-on integration tests (not a test module): install, scene set-up, fakes.

The built zip is installed with ``bpy.ops.extensions.package_install_files`` into a temporary
extensions repository (this works with the bpy 4.5 module), so the add-on runs as Blender runs
it: package ``bl_ext.posemoe_test.posemoe_blender`` with its bundled ``engine/``.
"""

from __future__ import annotations

import importlib.util
import json
import stat
import sys
import time
from pathlib import Path

import addon_utils  # test modules importorskip("bpy") before importing this harness
import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
REPO_NAME = "posemoe_test"
MODULE = f"bl_ext.{REPO_NAME}.posemoe_blender"

FAKE_WORKER = """#!{python}
# Stands in for `python -m posemoe_blender.worker VIDEO --out OUT ...` (mode from POSEMOE_FAKE_MODE).
import json, os, shutil, sys, time
args = sys.argv[1:]
assert args[:2] == ["-m", "posemoe_blender.worker"], args
mode = os.environ.get("POSEMOE_FAKE_MODE", "ok")
if "--check" in args:
    print(json.dumps({{"python": "3.11.9", "torch": "2.13.0", "mediapipe": "0.10.21", "cuda": False,
                      "cuda_device": None, "device": "cpu", "weights": "w.safetensors"}}), flush=True)
    sys.exit(0)
out = args[args.index("--out") + 1]
print("stray library print", flush=True)
for i in range(3):
    print(json.dumps({{"stage": "extract", "done": i + 1, "total": 3}}), flush=True)
if mode == "fail":
    print(json.dumps({{"error": "no person found in the video", "kind": "no_person"}}), flush=True)
    sys.exit(4)
if mode == "slow":
    open(out + ".part", "wb").write(b"partial")
    time.sleep(60)
shutil.copy({motion!r}, out)
print(json.dumps({{"result": out}}), flush=True)
"""


def _pose(t: int) -> np.ndarray:
    """Return (t,17,3) float32 metres, camera frame (y down), root-relative: a standing person waving."""
    base = np.array([
        [0, 0, 0], [-0.1, 0, 0], [-0.1, 0.45, 0], [-0.1, 0.88, 0], [0.1, 0, 0], [0.1, 0.45, 0], [0.1, 0.88, 0],
        [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.75, 0],
        [0.18, -0.48, 0], [0.45, -0.48, 0], [0.7, -0.48, 0], [-0.18, -0.48, 0], [-0.42, -0.3, 0], [-0.5, -0.05, 0],
    ], np.float32)
    joints = np.repeat(base[None], t, axis=0)
    joints[:, 13, 1] -= np.linspace(0.0, 0.3, t, dtype=np.float32)  # left wrist rises
    return joints


def write_motion_npz(path: Path, t: int = 12) -> Path:
    """Write a synthetic motion file by hand (docs/FORMATS.md), without importing the engine."""
    names = ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax", "neck",
             "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")
    root = np.tile(np.array([0.0, 0.0, 3.0], np.float32), (t, 1))
    root[:, 0] = np.linspace(0, 0.5, t)
    np.savez(path, joints_3d=_pose(t), root=root, joints_2d=np.full((t, 17, 2), 100, np.float32),
             scores=np.ones((t, 17), np.float32), valid=np.ones(t, bool), fps=np.float64(30.0),
             image_size=np.array([640, 480]), joint_names=np.array(names),
             meta=np.array(json.dumps({"format_version": 1, "source": "synthetic.mp4"})))
    return path


def installed_addon(tmp_path_factory):
    """Build the zip, install and enable it in a temporary extensions repo; yield the add-on module.

    Test modules wrap this in a module-scoped ``addon`` fixture (``yield from``).
    """
    spec = importlib.util.spec_from_file_location("posemoe_build", REPO / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    tmp = tmp_path_factory.mktemp("ext")
    zip_path = build.build(tmp / "dist")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=REPO_NAME, module=REPO_NAME, custom_directory=str(tmp / "repo"), source='USER')
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo=REPO_NAME, enable_on_install=True)
    assert result == {'FINISHED'} and MODULE in bpy.context.preferences.addons
    module = sys.modules[MODULE]
    yield module
    addon_utils.disable(MODULE, default_set=True)
    repos.remove(repo)  # (prints "not enabled": removing a repo disables its add-ons again)
    _forget_bundled_engine(Path(module.__file__).parent / "engine")


def _forget_bundled_engine(engine: Path) -> None:
    """Undo _engine's sys.path entry and drop modules imported from the bundled copy (other tests use the repo)."""
    while str(engine) in sys.path:
        sys.path.remove(str(engine))
    for name, mod in list(sys.modules.items()):
        if str(getattr(mod, "__file__", None) or "").startswith(str(engine)):
            del sys.modules[name]


def prepared_scene(addon, tmp_path, monkeypatch):
    """Yield a clean scene; worker logs go to tmp_path; the worker Python is a fake executable."""
    bpy.ops.wm.read_homefile(use_empty=True)
    monkeypatch.setattr(addon.ops_capture, "logs_dir", lambda: tmp_path)
    monkeypatch.setattr(addon.ops_setup, "_log_path", lambda name: tmp_path / f"{name}.log")
    motion = write_motion_npz(tmp_path / "synthetic.npz")
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_WORKER.format(python=sys.executable, motion=str(motion)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded by the fake worker")
    prefs = addon.preferences.get_prefs()
    prefs.worker_python = str(fake)
    settings = bpy.context.scene.posemoe
    settings.video_path, settings.create_armature = str(video), True
    yield bpy.context.scene
    # Look the preferences up again: a test that re-registers the add-on frees the old struct, and
    # writing through a stale pointer crashes Blender (seen as a rare segfault here).
    prefs = addon.preferences.get_prefs()
    if prefs is not None:
        prefs.worker_python, prefs.base_python = "", ""


def registered_classes(addon) -> list:
    return [cls for module in addon._MODULES for cls in module.classes]


def drive(runner, context, timeout: float = 20.0) -> set[str]:
    """Run a JobRunner as the modal timer would (tick until finished); return the final outcome."""
    assert runner.start(context)
    deadline = time.monotonic() + timeout
    while True:
        outcome = runner.tick(context)
        if runner.finished:
            return outcome
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.05)

class FakeLayout:
    """Records draw calls and checks that every drawn property and operator exists."""

    def __init__(self, log: list):
        self.log = log

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)

    def _sub(self, *_args, **_kw):
        return FakeLayout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **_kw):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **_kw):
        self.prop(data, name)
        self.prop(search_data, search_name)

    def operator(self, idname, **_kw):
        category, op = idname.split(".")
        getattr(getattr(bpy.ops, category), op).get_rna_type()  # raises KeyError when not registered
        self.log.append(("operator", idname))
        return type("OpProps", (), {})()

    def label(self, **kw):
        self.log.append(("label", kw.get("text", "")))

    def progress(self, **kw):
        self.log.append(("progress", kw.get("factor")))

    def template_list(self, list_type, _list_id, data, prop, active_data, active_prop, **_kw):
        assert getattr(bpy.types, list_type).is_registered
        self.prop(data, prop)
        self.prop(active_data, active_prop)


class Drawable:
    """Stands in for a Panel/AddonPreferences instance: a FakeLayout plus the real data."""

    def __init__(self, layout, data=None):
        self.layout, self._data = layout, data

    def __getattr__(self, name):
        return getattr(self._data, name)
