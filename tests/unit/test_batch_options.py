"""``posemoe batch`` options: handed on to every clip's processes, recorded, and outputs of other options remade."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from core.config import InferenceConfig
from core.errors import ExitCode, PosemoeError
from core.motion_file import MotionClip, write_motion
from core.skeleton import JOINT_NAMES
from posemoe_blender.batch import BatchRunner, ClipJob, baked_with, changed_options, recall_options, write_summary
from posemoe_blender.cli import build_parser
from posemoe_blender.options import bake_argv, cleanup_options, lift_argv

BATCH_OPTIONS = ["--subject-height", "1.62", "--smoothing", "light", "--lens-mm", "13", "--no-foot-lock",
                 "--static-camera", "--no-flip", "--weights", "w.safetensors", "--character", "hero.blend",
                 "--rig", "mixamo", "--in-place", "--armature", "Rig", "--travel-on-root", "--turn-on-root"]


def test_batch_hands_its_options_on_as_capture_and_bake_read_them():
    args = build_parser().parse_args(["batch", "clips", "--out", "o", *BATCH_OPTIONS])
    capture = build_parser().parse_args(["capture", "v.mp4", "-o", "m.npz", *lift_argv(args)])
    bake = build_parser().parse_args(["bake", "m.npz", "-o", "m.fbx", *bake_argv(args)])
    assert cleanup_options(capture) == cleanup_options(args)
    assert cleanup_options(capture)["subject_height"] == 1.62 and cleanup_options(capture)["lens_mm"] == 13
    assert (capture.smoothing, capture.no_flip, capture.weights) == ("light", True, Path("w.safetensors").absolute())
    assert (bake.character, bake.rig, bake.in_place, bake.armature, bake.no_root_motion, bake.travel_on_root,
            bake.turn_on_root) == (Path("hero.blend").absolute(), "mixamo", True, "Rig", False, True, True)
    assert "--subject-height" not in bake_argv(args) and "--character" not in lift_argv(args)


def test_defaults_hand_nothing_on():
    args = build_parser().parse_args(["batch", "clips", "--out", "o"])
    assert lift_argv(args) == [] and bake_argv(args) == []


@pytest.mark.parametrize("bad, code, said", [
    (["--subject-height", "17"], ExitCode.USAGE, "not a human height"),
    (["--lens-mm", "2000"], ExitCode.USAGE, "--lens-mm 2000"),
    (["--weights", "none.safetensors"], ExitCode.MODEL, "none.safetensors: weights file missing"),
    (["--character", "hero.blend"], ExitCode.NOT_FOUND, "hero.blend: character file not found"),
    (["--rig", "mixamoo"], ExitCode.BAD_INPUT, "unknown rig preset 'mixamoo'"),
    (["--rig", "map.json"], ExitCode.BAD_INPUT, "map.json: rig mapping is not valid JSON"),
    (["--weights", "bad.safetensors"], ExitCode.MODEL, "bad.safetensors"),
    (["--device", "cuda"], ExitCode.ENVIRONMENT, "--device cuda"),
    (["--jobs", "-3"], ExitCode.USAGE, "--jobs -3"),
    (["--address", "auto"], ExitCode.USAGE, "is for --backend ray"),
    (["--backend", "ray", "--address", "127.0.0.1:9"], ExitCode.ENVIRONMENT, "no Ray head answers there"),
], ids=["height", "lens", "weights", "character", "rig", "mapping", "bad-weights", "device", "jobs", "address",
        "unreachable"])
def test_options_no_clip_can_use_fail_before_any_work(tmp_path, monkeypatch, capsys, bad, code, said):
    import torch

    from posemoe_blender.cli import main

    if bad[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is usable here")

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"0")
    (tmp_path / "map.json").write_text("{")
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    assert main(["batch", "a.mp4", "--out", "o", "--progress", "none", *bad]) == code
    assert said in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_ray_backend_that_never_starts_leaves_the_last_summary(tmp_path, monkeypatch, capsys):
    """Ray could not start or connect (no cluster at --address auto): no clip ran, so the last run's summary.json,
    which says what was made, stays as it was, and no table of pending clips is printed."""
    from core.errors import WorkerEnvError
    from posemoe_blender import batch_ray
    from posemoe_blender.cli import main

    def no_ray(*_args, **_kwargs):
        raise WorkerEnvError("--address auto: Ray could not start or connect (no running Ray instance)")

    monkeypatch.setattr(batch_ray, "run_on_ray", no_ray)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"0")
    (tmp_path / "o").mkdir()
    last = '{"counts": {"done": 1}}'
    (tmp_path / "o" / "summary.json").write_text(last)
    code = main(["batch", "a.mp4", "--out", "o", "--progress", "none", "--backend", "ray", "--address", "auto"])
    assert code == ExitCode.ENVIRONMENT and (tmp_path / "o" / "summary.json").read_text() == last
    out = capsys.readouterr()
    assert "Ray could not start" in out.err and "pending" not in out.out


def test_baking_options_are_checked_only_where_clips_are_baked(tmp_path, monkeypatch):
    """--format npz bakes nothing: a missing --character cannot fail it. A mapping file's path is made absolute."""
    from posemoe_blender import cli

    args = build_parser().parse_args(["batch", "a.mp4", "--out", str(tmp_path / "o"), "--format", "npz",
                                      "--character", "missing.blend"])
    cli._check_batch_options(args)
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({j: j for j in JOINT_NAMES}))
    (tmp_path / "hero.blend").write_bytes(b"0")
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["batch", "a.mp4", "--out", "o", "--rig", "m.json", "--character", "hero.blend"])
    cli._check_batch_options(args)
    assert args.rig == str(mapping)  # absolute: a Ray node's bake finds it
    args = build_parser().parse_args(["batch", "a.mp4", "--out", "o", "--rig", "m.json"])
    with pytest.raises(PosemoeError, match="without --character: they choose among a character's bones"):
        cli._check_batch_options(args)  # the generated armature has its own names


def _done_clip(tmp_path, fmt="fbx") -> tuple[BatchRunner, ClipJob]:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"0")
    out = tmp_path / "out"
    out.mkdir()
    write_motion(out / "a.motion.npz", MotionClip(
        np.zeros((3, 17, 2), np.float32), np.ones((3, 17), np.float32), np.ones(3, bool), 30.0, (64, 64),
        joints_3d=np.random.default_rng(0).normal(0, 0.3, (3, 17, 3)).astype(np.float32),
        root=np.zeros((3, 3), np.float32)))
    if fmt != "npz":
        (out / f"a.{fmt}").write_bytes(b"0")
    for path in out.iterdir():
        os.utime(path, (video.stat().st_mtime + 5,) * 2)
    return out, ClipJob(video=video, rel=Path("a"))


def test_a_baked_output_older_than_its_motion_file_is_baked_again(tmp_path):
    """A run remade the motion file (other options, another input) and was stopped before its bake: the old .fbx
    is not kept as done."""
    out, job = _done_clip(tmp_path)
    runner = BatchRunner(out, "fbx")
    assert runner._todo(job) == "none"
    later = (out / "a.fbx").stat().st_mtime + 50
    os.utime(out / "a.motion.npz", (later, later))
    assert runner._todo(job) == "bake"


def test_a_complete_output_whose_record_a_kill_lost_is_recorded_when_kept(tmp_path):
    """A batch killed right after a clip's output was written, before it recorded it: the next run keeps the output
    (skipped) and records it with its own options, so later option changes are measured against them."""
    out, job = _done_clip(tmp_path, fmt="npz")
    updates = []
    runner = BatchRunner(out, "npz", lift_args=["--smoothing", "light"], on_update=lambda j, ev: updates.append(j))
    assert job.lift_args is None and runner._todo(job) == "none"
    runner._skipped(job)
    assert job.status == "skipped" and job.lift_args == ["--smoothing", "light"] and job.source["size"] == 1
    assert updates == [job]


def test_a_manifest_that_cannot_be_written_costs_a_warning_not_the_clip(tmp_path, caplog):
    from posemoe_blender.batch import MANIFEST, Manifest

    (tmp_path / MANIFEST).mkdir()  # in the way
    m = Manifest(tmp_path)
    with caplog.at_level("WARNING"):
        for _ in range(2):
            m.record(ClipJob(video=tmp_path / "a.mp4", rel=Path("a"), lift_args=[]))
    assert caplog.text.count("cannot record what the clips were made from") == 1


def test_a_damaged_motion_file_is_made_again(tmp_path):
    """A motion file that no longer reads (copied half, say) is not kept as done, nor baked from: made again."""
    out, job = _done_clip(tmp_path)
    runner = BatchRunner(out, "fbx")
    assert runner._todo(job) == "none"
    motion = out / "a.motion.npz"
    mtime = motion.stat().st_mtime
    motion.write_bytes(motion.read_bytes()[:100])
    os.utime(motion, (mtime, mtime))
    assert runner._todo(job) == "all"


def test_outputs_of_other_options_are_made_again(tmp_path):
    out, job = _done_clip(tmp_path)
    runner = BatchRunner(out, "fbx", lift_args=["--subject-height", "1.6"], bake_args=["--in-place"])
    assert runner._todo(job) == "none"  # options not known (an older run): kept, as before
    job.lift_args, job.bake_args = ["--subject-height", "1.6"], baked_with("fbx", ["--in-place"])
    assert runner._todo(job) == "none"
    job.bake_args = baked_with("bvh", ["--in-place"])  # the last bake was another format's: this .fbx is unknown
    assert runner._todo(job) == "bake"
    job.bake_args = baked_with("fbx", [])
    assert runner._todo(job) == "bake"  # only the bake's options changed: the motion file is kept
    job.lift_args = []
    assert runner._todo(job) == "all"
    assert BatchRunner(out, "npz", lift_args=[])._todo(job) == "none"  # bake options do not matter to .npz
    assert changed_options([job], ["--subject-height", "1.6"], None) == [job]
    assert changed_options([job], [], None) == []
    assert changed_options([job], [], baked_with("fbx", ["--in-place"])) == [job]


def test_the_options_outputs_were_made_with_are_recalled_from_the_summary(tmp_path):
    out, job = _done_clip(tmp_path)
    job.lift_args, job.bake_args = ["--smoothing", "light"], []
    write_summary(out, [job], {})
    again = ClipJob(video=job.video, rel=Path("a"))
    recall_options(out, [again])
    assert (again.lift_args, again.bake_args) == (["--smoothing", "light"], [])
    for broken in ("{", json.dumps({"clips": [{"rel": "a", "lift_args": [3]}]}), json.dumps([1])):
        (out / "summary.json").write_text(broken)
        fresh = ClipJob(video=job.video, rel=Path("a"))
        recall_options(out, [fresh])  # unreadable: unknown, never an error
        assert fresh.lift_args is None


def test_the_lifter_process_applies_the_options_to_every_clip(monkeypatch):
    """batch_lifter.lift_group: height and smoothing reach the clean-up; a focal length no lens has on a clip's
    image size fails that clip alone."""
    from test_pipeline import _tiny

    import core.inference
    from core.motion_file import Keypoints2D
    from posemoe_blender import pipeline
    from posemoe_blender.batch_lifter import lift_group

    _tiny(monkeypatch)
    uprights = []
    real = core.inference.lift_input
    monkeypatch.setattr(core.inference, "lift_input", lambda *a: uprights.append(a[4]) or real(*a))
    lifter = pipeline.load_model(None, InferenceConfig(device="cpu"))
    rng = np.random.default_rng(0)
    kps = {i: Keypoints2D(rng.uniform(100, 400, (30, 17, 2)).astype(np.float32), np.ones((30, 17), np.float32),
                          np.ones(30, bool), 30.0, size) for i, size in ((1, (640, 480)), (2, (64, 48)))}
    monkeypatch.setattr("core.motion_file.read_keypoints", lambda path: kps[int(path.name)])
    written = {}
    monkeypatch.setattr("core.motion_file.write_motion", lambda p, clip: written.setdefault(p.name, clip) and p)
    cleanup = {"subject_height": 1.5, "focal": 2000.0, "lens_mm": None, "lens_metadata": True, "foot_lock": False,
               "level_camera": True, "static_camera": False, "lying_down": True}
    answers = {a["id"]: a for a in lift_group([{"id": i, "keypoints": str(i), "output": f"{i}.npz"} for i in kps],
                                              lifter, InferenceConfig(device="cpu"), smoothing="strong",
                                              cleanup=cleanup)}
    assert "result" in answers[1] and answers[2]["exit_code"] == ExitCode.USAGE and "64x48" in answers[2]["error"]
    meta = written["1.npz"].meta
    assert meta["smoothing"] == "strong" and meta["focal_from"] == "--focal"
    assert meta["cleanup"]["subject_height_m"] == 1.5 and meta["cleanup"]["level_camera"] is True
    assert meta["cleanup"]["lying_down"] is True and meta["upright_quarter_turns"] == 0
    assert uprights == [False]  # lifted as filmed


def test_a_link_to_a_clip_that_is_gone_is_skipped_with_a_warning(tmp_path, caplog):
    from posemoe_blender.batch import find_videos

    (tmp_path / "a.mp4").write_bytes(b"0")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    with caplog.at_level("WARNING"):
        assert [v.name for v, _ in find_videos([str(tmp_path)])] == ["a.mp4"]
    assert "gone.mp4: a link to a file that is gone" in caplog.text


def test_folders_and_globs_give_videos_only_and_no_hidden_files(tmp_path, caplog):
    """macOS's ._NAME resource forks beside clips copied from a Mac, and clips in dot folders, were taken as videos
    and failed the batch; a glob took text files too; camcorders' .MTS and phones' .3gp were skipped in silence."""
    from posemoe_blender.batch import find_videos

    for name in ("a.mp4", "._a.mp4", ".b.mp4", ".cache/c.mp4", "sub/d.MTS", "sub/e.3gp", "readme.txt", "f.npz"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"0")
    with caplog.at_level("INFO"):
        assert [v.name for v, _ in find_videos([str(tmp_path)])] == ["a.mp4", "d.MTS", "e.3gp"]
    assert "skipped 3 hidden file(s)" in caplog.text
    assert [v.name for v, _ in find_videos([str(tmp_path / "*")])] == ["a.mp4"]
    assert [v.name for v, _ in find_videos([str(tmp_path / "._a.mp4")])] == ["._a.mp4"]  # named: taken as given


def test_leftovers_of_unfinished_clips_are_swept(tmp_path):
    """A killed run's temp files (names cut at 100 characters as the writers cut them) and the folders made for
    clips that never finished go; finished clips' folders and files stay."""
    from posemoe_blender.batch import sweep_temps

    long = "x" * 120
    jobs = [ClipJob(video=tmp_path / "v.mp4", rel=Path("deep/er/a")), ClipJob(video=tmp_path / "w.mp4", rel=Path(long)),
            ClipJob(video=tmp_path / "d.mp4", rel=Path("kept/b"), status="done")]
    out = tmp_path / "out"
    (out / "deep" / "er").mkdir(parents=True)
    (out / "kept").mkdir()
    (out / "kept" / "b.fbx").write_bytes(b"0")
    (out / f".{long[:100]}.motion.k3j.tmp.npz").write_bytes(b"0")
    sweep_temps(out, jobs)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["kept", "kept/b.fbx"]


def test_outputs_made_from_another_input_are_made_again(tmp_path):
    """Resume compares the input an output was made from, not only names and times: a clip renamed into another's
    output name, the inputs given in another order, or a video replaced by one with an older time."""
    from posemoe_blender.batch import video_identity

    out, job = _done_clip(tmp_path, "npz")
    runner = BatchRunner(out, "npz", lift_args=[])
    job.lift_args, job.source = [], video_identity(job.video)
    assert runner._todo(job) == "none"
    moved = {**job.source, "path": "/elsewhere/a.mp4"}  # the input folder moved or mounted elsewhere: the same clip
    assert runner._todo(ClipJob(video=job.video, rel=Path("a"), lift_args=[], source=moved)) == "none"
    other = tmp_path / "b.mp4"
    other.write_bytes(b"01")
    assert runner._todo(ClipJob(video=other, rel=Path("a"), lift_args=[], source=job.source)) == "all"
    old = job.video.stat().st_mtime - 100
    job.video.write_bytes(b"1")  # the same size, replaced, its time set back (cp -p, unzip)
    os.utime(job.video, (old, old))
    assert runner._todo(job) == "all"


def test_the_manifest_keeps_every_clips_record_across_runs(tmp_path):
    """Appended as outputs are made, later lines winning; a run on one clip keeps the others' records; a cut last
    line (a killed run) is skipped; compaction keeps one line per clip."""
    from posemoe_blender.batch import Manifest

    out, job = _done_clip(tmp_path)
    job.lift_args, job.source = ["--smoothing", "light"], {"path": "/v/a.mp4", "size": 1, "mtime_ns": 2}
    other = ClipJob(video=job.video, rel=Path("sub/b"), lift_args=[])
    m = Manifest(out)
    m.record(job)
    m.record(other)
    job.bake_args = ["--in-place"]
    m.record(job)
    with m.path.open("a") as f:
        f.write('{"rel": "sub/b", "lift_ar')
    write_summary(out, [ClipJob(video=job.video, rel=Path("sub/b"), lift_args=["--no-flip"])], {})  # a later run
    again = [ClipJob(video=job.video, rel=Path("a")), ClipJob(video=job.video, rel=Path("sub/b"))]
    recall_options(out, again)
    assert (again[0].lift_args, again[0].bake_args, again[0].source) == (job.lift_args, ["--in-place"], job.source)
    assert again[1].lift_args == []  # the manifest, not the last report
    m.compact()
    assert len(m.path.read_text().splitlines()) == 2 and Manifest(out).read()["a"]["bake_args"] == ["--in-place"]


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path):
    from core.errors import OutputError
    from posemoe_blender.batch import lock_output

    held = lock_output(tmp_path)
    with pytest.raises(OutputError, match="another posemoe batch is writing into this folder"):
        lock_output(tmp_path)
    held.release()
    lock_output(tmp_path).release()


def test_a_file_in_the_way_of_an_output_folder_fails_that_clip_alone(tmp_path):
    from posemoe_blender.batch import _make_folder

    (tmp_path / "sub").write_text("x")
    error = _make_folder(tmp_path / "sub" / "deeper")
    assert error.startswith(f"{tmp_path / 'sub' / 'deeper'}: cannot create this output folder") and "--out" in error
    assert _make_folder(tmp_path / "fine" / "deeper") is None and (tmp_path / "fine" / "deeper").is_dir()


def test_a_summary_that_cannot_be_written_is_an_output_error(tmp_path):
    from core.errors import OutputError

    (tmp_path / "summary.json").mkdir()
    with pytest.raises(OutputError, match="cannot write the batch summary"):
        write_summary(tmp_path, [], {})
    assert not (tmp_path / ".summary.json.tmp").exists()
    (tmp_path / "summary.json").rmdir()
    write_summary(tmp_path, [ClipJob(video=tmp_path / "a.mp4", rel=Path("a"), status="done")], {})  # last run's
    (tmp_path / ".summary.json.tmp").mkdir()  # this run's cannot be written (as on a full disk)
    with pytest.raises(OutputError, match=r"0 clip\(s\) made this run are in place, the last run's summary removed"):
        write_summary(tmp_path, [ClipJob(video=tmp_path / "a.mp4", rel=Path("a"), status="failed")], {})
    assert not (tmp_path / "summary.json").exists()  # no stale "done" left for scripts to read


def test_output_names_fit_the_file_system_and_the_exporters(tmp_path):
    """A 250-byte CJK name would not fit with .motion.npz; bytes that are not UTF-8 (an old zip's Latin-1 name)
    crash Blender's exporters: outputs get names that fit and are text."""
    from posemoe_blender.batch import NAME_BYTES, output_name, plan_jobs

    long = "日" * 83
    assert len(output_name(long).encode()) <= NAME_BYTES and output_name(long).startswith("日" * 70)
    assert output_name("caf\udce9") == "caf_" and output_name("plain") == "plain"
    jobs = plan_jobs([(tmp_path / "sub" / f"{long}a.mp4", tmp_path), (tmp_path / "sub" / f"{long}b.mp4", tmp_path)])
    assert all(len(f"{j.rel.name}.motion.npz".encode()) <= 255 for j in jobs) and jobs[0].rel.parent == Path("sub")
    assert jobs[1].rel.name == f"{jobs[0].rel.name}_2"  # the same once cut: told apart as any collision


def test_what_a_clips_capture_says_reaches_the_summary(monkeypatch, caplog):
    """Warnings of the lifter process (a clip turned as a video on its side) and of capture / extract subprocesses go
    into the clip's summary record and the batch's log, named by clip, once each."""
    import sys

    from test_pipeline import _tiny

    from core.motion_file import Keypoints2D
    from posemoe_blender import pipeline
    from posemoe_blender.batch import _Children, _run_step, _warn
    from posemoe_blender.batch_lifter import lift_group

    _tiny(monkeypatch)
    rng = np.random.default_rng(0)
    joints = rng.uniform(100, 400, (30, 17, 2)).astype(np.float32)
    joints[:, 8] = joints[:, 0] + np.array([-150.0, 0.0], np.float32)  # a person across the picture
    kp = Keypoints2D(joints, np.ones((30, 17), np.float32), np.ones(30, bool), 30.0, (640, 480))
    monkeypatch.setattr("core.motion_file.read_keypoints", lambda path: kp)
    monkeypatch.setattr("core.motion_file.write_motion", lambda p, clip: p)
    progress = []
    [answer] = lift_group([{"id": 1, "keypoints": "k", "output": "o.npz", "source": "floor.mp4"}],
                          pipeline.load_model(None, InferenceConfig(device="cpu")), InferenceConfig(device="cpu"),
                          progress.append)
    assert any("floor.mp4: lifted as a video turned on its side" in w for w in answer["warnings"])
    assert all(not hasattr(ev, "message") for ev in progress)  # warnings travel with the answer only
    line = json.dumps({"message": "the feet are out of view", "level": "warning"})
    step = _run_step([sys.executable, "-c", f"print({line!r})"], lambda ev: None, _Children(), "extract")
    assert step.code == 0 and step.warnings == ["the feet are out of view"]
    job = ClipJob(video=Path("a.mp4"), rel=Path("a"))
    with caplog.at_level("WARNING"):
        _warn(job, step.warnings + answer["warnings"])
        _warn(job, step.warnings)
    assert job.warnings == step.warnings + answer["warnings"] and caplog.text.count("a: the feet are out of view") == 1


def test_a_name_holding_another_clips_outputs_is_not_overwritten(tmp_path):
    """dayA/take1.mp4 then dayB/take1.mp4 batched into one --out: the second is written as take1_2, again on a rerun;
    a file replaced at the same path keeps its name (and is made again)."""
    from posemoe_blender.batch import Manifest, keep_other_clips, video_identity

    out = tmp_path / "out"
    out.mkdir()
    day_a, day_b = tmp_path / "dayA" / "take1.mp4", tmp_path / "dayB" / "take1.mp4"
    for v, size in ((day_a, 10), (day_b, 20)):
        v.parent.mkdir()
        v.write_bytes(b"x" * size)
    first = ClipJob(video=day_a, rel=Path("take1"), lift_args=[], source=video_identity(day_a))
    Manifest(out).record(first)
    for _ in range(2):  # and on a rerun of the second folder, the same name
        job = ClipJob(video=day_b, rel=Path("take1"))
        recall_options(out, [job])
        assert [(j.rel, old) for j, old in keep_other_clips(out, [job])] == [(Path("take1_2"), Path("take1"))]
        job.lift_args, job.source = [], video_identity(day_b)
        Manifest(out).record(job)
    day_a.write_bytes(b"y" * 30)  # replaced at the same path: still take1
    again = ClipJob(video=day_a, rel=Path("take1"))
    recall_options(out, [again])
    assert keep_other_clips(out, [again]) == [] and again.rel == Path("take1")
