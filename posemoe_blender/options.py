"""Command-line options shared by the ``posemoe`` subcommands and the processes ``posemoe batch`` starts.

Each option is defined once here. ``lift``, ``capture`` and ``bake`` parse them; ``batch`` parses the
lifting and baking ones too and hands them on, as arguments (:func:`lift_argv`, :func:`bake_argv`), to
its lifter process and to its ``capture`` / ``bake`` subprocesses, which parse them again with these
same definitions: a new option reaches every path without being listed twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

SMOOTHING = ("none", "light", "medium", "strong")
HEIGHT_RANGE_M = (0.5, 2.6)


def add_model_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The lifter's weights and how it runs."""
    p.add_argument("--weights", type=Path, default=None,
                   help="lifter weights (.safetensors with its .json beside it); default: the bundled model")
    p.add_argument("--no-flip", action="store_true", help="disable flip test-time augmentation (faster)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="windows per lifter batch (0 = 16 on a CPU, 256 on CUDA)")


def add_lift_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The model options and the clean-up's (:func:`cleanup_options`)."""
    add_model_options(p)
    p.add_argument("--smoothing", choices=SMOOTHING, default="medium",
                   help="temporal smoothing preset (zero-phase low-pass at 8/5/3 Hz for light/medium/strong)")
    p.add_argument("--subject-height", type=float, default=1.75, help="the person's height in metres (sets scale)")
    lens = p.add_mutually_exclusive_group()
    lens.add_argument("--focal", type=float, default=None,
                      help="camera focal length in pixels, where known: the lifter then sees the clip as through "
                           "the lens it knows best (default: unknown; the clean-up assumes a 60 degree view)")
    lens.add_argument("--lens-mm", type=float, default=None,
                      help="the lens's 35 mm-equivalent focal length, as phones state it (main camera about 26, "
                           "ultra-wide 0.5x about 13, telephoto 3x about 77); sets --focal from the video's size. "
                           "Without either, the lens the video states (iPhones write it) is used where it states one")
    p.add_argument("--ignore-lens-metadata", action="store_true",
                   help="do not use the lens the video's metadata states (lift the clip as with an unknown lens)")
    p.add_argument("--no-foot-lock", action="store_true", help="do not pin feet to the ground during contacts")
    p.add_argument("--level-camera", action="store_true",
                   help="the camera was level (tripod): fit only the ground's height, not its tilt")
    p.add_argument("--lying-down", action="store_true",
                   help="the person lies down for most of the clip (floor work, a bench) in an upright video: lift "
                        "as filmed, the ground under the body (by default a person lying across the picture is "
                        "taken for a video on its side and stood up)")
    p.add_argument("--static-camera", action="store_true",
                   help="the camera stood still: ignore its turn and travel measured on the background (by "
                        "default a camera that turned or travelled to follow the person is taken out of the motion)")


def add_bake_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The target armature and what of the motion is keyed."""
    p.add_argument("--character", type=Path, default=None,
                   help=".blend, .fbx, .glb, .gltf or .vrm holding the target armature; default: a generated armature")
    p.add_argument("--armature", default=None, help="armature object name when the character file has several")
    p.add_argument("--rig", default="auto",
                   help="bone-name preset (auto; mixamo, mixamo_plain without the mixamorig: prefix, rigify for "
                        "its DEF- bones, rigify_fk for a generated rig's FK controls, unreal, cmu / makehuman) or a "
                        "JSON mapping file")
    p.add_argument("--no-root-motion", action="store_true", help="do not key the hips location")
    p.add_argument("--in-place", action="store_true", help="keep vertical root motion only (no travel)")
    p.add_argument("--travel-on-root", action="store_true",
                   help="key the travel over the ground on the armature's bone above the hips (an Unreal-style "
                        "root), where game engines read root motion; the hips keep the height and every turn. "
                        "Without it the hips carry the travel")
    p.add_argument("--turn-on-root", action="store_true",
                   help="also key the body's heading (its turn about the vertical, smoothed over the stride's swing) "
                        "on that bone, for engines that take root motion with rotation; implies --travel-on-root "
                        "(with --in-place: the turn alone)")


def inference_config(args: argparse.Namespace):
    """The core.config.InferenceConfig that the model options (and ``--device``) ask for."""
    from core.config import InferenceConfig

    if args.batch_size < 0:
        from core.errors import ConfigError

        raise ConfigError(f"--batch-size {args.batch_size}: give 0 (automatic) or a number of windows")
    return InferenceConfig(device=args.device, flip_tta=not args.no_flip, batch_size=args.batch_size)


def cleanup_options(args: argparse.Namespace) -> dict:
    """The keyword options of posemoe_blender.pipeline.lift / capture; ConfigError for a height no person has."""
    lo, hi = HEIGHT_RANGE_M
    if not lo <= args.subject_height <= hi:
        from core.errors import ConfigError

        cm = f" (in centimetres? give metres: --subject-height {args.subject_height / 100:g})" \
            if lo <= args.subject_height / 100 <= hi else ""
        raise ConfigError(f"--subject-height {args.subject_height} m is not a human height ({lo}-{hi} m){cm}")
    return {"subject_height": args.subject_height, "focal": args.focal, "lens_mm": args.lens_mm,
            "lens_metadata": not args.ignore_lens_metadata,
            "foot_lock": not args.no_foot_lock, "level_camera": args.level_camera, "static_camera": args.static_camera,
            "lying_down": args.lying_down}


def _argv(add: Callable[[argparse.ArgumentParser], None], args: argparse.Namespace) -> list[str]:
    """The arguments that give a parser built by ``add`` the values ``args`` holds (defaults left out)."""
    p = argparse.ArgumentParser(add_help=False)
    add(p)
    out: list[str] = []
    for action in p._actions:  # argparse keeps no public list of a parser's options
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            out.append(action.option_strings[-1])
        else:
            # absolute: the subprocess may start elsewhere (a Ray node)
            out += [action.option_strings[-1], str(value.absolute() if isinstance(value, Path) else value)]
    return out


def lift_argv(args: argparse.Namespace) -> list[str]:
    """``args``' lifting options (:func:`add_lift_options`) as arguments for ``capture`` or the batch lifter."""
    return _argv(add_lift_options, args)


def bake_argv(args: argparse.Namespace) -> list[str]:
    """``args``' baking options (:func:`add_bake_options`) as arguments for ``bake``."""
    return _argv(add_bake_options, args)
