"""The Blender extension in the bpy module: install the built zip, register twice, drive jobs, bake Actions.

Install path: ``bpy.ops.extensions.package_install_files`` works with the bpy 4.5 module, so the
zip built by build.py is installed into a temporary extensions repo and enabled as Blender would
(not by putting addon/ on sys.path).

Background bpy has no event loop, so the modal operator's state logic (JobRunner.tick/end,
apply_event) is driven directly, with fake worker executables written by the test
(see addon_harness.py); three tests run the real worker when its packages are present
(the full capture one is marked slow).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs the bpy module (pip install bpy==4.5.15)")
addon_utils = pytest.importorskip("addon_utils")

import addon_harness as harness  # noqa: E402
from addon_harness import MODULE, REPO, drive, registered_classes, write_motion_npz  # noqa: E402

from core.config import DEFAULT_WEIGHTS_NAME  # noqa: E402

pytestmark = pytest.mark.bpy


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The installed, enabled extension module."""
    yield from harness.installed_addon(tmp_path_factory)


@pytest.fixture()
def scene(addon, tmp_path, monkeypatch):
    """A clean scene wired to a fake worker."""
    yield from harness.prepared_scene(addon, tmp_path, monkeypatch)


def test_installed_from_zip_with_bundled_engine(addon):
    root = addon._engine.engine_root()
    assert root == Path(addon.__file__).parent / "engine" and (root / "core" / "retarget.py").is_file()
    assert all(cls.is_registered for cls in registered_classes(addon))
    assert hasattr(bpy.types.Scene, "posemoe") and hasattr(bpy.ops.posemoe, "capture")
    assert addon.preferences.get_prefs() is not None  # bl_idname = __package__ = the bl_ext name


def test_register_unregister_twice(addon):
    classes = registered_classes(addon)
    for _ in range(2):
        addon_utils.disable(MODULE, default_set=True)
        assert not any(cls.is_registered for cls in classes)
        assert not hasattr(bpy.types.Scene, "posemoe") and not hasattr(bpy.types.WindowManager, "posemoe_engine")
        addon_utils.enable(MODULE, default_set=True)
        assert all(cls.is_registered for cls in registered_classes(addon))
        assert hasattr(bpy.types.Scene, "posemoe")


def test_apply_event_updates_the_job(addon, scene):
    protocol, job = addon._engine.protocol(), scene.posemoe.job
    job.reset("starting")
    addon.modal_job.apply_event(job, protocol.Progress("lift", 30, 120))
    assert (job.stage, job.done, job.total) == ("lift", 30, 120) and job.progress == pytest.approx(0.25)
    assert job.status_line() == "lift 30/120 (25%)"
    addon.modal_job.apply_event(job, protocol.Message("CUDA unavailable, using CPU", "warning"))
    assert job.message == "CUDA unavailable, using CPU"
    addon.modal_job.apply_event(job, protocol.Message("the feet are out of view in 90 % of frames", "warning"))
    addon.modal_job.apply_event(job, protocol.Message("lifting on the CPU", "info"))
    assert job.warning == "CUDA unavailable, using CPU; the feet are out of view in 90 % of frames"
    job.reset("starting")
    assert job.warning == ""
    addon.modal_job.apply_event(job, protocol.Failure("bad video\nsecond line", "bad_video"))
    assert job.error == "bad video"


def test_capture_job_bakes_new_actions(addon, scene):
    reports = []
    ctx = bpy.context
    video = Path(scene.posemoe.video_path)
    python = addon.preferences.worker_python(ctx)
    runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, msg: reports.append((lv, msg)))
    work_dirs = runner.worker.cleanup_paths
    assert drive(runner, ctx) == {'FINISHED'}, reports
    job, arm = scene.posemoe.job, scene.posemoe.armature
    assert not job.running and job.progress == 1.0 and not job.error
    assert arm is not None and arm.animation_data.action.name == "clip"
    assert (scene.frame_start, scene.frame_end) == (1, 12)
    assert not any(p.exists() for p in work_dirs)  # the motion file was read, then its temp folder removed
    scene.posemoe.create_armature = False  # second capture onto the same armature: a second, new action
    runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, msg: reports.append((lv, msg)))
    assert drive(runner, ctx) == {'FINISHED'}
    assert arm.animation_data.action.name == "clip.001" and "clip" in bpy.data.actions
    assert len(bpy.data.actions) == 2 and len([o for o in bpy.data.objects if o.type == 'ARMATURE']) == 1
    assert bpy.data.actions["clip"].use_fake_user  # replaced, kept in the file
    runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, msg: reports.append((lv, msg)))
    old_name, arm.name = arm.name, "Renamed while capturing"  # the job's target is the object, whatever its name
    decoy = bpy.data.objects.new(old_name, bpy.data.armatures.new("decoy"))  # another armature under the old name
    assert decoy.name == old_name
    assert drive(runner, ctx) == {'FINISHED'}
    assert arm.animation_data.action.name == "clip.002" and decoy.animation_data is None


def test_an_undo_while_capturing_keeps_the_capture(addon, scene):
    """Ctrl+Z during the worker run (of anything) invalidates Python references to objects; the armature is still
    there, found by its session_uid, and gets the capture."""
    reports, ctx = [], bpy.context
    python = addon.preferences.worker_python(ctx)
    video = Path(scene.posemoe.video_path)
    assert drive(addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, m: reports.append(m)),
                 ctx) == {'FINISHED'}, reports
    scene.posemoe.create_armature = False
    uid = scene.posemoe.armature.session_uid
    runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, m: reports.append(m))
    bpy.ops.ed.undo_push(message="before")
    empty = bpy.data.objects.new("Moved", None)
    scene.collection.objects.link(empty)
    bpy.ops.ed.undo_push(message="added")
    bpy.ops.ed.undo()
    assert drive(runner, bpy.context) == {'FINISHED'}, reports
    arm = next(o for o in bpy.data.objects if o.session_uid == uid)
    assert arm.animation_data.action.name == "clip.001" and not bpy.context.scene.posemoe.job.error


def test_capture_bakes_into_the_scene_it_started_in(addon, scene):
    """The user switches scenes while the worker runs: the new armature, action and frame range still land in
    the capture's scene, and the other scene is left alone."""
    reports, ctx = [], bpy.context
    other = bpy.data.scenes.new("Switched to")
    other.frame_start, other.frame_end = 100, 200
    try:
        runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                       addon.preferences.worker_python(ctx),
                                                       lambda lv, msg: reports.append((lv, msg)))
        with ctx.temp_override(scene=other, view_layer=other.view_layers[0]):
            assert drive(runner, bpy.context) == {'FINISHED'}, reports
        arm = scene.posemoe.armature
        assert arm is not None and arm.name in scene.objects and arm.animation_data.action.name == "clip"
        assert (scene.frame_start, scene.frame_end) == (1, 12) and not scene.posemoe.job.running
        assert len(other.objects) == 0 and (other.frame_start, other.frame_end) == (100, 200)
        assert other.posemoe.armature is None and f"in scene '{scene.name}'" in reports[-1][1]
    finally:
        bpy.data.scenes.remove(other)


def test_capture_failure_leaves_nothing(addon, scene, monkeypatch):
    monkeypatch.setenv("POSEMOE_FAKE_MODE", "fail")
    reports, ctx = [], bpy.context
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx),
                                                   lambda lv, msg: reports.append((lv, msg)))
    assert drive(runner, ctx) == {'CANCELLED'}
    assert scene.posemoe.job.error == "no person found in the video" and not scene.posemoe.job.running
    assert reports[-1] == ({'ERROR'}, "PoseMoE capture: no person found in the video")
    assert len(bpy.data.actions) == 0 and len(bpy.data.objects) == 0
    assert not any(p.exists() for p in runner.worker.cleanup_paths)


def test_cancel_stops_worker_and_refuses_second_capture(addon, scene, monkeypatch):
    monkeypatch.setenv("POSEMOE_FAKE_MODE", "slow")
    reports, ctx = [], bpy.context
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx),
                                                   lambda lv, msg: reports.append((lv, msg)))
    assert runner.start(ctx)
    try:
        deadline = time.monotonic() + 10
        while scene.posemoe.job.done < 3:
            assert time.monotonic() < deadline
            runner.tick(ctx)
            time.sleep(0.05)
        assert bpy.ops.posemoe.capture() == {'CANCELLED'}  # politely refused: one capture at a time
        other = bpy.data.scenes.new("Looking elsewhere")
        try:
            with ctx.temp_override(scene=other, view_layer=other.view_layers[0]):
                bpy.ops.posemoe.cancel_capture()  # from another scene: the capture's own job is told
        finally:
            bpy.data.scenes.remove(other)
        assert scene.posemoe.job.cancel_requested
        assert runner.tick(ctx) == {'CANCELLED'}
    finally:
        runner.end(ctx, cancelled=True)
    assert runner.worker.wait_stopped(10)
    with pytest.raises(ProcessLookupError):
        os.kill(runner.worker.pid, 0)
    assert not any(p.exists() for p in runner.worker.cleanup_paths)
    assert not scene.posemoe.job.running and len(bpy.data.actions) == 0 and len(bpy.data.objects) == 0
    assert not addon.modal_job.is_active("capture")


def test_import_motion_creates_a_new_action_each_time(addon, scene, tmp_path):
    motion = tmp_path / "walk.npz"
    write_motion_npz(motion, t=20)
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    arm = scene.posemoe.armature
    first = arm.animation_data.action
    assert first.name == "walk" and scene.frame_end == 20
    scene.posemoe.create_armature = False
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    second = arm.animation_data.action
    assert second != first and second.name == "walk.001" and first.name in bpy.data.actions


def test_import_bad_file_and_unmappable_rig_make_nothing(addon, scene, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, joints_3d=np.zeros((3, 5, 3)))
    with pytest.raises(RuntimeError, match="missing keys"):  # operator reports ERROR -> RuntimeError in bpy
        bpy.ops.posemoe.import_motion(filepath=str(bad))
    data = bpy.data.armatures.new("Stick")
    stick = bpy.data.objects.new("Stick", data)
    scene.collection.objects.link(stick)
    scene.posemoe.armature, scene.posemoe.create_armature = stick, False
    with pytest.raises(RuntimeError):
        bpy.ops.posemoe.import_motion(filepath=str(write_motion_npz(tmp_path / "m.npz")))
    assert len(bpy.data.actions) == 0 and [o.name for o in bpy.data.objects] == ["Stick"]


def test_check_worker_job_stores_report(addon, scene):
    reports, ctx = [], bpy.context
    runner = addon.ops_setup.make_check_runner(ctx, addon.preferences.worker_python(ctx),
                                               lambda lv, msg: reports.append((lv, msg)))
    assert drive(runner, ctx) == {'FINISHED'}, reports
    report = ctx.window_manager.posemoe_engine.report
    assert "torch 2.13.0" in report and "CUDA: not available" in report


def test_missing_worker_python_disables_capture(addon, scene, tmp_path):
    prefs = addon.preferences.get_prefs()
    prefs.worker_python = str(tmp_path / "nope" / "python")
    assert "Worker Python not found" in addon.preferences.missing_worker_reason()
    assert not bpy.ops.posemoe.capture.poll()


def test_capture_operator_starts_a_modal_job(addon, scene):
    """execute() checks inputs, starts the worker and the timer, and returns at once."""
    started = time.monotonic()
    assert bpy.ops.posemoe.capture() == {'RUNNING_MODAL'}
    assert time.monotonic() - started < 2.0
    runner = addon.modal_job.active_runner("capture")
    assert runner is not None and runner.timer is not None and scene.posemoe.job.running
    assert "--ignore-lens-metadata" not in runner.worker.argv  # Lens 0 + Lens from Video: the lens the video states
    runner.end(bpy.context, cancelled=True)  # no event loop in background bpy: stop it by hand
    assert runner.timer is None and not scene.posemoe.job.running and not addon.modal_job.is_active("capture")


def test_lens_from_video_can_be_turned_off(addon, scene):
    scene.posemoe.use_video_lens = False
    try:
        assert bpy.ops.posemoe.capture() == {'RUNNING_MODAL'}
        runner = addon.modal_job.active_runner("capture")
        assert "--ignore-lens-metadata" in runner.worker.argv
        runner.end(bpy.context, cancelled=True)
    finally:
        scene.posemoe.use_video_lens = True


def test_capture_operator_rejects_bad_inputs(addon, scene):
    scene.posemoe.video_path = "//missing.mp4"
    with pytest.raises(RuntimeError, match="Video not found"):
        bpy.ops.posemoe.capture()
    assert not addon.modal_job.is_active("capture")


def test_capture_operator_refuses_a_target_it_cannot_bake_before_the_worker_runs(addon, scene):
    """An armature no rig preset fits (a snake), or the bundled engine gone: said in one line, in the panel too,
    before any worker or temp folder is made; the panel drops the last run's message."""
    snake = bpy.data.objects.new("Snake", bpy.data.armatures.new("Snake"))
    scene.collection.objects.link(snake)
    with bpy.context.temp_override(active_object=snake, object=snake):
        bpy.context.view_layer.objects.active = snake
        bpy.ops.object.mode_set(mode="EDIT")
        for i in range(4):
            eb = snake.data.edit_bones.new(f"seg{i}")
            eb.head, eb.tail = (0, i * 0.3, 0), (0, i * 0.3 + 0.3, 0)
        bpy.ops.object.mode_set(mode="OBJECT")
    scene.posemoe.armature, scene.posemoe.create_armature = snake, False
    scene.posemoe.job.message = "PoseMoE: new action 'clip' on 'Old', frames 1-12"
    made = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(addon.ops_capture, "make_capture_runner", lambda *a, **k: made.append(a))
            with pytest.raises(RuntimeError, match="rig"):
                bpy.ops.posemoe.capture()
        assert not made and not addon.modal_job.is_active("capture")
        assert "rig" in scene.posemoe.job.error and not scene.posemoe.job.message
    finally:
        scene.posemoe.armature, scene.posemoe.create_armature = None, True
        bpy.data.objects.remove(snake)

    def gone() -> Path:
        raise addon._engine.EngineImportError("PoseMoE engine source not found in /x/engine; reinstall the extension")

    before = set(Path(tempfile.gettempdir()).glob("posemoe-capture-*"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(addon._engine, "engine_root", gone)
        with pytest.raises(RuntimeError, match="reinstall the extension"):
            bpy.ops.posemoe.capture()
    assert set(Path(tempfile.gettempdir()).glob("posemoe-capture-*")) == before
    assert "reinstall the extension" in scene.posemoe.job.error


def test_capture_operator_rejects_a_lens_no_camera_has(addon, scene):
    scene.posemoe.lens_mm = 3.0  # 0 is "unknown"; 5-600 mm are lenses
    try:
        with pytest.raises(RuntimeError, match="Lens 3 mm: a 35 mm-equivalent focal length is 5-600 mm"):
            bpy.ops.posemoe.capture()
        assert not addon.modal_job.is_active("capture")
    finally:
        scene.posemoe.lens_mm = 0.0


def _real_worker_or_skip() -> Path:
    """Return this Python as a real worker Python, or skip when it lacks the worker's packages."""
    missing = [m for m in ("torch", "mediapipe", "cv2") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"real worker needs {missing} in {sys.executable}")
    return Path(sys.executable)


def test_real_worker_check(addon, scene):
    python, ctx, reports = _real_worker_or_skip(), bpy.context, []
    runner = addon.ops_setup.make_check_runner(ctx, python, lambda lv, msg: reports.append((lv, msg)))
    assert drive(runner, ctx, timeout=60) == {'FINISHED'}, reports
    assert "mediapipe 0.10.21" in ctx.window_manager.posemoe_engine.report


def test_real_worker_capture_cancel_leaves_nothing(addon, scene, shared_data):
    """A real capture subprocess, cancelled once it reports progress: no process, temp file or action left."""
    python, ctx, reports = _real_worker_or_skip(), bpy.context, []
    video = shared_data / "video" / "pose_1.mp4"
    if not video.is_file():
        pytest.skip(f"{video} absent")
    runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, msg: reports.append((lv, msg)))
    assert runner.start(ctx)
    deadline = time.monotonic() + 60
    while not runner.finished and scene.posemoe.job.done == 0:
        assert time.monotonic() < deadline, "no progress from the real worker"
        runner.tick(ctx)
        time.sleep(0.05)
    if not runner.finished:  # it is working: cancel it as the Cancel button would
        scene.posemoe.job.cancel_requested = True
        assert runner.tick(ctx) == {'CANCELLED'}
    else:  # it failed early (e.g. weights not trained yet): the failure path must be just as clean
        assert runner.worker.failure is not None, reports
    assert runner.worker.wait_stopped(10)
    with pytest.raises(ProcessLookupError):
        os.kill(runner.worker.pid, 0)
    assert not any(p.exists() for p in runner.worker.cleanup_paths)
    assert len(bpy.data.actions) == 0 and len(bpy.data.objects) == 0 and not scene.posemoe.job.running


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_setup_engine_job_creates_venv_offline(addon, scene, tmp_path, monkeypatch):
    """Set up engine: a venv from this Python (never Blender's own site-packages), pip run in a subprocess.

    The requirements are just ``pip`` (already in a fresh venv), with PIP_NO_INDEX, so no network is used.
    """
    venv = tmp_path / "engine-venv"
    requirements = tmp_path / "requirements-worker.txt"
    requirements.write_text("# offline stand-in\npip\n")
    monkeypatch.setattr(addon.preferences, "venv_dir", lambda create=False: venv)
    monkeypatch.setattr(addon._engine, "requirements_file", lambda: requirements)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    prefs = addon.preferences.get_prefs()
    prefs.worker_python, prefs.base_python = "", sys.executable
    reports, ctx = [], bpy.context
    runner = addon.ops_setup.make_setup_runner(ctx, lambda lv, msg: reports.append((lv, msg)))
    assert drive(runner, ctx, timeout=120) == {'FINISHED'}, (reports, runner.worker.last_log_line())
    python = venv / "bin" / "python"
    assert python.is_file() and addon.preferences.worker_python(ctx) == python
    pth = next(venv.glob("lib/python*/site-packages/posemoe_engine.pth"))
    assert Path(pth.read_text().strip()) == addon._engine.engine_root().resolve()
    assert "engine ready" in reports[-1][1] and ctx.window_manager.posemoe_engine.job.progress == 1.0


def test_modal_routes_events(addon, scene, monkeypatch):
    """modal(): other events pass through, TIMER polls the worker, Esc cancels it (mixin driven directly)."""
    from types import SimpleNamespace

    monkeypatch.setenv("POSEMOE_FAKE_MODE", "slow")
    reports, ctx = [], bpy.context
    probe = type("Probe", (addon.modal_job.ModalJobMixin,), {})()
    probe._runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                          addon.preferences.worker_python(ctx),
                                                          lambda lv, msg: reports.append((lv, msg)))
    assert probe._runner.start(ctx)
    assert probe.modal(ctx, SimpleNamespace(type='MOUSEMOVE', value='NOTHING')) == {'PASS_THROUGH'}
    deadline = time.monotonic() + 10
    while scene.posemoe.job.done < 3:
        assert probe.modal(ctx, SimpleNamespace(type='TIMER', value='NOTHING')) == {'PASS_THROUGH'}
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # releasing an Esc pressed for something else (stopping playback) is not a cancel; pressing it is
    assert probe.modal(ctx, SimpleNamespace(type='ESC', value='RELEASE')) == {'PASS_THROUGH'}
    assert probe.modal(ctx, SimpleNamespace(type='ESC', value='PRESS')) == {'CANCELLED'}
    assert reports[-1] == ({'WARNING'}, "PoseMoE capture: cancelled") and scene.posemoe.job.message == "Cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(probe._runner.worker.pid, 0)


UNTRAINED_WEIGHTS = """
import sys
from pathlib import Path
import torch
from core.config import ModelConfig
from core.model import build_model
from core.weights import save_weights
torch.manual_seed(0)
cfg = ModelConfig()
save_weights(build_model(cfg), cfg, Path(sys.argv[1]), {"note": "untrained: add-on plumbing test only"})
"""


@pytest.mark.slow
@pytest.mark.mediapipe
def test_real_capture_end_to_end(addon, scene, shared_data, tmp_path):
    """The whole add-on path with the real worker: video -> motion file -> a new Action on a new armature.

    Uses the bundled weights, or untrained ones made here (through the Weights preference) before
    trained weights exist: this tests the plumbing, not the pose quality.
    """
    python, ctx, reports = _real_worker_or_skip(), bpy.context, []
    prefs = addon.preferences.get_prefs()
    if not (addon._engine.engine_root() / "core" / "assets" / DEFAULT_WEIGHTS_NAME).is_file():
        weights = tmp_path / "untrained.safetensors"
        subprocess.run([sys.executable, "-c", UNTRAINED_WEIGHTS, str(weights)], check=True, cwd=REPO, timeout=120)
        prefs.weights = str(weights)
    video = shared_data / "video" / "pose_1.mp4"
    try:
        runner = addon.ops_capture.make_capture_runner(ctx, video, python, lambda lv, msg: reports.append((lv, msg)))
        assert drive(runner, ctx, timeout=300) == {'FINISHED'}, (reports, runner.worker.last_log_line())
    finally:
        prefs.weights = ""
    arm = scene.posemoe.armature
    assert arm.animation_data.action.name == "pose_1" and scene.frame_end > scene.frame_start
    assert not any(p.exists() for p in runner.worker.cleanup_paths)


def test_disabling_the_addon_stops_a_running_job(addon, scene, monkeypatch):
    monkeypatch.setenv("POSEMOE_FAKE_MODE", "slow")
    ctx = bpy.context
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx), lambda lv, msg: None)
    assert runner.start(ctx)
    addon_utils.disable(MODULE, default_set=True)
    try:
        assert runner.finished and runner.worker.failure.kind == "cancelled"
        with pytest.raises(ProcessLookupError):
            os.kill(runner.worker.pid, 0)
        assert not any(p.exists() for p in runner.worker.cleanup_paths)
    finally:
        addon_utils.enable(MODULE, default_set=True)


def test_what_stops_a_capture_starting_is_said_in_one_line_and_leaves_nothing(addon, scene, tmp_path, monkeypatch):
    """A logs folder that cannot be made or written, a target that is a mesh or was deleted from the scene (the
    panel's pointer keeps it in the file): refused in one line, in the panel too, no temp folder left, not running."""
    temp = lambda: set(Path(tempfile.gettempdir()).glob("posemoe-capture-*"))  # noqa: E731
    before = temp()

    def read_only() -> Path:
        raise PermissionError(13, "Permission denied", "/read-only/logs")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(addon.ops_capture, "logs_dir", read_only)
        with pytest.raises(RuntimeError, match="cannot prepare the capture's files /read-only/logs"):
            bpy.ops.posemoe.capture()
    assert temp() == before and not scene.posemoe.job.running and not addon.modal_job.is_active("capture")
    monkeypatch.setattr(addon.ops_capture, "logs_dir", lambda: tmp_path / "removed")  # its folder gone
    ctx, reports = bpy.context, []
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx),
                                                   lambda lv, m: reports.append(m))
    assert not runner.start(ctx)
    assert runner.end(ctx, cancelled=False) == {'CANCELLED'}
    assert "cannot write the worker's log" in scene.posemoe.job.error and not scene.posemoe.job.running
    assert temp() == before

    mesh = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    scene.collection.objects.link(mesh)
    arm = bpy.data.objects.new("Hero", bpy.data.armatures.new("Hero"))
    scene.collection.objects.link(arm)
    scene.posemoe.create_armature = False
    try:
        for target, said in ((mesh, "Object 'Cube' is not an armature"), (arm, "Armature 'Hero' is in no scene")):
            scene.posemoe.armature = target
            if target is arm:
                scene.collection.objects.unlink(arm)  # Object > Delete: the pointer keeps it in bpy.data
            with pytest.raises(RuntimeError, match=said):
                bpy.ops.posemoe.capture()
            assert said in scene.posemoe.job.error and temp() == before
    finally:
        scene.posemoe.armature, scene.posemoe.create_armature = None, True


def test_a_running_capture_shows_as_running_after_an_undo(addon, scene):
    """An undo restores the job's saved running = False; the next tick sets it again, so Cancel stays shown."""
    ctx = bpy.context
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx), lambda lv, m: None)
    assert runner.start(ctx)
    try:
        scene.posemoe.job.running = False  # as the undo leaves it
        runner.tick(ctx)
        assert scene.posemoe.job.running or runner.finished
    finally:
        runner.end(ctx, cancelled=True)


def test_the_panel_names_the_video_by_its_file_name(addon, scene):
    """Worker errors start with the video's path: in the panel a long folder would push the advice off the line."""
    protocol, job = addon._engine.protocol(), scene.posemoe.job
    video = "/home/someone/Projects/2026/client work/shoot day 3/raw footage/camera A/" + "x" * 80 + "/take 7.mp4"
    job.reset("starting")
    addon.modal_job.apply_event(job, protocol.Failure(f"{video}: no person detected in any of 60 frames; use a clip "
                                                      "where one whole body is visible", "no_person"), (video,))
    assert job.error.startswith("take 7.mp4: no person") and job.error.endswith("whole body is visible")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script stands in for the worker Python")
def test_a_worker_python_without_the_engines_packages_is_sent_to_set_up(addon, scene, tmp_path):
    """A worker Python that cannot import the engine's packages: the panel says to press Set up engine."""
    broken = tmp_path / "bare-python"
    broken.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'numpy'\" >&2\nexit 1\n")
    broken.chmod(0o755)
    addon.preferences.get_prefs().worker_python = str(broken)
    ctx, reports = bpy.context, []
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path), broken,
                                                   lambda lv, m: reports.append(m))
    assert drive(runner, ctx) == {'CANCELLED'}
    error = scene.posemoe.job.error
    assert "lacks a package (No module named 'numpy'); press Set up engine" in error, error


def test_a_foreign_core_package_stops_every_operator_in_one_line(addon, scene, tmp_path, monkeypatch):
    """Another add-on's package named ``core`` imported first: Capture was a traceback that left the panel running
    and a temp folder behind; Import, the mapping buttons, Set up and Check were tracebacks. Now each refuses in one
    line."""
    import types

    assert addon._engine.unavailable() is None
    fake = types.ModuleType("core", "Another add-on's helpers.")
    fake.__file__ = "/other/addon/core/__init__.py"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "core", fake)
        assert "another add-on uses the same package name" in addon._engine.unavailable()
    temp = lambda: set(Path(tempfile.gettempdir()).glob("posemoe-capture-*"))  # noqa: E731
    before = temp()
    why = "core.errors was imported from /other/addon/core/__init__.py, not from the PoseMoE engine in /x"
    monkeypatch.setattr(addon._engine, "unavailable", lambda: why)
    with pytest.raises(RuntimeError, match="another add-on|not from the PoseMoE engine"):
        bpy.ops.posemoe.capture()
    assert why in scene.posemoe.job.error and not scene.posemoe.job.running and temp() == before
    assert not addon.modal_job.is_active("capture")
    motion = write_motion_npz(tmp_path / "m.npz")
    for op, kw in ((bpy.ops.posemoe.import_motion, {"filepath": str(motion)}),
                   (bpy.ops.posemoe.mapping_fill, {}), (bpy.ops.posemoe.mapping_load, {"filepath": str(motion)}),
                   (bpy.ops.posemoe.mapping_save, {"filepath": str(tmp_path / "map.json")}),
                   (bpy.ops.posemoe.setup_engine, {}), (bpy.ops.posemoe.check_worker, {})):
        with pytest.raises(RuntimeError, match=f"PoseMoE: {why}"):
            op(**kw)
    assert len(bpy.data.actions) == 0 and not (tmp_path / "map.json").exists()


def test_a_refused_bake_after_the_worker_is_one_line_without_a_traceback(addon, scene, caplog):
    """The target deleted while the worker ran: the bake's RigError was logged with a traceback; it is one line."""
    import logging

    ctx, reports = bpy.context, []
    runner = addon.ops_capture.make_capture_runner(ctx, Path(scene.posemoe.video_path),
                                                   addon.preferences.worker_python(ctx),
                                                   lambda lv, m: reports.append(m))
    with caplog.at_level(logging.WARNING):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(addon.ops_capture, "bake_motion_file", lambda *a, **k: (_ for _ in ()).throw(
                addon._engine.errors().RigError("armature 'Hero' no longer exists (or is in no scene); pick another")))
            assert drive(runner, ctx) == {'CANCELLED'}
    assert scene.posemoe.job.error.startswith("armature 'Hero' no longer exists")
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_a_long_failure_keeps_where_the_log_is(addon, scene):
    """Cut at 200 characters, a killed worker's message lost its log's path; it is kept whole and shown wrapped."""
    protocol, job = addon._engine.protocol(), scene.posemoe.job
    log_path = "/home/someone/.config/blender/4.5/extensions/.user/user_default/posemoe/logs/capture-20261128.log"
    message = ("the worker was killed by SIGKILL; the system may have run out of memory: close other programs or "
               f"capture a shorter clip; its log ({log_path}) is empty")
    job.reset("starting")
    addon.modal_job.apply_event(job, protocol.Failure(message, "bug"))
    assert log_path in job.error
    lines = []

    class Layout:
        def label(self, text="", icon="NONE"):
            lines.append(text)

    addon.modal_job.wrapped_labels(Layout(), job.error, 'ERROR', 60)
    assert all(len(line) <= 60 for line in lines) and log_path in "".join(lines)


def test_the_workers_advice_is_put_as_the_addons_preferences(addon, scene):
    protocol, job = addon._engine.protocol(), scene.posemoe.job
    job.reset("starting")
    addon.modal_job.apply_event(job, protocol.Failure(
        "--device cuda was asked for but torch sees no CUDA device; use --device auto or cpu", "environment"))
    assert job.error == ("Device CUDA was chosen but torch sees no CUDA device; set Device to Auto or CPU in the "
                         "add-on preferences")


def test_a_set_up_that_failed_halfway_is_not_taken_as_ready(addon, scene, tmp_path, monkeypatch):
    """pip failing (no network) left a venv with a Python: the add-on took it as ready and every capture then failed
    for a missing package. Ready means the engine's .pth, written last; a missing Python for Set-up is named."""
    venv = tmp_path / "engine-venv"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    monkeypatch.setattr(addon.preferences, "venv_dir", lambda create=False: venv)
    prefs = addon.preferences.get_prefs()
    prefs.worker_python = ""
    ctx = bpy.context
    assert addon.preferences.worker_python(ctx) is None
    assert "set-up did not finish" in addon.preferences.missing_worker_reason(ctx)
    pth = venv / "lib" / "python3.11" / "site-packages" / "posemoe_engine.pth"
    pth.parent.mkdir(parents=True)
    pth.write_text("/engine\n")
    assert addon.preferences.worker_python(ctx) == python and addon.preferences.missing_worker_reason(ctx) == ""
    prefs.base_python = str(tmp_path / "no-such-python3.11")
    try:
        with pytest.raises(RuntimeError, match="Python for Set-up not found: .*no-such-python3.11"):
            bpy.ops.posemoe.setup_engine()
    finally:
        prefs.base_python = ""
