"""Bad input through the real CLI process: one stderr line, a distinct exit code, no traceback, no output."""

import subprocess
import sys

import numpy as np
import pytest

from core.errors import ExitCode
from posemoe_blender.cli import build_parser


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "posemoe_blender.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def assert_clean_failure(r, code, out):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("posemoe: error: ") and "Traceback" not in r.stderr
    assert not out.exists()


def test_missing_video(tmp_path):
    out = tmp_path / "m.npz"
    r = run_cli("capture", tmp_path / "nope.mp4", "-o", out)
    assert_clean_failure(r, ExitCode.NOT_FOUND, out)
    assert "nope.mp4" in r.stderr


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 50)
    out = tmp_path / "m.npz"
    r = run_cli("extract", bad, "-o", out)
    assert_clean_failure(r, ExitCode.BAD_VIDEO, out)
    assert "notes.mp4" in r.stderr


@pytest.mark.parametrize("arrays,needle", [
    ({"joints_2d": np.zeros((3, 17, 2))}, "missing keys"),
    ({"joints_2d": np.zeros((3, 12, 2)), "scores": np.ones((3, 12)), "valid": np.ones(3, bool),
      "fps": 30.0, "image_size": np.array([64, 64])}, "shape"),
    ({"joints_2d": np.full((3, 17, 2), np.inf), "scores": np.ones((3, 17)), "valid": np.ones(3, bool),
      "fps": 30.0, "image_size": np.array([64, 64])}, "NaN or inf"),
])
def test_bad_keypoints(tmp_path, arrays, needle):
    kp = tmp_path / "kp.npz"
    np.savez(kp, **arrays)
    out = tmp_path / "m.npz"
    r = run_cli("lift", kp, "-o", out)
    assert_clean_failure(r, ExitCode.BAD_INPUT, out)
    assert needle in r.stderr and "kp.npz" in r.stderr


def test_unwritable_output(tmp_path):
    kp = tmp_path / "kp.npz"
    np.savez(kp, joints_2d=np.zeros((3, 17, 2)), scores=np.ones((3, 17)), valid=np.ones(3, bool), fps=30.0,
             image_size=np.array([64, 64]))
    out = tmp_path / "no_such_dir" / "m.npz"
    r = run_cli("lift", kp, "-o", out)
    assert_clean_failure(r, ExitCode.OUTPUT, out)


def test_exit_codes_are_distinct():
    codes = [c.value for c in ExitCode]
    assert len(codes) == len(set(codes))


def test_help_lists_every_command():
    text = build_parser().format_help()
    for cmd in ("extract", "lift", "capture", "bake", "demo", "train", "eval"):
        assert cmd in text
    for cmd in ("extract", "lift", "capture", "bake", "demo"):
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args([cmd, "--help"])
        assert e.value.code == 0


@pytest.mark.parametrize("args,needle", [(["--lens-mm", "2"], "--lens-mm 2"), (["--focal", "-5"], "--focal -5")])
def test_impossible_lens_fails_before_any_work(tmp_path, args, needle):
    out = tmp_path / "m.npz"
    r = run_cli("capture", tmp_path / "never_read.mp4", "-o", out, *args)  # checked before the video is opened
    assert_clean_failure(r, ExitCode.USAGE, out)
    assert needle in r.stderr


def test_focal_and_lens_together_is_a_usage_error(tmp_path):
    r = run_cli("capture", tmp_path / "v.mp4", "-o", tmp_path / "m.npz", "--focal", "900", "--lens-mm", "26")
    assert r.returncode == ExitCode.USAGE and "not allowed with" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["capture", "lift"])
def test_the_lens_the_video_states_is_used_unless_told_not_to(command):
    from posemoe_blender.options import cleanup_options

    parse = lambda *extra: build_parser().parse_args([command, "in", "-o", "m.npz", *extra])  # noqa: E731
    assert cleanup_options(parse())["lens_metadata"] is True
    assert cleanup_options(parse("--ignore-lens-metadata"))["lens_metadata"] is False


def test_a_focal_length_no_camera_has_fails_before_extraction(tmp_path):
    """--focal 1e9 px on a 64x48 video would be a 5e8 mm lens: refused once the video's size is known."""
    import cv2

    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(3):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    out = tmp_path / "m.npz"
    r = run_cli("capture", video, "-o", out, "--focal", "1e9")
    assert_clean_failure(r, ExitCode.USAGE, out)
    assert "--focal 1e+09 px on a 64x48 video" in r.stderr and "--lens-mm" in r.stderr


def test_an_output_that_is_an_input_is_refused_before_anything_is_written(tmp_path):
    """lift -o its own keypoints, capture with one file for both outputs, bake over the character: refused."""
    k = tmp_path / "k.npz"
    np.savez(k, joints_2d=np.random.default_rng(0).uniform(50, 90, (3, 17, 2)), scores=np.ones((3, 17)),
             valid=np.ones(3, bool), fps=30, image_size=np.array([160, 120]))
    before = k.read_bytes()
    for argv, said in ((["lift", k, "-o", tmp_path / "." / "k.npz"], "is also the input keypoints"),
                       (["capture", tmp_path / "v.mp4", "-o", k, "--keypoints-out", k], "is also the keypoints output"),
                       (["bake", k, "-o", tmp_path / "hero.blend", "--character", tmp_path / "hero.blend"],
                        "is also the character")):
        r = run_cli(*argv)
        assert r.returncode == ExitCode.USAGE and said in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert k.read_bytes() == before and not (tmp_path / "hero.blend").exists()


@pytest.mark.parametrize("args, code, needle", [
    (["--batch-size", "-1"], ExitCode.USAGE, "--batch-size -1"),
    (["--weights", "."], ExitCode.MODEL, "is a folder"),
])
def test_unusable_model_options(tmp_path, args, code, needle):
    from core.keypoints import coco_to_h36m

    k = tmp_path / "k.npz"
    body = np.array([[80, 25], [82, 23], [78, 23], [84, 24], [76, 24], [90, 35], [70, 35], [92, 50], [68, 50], [94, 64],
                     [66, 64], [86, 62], [74, 62], [87, 85], [73, 85], [88, 107], [72, 107]], np.float64)  # COCO
    np.savez(k, joints_2d=coco_to_h36m(np.tile(body, (3, 1, 1)), np.ones((3, 17)))[0], scores=np.ones((3, 17)),
             valid=np.ones(3, bool), fps=30, image_size=np.array([160, 120]))  # a body: no warning of its order
    r = run_cli("lift", k, "-o", tmp_path / "m.npz", *args, cwd=tmp_path)
    assert_clean_failure(r, code, tmp_path / "m.npz")
    assert needle in r.stderr


def test_a_batch_output_folder_that_cannot_be_one(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"0")
    (tmp_path / "taken").write_text("a file")
    r = run_cli("batch", tmp_path / "a.mp4", "--out", tmp_path / "taken", "--progress", "none")
    assert r.returncode == ExitCode.OUTPUT and "cannot be the output folder (File exists)" in r.stderr
    assert "Traceback" not in r.stderr and (tmp_path / "taken").read_text() == "a file"


@pytest.mark.parametrize("after_output", [False, True])
def test_an_interrupt_is_a_cancel_unless_the_output_was_complete(tmp_path, monkeypatch, capsys, after_output):
    """Ctrl-C (or SIGTERM) during a command: exit 130, "cancelled"; once its output is written in full, exit 0 and
    say so, rather than calling a finished file cancelled."""
    import posemoe_blender.pipeline
    from core.motion_file import Keypoints2D, read_keypoints
    from posemoe_blender import cli

    out = tmp_path / "kp.npz"
    xy = np.random.default_rng(0).uniform(10, 40, (3, 17, 2)).astype(np.float32)
    kp = Keypoints2D(xy, np.ones((3, 17), np.float32), np.ones(3, bool), 30.0, (64, 48))

    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    if after_output:
        monkeypatch.setattr(posemoe_blender.pipeline, "extract", lambda video, emit: kp)
        monkeypatch.setattr(cli.log, "info", interrupt)  # the summary line logged after the file is written
    else:
        monkeypatch.setattr(posemoe_blender.pipeline, "extract", interrupt)
    code = cli.main(["extract", str(tmp_path / "v.mp4"), "-o", str(out), "--progress", "none"])
    err = capsys.readouterr().err
    if after_output:
        assert code == ExitCode.OK and f"interrupted after {out} was written in full" in err
        assert read_keypoints(out).num_frames == 3
    else:
        assert code == ExitCode.CANCELLED and "posemoe: cancelled" in err and not out.exists()


@pytest.mark.parametrize("where, code, needle", [
    ("output", ExitCode.OUTPUT, "over the 255 a file system allows"),
    ("input", ExitCode.NOT_FOUND, "over the 255 a file system allows"),
    ("latin-1 output", ExitCode.OUTPUT, "is not UTF-8 text"),
])
def test_names_no_file_can_have_fail_in_one_line(tmp_path, where, code, needle):
    """A name over 255 bytes (either way), or an output name Blender cannot write (bytes that are not UTF-8)."""
    import os

    kp = tmp_path / "k.npz"
    kp.write_bytes(b"0")
    long = tmp_path / ("日" * 90 + ".npz")
    latin = tmp_path / os.fsdecode(b"caf\xe9.fbx")  # numpy writes such a name (lift, extract); Blender cannot
    command, *args = {"output": ("lift", kp, long), "input": ("lift", long, tmp_path / "m.npz"),
                      "latin-1 output": ("bake", kp, latin)}[where]
    r = subprocess.run([sys.executable, "-m", "posemoe_blender.cli", command, os.fsencode(args[0]), "-o",
                        os.fsencode(args[1])], capture_output=True, text=True, timeout=120)
    assert_clean_failure(r, code, tmp_path / "m.npz")
    assert needle in r.stderr


@pytest.mark.parametrize("case, code, needle", [
    ("output is a folder", ExitCode.OUTPUT, "is a folder; give the output a file name"),
    ("character is a folder", ExitCode.BAD_INPUT, "is a folder; pass --character a .blend, .fbx, .glb"),
    ("rig without character", ExitCode.USAGE, "--rig without --character: they choose among"),
    ("keypoints given as the video", ExitCode.BAD_VIDEO, "is a .npz file (keypoints or motion), not a video"),
])
def test_misdirected_arguments_are_said_before_any_work(tmp_path, case, code, needle):
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04" + bytes(60))
    (tmp_path / "folder").mkdir()
    argv = {"output is a folder": ["bake", "m.npz", "-o", "folder"],
            "character is a folder": ["bake", "m.npz", "-o", "o.fbx", "--character", "folder"],
            "rig without character": ["bake", "m.npz", "-o", "o.fbx", "--rig", "mixamo"],
            "keypoints given as the video": ["capture", "m.npz", "-o", "o.npz"]}[case]
    r = run_cli(*argv, cwd=tmp_path)
    assert_clean_failure(r, code, tmp_path / "o.fbx")
    assert needle in r.stderr and not (tmp_path / "o.npz").exists()


def test_a_newline_in_a_path_keeps_the_message_on_one_line(tmp_path):
    out = tmp_path / "no\nfolder" / "m.npz"
    r = run_cli("extract", tmp_path / "nope.mp4", "-o", out)
    assert_clean_failure(r, ExitCode.OUTPUT, out)
    assert "no\\nfolder" in r.stderr


@pytest.mark.parametrize("argv, needle", [
    (["capture", "v.mp4", "m.npz"], "the following arguments are required: -o/--output; see posemoe capture --help"),
    (["m.npz", "bake", "-o", "o.fbx"], "invalid choice: 'm.npz'"),
    (["capture", "v.mp4", "-o", "m.npz", "--smoothing", "meduim"], "invalid choice: 'meduim'"),
    (["bake", "m.npz", "-o", "o.fbx", "--fps", "0"], "unrecognized arguments: --fps 0"),
])
def test_usage_mistakes_are_one_line_too(tmp_path, argv, needle):
    """argparse's own errors print the whole usage block by default; ours are one line like every other error."""
    r = run_cli(*argv, cwd=tmp_path)
    assert_clean_failure(r, ExitCode.USAGE, tmp_path / "o.fbx")
    assert needle in r.stderr


@pytest.mark.parametrize("case, code, needle", [
    ("a video given to bake", ExitCode.BAD_INPUT, "is a video, not a motion .npz; make one from it first (posemoe "
                                                  "capture"),
    ("height in centimetres", ExitCode.USAGE, "(in centimetres? give metres: --subject-height 1.75)"),
    ("capture into a folder", ExitCode.OUTPUT, "is a folder; give the output a file name ending in .npz"),
])
def test_common_mistakes_say_what_to_do(tmp_path, case, code, needle):
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    (tmp_path / "folder").mkdir()
    argv = {"a video given to bake": ["bake", "clip.mp4", "-o", "o.fbx"],
            "height in centimetres": ["capture", "clip.mp4", "-o", "o.npz", "--subject-height", "175"],
            "capture into a folder": ["capture", "clip.mp4", "-o", "folder"]}[case]
    r = run_cli(*argv, cwd=tmp_path)
    assert_clean_failure(r, code, tmp_path / "o.npz")
    assert needle in r.stderr


def test_help_says_each_default_once():
    """A default the help text states is not followed by argparse's "(default: None)"."""
    text = build_parser()._subparsers._group_actions[0].choices["capture"].format_help()
    flat = " ".join(text.split())  # the help is wrapped to the terminal's width
    assert "(default: None)" not in flat and "(default: 1.75)" in flat


def test_common_options_before_the_command_are_read_as_after_it():
    from posemoe_blender.cli import _command_first

    commands = {"capture", "bake"}
    assert _command_first(["--progress", "none", "--log-level=INFO", "bake", "m.npz"], commands) == [
        "bake", "--progress", "none", "--log-level=INFO", "m.npz"]
    assert _command_first(["bake", "m.npz", "--progress", "none"], commands) == ["bake", "m.npz", "--progress", "none"]
    assert _command_first(["--version"], commands) == ["--version"]
    assert _command_first(["--bogus", "bake"], commands) == ["--bogus", "bake"]  # argparse says what is wrong
    args = build_parser().parse_args(_command_first(["--device", "cpu", "capture", "v.mp4", "-o", "m.npz"],
                                                    commands))
    assert args.device == "cpu" and args.command == "capture"


@pytest.mark.parametrize("args, code, needle", [
    (["--max-windows", "-3"], ExitCode.USAGE, "--max-windows: invalid whole number >= 0"),
    (["--window", "0"], ExitCode.USAGE, "--window: invalid whole number >= 1"),
    (["--json-out", "{tmp}/no/such/folder/r.json"], ExitCode.OUTPUT, "does not exist"),
    (["--json-out", "{tmp}"], ExitCode.OUTPUT, "is a folder"),
    (["--json-out", "{tmp}/clip.mp4"], ExitCode.OUTPUT, "a report is JSON; give it a file name ending in .json"),
])  # fmt: skip
def test_eval_options_that_cannot_work_fail_before_evaluating(tmp_path, args, code, needle):
    from core.weights import DEFAULT_WEIGHTS

    r = run_cli("eval", "--weights", DEFAULT_WEIGHTS, "--data", tmp_path / "none",
                *[a.format(tmp=tmp_path) for a in args])
    assert_clean_failure(r, code, tmp_path / "no")
    assert needle in r.stderr


@pytest.mark.parametrize("command, needle", [
    (["demo", "--out-dir", "{tmp}/file.txt"], "file.txt: cannot be the output folder"),
    (["bench", "--gt-dir", "{tmp}/file.txt"], "file.txt: cannot be the output folder"),
    (["bench", "--no-render", "--gt-dir", "{tmp}/file.txt"], "file.txt: cannot be the output folder"),
    (["bench", "--json-out", "{tmp}/file.txt"], "a report is JSON"),
])  # fmt: skip
def test_demo_and_bench_folders_that_cannot_work_fail_at_once(tmp_path, command, needle):
    """A file given as the demo's output folder or the bench's clip folder was a traceback (after minutes of
    rendering, for the demo); a report path not ending in .json replaced whatever file it named."""
    (tmp_path / "file.txt").write_text("the user's own notes\n")
    r = run_cli(*[a.format(tmp=tmp_path) for a in command])
    assert r.returncode == ExitCode.OUTPUT and needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "file.txt").read_text() == "the user's own notes\n"


@pytest.mark.parametrize("raised, code, kind", [(KeyboardInterrupt(), ExitCode.CANCELLED, "cancelled"),
                                                (RuntimeError("boom"), None, "bug")])
def test_json_progress_ends_with_a_failure_event_when_cancelled_or_broken(monkeypatch, capsys, raised, code, kind):
    """--progress json told a reader nothing when a run was cancelled (Ctrl-C) or hit a bug; the worker protocol ends
    with a failure event, and now so does the CLI's stream."""
    import json

    from posemoe_blender import cli

    def fail(args):
        raise raised

    monkeypatch.setattr(cli, "cmd_extract", fail)
    if code is None:
        with pytest.raises(RuntimeError):
            cli.main(["--progress", "json", "extract", "v.mp4", "-o", "k.npz"])
    else:
        assert cli.main(["--progress", "json", "extract", "v.mp4", "-o", "k.npz"]) == code
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["kind"] == kind and (kind != "bug" or "boom" in last["error"])
