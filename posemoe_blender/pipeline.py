"""Video -> motion file: 2D extraction, PoseMoE lifting, root trajectory, smoothing.

capture = extract + lift (load_model, lift_sequence, to_motion); ``posemoe batch`` composes
the same pieces with one :class:`Lifter` for many clips (lift_clips) in its lifter process.

Each stage reports :class:`core.protocol.Progress` events through ``emit`` so the CLI
(bar or JSON) and the worker (protocol lines) show the same progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core import __version__
from core.config import InferenceConfig
from core.errors import CancelledError
from core.keypoints import LIFTER_ANKLE_RAISE
from core.motion_cleanup import DEFAULT_PRESET, DEFAULT_SUBJECT_HEIGHT
from core.motion_file import (
    DETECTOR_EXTRAS,
    JOINT_CENTRES_KEY,
    Keypoints2D,
    MotionClip,
    atomic_save_all,
    check_writable,
    keypoints_arrays,
    motion_arrays,
)
from core.protocol import Event, Message, Progress

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
CancelFn = Callable[[], bool]


def _noop(_event: Event) -> None:
    pass


class _WarningsToEvents(logging.Handler):
    """Pass the engine's warnings (feet out of view, another person, a moving camera) on as protocol
    Messages, so the add-on and ``--progress json`` show them, not only the log."""

    def __init__(self, emit: Emit) -> None:
        super().__init__(logging.WARNING)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        self._emit(Message(record.getMessage(), "warning"))


@contextmanager
def _engine_warnings(emit: Emit) -> Iterator[None]:
    handler = _WarningsToEvents(emit)
    engine = logging.getLogger("core")
    engine.addHandler(handler)
    try:
        yield
    finally:
        engine.removeHandler(handler)


@contextmanager
def _said_of_frames(first: int, last: int, shots: int) -> Iterator[None]:
    """Put "frames FIRST-LAST: " before what the clean-up says while one shot of an edited clip (of ``shots``) is
    cleaned: each shot is cleaned on its own and may warn of the same thing, which twice over read as one repeat."""
    if shots < 2:
        yield
        return

    def prefix(record: logging.LogRecord) -> bool:
        record.msg, record.args = f"frames {first}-{last}: {record.getMessage()}", None
        return True

    engine = logging.getLogger("core.motion_cleanup")
    engine.addFilter(prefix)
    try:
        yield
    finally:
        engine.removeFilter(prefix)


def extract(video: Path, emit: Emit = _noop, should_cancel: CancelFn | None = None) -> Keypoints2D:
    """Return the 2D keypoints of ``video`` (MediaPipe), reporting stage "extract"."""
    from core.extract import extract_keypoints

    with _engine_warnings(emit):
        kp = extract_keypoints(Path(video), on_progress=lambda d, t: emit(Progress("extract", d, t)),
                               should_cancel=should_cancel)
    kp.extras["source"] = np.asarray(str(Path(video).name))
    return kp


@dataclass(frozen=True)
class Lifter:
    """Lifter weights loaded once, to lift many clips (``posemoe batch``'s lifter process)."""

    model: Any
    window: int
    weights: Path
    sha256: str
    ankle_raise: float = LIFTER_ANKLE_RAISE  # core.weights.ankle_raise: from the weights' training recipe


def load_model(weights: Path | None = None, cfg: InferenceConfig | None = None) -> Lifter:
    """Return the lifter for ``weights`` (default: the bundled model) on ``cfg.device``."""
    from core.inference import resolve_device
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, json_path, load_lifter

    weights = Path(weights) if weights else DEFAULT_WEIGHTS
    device = resolve_device((cfg or InferenceConfig()).device)
    model, model_cfg, wmeta = load_lifter(weights, device=str(device))
    raise_by = ankle_raise(wmeta, str(json_path(weights)))
    return Lifter(model, model_cfg.window, weights, wmeta.get("sha256", ""), raise_by)


def _cpu_fallback(run: Callable[[Any, InferenceConfig], Any], model: Any, cfg: InferenceConfig,
                  emit: Emit) -> tuple[Any, InferenceConfig]:
    """Return (``run(model, cfg)``, cfg used); on CUDA out-of-memory, warn and redo it on the CPU."""
    import torch

    try:
        return run(model, cfg), cfg
    except torch.cuda.OutOfMemoryError:
        note = "CUDA ran out of memory while lifting; finishing on the CPU (slower, same result)"
        log.warning(note)
        emit(Message(note, "warning"))
        torch.cuda.empty_cache()
        cfg = replace(cfg, device="cpu")
        return run(model.cpu(), cfg), cfg


def lift_clips(kps: list[Keypoints2D], lifter: Lifter, cfg: InferenceConfig | None = None, emit: Emit = _noop,
               focals: list[float | None] | None = None, lying_down: bool = False,
               ) -> tuple[list[np.ndarray], InferenceConfig]:  # fmt: skip
    """Return the raw 3D joints of several clips lifted together (windows share batches), and the cfg used.
    ``focals``: each clip's known focal length in pixels (see :func:`known_focal`), default unknown;
    ``lying_down``: lift every clip as filmed (core.inference.lift_input's ``upright`` False)."""
    from core import inference

    focals = focals or [None] * len(kps)
    pieces = [(i, a, b) for i, kp in enumerate(kps) for a, b in clip_shots(kp)]  # each shot lifted on its own
    xs = [lifter_joints(kp, lifter.ankle_raise) for kp in kps]
    clips = [inference.ClipInput(xs[i][a:b], kps[i].image_size, kps[i].valid[a:b], kps[i].fps, focals[i],
                                 not lying_down) for i, a, b in pieces]
    progress = lambda d, t: emit(Progress("lift", d, t))  # noqa: E731
    turned, cfg = _cpu_fallback(lambda m, c: inference.lift_clips(m, clips, lifter.window, c, progress),
                                lifter.model, cfg or InferenceConfig(), emit)
    return [np.concatenate([j for (i, _, _), j in zip(pieces, turned, strict=True) if i == n])
            for n in range(len(kps))], cfg


def clip_shots(kp: Keypoints2D) -> list[tuple[int, int]]:
    """Return the clip's shots as half-open frame ranges (core.shots.shot_spans of the cuts extraction found,
    ``shot_cuts``): one range for a clip of one shot, or for keypoints that do not say."""
    from core.shots import shot_spans

    cuts = kp.extras.get("shot_cuts")
    try:
        cuts = np.asarray(cuts if cuts is not None else [], np.float64).ravel()
    except (TypeError, ValueError):
        cuts = np.zeros(0)
    cuts = cuts[np.isfinite(cuts)].astype(int)
    return shot_spans(cuts, kp.valid, kp.fps)


def to_motion(
    kp: Keypoints2D,
    joints_3d: np.ndarray,
    lifter: Lifter,
    cfg: InferenceConfig,
    smoothing: str = DEFAULT_PRESET,
    emit: Emit = _noop,
    source: str = "",
    lift_seconds: float = 0.0,
    *,
    subject_height: float = DEFAULT_SUBJECT_HEIGHT,
    focal: float | None = None,
    focal_from: str = "",
    foot_lock: bool = True,
    fixed_bones: bool = True,
    level_camera: bool = False,
    static_camera: bool = False,
    lying_down: bool = False,
) -> MotionClip:
    """Return the motion clip for lifted ``joints_3d``: clean-up (see :func:`lift`) and provenance.
    ``focal_from``: what stated ``focal`` (:func:`known_focal`), recorded in the meta. ``lying_down``: the person
    lies down in an upright video; ``joints_3d`` must then have been lifted as filmed (``lift_clips`` /
    ``lift_sequence`` with it too), and the clean-up's ground leans on the level camera, not the body's up."""
    from core.inference import rate_plan, resolve_device
    from core.keypoints import lies_across, upright_turns
    from core.motion_cleanup import clean_motion
    from core.shots import join_shots, shared_bone_lengths, shot_flow, shot_rotations

    emit(Progress("filter", 0, 1))
    spans = clip_shots(kp)
    # a person across an upright picture most of a shot, upright in some of it: lifted as filmed (upright_turns)
    # and cleaned as --lying-down cleans, the ground from the level camera rather than the body's up
    lying = [not lying_down and lies_across(kp.joints_2d[a:b], kp.valid[a:b]) for a, b in spans]
    if any(lying):
        where = "" if len(spans) == 1 else " (frames " + ", ".join(
            f"{a}-{b - 1}" for (a, b), x in zip(spans, lying, strict=True) if x) + ")"
        note = (f"{source or 'the clip'}: the person lies or crouches across the picture most of the time{where} "
                "and is upright some of it: lifted as filmed, the ground under the body (as --lying-down does; "
                "add-on: Lying Down)")
        log.warning(note)
        emit(Message(note, "warning"))
    rotation = None if static_camera else kp.extras.get("camera_rotation")
    flow = None if static_camera else (kp.extras.get("camera_flow"), kp.extras.get("camera_flow_frames"))
    one_body = fixed_bones and len(spans) > 1  # the same bones in every shot, not each shot's own
    bones = shared_bone_lengths(joints_3d, kp.scores, kp.valid, spans) if one_body else None
    parts = []
    with _engine_warnings(emit):
        for n, (a, b) in enumerate(spans):  # one shot, or each shot of an edited clip on its own (core.shots)
            with _said_of_frames(a, b - 1, len(spans)):
                parts.append(clean_motion(
                    joints_3d[a:b], kp.joints_2d[a:b], kp.scores[a:b], kp.valid[a:b], kp.fps, kp.image_size,
                    preset=smoothing, subject_height=subject_height, focal=focal, foot_lock=foot_lock,
                    fixed_bones=fixed_bones, level_camera=level_camera, lying_down=lying_down or lying[n],
                    camera_rotation=rotation if len(spans) == 1 else shot_rotations(rotation, a, b),
                    camera_flow=flow if len(spans) == 1 else shot_flow(flow, a, b), bone_lengths=bones,
                    on_progress=lambda done, total, n=n: emit(Progress("filter", n * (total + 1) + done,
                                                                       len(spans) * (total + 1))),
                ))
    joints_3d, root, info = parts[0] if len(parts) == 1 else join_shots(parts, spans)
    emit(Progress("filter", 1, 1))
    # as lifting turned each shot (core.inference.lift_input): record it, and say where a person across the
    # picture was taken for a video on its side, the other reading first (the add-on shows 200 characters)
    shot_turns = [0 if lying_down else upright_turns(kp.joints_2d[a:b], kp.valid[a:b]) for a, b in spans]
    across = [(a, b) for (a, b), k in zip(spans, shot_turns, strict=True) if k % 2]
    if across:
        where = "" if len(spans) == 1 else " (frames " + ", ".join(f"{a}-{b - 1}" for a, b in across) + ")"
        note = (f"{source or 'the clip'}: lifted as a video turned on its side{where}; if it plays upright and the "
                "person lies down, use --lying-down (add-on: Lying Down)")
        log.warning(note)
        emit(Message(note, "warning"))
    frames = np.bincount(shot_turns, weights=[b - a for a, b in spans], minlength=4)
    turns = int(np.argmax(frames))  # the turn of most frames (one shot: its own)
    up, streams = rate_plan(kp.fps, len(kp.joints_2d))
    meta = {
        "tool": "posemoe", "version": __version__, "weights": lifter.weights.name,
        "weights_sha256": lifter.sha256, "source": source,
        "inference": asdict(cfg), "smoothing": smoothing, "constant_bone_lengths": fixed_bones,
        "device": str(resolve_device(cfg.device)), "lift_seconds": round(lift_seconds, 4),
        "upright_quarter_turns": turns,
        "lifted_at_fps": round(kp.fps * up / streams, 3), "focal_from": focal_from if focal else "", **info,
    }
    extras = {k: v for k, v in kp.extras.items() if k not in DETECTOR_EXTRAS + ("source", JOINT_CENTRES_KEY)}
    if made_by_our_extractor(kp):  # a later `lift` of this motion file then gives the lifter the same ankles
        extras[JOINT_CENTRES_KEY] = np.asarray(1, np.uint8)
    return MotionClip(kp.joints_2d, kp.scores, kp.valid, kp.fps, kp.image_size, extras,
                      joints_3d=joints_3d.astype(np.float32), root=root.astype(np.float32), meta=meta)


def read_keypoints_for_lifting(path: Path, layout: str = "auto") -> Keypoints2D:
    """Return the keypoints in ``path`` (core.motion_file.read_keypoints) in H36M-17 order: COCO-17 keypoints
    (``layout`` "coco", or "auto" and their shape says so) converted (core.keypoints.coco_to_h36m), and joints remade
    from the MediaPipe landmarks by the current rule where the file holds an earlier rule's, unedited
    (core.keypoints.remake_old_keypoints)."""
    from core.keypoints import coco_to_h36m, keypoint_layout, remake_old_keypoints
    from core.motion_file import read_keypoints

    kp = read_keypoints(path)
    landmarks = kp.extras.get("mp_landmarks")
    if landmarks is None and layout != "h36m":  # our extractor's files keep the landmarks: H36M
        found = keypoint_layout(kp.joints_2d, kp.valid)
        if layout == "coco" or found == "coco":
            if layout == "auto":
                log.warning("%s: the keypoints are in COCO-17 order (nose, eyes, ears, shoulders, ...), read as such; "
                            "pass --layout h36m if they are not", path)
            joints, scores = coco_to_h36m(kp.joints_2d, kp.scores)
            return replace(kp, joints_2d=joints, scores=scores)
        if found == "unknown":
            log.warning("%s: the keypoints do not sit as H36M-17 or COCO-17 joints do (docs/FORMATS.md); lifted as "
                        "H36M-17, the motion may be a tangle: check the joint order", path)
    old_rule = None if landmarks is None else remake_old_keypoints(kp.joints_2d, kp.scores, landmarks, kp.valid)
    if old_rule:
        log.info("%s: written by %s; its joints were remade from its MediaPipe landmarks", path, old_rule)
    return kp


def sides_unflipped(kp: Keypoints2D) -> Keypoints2D:
    """Return ``kp`` with the detector's brief left/right label flips undone (core.side_flips), or ``kp`` itself
    where there are none. Every lifting path calls this first, so the lifter and the clean-up see the same 2D."""
    from core.side_flips import side_flips, unflip

    flips: dict[str, np.ndarray] = {}
    for a, b in clip_shots(kp):  # shot by shot: the jump at a cut is no flip of the labels
        for group, frames in side_flips(kp.joints_2d[a:b], kp.valid[a:b], kp.fps).items():
            flips.setdefault(group, np.zeros(len(kp.valid), bool))[a:b] = frames
    counts = {group: int(frames.sum()) for group, frames in flips.items() if frames.any()}
    if not counts:
        return kp
    joints, scores = unflip(kp.joints_2d, kp.scores, flips)
    log.info("left and right labels swapped back where the detector flipped them: %s",
             ", ".join(f"{group} in {n} frame{'s' * (n != 1)}" for group, n in counts.items()))
    return replace(kp, joints_2d=joints, scores=scores)


def lifter_joints(kp: Keypoints2D, raise_by: float = LIFTER_ANKLE_RAISE) -> np.ndarray:
    """Return ``kp``'s 2D joints as the lifter is given them. Keypoints our extractor made (joint centres, moved from
    MediaPipe's landmarks) get their ankles raised ``raise_by`` towards the knees, where the lifter learnt a
    detector's (core.keypoints.lifter_ankles; ``Lifter.ankle_raise`` for the weights in use); another detector's
    keypoints (no MediaPipe landmarks) go in as they are, as its ankles are a detector's already. The clean-up after
    lifting keeps the joint centres."""
    from core.keypoints import lifter_ankles

    return lifter_ankles(kp.joints_2d, raise_by) if made_by_our_extractor(kp) else kp.joints_2d


def made_by_our_extractor(kp: Keypoints2D) -> bool:
    """Return whether ``kp``'s joints are our extractor's joint centres: a keypoints file that keeps MediaPipe's
    landmarks, or a motion file lifted from one (which drops the landmarks but keeps the JOINT_CENTRES_KEY flag)."""
    flag = np.asarray(kp.extras.get(JOINT_CENTRES_KEY, 0))
    flagged = flag.dtype.kind in "biuf" and flag.size == 1 and flag.reshape(()) == 1  # anything else: as they are
    return "mp_landmarks" in kp.extras or bool(flagged)


def lift(
    kp: Keypoints2D,
    weights: Path | None = None,
    cfg: InferenceConfig | None = None,
    smoothing: str = DEFAULT_PRESET,
    emit: Emit = _noop,
    source: str = "",
    lens_mm: float | None = None,
    lens_metadata: bool = True,
    lifter: Lifter | None = None,
    **cleanup: Any,
) -> MotionClip:
    """Return the motion clip lifted from ``kp`` with the given (default: bundled) weights.

    The detector's brief left/right label flips are undone first (:func:`sides_unflipped`). After lifting,
    core.motion_cleanup.clean_motion applies the smoothing preset, constant bone
    lengths, a metric scale from ``subject_height`` (metres), the root trajectory (``focal`` in
    pixels, default from a 60 degree field of view), the ground plane and foot locking.
    A known focal length (``focal`` pixels, or ``lens_mm``, the lens's 35 mm-equivalent focal length, or else
    the lens the video states unless ``lens_metadata`` is False: :func:`known_focal`) is also given to the
    lifter (core.inference.lift_input). ``lifter``: one already loaded (then ``weights`` is not read).
    ``cleanup``: the keyword options of :func:`to_motion`.
    """
    from core import inference

    kp = sides_unflipped(kp)
    check_camera_options(cleanup.get("focal"), lens_mm, kp.image_size)
    cleanup["focal"], cleanup["focal_from"] = known_focal(kp, cleanup.get("focal"), lens_mm, lens_metadata, emit)
    cfg = cfg or InferenceConfig()
    lifter = lifter or load_model(weights, cfg)
    t0 = time.perf_counter()
    progress = lambda d, t: emit(Progress("lift", d, t))  # noqa: E731
    x = lifter_joints(kp, lifter.ankle_raise)
    frames = len(x)

    def shot_progress(a: int, b: int) -> Callable[[int, int], None]:  # one bar over every shot
        return lambda d, t: progress(a + (b - a) * d // max(t, 1), frames)

    joints_3d, cfg = _cpu_fallback(
        lambda m, c: np.concatenate([
            inference.lift_sequence(x[a:b], kp.image_size, m, lifter.window, c, on_progress=shot_progress(a, b),
                                    valid=kp.valid[a:b], fps=kp.fps, focal=cleanup.get("focal"),
                                    upright=not cleanup.get("lying_down", False))
            for a, b in clip_shots(kp)]),  # each shot of an edited clip on its own (core.shots)
        lifter.model, cfg, emit)
    return to_motion(kp, joints_3d, lifter, cfg, smoothing, emit, source, time.perf_counter() - t0, **cleanup)


def known_focal(kp: Keypoints2D, focal: float | None = None, lens_mm: float | None = None,
                lens_metadata: bool = True, emit: Emit = _noop) -> tuple[float | None, str]:
    """Return the clip's focal length in pixels where something states it, and what: ``focal`` ("--focal"),
    else ``lens_mm`` ("--lens-mm"), else, unless ``lens_metadata`` is False, the lens the video's metadata
    states ("video metadata": the ``lens_mm`` extra that core.extract keeps); (None, "") when nothing does.
    A stated lens outside LENS_MM_RANGE is ignored with a warning (the options are checked before, in
    :func:`check_camera_options`)."""
    from core.world import LENS_MM_RANGE, focal_from_lens_mm

    if focal is not None:
        return float(focal), "--focal"
    if lens_mm is not None:
        return focal_from_lens_mm(lens_mm, kp.image_size), "--lens-mm"
    if not lens_metadata or "lens_mm" not in kp.extras:
        return None, ""
    try:
        mm = float(np.asarray(kp.extras["lens_mm"]).reshape(()))  # one number; anything else is not a lens
    except (TypeError, ValueError):
        mm = float("nan")
    lo, hi = LENS_MM_RANGE
    if not (np.isfinite(mm) and lo <= mm <= hi):
        stated = f"{mm:g} mm" if np.isfinite(mm) else "not a number"
        note = (f"ignoring the lens the video states ({stated}): a 35 mm-equivalent focal length is {lo:g}-{hi:g} "
                "mm; give --lens-mm if you know it")
        log.warning(note)
        emit(Message(note, "warning"))
        return None, ""
    log.info("lens from the video's metadata: %g mm (35 mm equivalent)", mm)
    return focal_from_lens_mm(mm, kp.image_size), "video metadata"


def check_camera_options(focal: float | None, lens_mm: float | None,
                         image_size: tuple[int, int] | None = None) -> None:
    """Raise ConfigError unless the camera options are usable: at most one of them, a lens in LENS_MM_RANGE
    and, where the image size is known, a focal length in pixels that is such a lens's."""
    from core.errors import ConfigError
    from core.world import FULL_FRAME_DIAGONAL_MM, LENS_MM_RANGE

    lo, hi = LENS_MM_RANGE
    if focal is not None and lens_mm is not None:
        raise ConfigError("give the camera's focal length once: --focal (pixels) or --lens-mm (35 mm equivalent)")
    if focal is not None and not (np.isfinite(focal) and focal > 0):
        raise ConfigError(f"--focal {focal}: a focal length in pixels is positive (about the image width)")
    if lens_mm is not None and not (np.isfinite(lens_mm) and lo <= lens_mm <= hi):
        raise ConfigError(f"--lens-mm {lens_mm}: a 35 mm-equivalent focal length is {lo:g}-{hi:g} mm "
                          "(a phone's main camera is about 26)")
    if focal is not None and image_size is not None:
        mm = focal * FULL_FRAME_DIAGONAL_MM / float(np.hypot(*image_size))
        if not lo <= mm <= hi:
            w, h = image_size
            raise ConfigError(f"--focal {focal:g} px on a {w}x{h} video is a {mm:.3g} mm lens (35 mm equivalent), "
                              f"not a camera's {lo:g}-{hi:g}: give the focal length in pixels (about {w} for a "
                              "phone's main camera) or use --lens-mm")


def capture(
    video: Path,
    out: Path,
    weights: Path | None = None,
    cfg: InferenceConfig | None = None,
    smoothing: str = DEFAULT_PRESET,
    emit: Emit = _noop,
    should_cancel: CancelFn | None = None,
    keypoints_out: Path | None = None,
    **cleanup,
) -> Path:
    """Run extract + lift on ``video`` and atomically write the motion file ``out`` (then ``keypoints_out``:
    nothing is written unless both can be).

    ``cleanup``: the keyword options of :func:`lift` (subject_height, focal, foot_lock, ...).
    """
    check_writable(out)  # fail before minutes of work, not after
    if keypoints_out is not None:
        check_writable(keypoints_out)
    check_camera_options(cleanup.get("focal"), cleanup.get("lens_mm"))  # before the video is even opened
    if cleanup.get("focal") is not None:  # its range depends on the image size
        from core.video import probe

        info = probe(video)
        check_camera_options(cleanup["focal"], None, (info.width, info.height))
    lifter = load_model(weights, cfg)  # unusable weights fail now, not after the extraction
    kp = extract(video, emit, should_cancel)
    if should_cancel is not None and should_cancel():
        raise CancelledError(f"{video}: cancelled before lifting")
    clip = lift(kp, weights, cfg, smoothing, emit, source=str(Path(video).name), lifter=lifter, **cleanup)
    files = [(out, motion_arrays(clip))]
    if keypoints_out is not None:
        files.append((keypoints_out, keypoints_arrays(kp)))
    return atomic_save_all(files)[0]  # both or neither
