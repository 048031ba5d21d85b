"""Foot contact, ground plane and foot locking for one-camera motion (numpy + scipy).

* Contacts per foot from the ankle's height above the ground and its speed, with hysteresis
  (separate enter/leave thresholds) and minimum contact / gap durations.
* Ground plane in the camera frame: a robust (soft-L1) plane fit to the ankles while they are in
  contact, pulled towards the body's average "up" where the contacts do not span the plane (a
  subject dancing on one spot); it gives the camera's pitch, roll and height.
* Foot locking in a Z-up world (core.world): one smooth pelvis correction that makes planted
  ankles still (a sparse least-squares solve: planted ankles meet their lock points, the
  correction's acceleration stays small), then a two-bone leg IK that pins each ankle at its lock
  point, blended in and out over a few frames so nothing pops; no ankle ends below its height
  above the ground.

Feet are the ankle joints (H36M has no toes); heights are ankle heights above the sole plane.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.skeleton import JOINT_INDEX as J

FEET = ((J["l_hip"], J["l_knee"], J["l_ankle"]), (J["r_hip"], J["r_knee"], J["r_ankle"]))
"""(hip, knee, ankle) joint indices of the left and right leg; foot axis 0 = left, 1 = right."""


@dataclass(frozen=True)
class ContactParams:
    """Thresholds of contact detection and foot locking (metres, m/s, seconds, Hz)."""

    height_on: float = 0.06
    """A foot can land when its ankle is less than this above its standing height."""
    height_off: float = 0.10
    """A planted foot leaves when its ankle rises more than this above its standing height."""
    speed_on: float = 0.35
    speed_off: float = 0.70
    speed_ratio_on: float = 0.5
    """Added to ``speed_on`` per m/s of the body's horizontal speed."""
    speed_ratio_off: float = 0.8
    above_other_on: float = 0.03
    """A foot can land only if it is less than this above the other foot (metres)."""
    above_other_off: float = 0.08
    min_contact_s: float = 0.10
    min_gap_s: float = 0.10
    blend_s: float = 0.3
    """Foot locks fade in before the first contact and out after the last over this long (between contacts the
    lock's offset eases across the whole swing: :func:`lock_offsets`)."""
    max_swing_s: float = 1.5
    """Gaps between contacts longer than this are not swings (a jump, a kneel, lost detections): the lock fades
    out and back in over ``blend_s`` instead of carrying its offset across."""
    target_hz: float | None = None
    """Optional low-pass (Hz) of the ankle lock offset: softer lock edges, but planted feet slide (9 cm/s at 6 Hz)."""
    root_hz: float = 3.0
    """Bandwidth of the pelvis correction that keeps planted feet still."""
    root_stiffness: float = 0.2
    """Pull of the pelvis correction towards 0, per frame, against 1 per planted foot."""
    detect_hz: float = 4.0
    """Low-pass applied to ankle tracks before measuring speeds for detection."""


DEFAULT_PARAMS = ContactParams()

GROUND_PRIOR_SPAN = 0.2
"""How firmly the ground's normal leans on the body's up (:func:`fit_plane`'s ``prior_span``, metres). On the 10
static rendered clips 0.2 took the mean ground error from 3.8 to 3.2 degrees without moving any other measure;
0.3 reached 2.9 but found false contacts on the demo dance (precision 0.90 -> 0.71) and 1.0 sank its feet 4 cm
(docs/motion_quality.md)."""
MAX_GROUND_LEAN_DEG = 20.0
"""Largest angle, degrees, the fitted ground may lean from the up prior (:func:`body_up` by default) while also
leaning further than it from the image's vertical (:data:`IMAGE_UP`). The fit corrects the prior by at most 5
degrees on 19 rendered clips and 11 on the demo dance; past 20, and away from how cameras are mostly held, the
planted feet are on two levels (a man on a box who then jumps down: 32-39 degrees), which one plane cannot hold,
so the prior is kept and only the ground's height is fitted, from the lower foot's lowest spots
(docs/motion_quality.md). A body leaning far forward all clip long (a crouch) tilts the prior instead, and there
the fitted ground is nearer the image's vertical: it is kept."""
ONE_SPOT_M = 0.05
"""Planted ankles that spread less than this across the view (:func:`seen_spread`, metres RMS) stand on one spot:
the ground's fit keeps the up prior's tilt there and fits only its height. Their spread along the view is the
depth's wobble, and seen from above, a plane through it tilts towards the view: a dancer in place filmed from 4.7 m
high, 48 degrees down (6 cm RMS along the view, 2 cm across) got a ground 38 degrees off where the prior was 11.
On 36 renders with real 2D, the fits that stood on one spot (dances and jumps in place) spread 0.003-0.044 m, the
others 0.07 m or more (docs/motion_quality.md)."""
IMAGE_UP = np.array([0.0, -1.0, 0.0])
"""The image's up in the camera frame (y down): the ground's normal for a level camera."""
LEVEL_ROLL_MAX_DEG = 45.0
"""Largest roll, degrees, of the body's up (:func:`body_up`) in the image that :func:`level_prior` takes out: a body
standing up in the image. Past it the body lies, or the video is sideways, and its up is kept as it is."""
RAISED_M = 0.25
"""Where the lower foot's standing level (its lowest over :data:`LEVEL_S`) is this far (metres) above the ground,
the person stands on something raised (a box, a step, a stage): contacts there are found against that level
(:func:`raised_contacts`) and locked at their own height (:func:`pelvis_correction`)."""
LEVEL_S = 1.0
"""Window, seconds, over which the lower foot's lowest height is its standing level (longer than a jump)."""
SUNK_M = 0.2
"""A frame whose lower ankle is this far (metres) under a candidate ground counts against it: a man who stood on
a box and jumped down is on the lower level, not under the box's top."""

FOOT_SEEN = 0.5
"""Detector confidence from which an ankle counts as seen. MediaPipe scores visible legs above it in every
frame of the 11 rendered clips (docs/model.md section 1); legs hidden by a desk score 0.0-0.4."""


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the [first, last] frame pairs (inclusive, 0-based) of the True runs of ``mask`` (T,)."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]]).astype(np.int8)
    d = np.diff(m)
    return [(int(a), int(b) - 1) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


def clean_runs(mask: np.ndarray, min_on: int, min_off: int) -> np.ndarray:
    """Return (T,) bool ``mask``: False gaps under ``min_off`` frames filled, True runs under ``min_on`` dropped."""
    out = np.asarray(mask, bool).copy()
    spans = runs(out)
    for (_, e0), (s1, _) in zip(spans[:-1], spans[1:], strict=True):
        if s1 - e0 - 1 < min_off:
            out[e0 + 1: s1] = True
    for s, e in runs(out):
        if e - s + 1 < min_on:
            out[s: e + 1] = False
    return out


def hysteresis(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """Return (T,) bool: a state that switches on where ``enter`` (T,) and off where ``leave`` (T,) holds."""
    state, out = False, np.zeros(len(enter), bool)
    for t in range(len(enter)):
        state = (not leave[t]) if state else bool(enter[t])
        out[t] = state
    return out


def foot_speed(ankles: np.ndarray, fps: float, hz: float) -> np.ndarray:
    """Return (T, F) speeds, m/s, of ankle tracks ``ankles`` (T, F, 3) metres, low-passed at ``hz`` first."""
    from core.smoothing import smooth_series

    if len(ankles) < 2:
        return np.zeros(ankles.shape[:-1])
    smooth = smooth_series(ankles, fps, hz if fps > 2 * hz else None)
    vel = np.gradient(smooth, axis=0) * fps
    return np.linalg.norm(vel, axis=-1)


def detect_contacts(heights: np.ndarray, speeds: np.ndarray, fps: float, params: ContactParams = DEFAULT_PARAMS,
                    body_speed: np.ndarray | None = None) -> np.ndarray:
    """Return (T, F) bool contacts from ankle ``heights`` (T, F) m above standing height and ``speeds`` (T, F) m/s.

    A foot lands when it is low, not clearly above the other foot, and slow; it leaves when it rises, rises
    clearly above the other foot, or moves fast. Speed limits grow with ``body_speed`` (T,) m/s, the pelvis'
    horizontal speed: monocular feet are never perfectly still, and a walker's planted foot is slow only
    compared with the body (``speed_ratio_on``/``off``).
    """
    out = np.zeros(heights.shape, bool)
    min_on = max(1, int(round(params.min_contact_s * fps)))
    min_off = max(1, int(round(params.min_gap_s * fps)))
    body = np.zeros(len(heights)) if body_speed is None else np.asarray(body_speed)
    v_on = params.speed_on + params.speed_ratio_on * body
    v_off = params.speed_off + params.speed_ratio_off * body
    for f in range(heights.shape[1]):
        other = np.delete(heights, f, axis=1).min(axis=1) if heights.shape[1] > 1 else heights[:, f]
        h = heights[:, f]
        enter = (h < params.height_on) & (h < other + params.above_other_on) & (speeds[:, f] < v_on)
        leave = (h > params.height_off) | (h > other + params.above_other_off) | (speeds[:, f] > v_off)
        out[:, f] = clean_runs(hysteresis(enter, leave), min_on, min_off)
    return out


def seen_contacts(contacts: np.ndarray, seen: np.ndarray, fps: float, params: ContactParams = DEFAULT_PARAMS
                  ) -> np.ndarray:  # fmt: skip
    """Return (T, F) ``contacts`` kept only where the detector saw the ankle (``seen`` (T, F) bool), without
    runs shorter than the minimum contact.

    A hidden foot is the lifter's guess: locking it pinned guessed feet and dragged the pelvis off the path
    the 2D gives (six rendered clips with the legs hidden below the knees, benchmarks/feet_out_of_view.py:
    root error up to 17 % of the distance, 1.4-5.0 % without those locks). The ground is still fitted through
    every ankle: guessed feet follow the pelvis, whose path runs along the floor (6.4 degrees off on average
    there; 7.0 from the body's up alone).
    """
    min_on = max(1, int(round(params.min_contact_s * fps)))
    out = np.asarray(contacts, bool) & np.asarray(seen, bool)
    return np.stack([clean_runs(out[:, f], min_on, 1) for f in range(out.shape[1])], axis=1)


def body_speed(joints: np.ndarray, up: np.ndarray, fps: float, hz: float = 1.0) -> np.ndarray:
    """Return (T,) the pelvis' speed, m/s, across ``up`` (3,) (horizontal), low-passed at ``hz``: joints (T, 17, 3)."""
    from core.smoothing import smooth_series

    if len(joints) < 2:
        return np.zeros(len(joints))
    pelvis = smooth_series(joints[:, J["pelvis"]], fps, hz if fps > 2 * hz else None)
    vel = np.gradient(pelvis, axis=0) * fps
    vel -= np.outer(vel @ up, up)
    return np.linalg.norm(vel, axis=-1)


def camera_rays(points_2d: np.ndarray, image_size: tuple[int, int], focal: float) -> np.ndarray:
    """Return (..., 3) camera-frame rays (x right, y down, z forward; z = 1) through pixels ``points_2d`` (..., 2),
    principal point at the image centre, focal length ``focal`` pixels."""
    uv = (np.asarray(points_2d, np.float64) - np.asarray(image_size, np.float64) / 2.0) / float(focal)
    return np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)


def ground_speed(rays: np.ndarray, ankles: np.ndarray, normal: np.ndarray, offset: float,
                 ankle_height: float | np.ndarray, fps: float, hz: float, min_angle_deg: float = 5.0) -> np.ndarray:
    """Return (T, F) speeds, m/s, of the points where the ankles' camera ``rays`` (T, F, 3) meet the plane
    ``ankle_height`` above the ground (``normal . p + offset`` = height), low-passed at ``hz``.

    Why: a planted foot is still in the image, and this speed depends only on the 2D detections and the
    ground, while the 3D ankles (``ankles`` (T, F, 3)) carry the pelvis depth from one camera, which can
    swing by half a metre while the body crouches. Rays meeting the plane at under ``min_angle_deg`` (a
    camera at ankle height) or behind the camera fall back to the 3D ankles; where the two tracks switch the
    speed is over-stated, never under-stated (:func:`estimate_ground` uses it only where it is low).
    """
    d = np.asarray(rays, np.float64)
    n_d = d @ normal
    sin_angle = -n_d / np.linalg.norm(d, axis=-1)
    s = (ankle_height - offset) / np.where(np.abs(n_d) > 1e-12, n_d, 1e-12)
    ok = (sin_angle > np.sin(np.radians(min_angle_deg))) & (s > 0)
    points = np.where(ok[..., None], d * s[..., None], ankles)
    return foot_speed(points, fps, hz)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), axis=-1), -1.0, 1.0)))


def seated(joints: np.ndarray) -> np.ndarray:
    """Return (T,) bool: frames of joints (T, 17, 3) where the body sits (on a chair, a box, a ledge).

    Both knees bent under 115 degrees and the hips near a right angle (60-105 degrees between spine and
    thighs): 55 % of a rendered sit-down clip's lifted frames, none of nine others' (walk, run, dance, kick,
    jump), where the straighter knee stays above 115 and the hips above 140. A half squat leaning forward
    opens the hips past 105 and a deep squat folds them under 60: there the feet, not a seat, carry the body.
    """
    spine = joints[:, J["thorax"]] - joints[:, J["pelvis"]]
    knee = np.maximum(*[_angle_deg(joints[:, J[f"{s}_hip"]] - joints[:, J[f"{s}_knee"]],
                                   joints[:, J[f"{s}_ankle"]] - joints[:, J[f"{s}_knee"]]) for s in "lr"])
    hip = np.mean([_angle_deg(spine, joints[:, J[f"{s}_knee"]] - joints[:, J[f"{s}_hip"]]) for s in "lr"], axis=0)
    return (knee < 115.0) & (hip > 60.0) & (hip < 105.0)


def body_up(joints: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Return the (3,) unit average "up" of a clip of joints (T, 17, 3), camera frame: mid-ankle -> thorax, or
    pelvis -> thorax where the body sits (:func:`seated`); over the ``valid`` frames (T,) bool where any (frames
    without a person hold a neighbour's pose: 146 frames held from an upside-down first detection turned a
    basketball clip's world upside down).

    Standing, the body balances over its feet, so mid-ankle -> thorax is within 0.4-2 degrees of the vertical on
    the true walking and running poses, 2-7 degrees on the lifter's (docs/motion_quality.md); a dance with one leg
    held out leans it by 10. Sitting, the seat carries the body and the feet rest in front of it: that line then
    leans back by 20 degrees (a rendered sit-down clip), where the spine is within 4-8. Only a prior for
    :func:`fit_plane`, but the one that decides where the feet barely move.
    """
    if valid is not None and np.any(valid):
        joints = joints[np.asarray(valid, bool)]
    mid_ankle = 0.5 * (joints[:, J["l_ankle"]] + joints[:, J["r_ankle"]])
    stand = _unit(joints[:, J["thorax"]] - mid_ankle)
    sit = _unit(joints[:, J["thorax"]] - joints[:, J["pelvis"]])
    up = np.median(np.where(seated(joints)[:, None], sit, stand), axis=0)
    return up / np.linalg.norm(up)


def level_prior(up: np.ndarray) -> np.ndarray:
    """Return the (3,) unit normal of a level camera's ground at the pitch of the body's ``up`` (camera frame): its
    roll in the image (its x component) taken out, unless it rolls past :data:`LEVEL_ROLL_MAX_DEG`.

    The body's up leans with the motion (a runner leans forward 7-13 degrees: a roll where the camera sees the run
    from the side), cameras are mostly held level. Where a few contacts in one spot cannot show the ground's roll
    (a short run seen from 8-10 m), the body's up as the prior tilted the ground by that lean and the lower foot
    floated a median 0.4-0.7 m above it; where contacts spread, they still fit the roll (:func:`fit_plane`). Not
    for a seated body, whose up is its spine, which does not lean with the motion (:func:`estimate_ground`).
    """
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    if abs(np.degrees(np.arctan2(up[0], -up[1]))) > LEVEL_ROLL_MAX_DEG:
        return up
    return _unit(np.array([0.0, up[1], up[2]]))


LYING_STANDING_MAX_DEG = 45.0
"""With ``--lying-down``, a body whose up is within this many degrees of the image's up, and leans at most 30 degrees
away from the camera, stands after all (a camera pitched down up to this much over a standing person). The user
said the person lies, so the test is strict: at 60 degrees a child's yoga on the floor (its body 58 degrees from the
world's up) was stood up again. A body lying end-on with its head away from the camera leans away from it."""


def lying_down_prior(up: np.ndarray) -> np.ndarray:
    """Return the ground's prior normal (3,) for a clip said to show a person lying down (``--lying-down``), from the
    body's average ``up`` (camera frame): the level camera's up (:data:`IMAGE_UP`), unless the body stands after all
    (:data:`LYING_STANDING_MAX_DEG`), when :func:`level_prior` keeps the camera's pitch (a standing clip given the
    option lost it: a yoga pose held in one spot came out 11 degrees off)."""
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    standing = _angle_deg(up, IMAGE_UP) <= LYING_STANDING_MAX_DEG and up[2] <= 0.5
    return level_prior(up) if standing else IMAGE_UP.copy()


def fit_plane(points: np.ndarray, up_prior: np.ndarray, weights: np.ndarray | None = None,
              prior_span: float = 0.1, scale: float = 0.02) -> tuple[np.ndarray, float]:
    """Return (normal (3,), offset) of the plane ``normal . p + offset = 0`` best fitting ``points`` (N, 3).

    Robust (soft-L1 beyond ``scale`` metres); the normal is pulled towards ``up_prior`` (3,) as strongly
    as points spread ``prior_span`` metres would hold it, so few or collinear points still give a plane.
    """
    from scipy.optimize import least_squares

    p = np.asarray(points, np.float64)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, np.float64)
    up = up_prior / np.linalg.norm(up_prior)
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    sw, prior = np.sqrt(w), np.sqrt(w.sum()) * prior_span

    def normal(x: np.ndarray) -> np.ndarray:
        n = up + x[0] * e1 + x[1] * e2
        return n / np.linalg.norm(n)

    def resid(x: np.ndarray) -> np.ndarray:
        return np.concatenate([sw * (p @ normal(x) + x[2]), prior * x[:2]])

    x0 = np.array([0.0, 0.0, -float(np.median(p @ up))])
    sol = least_squares(resid, x0, loss="soft_l1", f_scale=scale)
    return normal(sol.x), float(sol.x[2])


def estimate_ground(joints: np.ndarray, fps: float, ankle_height: float, params: ContactParams = DEFAULT_PARAMS,
                    up_prior: np.ndarray | None = None, prior_span: float = GROUND_PRIOR_SPAN, iterations: int = 3,
                    ankle_rays: np.ndarray | None = None, valid: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, float, np.ndarray]:  # fmt: skip
    """Return (normal (3,), offset, contacts (T, 2) bool): the ground plane in the camera frame and the contacts.

    joints: (T, 17, 3) absolute camera-frame joints, metres. ``normal . p + offset`` is a point's height
    above the ground (normal points up); ``ankle_height``: the ankle's height above the sole, metres.
    ``up_prior``: the normal to lean on where contacts do not span the plane (default :func:`body_up`, its roll in
    the image taken out by :func:`level_prior` unless the body sits);
    with a large ``prior_span`` (e.g. 100) it is kept and only the ground's height is fitted.
    ``ankle_rays``: (T, 2, 3) camera rays through the detected 2D ankles (:func:`camera_rays`); where given, a
    foot also counts as still when the point where its ray meets the ground is still (:func:`ground_speed`).
    ``valid``: (T,) bool, the frames with a person; the others (a neighbour's pose held) are no contact and no
    evidence of the ground.

    Two first guesses of the planted ankles are refined (fit <-> detect, ``iterations`` rounds) and the
    plane with the camera above it, the fewest frames with the lower ankle :data:`SUNK_M` under it, and the
    most contact frames wins (a plane leaning too far, :data:`MAX_GROUND_LEAN_DEG`, is fitted again from the
    lowest spots with the prior kept; contacts on raised levels are added, :func:`raised_contacts`). The
    guesses: the lowest quarter of the ankles along the body's up (most clips), and every still, lower ankle
    whatever its height. The second is for clips whose body up leans (a crouch and a forward jump: 25 degrees
    off), where planted feet at the two ends of the clip differ in "height" along the leaning up and the first
    guess kept only one end.
    """
    ankles = joints[:, [FEET[0][2], FEET[1][2]]]  # (T, 2, 3)
    ok = np.ones(len(joints), bool) if valid is None or not np.any(valid) else np.asarray(valid, bool)
    speeds = np.where(ok[:, None], foot_speed(ankles, fps, params.detect_hz), np.inf)
    body = body_up(joints, ok) if up_prior is None else np.asarray(up_prior, np.float64) / np.linalg.norm(up_prior)
    up = level_prior(body) if up_prior is None and seated(joints)[ok].mean() < 0.5 else body
    h = ankles @ up
    lower = h <= h.min(axis=1, keepdims=True) + 0.02
    still = (speeds < params.speed_on) & lower
    low = still & (h < np.quantile(h[ok], 0.25) + 0.03)
    guesses = [low if low.any() else (h <= np.quantile(h[ok], 0.1)) & ok[:, None]]
    if still.sum() >= 3 and (still & ~low).any():
        guesses.append(still)
    best: tuple[tuple[bool, int, int], np.ndarray, float, np.ndarray] | None = None
    for fit in guesses:
        normal, offset, contacts = _refine_ground(ankles, speeds, joints, fit, up, fps, ankle_height, params,
                                                  prior_span, iterations, ankle_rays, ok)
        if _angle_deg(normal, body) > MAX_GROUND_LEAN_DEG and _angle_deg(body, IMAGE_UP) < _angle_deg(normal, IMAGE_UP):
            # feet on two levels: keep the body's up, start from the lower foot's lowest spots
            floor = lower & ok[:, None] & (h <= np.quantile(h[lower & ok[:, None]], 0.05) + 0.1)
            normal, offset, contacts = _refine_ground(ankles, speeds, joints, floor, body, fps, ankle_height, params,
                                                      100.0, iterations, ankle_rays, ok)
        heights = (ankles @ normal).min(axis=1) + offset - ankle_height
        sunk = int((heights[ok] < -SUNK_M).sum())
        score = (offset > 0.0, -sunk, int(contacts.sum()))  # camera above, feet not under it, then support
        if best is None or score > best[0]:
            best = (score, normal, offset, contacts)
    _, normal, offset, contacts = best
    raised = raised_contacts(joints, normal, offset, ankle_height, fps, params, ankle_rays, speeds)
    return normal, offset, contacts | raised


def raised_contacts(joints: np.ndarray, normal: np.ndarray, offset: float, ankle_height: float, fps: float,
                    params: ContactParams = DEFAULT_PARAMS, ankle_rays: np.ndarray | None = None,
                    speeds: np.ndarray | None = None) -> np.ndarray:
    """Return (T, 2) bool contacts on raised levels of joints (T, 17, 3) above the ground ``normal``, ``offset``
    (as :func:`estimate_ground`'s); ``speeds``: the ankles' :func:`foot_speed` where the caller has them.

    Where the lower foot's standing level (its lowest height over :data:`LEVEL_S`) is :data:`RAISED_M` or more
    above the ground, :func:`detect_contacts` runs on the heights above that level; elsewhere nothing is
    returned, so contacts on the ground are exactly those found against it."""
    from scipy.ndimage import minimum_filter1d

    ankles = joints[:, [FEET[0][2], FEET[1][2]]]
    heights = ankles @ normal + offset - ankle_height
    if len(heights) == 0:
        return np.zeros(heights.shape, bool)
    level = minimum_filter1d(heights.min(axis=1), max(1, int(round(LEVEL_S * fps))), mode="nearest")
    raised = level >= RAISED_M
    if not raised.any():
        return np.zeros(heights.shape, bool)
    level = np.where(raised, level, 0.0)[:, None]
    if speeds is None:
        speeds = foot_speed(ankles, fps, params.detect_hz)
    still = _still_speeds(speeds, ankle_rays, ankles, normal, offset, ankle_height + level, fps, params)
    return detect_contacts(heights - level, still, fps, params, body_speed(joints, normal, fps)) & raised[:, None]


def _refine_ground(ankles: np.ndarray, speeds: np.ndarray, joints: np.ndarray, fit: np.ndarray, up: np.ndarray,
                   fps: float, ankle_height: float, params: ContactParams, prior_span: float, iterations: int,
                   rays: np.ndarray | None, ok: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Return (normal, offset, contacts) after ``iterations`` rounds of plane fit <-> contact detection from the
    first guess ``fit`` (T, 2) bool of planted ankles (see :func:`estimate_ground`); ``ok``: (T,) the frames with a
    person, the only ones that can be contacts."""
    normal, offset, contacts = up, 0.0, fit
    for _ in range(iterations):
        # feet planted on one spot of the picture: their spread is depth jitter, not the floor's tilt
        span = prior_span if seen_spread(ankles[fit]) >= ONE_SPOT_M else 100.0
        normal, off_ankle = fit_plane(ankles[fit], up, prior_span=span)
        offset = off_ankle + ankle_height
        heights = ankles @ normal + offset - ankle_height
        still = np.where(ok[:, None], _still_speeds(speeds, rays, ankles, normal, offset, ankle_height, fps, params),
                         np.inf)
        contacts = detect_contacts(heights, still, fps, params, body_speed(joints, normal, fps))
        # fit the lower foot only (a pointed foot resting on its toes is not the ground), and without a
        # planted foot (a jump, a swim) the lowest ankle points
        lowest = heights <= heights.min(axis=1, keepdims=True) + 0.02
        fit = contacts & lowest if (contacts & lowest).sum() >= 3 else \
            (heights <= np.quantile(heights[ok], 0.1)) & ok[:, None]
    return normal, offset, contacts


def seen_spread(points: np.ndarray) -> float:
    """Return how far camera-frame ``points`` (N, 3) spread across the view, metres: the RMS spread of their
    directions from the camera, times their median distance. The picture measures this; the spread along the
    view is the depth's, which one camera guesses (a body's size and pose), so it is left out. 0 for fewer than
    two points."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    if len(p) < 2:
        return 0.0
    d = np.linalg.norm(p, axis=1)
    u = p / np.maximum(d, 1e-9)[:, None]
    return float(np.median(d) * np.sqrt(((u - u.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _still_speeds(speeds: np.ndarray, rays: np.ndarray | None, ankles: np.ndarray, normal: np.ndarray, offset: float,
                  plane_height: float | np.ndarray, fps: float, params: ContactParams) -> np.ndarray:
    """Return (T, 2) foot speeds for contact detection: the 3D ankles' ``speeds``, or where lower, the speed of
    the point where the ankle's camera ray meets the plane ``plane_height`` above the ground (:func:`ground_speed`:
    still in the image and on the ground counts as still)."""
    if rays is None:
        return speeds
    ray_speed = ground_speed(rays, ankles, normal, offset, plane_height, fps, params.detect_hz)
    return np.where(ray_speed < params.speed_on, np.minimum(speeds, ray_speed), speeds)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """Return 3x^2 - 2x^3 of ``x`` clipped to [0, 1]: an ease with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def lock_offsets(ankle: np.ndarray, contact: np.ndarray, pins: Sequence[np.ndarray | list[float]], ease: int,
                 max_swing: int | None = None, rise_from: Sequence[float] | None = None) -> np.ndarray:
    """Return (T, 3): what to add to one ankle track (T, 3) so it rests on its pins while in contact (T,).

    In each contact the ankle is held at its pin, except that it may rise (heel-off): by what it is
    above ``rise_from`` (one height per contact; default the pin's own, so it never sinks below it).
    Between two contacts the offset eases (smoothstep) from its value where the foot lifts to its value
    where it lands, over the whole swing; before the first and after the last contact, and across
    gaps longer than ``max_swing`` frames (a jump, a kneel, missed detections), it fades to 0 and back
    over ``ease`` frames. Why not fade every lock out within a few frames: the leftover offset at
    lift-off is often 5-15 cm (the lifter's stride does not match the 2D-based root), and taking it out
    in 0.15 s jerked knees and ankles (up to 12 cm/frame^2 on a walk); spread over the swing it costs a
    fraction of that (measured in docs/motion_quality.md). ``pins``: one (3,) point per contact, in
    :func:`runs` order.
    """
    ankle = np.asarray(ankle, np.float64)
    contact = np.asarray(contact, bool)
    if len(contact) != len(ankle):
        raise ValueError(f"contact has {len(contact)} frames, ankle {len(ankle)}")
    t_len = len(ankle)
    out = np.zeros((t_len, 3))
    spans = runs(contact)
    floors = [p[2] for p in pins] if rise_from is None else rise_from
    for (s, e), pin, floor in zip(spans, pins, floors, strict=True):
        out[s: e + 1] = np.asarray(pin, np.float64) - ankle[s: e + 1]
        # held down, a rising heel stretched the leg and the knee snapped at lift-off
        out[s: e + 1, 2] += np.maximum(ankle[s: e + 1, 2] - floor, 0.0)
    if not spans:
        return out
    zero = np.zeros(3)
    ease = max(int(ease), 1)
    first, last = spans[0][0], spans[-1][1]
    # (a, offset at a, b, offset at b): frames a+1..b-1 get the eased value; `ease` frames of fade
    segments = [(first - ease - 1, zero, first, out[first].copy()), (last, out[last].copy(), last + ease + 1, zero)]
    for (_, e), (s_next, _) in zip(spans[:-1], spans[1:], strict=True):
        if max_swing is not None and s_next - e > max(max_swing, 2 * ease + 2):
            segments += [(e, out[e].copy(), e + ease + 1, zero), (s_next - ease - 1, zero, s_next, out[s_next].copy())]
        else:
            segments.append((e, out[e].copy(), s_next, out[s_next].copy()))
    for a, o_a, b, o_b in segments:
        t = np.arange(max(a + 1, 0), min(b, t_len))
        out[t] = o_a + _smoothstep((t - a) / (b - a))[:, None] * (o_b - o_a)
    return out


def _contact_rows(contacts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Return (frame, foot, lock index) per planted-ankle sample of ``contacts`` (T, 2), and contacts per foot."""
    frame, foot, lock, per_foot = [], [], [], []
    k = 0
    for f in range(contacts.shape[1]):
        spans = runs(contacts[:, f])
        per_foot.append(len(spans))
        for s, e in spans:
            frame.extend(range(s, e + 1))
            foot.extend([f] * (e - s + 1))
            lock.extend([k] * (e - s + 1))
            k += 1
    return np.array(frame, int), np.array(foot, int), np.array(lock, int), per_foot


def lock_heights(heights: np.ndarray, lock: np.ndarray, n_locks: int, ankle_height: float) -> np.ndarray:
    """Return (n_locks,) the height each contact's ankle is held at: ``ankle_height`` (on the ground), or the
    median of its planted ankle ``heights`` (rows, metres, lock index ``lock`` per row) where that is
    :data:`RAISED_M` or more above it (on a box, a step)."""
    out = np.full(n_locks, float(ankle_height))
    for k in range(n_locks):
        rows = heights[lock == k]
        if len(rows) and np.median(rows) >= ankle_height + RAISED_M:
            out[k] = float(np.median(rows))
    return out


def pelvis_correction(ankles: np.ndarray, contacts: np.ndarray, fps: float, ankle_height: float,
                      root_hz: float, stiffness: float = 0.1) -> tuple[np.ndarray, list[list[list[float]]]]:
    """Return (delta (T, 3), locks): a smooth pelvis offset that keeps planted ankles still, and lock points.

    ankles: (T, 2, 3) Z-up world metres; contacts: (T, 2) bool. Per axis, a sparse least-squares solve:
    planted ankle + delta = its contact's lock point (horizontal lock points are unknowns, their height is
    ``ankle_height``, or the contact's own on a raised level: :func:`lock_heights`), with the acceleration of
    delta penalised for a bandwidth of about ``root_hz`` and a pull of delta towards 0 (``stiffness`` per frame
    against 1 per planted foot), so the correction
    removes the root's fast wobble but does not drag the 2D-based trajectory along a mis-scaled stride;
    the legs' IK takes up the rest. locks[f][k]: [x, y, z] of foot f's k-th contact (:func:`runs` order).
    """
    from scipy.sparse import csr_matrix, diags, hstack, identity, vstack  # noqa: F401
    from scipy.sparse.linalg import spsolve

    t_len = len(ankles)
    frame, foot, lock, per_foot = _contact_rows(contacts)
    n_locks, n_rows = sum(per_foot), len(frame)
    omega = 2.0 * np.pi * root_hz / fps
    if t_len >= 3:
        acc = diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(t_len - 2, t_len)) / omega**2
    else:  # no acceleration to penalise in one or two frames
        acc = csr_matrix((0, t_len))
    c_t = csr_matrix((np.ones(n_rows), (np.arange(n_rows), frame)), shape=(n_rows, t_len))
    c_k = csr_matrix((np.ones(n_rows), (np.arange(n_rows), lock)), shape=(n_rows, n_locks))
    prior = diags(np.r_[np.full(t_len, np.sqrt(stiffness)), np.full(n_locks, 1e-3)])
    a_h = vstack([hstack([c_t, -c_k]), hstack([acc, csr_matrix((acc.shape[0], n_locks))]), prior]).tocsc()
    a_v = vstack([c_t, acc, np.sqrt(stiffness) * identity(t_len)]).tocsc()
    delta, lock_xyz = np.zeros((t_len, 3)), np.full((n_locks, 3), ankle_height)
    lock_xyz[:, 2] = lock_heights(ankles[frame, foot, 2], lock, n_locks, ankle_height)
    for axis in range(3):
        target = -ankles[frame, foot, axis] + (lock_xyz[lock, 2] if axis == 2 else 0.0)
        a = a_v if axis == 2 else a_h
        b = np.concatenate([target, np.zeros(a.shape[0] - n_rows)])
        x = np.atleast_1d(spsolve((a.T @ a).tocsc(), a.T @ b))
        delta[:, axis] = x[:t_len]
        if axis < 2:
            lock_xyz[:, axis] = x[t_len:]
    splits = np.cumsum([0] + per_foot)
    locks = [lock_xyz[splits[f]: splits[f + 1]].tolist() for f in range(len(per_foot))]
    return delta, locks


IK_SOFT = 0.02
"""two_bone_ik's soft zone, a fraction of the leg's reach. Measured on the four motion clips of
docs/motion_quality.md: 0.01 / 0.02 / 0.04 took the walk's acceleration ratio from 0.345 to 0.330 /
0.327 / 0.326 and raised its foot skate in contacts from 0.06 to 0.25 / 0.49 / 1.11 cm/s."""


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray,
                target: np.ndarray, soft: float = IK_SOFT) -> tuple[np.ndarray, np.ndarray]:
    """Return (knee, ankle) (N, 3) moved so the ankle reaches ``target`` (N, 3) with the hip fixed.

    Thigh and shin keep their lengths; the knee stays in the plane of hip, target and the old knee
    (its pole); a target out of reach is approached along the hip -> target line. Soft IK: over the
    last ``soft`` fraction of the reach the hip-ankle distance approaches full extension
    exponentially instead of linearly, because near a straight leg the knee moves by the square root
    of the distance change: a pin 1 mm nearer straightened the knee by centimetres in one frame
    (knee pops of 14 cm/frame^2 at lift-off on a walk). Targets nearer than (1 - soft) x reach are met
    exactly; one at full reach is missed by 0.37 x soft x reach.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    d_vec = target - hip
    d = np.linalg.norm(d_vec, axis=-1)
    if soft > 0:
        width = soft * (l1 + l2)
        start = (l1 + l2) - width
        d = np.where(d > start, start + width * (1.0 - np.exp(-(d - start) / np.maximum(width, 1e-9))), d)
    d = np.clip(d, np.abs(l1 - l2) + 1e-6, 0.9999 * (l1 + l2))
    u = d_vec / np.maximum(np.linalg.norm(d_vec, axis=-1), 1e-9)[:, None]
    pole = knee - hip
    v = pole - np.sum(pole * u, -1, keepdims=True) * u
    fallback = np.cross(u, [1.0, 0.0, 0.0])  # knee straight along the line: bend forward-ish
    v = np.where((np.linalg.norm(v, axis=-1) < 1e-6)[:, None], fallback, v)
    v /= np.maximum(np.linalg.norm(v, axis=-1), 1e-9)[:, None]
    cos_a = np.clip((l1**2 + d**2 - l2**2) / (2 * l1 * d), -1.0, 1.0)
    new_knee = hip + l1[:, None] * (cos_a[:, None] * u + np.sqrt(1 - cos_a**2)[:, None] * v)
    new_ankle = hip + d[:, None] * u
    return new_knee, new_ankle


def reach_shift(body: np.ndarray, targets: Callable[[np.ndarray], list[np.ndarray]], fps: float, root_hz: float,
                iterations: int = 4) -> np.ndarray:
    """Return a smooth (T, 3) body offset that brings every leg's ankle target within the leg's reach.

    Without it a pin beyond a straight leg is only approached (two_bone_ik), and the foot drags along
    while "locked" (measured: 2 cm/s mean, single frames over 20 cm/s, on a walk whose lifted legs
    are nearly straight at heel strike). The offset is what the hips must move towards the pins,
    low-passed (zero-phase, 2 x ``root_hz``) so the body does not pop; a few rounds make up for what
    the filter takes off the peaks. ``targets(body)`` returns the per-leg (T, 3) ankle targets.
    """
    from core.smoothing import smooth_series

    reach = [0.995 * (np.linalg.norm(body[:, knee] - body[:, hip], axis=-1)
                      + np.linalg.norm(body[:, ankle] - body[:, knee], axis=-1)) for hip, knee, ankle in FEET]
    total = np.zeros((len(body), 3))
    for _ in range(iterations):
        need = np.zeros_like(total)
        for (hip, _, _), leg_reach, target in zip(FEET, reach, targets(body + total[:, None]), strict=True):
            d = target - (body[:, hip] + total)
            dist = np.linalg.norm(d, axis=-1)
            need += (np.maximum(dist - leg_reach, 0.0) / np.maximum(dist, 1e-9))[:, None] * d
        if np.abs(need).max() < 1e-4:
            break
        total += smooth_series(need, fps, 2.0 * root_hz) if len(need) > 12 else need
    return total


def lock_feet(joints: np.ndarray, contacts: np.ndarray, fps: float, ankle_height: float,
              params: ContactParams = DEFAULT_PARAMS) -> tuple[np.ndarray, list[list[list[float]]]]:
    """Return (joints (T, 17, 3), locks): absolute Z-up world joints with planted feet pinned, no ankle underground.

    joints: (T, 17, 3) metres, world (ground z = 0); contacts: (T, 2) bool (left, right);
    ankle_height: metres above the ground of a planted ankle. The whole body moves by a smooth
    pelvis correction, then each leg's two-bone IK pins its ankle (:func:`lock_offsets`).
    """
    from core.smoothing import smooth_series

    out = np.array(joints, np.float64, copy=True)
    ankles = out[:, [FEET[0][2], FEET[1][2]]]
    if contacts.any():
        delta, locks = pelvis_correction(ankles, contacts, fps, ankle_height, params.root_hz,
                                         params.root_stiffness)
        out += delta[:, None, :]
    else:
        locks = [[], []]
    ease = max(1, int(round(params.blend_s * fps)))
    max_swing = max(1, int(round(params.max_swing_s * fps)))

    def targets(body: np.ndarray) -> list[np.ndarray]:
        """Per leg, where its ankle should be: the pin in contact, the motion's own ankle plus a smooth offset else."""
        out_t = []
        for f, (_, _, ankle) in enumerate(FEET):
            cur = body[:, ankle]
            offset = lock_offsets(cur, contacts[:, f], locks[f], ease, max_swing)
            if params.target_hz and fps > 2 * params.target_hz:
                offset = smooth_series(offset, fps, params.target_hz)
            target = cur + offset
            target[:, 2] = np.maximum(target[:, 2], ankle_height)
            out_t.append(target)
        return out_t

    out += reach_shift(out, targets, fps, params.root_hz)[:, None, :]
    for (hip, knee, ankle), target in zip(FEET, targets(out), strict=True):
        cur = out[:, ankle]
        move = np.linalg.norm(target - cur, axis=-1) > 1e-6
        if move.any():
            out[move, knee], out[move, ankle] = two_bone_ik(out[move, hip], out[move, knee], cur[move], target[move])
    return out, locks
