"""``posemoe`` command line: extract, lift, capture, bake, demo, train, eval.

Each subcommand is a ``cmd_*(args) -> int``; :func:`main` maps expected errors
(:class:`core.errors.PosemoeError`) to one stderr line and a distinct exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from core import __version__
from core.errors import ExitCode, PosemoeError
from posemoe_blender.options import (
    add_bake_options,
    add_lift_options,
    add_model_options,
    bake_argv,
    cleanup_options,
    inference_config,
    lift_argv,
)
from posemoe_blender.parent_watch import PARENT_ENV, exit_with_parent
from posemoe_blender.progress import MODES, LiveStream, Reporter, default_mode

log = logging.getLogger("posemoe")

BAKE_SUFFIXES = (".blend", ".fbx", ".bvh", ".glb", ".gltf")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with each option's default, unless its text already says it or there is none to say (None: the
    option's absence means something the text explains; a required option)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.required or "default" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, as every other error is (README, "Exit codes")."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.USAGE), f"posemoe: error: {message}; see {self.prog} --help\n")


def _refuse_overwriting(output: Path, **inputs: Path | None) -> None:
    """ConfigError if ``output`` is one of the command's ``inputs`` (named by keyword): writing it would destroy
    what the command reads."""
    from core.errors import ConfigError

    out = Path(output).resolve()
    for what, path in inputs.items():
        if path is not None and Path(path).resolve() == out:
            raise ConfigError(f"{output}: is also the {what.replace('_', ' ')}; writing it would destroy it, "
                              "choose another output name")


def cmd_extract(args: argparse.Namespace) -> int:
    from core.motion_file import check_writable, write_keypoints
    from posemoe_blender.pipeline import extract

    _refuse_overwriting(args.output, input_video=args.video)
    check_writable(args.output)
    kp = extract(args.video, args.reporter)
    write_keypoints(args.output, kp)
    _print_result(args, args.output)
    log.info("%d frames (%d with a person) -> %s", kp.num_frames, int(kp.valid.sum()), args.output)
    return ExitCode.OK


def cmd_lift(args: argparse.Namespace) -> int:
    from core.motion_file import check_writable, write_motion
    from core.tracks import warn_if_mostly_filled
    from posemoe_blender.pipeline import lift, load_model, read_keypoints_for_lifting

    _refuse_overwriting(args.output, input_keypoints=args.keypoints)
    check_writable(args.output)
    cfg = inference_config(args)
    lifter = load_model(args.weights, cfg)  # weights and device first: their error alone, before any word on the 2D
    kp = read_keypoints_for_lifting(args.keypoints, args.layout)
    warn_if_mostly_filled(args.keypoints, kp.valid)
    clip = lift(kp, args.weights, cfg, args.smoothing, args.reporter, source=str(args.keypoints.name), lifter=lifter,
                **cleanup_options(args))
    write_motion(args.output, clip)
    _print_result(args, args.output)
    return ExitCode.OK


def cmd_capture(args: argparse.Namespace) -> int:
    from posemoe_blender.pipeline import capture

    _refuse_overwriting(args.output, input_video=args.video, keypoints_output=args.keypoints_out)
    if args.keypoints_out is not None:
        _refuse_overwriting(args.keypoints_out, input_video=args.video)
    out = capture(args.video, args.output, args.weights, inference_config(args), args.smoothing,
                  args.reporter, keypoints_out=args.keypoints_out, **cleanup_options(args))
    _print_result(args, out)
    return ExitCode.OK


def cmd_bake(args: argparse.Namespace) -> int:
    import numpy as np

    from core.errors import InputFileError
    from core.motion_file import read_motion
    from core.native_logs import stdout_to_stderr
    from posemoe_blender.export import bake_to_file

    _refuse_overwriting(args.output, input_motion=args.motion, character=args.character)
    _check_bake_target(args)
    clip = read_motion(args.motion)
    if clip.num_frames and float(np.ptp(clip.joints_3d, axis=1).max()) < 0.001:  # no bones: the rig's scale blows up
        raise InputFileError(f"{args.motion}: every joint sits within a millimetre of one point in every frame; "
                             "not a lifted body; make the motion file again with posemoe capture or lift")
    with stdout_to_stderr(keep=log.getEffectiveLevel() <= logging.INFO):  # Blender's exporters chatter
        out = bake_to_file(clip, args.output, character=args.character, armature=args.armature, rig=args.rig,
                           root_motion=not args.no_root_motion, in_place=args.in_place,
                           travel_on_root=args.travel_on_root, turn_on_root=args.turn_on_root)
    _print_result(args, out)
    return ExitCode.OK


_OUTPUT_PATHS = ("output", "out", "keypoints_out", "out_dir", "json_out")
"""The path options commands write (the others are read)."""


def _name_length(part: str) -> int:
    """Return a path part's length as the file system limits it: bytes on POSIX, UTF-16 units on Windows."""
    return len(part.encode("utf-16-le", "surrogatepass")) // 2 if os.name == "nt" else len(os.fsencode(part))


def _check_path_names(args: argparse.Namespace) -> None:
    """Fail in one line on paths no file can have: a name over the file system's 255 bytes (an input: not found;
    an output: cannot be written), or an output name that is not UTF-8 text (Blender's exporters cannot write it;
    inputs with such names are read)."""
    from core.errors import InputNotFoundError, OutputError

    for key, value in vars(args).items():
        if not isinstance(value, Path):
            continue
        output = key in _OUTPUT_PATHS
        longest = max((_name_length(part) for part in value.parts), default=0)
        if longest > 255:
            error = OutputError if output else InputNotFoundError
            raise error(f"{value}: a name in this path is {longest} {'characters' if os.name == 'nt' else 'bytes'} "
                        "long, over the 255 a file system allows; shorten it")
        if output and getattr(args, "func", None) is cmd_bake:  # numpy writes such names; Blender cannot
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(value).decode("utf-8", "backslashreplace")
                raise OutputError(f"{shown}: the name is not UTF-8 text, which Blender and its exporters cannot "
                                  "write; choose a name of plain characters") from None


def _check_character_options(args: argparse.Namespace) -> None:
    """Fail in one line on a character that is a folder, or --armature / --rig without --character (they choose
    the character's armature and how its bones are named; the generated armature has its own)."""
    from core.errors import ConfigError, InputFileError
    from core.rigs import check_rig_option

    if args.character is not None and args.character.is_dir():
        raise InputFileError(f"{args.character}: is a folder; pass --character a .blend, .fbx, .glb, .gltf or .vrm "
                             "file")
    if args.character is not None:
        check_rig_option(args.rig)  # a mapping file's own error, before the character is loaded (and not named)
    if args.character is None:
        given = [o for o, v in (("--armature", args.armature),
                                ("--rig", args.rig.lower() not in ("auto", "default") and args.rig)) if v]
        if given:
            raise ConfigError(f"{' and '.join(given)} without --character: they choose among a character's bones; "
                              "add --character FILE, or leave them out to bake onto the generated armature")


def _check_bake_target(args: argparse.Namespace) -> None:
    """Fail in one line, before loading anything, on a bake that cannot go where it is asked: an output that is a
    folder, or the character options of :func:`_check_character_options`."""
    from core.errors import OutputError

    if args.output.is_dir():
        raise OutputError(f"{args.output}: is a folder; give the output a file name ending in "
                          f"{', '.join(BAKE_SUFFIXES)}")
    _check_character_options(args)


def _check_batch_options(args: argparse.Namespace) -> None:
    """Fail now on options no clip can use, not once per clip after its extraction (and make a mapping file's
    path absolute: the bake may run elsewhere, on a Ray node)."""
    from core.errors import ConfigError, InputNotFoundError, ModelError
    from core.rigs import check_rig_option
    from posemoe_blender.pipeline import check_camera_options

    cleanup_options(args)
    check_camera_options(args.focal, args.lens_mm)
    if args.jobs < 0:
        raise ConfigError(f"--jobs {args.jobs}: give a number of parallel clips, or 0 for one per CPU core")
    if args.address is not None:
        if args.backend != "ray":
            raise ConfigError(f"--address {args.address} is for --backend ray; add --backend ray or leave it out")
        from posemoe_blender.batch_ray import check_address

        check_address(args.address)  # an unreachable head: now, not after Ray retried for minutes
    if args.weights is not None and not args.weights.is_file():
        raise ModelError(f"{args.weights}: weights file missing; pass --weights a trained .safetensors")
    if args.weights is not None:
        from core.weights import load_lifter

        load_lifter(args.weights)  # a corrupt or mismatched file: ModelError now, not once per clip
    if args.backend == "local" and args.device not in ("auto", "cpu"):  # a Ray cluster's nodes may have GPUs
        from core.inference import resolve_device

        resolve_device(args.device)
    if args.format != "npz":
        check_rig_option(args.rig)
        _check_character_options(args)
        if args.character is not None and not args.character.is_file():
            raise InputNotFoundError(f"{args.character}: character file not found; check the path")
        if args.rig.lower().endswith(".json"):
            args.rig = str(Path(args.rig).absolute())


_STANDING = [(0, 0, 0), (-0.1, 0, 0), (-0.1, 0.45, 0.02), (-0.1, 0.9, 0), (0.1, 0, 0), (0.1, 0.45, 0.02),
             (0.1, 0.9, 0), (0, -0.25, 0), (0, -0.5, 0), (0, -0.62, -0.08), (0, -0.78, 0), (0.19, -0.5, 0),
             (0.22, -0.22, 0), (0.24, 0.04, -0.03), (-0.19, -0.5, 0), (-0.22, -0.22, 0), (-0.24, 0.04, -0.03)]
"""A person standing, facing the camera: H36M joints, metres, camera frame (x right, y down), pelvis at 0."""


def _check_character_bakes(args: argparse.Namespace) -> None:
    """Bake a standing pose onto ``--character`` once, in a ``posemoe bake`` subprocess as every clip's bake runs,
    into the batch's format: a character that cannot be baked or written so (no armature, an unknown rig, bones
    missing, a mirrored one for glTF) fails the batch now, in one line, not every clip after its extraction and
    lifting."""
    import subprocess
    import tempfile

    import numpy as np

    from core.errors import CancelledError, ConfigError, InputNotFoundError, OutputError, RigError, WorkerEnvError
    from core.motion_file import MotionClip, write_motion

    if args.format == "npz" or args.character is None:
        return
    with tempfile.TemporaryDirectory(prefix="posemoe-check-") as tmp:
        pose = np.tile(np.asarray(_STANDING, np.float32), (2, 1, 1))
        motion = write_motion(Path(tmp) / "standing.npz", MotionClip(
            np.zeros((2, 17, 2), np.float32), np.ones((2, 17), np.float32), np.ones(2, bool), 30.0, (64, 64),
            joints_3d=pose, root=np.tile(np.float32([0, 0, 3]), (2, 1)), meta={"source": "batch check"}))
        argv = [sys.executable, "-m", "posemoe_blender.cli", "bake", str(motion), "-o",
                str(Path(tmp) / f"check.{args.format}"), *bake_argv(args), "--progress", "none"]
        r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        line = next((ln for ln in reversed(r.stderr.splitlines()) if ln.startswith("posemoe: error: ")), "")
        message = line.removeprefix("posemoe: error: ") or (f"{args.character}: baking a test pose onto it failed "
                                                             f"(exit {r.returncode}); try posemoe bake on one clip")
        error = {ExitCode.NOT_FOUND: InputNotFoundError, ExitCode.OUTPUT: OutputError, ExitCode.USAGE: ConfigError,
                 ExitCode.ENVIRONMENT: WorkerEnvError, ExitCode.CANCELLED: CancelledError}.get(r.returncode, RigError)
        raise error(message)


def count(text: str) -> int:
    """argparse type: a whole number >= 0 (``--max-windows -3`` is a usage error, not a traceback)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


count.__name__ = "whole number >= 0"  # argparse names the type in its message


def positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive.__name__ = "whole number >= 1"


def _check_report_path(path: Path | None) -> None:
    """Fail in one line, before minutes of work, on a report path that cannot be written: a folder, or a file in a
    folder that does not exist or cannot be written (:func:`_output_folder`)."""
    from core.errors import OutputError

    if path is None:
        return
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give the report a file name ending in .json")
    if path.suffix.lower() != ".json":  # not some other file of the user's, replaced by a report
        raise OutputError(f"{path}: a report is JSON; give it a file name ending in .json")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist; create it or choose another")
    _output_folder(path.parent)


def _output_folder(out: Path) -> None:
    """Create ``out`` if needed and check that files can be written in it (OutputError otherwise)."""
    import tempfile

    from core.errors import OutputError

    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as e:
        raise OutputError(f"{out}: cannot be the output folder ({e.strerror}); choose a writable folder") from None


def cmd_batch(args: argparse.Namespace) -> int:
    import os
    import threading

    from core.errors import WorkerEnvError
    from core.protocol import Message, Progress
    from posemoe_blender import batch

    _check_batch_options(args)
    jobs = batch.plan_jobs(batch.find_videos(args.inputs))
    if not jobs:
        from core.errors import InputNotFoundError

        raise InputNotFoundError(f"no video files ({', '.join(batch.VIDEO_SUFFIXES)}) in {' '.join(args.inputs)}")
    _check_character_bakes(args)
    _output_folder(args.out)
    out_lock = batch.lock_output(args.out)  # held until this process exits
    manifest = batch.Manifest(args.out)
    lock, finished = threading.Lock(), [0]

    def on_update(job: batch.ClipJob, event) -> None:
        with lock:
            if event is None:
                if job.lift_args is not None or job.bake_args is not None:  # what its outputs were made from and
                    manifest.record(job)  # with, done or not (Ray: recorded here, on the driver)
                finished[0] += 1
                args.reporter(Progress("batch", finished[0], len(jobs)))
                if args.progress == "json":
                    args.reporter(Message(f"{job.rel}: {job.status} {job.error}".strip(),
                                          "warning" if job.status == "failed" else "info"))

    settings_bake = bake_argv(args)
    settings = {"out_dir": args.out, "fmt": args.format, "device": args.device,
                "jobs": args.jobs or os.cpu_count() or 1, "force": args.force,
                "lift_args": lift_argv(args), "bake_args": [] if args.format == "npz" else settings_bake}
    if args.format == "npz" and settings_bake:
        log.warning("%s: motion files are not baked with --format npz; those options are ignored",
                    " ".join(a for a in settings_bake if a.startswith("--")))
    batch.recall_options(args.out, jobs)
    for job, old in batch.keep_other_clips(args.out, jobs):
        log.warning("%s: %s in %s holds another clip's outputs; this one is written as %s", job.video, old, args.out,
                    job.rel)
    baked = batch.baked_with(args.format, settings["bake_args"]) if args.format != "npz" else None
    if not args.force and (changed := batch.changed_options(jobs, settings["lift_args"], baked)):
        log.warning("%d clip(s) in %s were made with other options; making them again", len(changed), args.out)
    args.reporter(Progress("batch", 0, len(jobs)))
    runner, early = None, False
    try:
        if args.backend == "ray":
            from posemoe_blender.batch_ray import run_on_ray

            run_on_ray(jobs, settings, args.address, on_update)
        else:
            runner = batch.BatchRunner(**settings, on_update=on_update, on_made=manifest.record)
            runner.run(jobs)
    except WorkerEnvError:
        early = finished[0] == 0  # the backend never started (Ray could not connect): the last run's summary stands
        raise
    finally:
        if early:
            args.reporter.close()
            out_lock.release()
        else:
            record = {**settings, "out_dir": str(args.out), "backend": args.backend}
            if runner is not None:
                record["lift_groups"] = runner.lift_groups  # clips per lifter group: cross-clip batching
            manifest.compact()
            args.reporter.close()
            if args.progress != "json":
                print(batch.summary_table(jobs))
            summary: Path | PosemoeError
            try:
                summary = batch.write_summary(args.out, jobs, record)
            except PosemoeError as e:  # said after the run's own outcome, never instead of an error already under way
                summary = e
            finally:
                out_lock.release()
            if isinstance(summary, Path):
                if args.progress == "json":
                    args.reporter(_result_event(summary))
                else:
                    print(f"summary: {summary}")
    if isinstance(summary, PosemoeError):
        raise summary
    return batch.exit_code(jobs)


def cmd_demo(args: argparse.Namespace) -> int:
    from posemoe_blender.demo import run_demo

    _output_folder(args.out_dir)  # before minutes of rendering the clip
    summary = run_demo(args.out_dir, inference_config(args), args.reporter, weights=args.weights)
    if args.progress == "json":
        args.reporter(_result_event(summary["blend"]))
    else:
        print(summary["text"])
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Run benchmarks/bench.py (part of a source checkout, not of the installed engine)."""
    import subprocess

    from core.errors import InputNotFoundError

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    if not script.exists():
        raise InputNotFoundError(f"{script}: benchmarks are part of the source checkout; run posemoe bench from a "
                                 "clone of the repository")
    _check_report_path(args.json_out)
    if args.gt_dir is not None and not (args.no_render and args.gt_dir.is_dir()):  # rendered into, made if missing
        _output_folder(args.gt_dir)
    argv = [sys.executable, str(script)] + (["--gt-dir", str(args.gt_dir)] if args.gt_dir else [])
    argv += ["--quick"] * args.quick + ["--no-render"] * args.no_render
    if args.skip:
        argv += ["--skip", args.skip]
    if args.json_out:
        argv += ["--out", str(args.json_out)]
    return subprocess.run(argv).returncode


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.config import load_train_config
    from core.inference import resolve_device
    from core.training import train

    cfg = load_train_config(args.config)
    if args.device != "auto":
        cfg = replace(cfg, device=args.device)
    else:
        import torch

        if cfg.device == "cpu":  # a CPU config still trains on a GPU where there is one
            cfg = replace(cfg, device="cuda" if torch.cuda.is_available() else "cpu")
        elif cfg.device.startswith("cuda") and not torch.cuda.is_available():
            from core.errors import WorkerEnvError

            raise WorkerEnvError(f"{args.config}: device = \"{cfg.device}\" but torch sees no CUDA device; train on "
                                 "a machine with a GPU, or pass --device cpu (much slower)")
    if args.bvh is not None:
        cfg = replace(cfg, data_dir=str(args.bvh))
    if args.bvh_map is not None:
        cfg = replace(cfg, bvh_map=str(args.bvh_map))
    if args.minutes is not None:
        cfg = replace(cfg, minutes=args.minutes)
    if args.sampler is not None:
        cfg = replace(cfg, sampler=args.sampler, workers=0 if args.sampler == "device" else cfg.workers)
    if args.workers is not None:
        cfg = replace(cfg, workers=args.workers)
    elif cfg.workers == 0 and cfg.sampler == "numpy" and resolve_device(cfg.device).type == "cuda":
        # one process cannot feed a GPU from the CPU
        cfg = replace(cfg, workers=max(1, min(8, len(os.sched_getaffinity(0)) - 1)))
    _output_folder(args.out)
    out = train(cfg, args.out, resume=args.resume)
    _print_result(args, out)
    return ExitCode.OK


def cmd_eval(args: argparse.Namespace) -> int:
    from core.config import TrainConfig
    from core.training import evaluate

    _check_report_path(args.json_out)
    cfg = TrainConfig(data_dir=str(args.data) if args.data else "", bvh_map=str(args.bvh_map or ""))
    report = evaluate(args.weights, cfg=cfg, max_windows=args.max_windows, flip_tta=not args.no_flip,
                      window=args.window)
    text = json.dumps(report, indent=2)
    if args.json_out:
        tmp = args.json_out.with_name(args.json_out.name + ".tmp")  # no half-written report
        tmp.write_text(text + "\n")
        os.replace(tmp, args.json_out)
    print(text)
    return ExitCode.OK


def _result_event(path: Path):
    from core.protocol import Result

    return Result(path=str(path))


def _print_result(args: argparse.Namespace, path: Path) -> None:
    if args.progress == "json":
        args.reporter(_result_event(path))
    else:
        print(path)
    args.written = path  # complete and reported: an interrupt from here on does not make it a cancelled run


BVH_MAP_HELP = ("joint mapping JSON for BVH joints not recognised by name: {\"h36m_to_bone\": {H36M joint: BVH "
                "joint}}, keys pelvis, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, spine, thorax, neck (the "
                "skull base), head (optional), l_shoulder, l_elbow, l_wrist, r_shoulder, r_elbow, r_wrist; the "
                "format of --rig mapping files")

COMMON_OPTIONS = ("--device", "--progress", "--log-level")
"""Options every command takes after its name (:func:`_add_common`)."""


def _command_first(argv: list[str], commands: set[str]) -> list[str]:
    """Return ``argv`` with common options written before the command (``posemoe --progress none capture ...``, as
    README's "every command takes --progress" invites) moved after it, where the command's parser reads them."""
    head = []
    for i, token in enumerate(argv):
        if token in commands:
            return [token, *head, *argv[i + 1:]] if head else argv
        name = token.split("=", 1)[0]
        if name not in COMMON_OPTIONS and not (head and head[-1] in COMMON_OPTIONS and "=" not in head[-1]):
            return argv  # something else before the command: argparse says what
        head.append(token)
    return argv


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the lifter runs: auto = CUDA when available, else CPU")
    g.add_argument("--progress", choices=MODES, default=None,
                   help="progress display: bar (default on a terminal), json (worker protocol lines on stdout), none")
    g.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log verbosity (logs go to stderr)")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``posemoe`` argument parser."""
    parser = _Parser(
        prog="posemoe", formatter_class=_Formatter,
        description="Video -> 3D skeletal animation: MediaPipe 2D keypoints, PoseMoE 3D lifting, "
                    "retargeting onto Blender armatures.",
        epilog="examples:\n  posemoe demo\n  posemoe capture clip.mp4 -o clip_motion.npz\n"
               "  posemoe bake clip_motion.npz -o clip.fbx --character hero.blend\n"
               "Exit codes are listed in README.md.",
    )
    parser.add_argument("--version", action="version", version=f"posemoe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str, examples: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=_Formatter,
                           epilog="examples:\n" + examples)
        p.set_defaults(func=func)
        return p

    p = add("extract", cmd_extract, "detect 2D keypoints (MediaPipe) in a video",
            "  posemoe extract dance.mp4 -o dance_keypoints.npz")
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="keypoints .npz to write")
    _add_common(p)

    p = add("lift", cmd_lift, "lift 2D keypoints (.npz from any detector) to 3D with PoseMoE",
            "  posemoe lift dance_keypoints.npz -o dance_motion.npz\n"
            "  posemoe lift my_detector.npz -o motion.npz --smoothing none --device cpu")
    p.add_argument("keypoints", type=Path, help="keypoints .npz: joints_2d, scores, valid, fps, image_size")
    p.add_argument("-o", "--output", type=Path, required=True, help="motion .npz to write")
    p.add_argument("--layout", choices=("auto", "h36m", "coco"), default="auto",
                   help="joints_2d's joint order: H36M-17 (ours, docs/FORMATS.md), COCO-17 (YOLO pose, RTMPose, "
                        "ViTPose, Detectron2, ...), or auto: told apart by the body's shape")
    add_lift_options(p)
    _add_common(p)

    p = add("capture", cmd_capture, "video -> motion file (extract + lift in one pass)",
            "  posemoe capture dance.mp4 -o dance_motion.npz\n"
            "  posemoe capture dance.mp4 -o m.npz --keypoints-out k.npz --progress json")
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="motion .npz to write")
    p.add_argument("--keypoints-out", type=Path, default=None, help="also write the 2D keypoints .npz here")
    add_lift_options(p)
    _add_common(p)

    p = add("bake", cmd_bake, "bake a motion file onto an armature and write .blend/.fbx/.bvh/.glb (headless bpy)",
            "  posemoe bake dance_motion.npz -o dance.fbx\n"
            "  posemoe bake dance_motion.npz -o dance.blend --character hero.blend --armature Armature")
    p.add_argument("motion", type=Path, help="motion .npz from capture or lift")
    p.add_argument("-o", "--output", type=Path, required=True, help=f"output file, one of {', '.join(BAKE_SUFFIXES)}")
    add_bake_options(p)
    _add_common(p)

    p = add("batch", cmd_batch, "convert many clips (files, folders, globs) headless; resumable, with a summary",
            "  posemoe batch clips/ --out out/ --format fbx\n"
            "  posemoe batch 'shoot/**/*.mov' --out out/ --format blend --character hero.blend --jobs 2\n"
            "exit code 0 = all clips done, 7 = some failed (see out/summary.json), 130 = interrupted")
    p.add_argument("inputs", nargs="+",
                   help="video files, folders (searched recursively) or quoted globs; from folders and globs the "
                        "files with a video's suffix, hidden ones (.NAME, macOS's ._NAME) left out")
    p.add_argument("--out", type=Path, required=True, help="output folder (mirrors the input folders)")
    p.add_argument("--format", choices=("fbx", "blend", "bvh", "glb", "npz"), default="fbx", help="output format")
    p.add_argument("--jobs", type=int, default=0,
                   help="2D extractions and bakes run at once (0 = number of CPU cores); locally one lifter "
                        "process lifts the clips as their 2D is ready, batched together")
    p.add_argument("--force", action="store_true",
                   help="redo clips whose outputs are already complete (outputs made with other options are "
                        "made again without it)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local = subprocesses on this machine; ray = tasks on a Ray instance or cluster")
    p.add_argument("--address", default=None,
                   help="Ray cluster address, HOST:PORT of its head (e.g. head:6379) or auto; default: start a local "
                        "instance")
    add_lift_options(p.add_argument_group("lifting, for every clip (as posemoe capture)"))
    add_bake_options(p.add_argument_group("baking, for every clip (as posemoe bake; not with --format npz)"))
    _add_common(p)

    p = add("demo", cmd_demo, "run the whole pipeline on the demo clip; writes demo.blend and demo.fbx",
            "  posemoe demo\n  posemoe demo --out-dir /tmp/demo")
    p.add_argument("--out-dir", type=Path, default=Path("demo_out"), help="folder for the demo outputs")
    add_model_options(p)  # the demo's clip and clean-up are fixed: its figures compare across runs
    _add_common(p)

    p = add("bench", cmd_bench, "measure accuracy (rendered ground truth), speed per stage and memory; "
            "writes benchmarks/results/bench.json and docs/images/bench_*.png",
            "  posemoe bench --quick\n  posemoe bench --skip scale")
    p.add_argument("--quick", action="store_true", help="demo clip + 2 rendered clips, short memory runs (minutes)")
    p.add_argument("--gt-dir", type=Path, default=None,
                   help="cache of the rendered ground-truth clips, rendered on first use from ../shared/data "
                        "(default: ~/.cache/posemoe/gt)")
    p.add_argument("--no-render", action="store_true", help="use only ground-truth clips already rendered")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: accuracy, speed, scale")
    p.add_argument("--json-out", type=Path, default=None,
                   help="write the JSON here (a .json name), the tables beside it as the same name's .md and the "
                        "plots as bench_*.png (default: benchmarks/results)")
    _add_common(p)

    p = add("train", cmd_train, "train a lifter on BVH motion capture (TOML config)",
            "  posemoe train --config configs/posemoe_cpu.toml --out runs/posemoe\n"
            "  posemoe train --config configs/posemoe_cpu.toml --out runs/posemoe --resume")
    p.add_argument("--config", type=Path, required=True, help="training config (.toml)")
    p.add_argument("--out", type=Path, required=True, help="output folder for checkpoints and logs")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--bvh", type=Path, default=None,
                   help="train on this BVH folder (.bvh or .bvh.gz, one skeleton; subfolders are subjects, held out "
                        "whole for validation) instead of the config's data")
    p.add_argument("--bvh-map", type=Path, default=None, help=BVH_MAP_HELP)
    p.add_argument("--minutes", type=float, default=None, help="override the config's wall-clock budget")
    p.add_argument("--workers", type=count, default=None,
                   help="batch-making processes (default: the config's; if that is 0 on a GPU, min(8, cores - 1))")
    p.add_argument("--sampler", choices=("numpy", "device"), default=None,
                   help="where training batches are made: numpy processes, or on the training device itself "
                        "(default: the config's)")
    _add_common(p)

    p = add("eval", cmd_eval, "evaluate lifter weights on the held-out CMU subjects",
            "  posemoe eval --weights core/assets/temporal_mlp_v8.safetensors --json-out eval.json")
    p.add_argument("--weights", type=Path, required=True, help="weights .safetensors")
    p.add_argument("--data", type=Path, default=None, help="BVH folder (default: ../shared/data/mocap/cmu); one "
                   "that holds none of the weights' validation subjects is evaluated whole")
    p.add_argument("--bvh-map", type=Path, default=None,
                   help=BVH_MAP_HELP + " (default: the one the weights were trained with, if any)")
    p.add_argument("--json-out", type=Path, default=None, help="also write the report here")
    p.add_argument("--max-windows", type=count, default=0, help="evaluate at most this many windows (0 = all)")
    p.add_argument("--no-flip", action="store_true", help="disable flip test-time augmentation")
    p.add_argument("--window", type=positive, default=None,
                   help="evaluate on windows of this many frames (default: the model's own; compares models of "
                        "different windows on the same frames; a transformer accepts at most its own)")
    _add_common(p)
    return parser


def configure_logging(level: str) -> None:
    """Log to stderr (looked up at each write) with a short format."""
    handler = logging.StreamHandler(LiveStream("stderr"))
    handler.setFormatter(logging.Formatter("posemoe: %(levelname)s: %(message)s"))
    handler.setLevel(level)  # also for records of libraries' own loggers set lower (Blender's glTF exporter: INFO)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _on_sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt  # stopped as by Ctrl-C: subprocesses stopped, temp files removed, exit 130


def _json_failure(args: argparse.Namespace, message: str, kind: str) -> None:
    """With ``--progress json``, end the event stream with the failure, as the worker protocol does."""
    if args.progress == "json":
        from core.protocol import Failure

        args.reporter(Failure(message=message, kind=kind))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (never raises for expected errors)."""
    import signal
    import threading

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse keeps them there
    args = parser.parse_args(_command_first(list(sys.argv[1:] if argv is None else argv), commands))
    configure_logging(args.log_level)
    args.progress = args.progress or default_mode()
    args.reporter = Reporter(args.progress)
    on_main = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main else None
    parent = os.environ.pop(PARENT_ENV, "")  # popped: this process's own children have another parent
    if parent.isdigit() and on_main:  # started by a batch: stop if it is killed outright
        exit_with_parent(int(parent))
    try:
        _check_path_names(args)
        return int(args.func(args))
    except PosemoeError as e:
        args.reporter.close()
        _json_failure(args, str(e), e.kind)
        # one line whatever it quotes: a path with a newline in its name is written with \n
        sys.stderr.write("posemoe: error: " + str(e).replace("\r", "\\r").replace("\n", "\\n") + "\n")
        return int(e.exit_code)
    except KeyboardInterrupt:
        args.reporter.close()
        if getattr(args, "written", None) is not None:
            sys.stderr.write(f"posemoe: interrupted after {args.written} was written in full; nothing was lost\n")
            return int(ExitCode.OK)
        _json_failure(args, "cancelled", "cancelled")
        sys.stderr.write("posemoe: cancelled\n")
        return int(ExitCode.CANCELLED)
    except Exception as e:  # a bug: its traceback follows (exit 1); a JSON reader is told too
        _json_failure(args, f"internal error ({type(e).__name__}: {e}); please report it with this log", "bug")
        raise
    finally:
        args.reporter.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
