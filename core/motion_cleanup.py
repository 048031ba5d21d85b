"""Motion clean-up after lifting: one entry point, :func:`clean_motion` (numpy + scipy; not Blender-safe).

Order: gap filling and confidence-aware zero-phase smoothing of the root-relative pose -> constant
bone lengths -> one metric scale from the subject's height -> pelvis trajectory (pinhole
re-projection, core.trajectory) with the focal length from the image size unless given -> ground
plane and foot contacts (core.contact) -> Z-up world with the ground at z = 0 (core.world) -> foot
locking and no foot below the ground. The outputs stay in the motion file's camera frame; the world
transform, ground, contacts and scale go to ``info`` for the motion file's ``meta`` (docs/FORMATS.md).

The filter, a Butterworth low-pass run forwards and backwards with low-confidence samples re-filled
first, won the comparison against Savitzky-Golay, One-Euro and a weighted smoothing spline on the
ground-truth clips (docs/motion_quality.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from core.camera_motion import refocus, turn_angles, turning_rotations
from core.camera_travel import camera_path, checked_flow, path_length
from core.contact import (
    DEFAULT_PARAMS,
    FEET,
    FOOT_SEEN,
    GROUND_PRIOR_SPAN,
    IMAGE_UP,
    ContactParams,
    body_up,
    camera_rays,
    estimate_ground,
    foot_speed,
    lock_feet,
    lying_down_prior,
    runs,
    seen_contacts,
)
from core.world import (
    ANKLE_HEIGHT_RATIO,
    DEFAULT_SUBJECT_HEIGHT,
    camera_pose,
    focal_length,
    invert,
    stature,
    transform_points,
    world_from_ground,
)

log = logging.getLogger(__name__)

PRESETS: dict[str, float | None] = {"none": None, "light": 8.0, "medium": 5.0, "strong": 3.0}
"""Preset -> cut-off in Hz of the pose filter (None: gaps filled, no smoothing)."""

DEFAULT_PRESET = "medium"
FILTER_METHOD = "butterworth"
ROOT_CUTOFF_RATIO = 0.5
"""The pelvis track (its depth comes from one camera) is filtered at this fraction of the pose cut-off."""
FAR_M = 4.0
"""Median camera distance (metres) beyond which the pelvis' distance along the viewing ray is filtered at a cut-off
lowered in proportion (x FAR_M / distance, :func:`_smooth_root`). From one camera the distance is read off the
body's size in the image, so its error in metres grows with it. Jitter in it broke contacts up, and the feet slid
between the pieces: through a telephoto at 9-10 m, a walk's and a dance's planted feet slid 5.2 and 15.1 cm/s, 0.0
and 0.6 with this; the side run of the benchmark 11.0 -> 0.4 cm/s (root path error 1.1 -> 1.4 %). Nearer subjects
keep the usual cut-off (docs/motion_quality.md, "Far subjects")."""


def clean_motion(
    joints_3d: np.ndarray, joints_2d: np.ndarray, scores: np.ndarray, valid: np.ndarray, fps: float,
    image_size: tuple[int, int], preset: str = DEFAULT_PRESET, subject_height: float = DEFAULT_SUBJECT_HEIGHT,
    focal: float | None = None, foot_lock: bool = True, fixed_bones: bool = True, level_camera: bool = False,
    params: ContactParams = DEFAULT_PARAMS, camera_rotation: np.ndarray | None = None,
    camera_flow: tuple[np.ndarray, np.ndarray] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    lying_down: bool = False,
    bone_lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (joints_3d (T,17,3) float32, root (T,3) float32, info): cleaned camera-frame motion.

    joints_3d: (T,17,3) lifter output, metres, camera frame (x right, y down, z forward), any origin;
    joints_2d: (T,17,2) pixels; scores: (T,17) confidences in [0,1]; valid: (T,) bool person found;
    fps: frames per second; image_size: (width, height) pixels; preset: none/light/medium/strong;
    subject_height: metres (sets the one metric scale); focal: pixels (None: 60 degree field of view);
    level_camera: trust that the camera was level (tripod) and fit only the ground's height, for clips
    whose contacts cannot show the ground's tilt (dancing on one spot on one foot).
    camera_rotation: (T,3,3) each frame's camera turn from the first frame's (core.camera_motion); where the
    camera turned (a pan, a hand following the person) and taking the turn out leaves the planted feet
    stiller, the motion is put in the first frame's camera.
    camera_flow: (points, frames) of core.camera_motion.BackgroundTracker.flow(); where the camera travelled
    (a tracking shot) and its path measured on the floor (core.camera_travel) leaves the planted feet stiller,
    the motion is put in the first frame's camera, the camera's travel added to the root.
    on_progress(done, total): called while a travelling camera's path is measured (minutes on a long clip).
    lying_down: the person lies down in an upright video (floor work, a bench): the ground's prior is the level
    camera's, not the body's up, which would stand the body on its feet (the body's own up decides by default,
    which is right for a video on its side); a body that stands after all keeps the camera's pitch
    (core.contact.lying_down_prior).
    bone_lengths: (17,) the bones' lengths for a stature of 1 (the bone ending at each joint) when ``fixed_bones``,
    in place of the clip's own medians: one body for every shot of an edited clip (core.shots.shared_bone_lengths).
    The returned joints are root-relative (pelvis = 0), the root the pelvis in the camera frame (of the first
    frame when the camera turned or travelled), metres.
    ``info`` is JSON-serialisable, for the motion file's meta: keys ``world_from_camera`` (4x4 nested
    list), ``ground``, ``contacts`` ({"left"|"right": [[first, last], ...]} inclusive frames) and ``cleanup``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown clean-up preset {preset!r}; use one of {sorted(PRESETS)}")
    joints_3d, joints_2d = np.asarray(joints_3d, np.float64), np.asarray(joints_2d, np.float64)
    valid = np.asarray(valid, bool)
    weights = np.clip(np.asarray(scores, np.float64), 0.0, 1.0) * valid[:, None]
    cutoff = PRESETS[preset]
    f_px = focal_length(image_size, focal)
    bones = bone_lengths if fixed_bones else False
    placed = _place(joints_3d, joints_2d, weights, valid, fps, image_size, f_px, cutoff, subject_height, bones)
    turns = turning_rotations(camera_rotation, len(joints_3d))
    moved: tuple[float, float] | None = None
    if turns is not None:  # core.extract measured the turns with the default focal length
        turns = refocus(turns, focal_length(image_size, None), f_px)
        turned = _place(joints_3d, joints_2d, weights, valid, fps, image_size, f_px, cutoff, subject_height,
                        bones, turns)
        still, still_turned = _planted_speed(placed, fps), _planted_speed(turned, fps)
        if still_turned < still:
            placed = turned
        else:  # the camera moved (an orbit, a dolly): turning alone made the planted feet slide more
            moved = (still_turned, still)  # said below unless the camera's travel is measured and taken out
            turns = None
    ankle_h = ANKLE_HEIGHT_RATIO * float(subject_height)
    if level_camera:
        level = (IMAGE_UP, 100.0)
    elif lying_down:
        level = (lying_down_prior(body_up(placed[0] + placed[1][:, None], valid)), GROUND_PRIOR_SPAN)
    else:
        level = (None, GROUND_PRIOR_SPAN)
    flow = None if camera_flow is None else checked_flow(*camera_flow)
    travel = None
    if flow is not None:
        def place(path: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
            return _place(joints_3d, joints_2d, weights, valid, fps, image_size, f_px, cutoff, subject_height,
                          bones, *path)

        travel, travelled = _travel(placed, place, flow, fps, image_size, f_px, ankle_h, params, level, level_camera,
                                    on_progress)
        if travel is not None:
            still, still_travelled = _planted_speed(placed, fps), _planted_speed(travelled, fps)
            if still_travelled < still:
                placed, turns = travelled, travel[0]
            else:
                log.info("the camera's path measured on the floor left the planted feet sliding more (%.2f m/s, "
                         "%.2f without); not used", still_travelled, still)
                travel = None
    if moved is not None and travel is None:
        log.warning("the camera moved during the clip, not only turned (planted feet %.2f m/s with the turn taken "
                    "out, %.2f without): the motion stays in each frame's view", *moved)
    rel, root, scale = placed
    absolute = rel + root[:, None]
    ankles = [FEET[0][2], FEET[1][2]]
    rays = None  # rays from a travelling camera start where it was, not at the origin
    if travel is None:
        rays = camera_rays(joints_2d[:, ankles], image_size, f_px)
        if turns is not None:
            rays = _rotate(rays, turns)
    if travel is not None and not level_camera:  # the floor's normal as the background showed it
        level = (travel[2], 100.0)
    normal, offset, contacts = estimate_ground(absolute, fps, ankle_h, params, *level, ankle_rays=rays, valid=valid)
    seen = weights[:, ankles] >= FOOT_SEEN
    contacts = seen_contacts(contacts, seen, fps, params)
    # said where both legs (feet) are unsure in most frames: seen side-on, the far knee hides behind the near one
    # in every frame (push-ups, sit-ups), and both legs are in the picture
    knees_unsure = (weights[:, [FEET[0][1], FEET[1][1]]] < FOOT_SEEN).all(axis=1)[valid].mean() if valid.any() else 0
    feet_unsure = (~seen).all(axis=1)[valid].mean() if valid.any() else 0.0
    if knees_unsure > 0.5:  # a portrait crop at the thighs: more than the feet is guessed
        log.warning("the legs (knees and feet) are out of view or unsure in %.0f %% of frames: their motion there "
                    "is the lifter's guess and the feet are not locked; film the whole body for the legs",
                    100 * knees_unsure)
    elif feet_unsure > 0.5:
        log.warning("the feet are out of view or unsure in %.0f %% of frames; they are not locked there",
                    100 * feet_unsure)
    world = world_from_ground(normal, offset)
    locks: list = [[], []]
    if foot_lock:
        locked, locks = lock_feet(transform_points(absolute, world), contacts, fps, ankle_h, params)
        absolute = transform_points(locked, invert(world))
    root = absolute[:, 0]
    _warn_if_implausible(transform_points(absolute, world), valid, ankle_h, camera_pose(world)["height_m"])
    info = _info(world, contacts, locks, preset, cutoff, scale, subject_height, f_px, foot_lock, ankle_h)
    info["cleanup"]["level_camera"] = bool(level_camera)
    info["cleanup"]["lying_down"] = bool(lying_down)
    info["ground"]["feet_seen"] = round(float(seen.mean()), 4)
    info["camera_turn_deg"] = 0.0 if turns is None else round(float(turn_angles(turns).max()), 3)
    info["camera_travel_m"] = 0.0 if travel is None else round(float(path_length(travel[1])), 3)
    log.info("clean-up %s: scale %.3f, focal %.0f px, camera pitch %.1f deg, %d + %d contacts", preset, scale,
             f_px, info["ground"]["pitch_deg"], len(info["contacts"]["left"]), len(info["contacts"]["right"]))
    return (absolute - root[:, None]).astype(np.float32), root.astype(np.float32), info


FLOATING_M = 0.25
"""A lower foot this far above where it stands (its ankle's height over the ground) counts as floating."""
MAX_FLOATING_SHARE = 0.3
"""Floating in more than this share of the frames with a person (jumps are brief) is said: the ground, the size or
the pose is wrong (a handheld clip of floor work, a figure that is not a person); 0 on the rendered clips, 0-0.21 on
real ones that looked right, 0.53-0.68 on those that did not."""


def _warn_if_implausible(world_joints: np.ndarray, valid: np.ndarray, ankle_h: float, camera_height: float) -> None:
    """Log a warning when the cleaned motion is not one a body on a floor makes: the lower foot floating in many
    frames, or the camera under the ground it fitted."""
    ankles = world_joints[:, [FEET[0][2], FEET[1][2]], 2].min(axis=1)[valid]
    floating = float(np.mean(ankles - ankle_h > FLOATING_M)) if len(ankles) else 0.0
    if floating > MAX_FLOATING_SHARE:
        log.warning("the feet float over the ground the clip shows in %.0f %% of frames: the person may be on the "
                    "floor or moving with the camera, or too small; check the result, or try --level-camera or "
                    "--static-camera", 100 * floating)
    if camera_height < 0:
        log.warning("the ground fitted to the feet is above the camera (%.1f m): the person may be lying down, "
                    "upside down or not a person; check the result", camera_height)


def _place(joints_3d: np.ndarray, joints_2d: np.ndarray, weights: np.ndarray, valid: np.ndarray, fps: float,
           image_size: tuple[int, int], f_px: float, cutoff: float | None, subject_height: float,
           bones: np.ndarray | bool | None, turns: np.ndarray | None = None, centres: np.ndarray | None = None,
           ) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
    """Return (root-relative joints, root, scale) filtered, rigid and scaled, in the camera frame; with ``turns``
    (T,3,3, camera t -> first camera) in the first frame's camera (the pose turned before filtering, so hand
    shake is filtered out with the rest; the root seen from each frame's own camera, then turned), and with
    ``centres`` (T,3, each frame's camera centre in the first one's) the camera's travel added to the root.
    ``bones``: False keeps the lifter's bone lengths, None gives each bone its median over the clip, an array (17,)
    gives those lengths for a stature of 1 (core.shots.shared_bone_lengths), scaled to ``subject_height``."""
    from core.filters import constant_bone_lengths
    from core.smoothing import smooth_series
    from core.trajectory import depth_outliers, estimate_root

    frame_w = weights.mean(axis=1) + 1e-3
    rel = joints_3d - joints_3d[:, :1]
    if turns is not None:
        rel = _rotate(rel, turns)
    # Only frames without a person are re-filled. A joint the detector sees poorly (occluded, its confidence
    # low) still has the lifter's guess, made from the whole window, and that guess is better than a straight
    # line between confident samples: on real MediaPipe 2D of a side walk, re-filling joints under 0.3 took
    # P-MPJPE from 29.1 (lifter) to 45.8 mm, frame-level re-filling leaves 29.7 (docs/motion_quality.md).
    rel = smooth_series(rel, fps, cutoff, FILTER_METHOD, valid.astype(np.float64))
    rel -= rel[:, :1]
    if bones is not False:
        rel = constant_bone_lengths(rel, weights=frame_w, lengths=bones).astype(np.float64)
    given = isinstance(bones, np.ndarray)  # bones for a stature of 1 over the whole clip: every shot the same size
    scale = float(subject_height) / (1.0 if given else max(stature(rel, frame_w), 1e-6))
    rel *= scale
    own = rel if turns is None else _rotate(rel, turns.transpose(0, 2, 1))
    root = estimate_root(own, joints_2d, np.maximum(weights, 1e-3), image_size, focal=f_px).astype(np.float64)
    if turns is not None:
        root = _rotate(root[:, None], turns)[:, 0]
    if centres is not None:
        root = root + centres
    distance = np.linalg.norm(root - (0.0 if centres is None else centres), axis=1)
    sure = valid & ~depth_outliers(distance, valid, fps)  # a frame's bad detection: filled from its neighbours
    root = _smooth_root(root, fps, None if cutoff is None else cutoff * ROOT_CUTOFF_RATIO, sure, centres)
    return rel, root, scale


def _smooth_root(root: np.ndarray, fps: float, cutoff: float | None, valid: np.ndarray,
                 centres: np.ndarray | None = None) -> np.ndarray:
    """Return the root track (T,3) filtered at ``cutoff`` Hz, and for a far subject its distance along each
    frame's viewing ray (from the camera centre, ``centres`` (T,3) or the origin) at a lower cut-off: the
    distance comes from the body's size in the image, so its noise in metres grows with the distance, while the
    direction of the ray stays as sharp as the 2D (:data:`FAR_M`).
    Neither filter holds the track's first and last frames where they are (``free_edges``): the distance read from
    a clip's first frames is its least sure (MediaPipe's first detection, the lifter's window edge): on the 24
    held-out renders the first frame's distance was 3.6 % off on average against 1.0 % mid-clip, and a root held
    there slid the planted feet of the first half second (docs/motion_quality.md, "Free ends for the root")."""
    from core.smoothing import smooth_series

    weights = np.where(valid, 1.0, 0.0)
    near = smooth_series(root, fps, cutoff, FILTER_METHOD, weights, free_edges=True)
    if cutoff is None or not valid.any():
        return near
    rays = near - (0.0 if centres is None else centres)
    dist = np.linalg.norm(rays, axis=1)
    far = float(np.median(dist[valid]))
    if far <= FAR_M:
        return near
    low = smooth_series(root, fps, cutoff * FAR_M / far, FILTER_METHOD, weights, free_edges=True)
    d = rays / np.maximum(dist, 1e-9)[:, None]
    return near + d * np.einsum("ti,ti->t", low - near, d)[:, None]


def _travel(placed: tuple[np.ndarray, np.ndarray, float], place, flow: tuple[np.ndarray, np.ndarray], fps: float,
            image_size: tuple[int, int], f_px: float, ankle_h: float, params: ContactParams, level: tuple,
            level_camera: bool, on_progress: Callable[[int, int], None] | None = None,
            ) -> tuple[tuple | None, tuple | None]:  # fmt: skip
    """Return ((turns, centres, floor normal), motion placed with them) of a travelling camera
    (core.camera_travel), or (None, None): the ground from the feet as the camera saw them, the path on it
    (the floor's normal refined on the background unless ``level_camera``), then the path scaled to the
    camera's height found again in the motion so placed (its planted feet now stand still, so it is the surer;
    the path is proportional to that height)."""
    rel, root, _ = placed
    normal, offset, _ = estimate_ground(rel + root[:, None], fps, ankle_h, params, *level)
    path = camera_path(*flow, len(rel), normal, offset, image_size, f_px, refine_normal=not level_camera,
                       on_progress=on_progress)
    if path is None:
        return None, None
    turns, centres, normal = path
    rel, root, _ = place((turns, centres))
    _, height, _ = estimate_ground(rel + root[:, None], fps, ankle_h, params, normal, 100.0)
    if height > 0.05 and offset > 0.05:
        centres = centres * (height / offset)
    return (turns, centres, normal), place((turns, centres))


def _planted_speed(placed: tuple[np.ndarray, np.ndarray, float], fps: float) -> float:
    """Return the median over frames of the slower ankle's speed, m/s: near 0 where one foot stands at a time,
    as people do, and high when a walker "walks on the spot" in a view that turned to follow them."""
    rel, root, _ = placed
    ankles = rel[:, [FEET[0][2], FEET[1][2]]] + root[:, None]
    return float(np.median(foot_speed(ankles, fps, 4.0).min(axis=1)))


def _rotate(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Return points (T, N, 3) turned by one rotation per frame ``rot`` (T, 3, 3): p' = R_t p."""
    return np.einsum("tij,tnj->tni", rot, points)


def _info(world: np.ndarray, contacts: np.ndarray, locks: list, preset: str, cutoff: float | None, scale: float,
          subject_height: float, focal: float, foot_lock: bool, ankle_h: float) -> dict:
    """Return the JSON-serialisable ``info`` dict of :func:`clean_motion` (see docs/FORMATS.md, meta keys)."""
    pose = camera_pose(world)
    r6 = lambda v: round(float(v), 6)  # noqa: E731
    return {
        "world_from_camera": [[r6(v) for v in row] for row in world],
        "ground": {"normal_camera": [r6(v) for v in world[2, :3]], "offset_m": r6(world[2, 3]),
                   "pitch_deg": round(pose["pitch_deg"], 3), "roll_deg": round(pose["roll_deg"], 3),
                   "camera_height_m": round(pose["height_m"], 4), "ankle_height_m": round(ankle_h, 4)},
        "contacts": {side: [list(r) for r in runs(contacts[:, f])] for f, side in enumerate(("left", "right"))},
        "foot_locks": {side: [[round(v, 4) for v in p] for p in locks[f]] for f, side in enumerate(("left", "right"))},
        "cleanup": {"preset": preset, "filter": FILTER_METHOD, "cutoff_hz": cutoff,
                    "root_cutoff_hz": None if cutoff is None else cutoff * ROOT_CUTOFF_RATIO,
                    "subject_height_m": float(subject_height), "scale": round(scale, 5),
                    "focal_px": round(float(focal), 3), "foot_lock": bool(foot_lock)},
    }
