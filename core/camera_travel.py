"""A camera that travels during a clip (a cameraman walking alongside, a dolly, a car), its path measured on the
floor.

From one camera a person's root path is seen relative to the camera: where the camera travels with them, they
"walk on the spot". :func:`camera_path` puts the camera back on its path, in metres: the background corners
that core.camera_motion followed between measured frame pairs (``camera_flow``) are taken to lie on the ground
plane (known from the person's feet, core.contact, in the first frame's camera), which gives each corner of the
earlier frame a 3D point at the scale of the person; OpenCV's ``solvePnPRansac`` then finds the later frame's
camera from where those points are seen in it. Corners off the floor (walls, furniture, the horizon) disagree
with the plane and fall out as outliers. Chained over the clip, the pairs give every frame's camera turn and
position relative to the first.

Why not the essential matrix (``cv2.findEssentialMat``): it gives the direction of travel but not how far;
the floor at the camera's height is what gives metres. Why not a homography (8 degrees of freedom): the plane
is known, and fitting only the camera's 6 leaves less to chance on a floor with few corners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

MAX_FLOOR_M = 25.0
"""Corners whose ray meets the ground further than this from the camera are not used: near the horizon a
pixel's error moves the point metres, and most are not on the floor at all."""
MIN_FLOOR_POINTS = 12
"""Fewer floor corners (or PnP inliers) than this in a frame pair: it is not measured (see :func:`camera_path`)."""
INLIER_PX = 2.0
"""A corner agrees with a camera when it is seen within this many pixels (at 640 px wide; scaled with the width)
of where its floor point projects."""
MIN_TRAVEL_M = 0.25
"""A camera whose measured path is shorter than this counts as standing: a hand's sway, a tripod's wobble,
or the noise of pairs measured on a few corners (the root's own error is larger)."""
NORMAL_ROUNDS = 5
"""At most this many rounds of the floor's normal refitted and its pairs measured again on it
(:func:`_floor_normal`; on synthetic tracking shots 3 rounds left it 0.8-1.6 degrees off, 5 rounds 0.4-1.0)."""
NORMAL_PAIRS = 60
"""The floor's normal is fitted on the first this many frame pairs measured (4 s of a moving camera)."""
MAX_NORMAL_DEG = 20.0
"""The floor's normal from the background is looked for within this angle of the feet's."""
PROGRESS_EVERY = 250
"""Frame pairs chained between two progress reports (about half a second)."""
MIN_PAIRS = 5
"""Fewer frame pairs measured on the floor than this: no path (nor a floor normal to trust; a camera moving for
a third of a second is a bump, not a tracking shot)."""
MIN_STRAIGHTNESS = 0.5
"""A measured path whose ends lie less than this share of its length apart goes back and forth: floor corners
matched wrongly (a road blurred by speed), not a camera travelling with a person. Tracking shots rendered beside a
walker and a runner measure 0.95-0.97; a real tracking shot of a runner on a road measured 43 m of path with 8.7 m
between its ends (0.2), and the runner then ran on the spot without a word."""
MIN_MEASURED = 0.6
"""At least this fraction of the frame pairs where the background moved must be measured on the floor, else
the path is not trusted (a plain floor, a wall behind the person) and :func:`camera_path` returns None."""


def camera_path(flow: np.ndarray, flow_frames: np.ndarray, frames: int, normal: np.ndarray, offset: float,
                image_size: tuple[int, int], focal: float, refine_normal: bool = True,
                on_progress: Callable[[int, int], None] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
    """Return (turns (T,3,3), centres (T,3), normal (3,)): frame t's camera turn (``p_0 = R_t p_t``, as
    core.camera_motion's), its centre in the first frame's camera, metres, and the floor's normal (up) as the
    background showed it; None where the floor could not show the path (too few pairs measured,
    :data:`MIN_MEASURED`) or the camera stood (:data:`MIN_TRAVEL_M`).

    flow, flow_frames: core.camera_motion.BackgroundTracker.flow(); frames: the clip's length; normal, offset:
    the ground in the first frame's camera from the person's feet (``normal . p + offset`` = height above it,
    metres; normal up): the offset (the camera's height) sets the scale (the path is proportional to it), the
    normal is a first guess that :func:`_floor_normal` refines on the background (``refine_normal``; off: the
    normal is kept). focal: pixels. Frames not measured are interpolated between those measured.
    on_progress(done, total): called as the frame pairs are chained (twice over where the normal is refined; a
    long moving-camera clip takes minutes).
    """
    from scipy.spatial.transform import Rotation, Slerp

    flow, flow_frames = np.asarray(flow, np.float64), np.asarray(flow_frames, np.int64)
    normal = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    k = np.array([[focal, 0.0, image_size[0] / 2.0], [0.0, focal, image_size[1] / 2.0], [0.0, 0.0, 1.0]])
    tol = INLIER_PX * image_size[0] / 640.0
    if len(flow_frames) == 0:  # the background never moved
        return None
    total = (2 if refine_normal else 1) * len(flow_frames)

    def report(before: int) -> Callable[[int], None] | None:
        return None if on_progress is None else lambda done: on_progress(before + done, total)

    known, measured, held = _chain(flow, flow_frames, frames, normal, offset, k, tol, report(0))
    enough = _enough(measured, flow_frames)
    if refine_normal and enough:
        # on the first NORMAL_PAIRS pairs measured (the cost stays bounded on long clips)
        sample = []
        for i in measured[:NORMAL_PAIRS]:
            a = int(flow_frames[i, 0])
            sample.append((_finite(flow[i]), held.get(a, a), int(flow_frames[i, 1]), *known[a]))
        normal = _floor_normal(sample, normal, offset, k, tol)
        known, measured, _ = _chain(flow, flow_frames, frames, normal, offset, k, tol, report(len(flow_frames)))
        enough = _enough(measured, flow_frames)
    if not enough:
        return None
    idx = np.array(sorted(known))
    turns = np.repeat(np.eye(3)[None], frames, axis=0)
    centres = np.zeros((frames, 3))
    rots = Rotation.from_matrix(np.array([known[i][0] for i in idx]))
    span = np.arange(idx[-1] + 1)
    turns[: idx[-1] + 1] = Slerp(idx, rots)(span).as_matrix() if len(idx) > 1 else rots.as_matrix()
    centres[: idx[-1] + 1] = np.stack([np.interp(span, idx, [known[i][1][d] for i in idx]) for d in range(3)], 1)
    turns[idx[-1] + 1:], centres[idx[-1] + 1:] = turns[idx[-1]], centres[idx[-1]]
    length = path_length(centres)
    log.info("the camera travelled %.2f m (measured on the floor in %d of %d moving frame pairs)", length,
             len(measured), len(flow_frames))
    if length < MIN_TRAVEL_M:
        return None
    ends = float(np.linalg.norm(centres[-1] - centres[0]))
    if ends < MIN_STRAIGHTNESS * length:
        log.info("the camera's path measured on the floor goes back and forth (%.1f m long, its ends %.1f m apart); "
                 "not used", length, ends)
        return None
    return turns, centres, normal


def _enough(measured: list[int], flow_frames: np.ndarray) -> bool:
    """Return whether enough of the moving frame pairs were measured on the floor (:data:`MIN_MEASURED`)."""
    if len(measured) >= max(MIN_PAIRS, MIN_MEASURED * len(flow_frames)):
        return True
    log.info("the camera's path was not measured on the floor (%d of %d moving frame pairs)", len(measured),
             len(flow_frames))
    return False


Floor = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
"""One measured pair: (earlier camera's turn, rays (N,3) of all its corners, where the later camera saw them
(N,2), rvec and tvec of the later camera (OpenCV's: earlier camera's frame -> later's) as one array (6,), the
earlier camera's height)."""


def _chain(flow: np.ndarray, flow_frames: np.ndarray, frames: int, normal: np.ndarray, offset: float,
           k: np.ndarray, tol: float, progress: Callable[[int], None] | None = None,
           ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], list[int], dict[int, int]]:  # fmt: skip
    """Return ({frame: (turn, centre)} of the frames whose camera is known, the pairs measured on the floor,
    {held frame: the frame whose camera it holds}), the pairs chained in order of their later frame.

    A pair's later camera is known when the pair is measured. Its earlier camera must be known: measured, or
    held from the last camera before it where no pair ended between (the background stood still there: no
    flow was kept). A frame whose pair failed is not guessed (nor are pairs from it): the interpolation of
    :func:`camera_path` fills it."""
    from bisect import bisect_right

    known: dict[int, tuple[np.ndarray, np.ndarray]] = {0: (np.eye(3), np.zeros(3))}
    ends, failed = [0], set()  # every frame a pair ended at, in order (pairs come in order of their end)
    measured: list[int] = []
    held: dict[int, int] = {}
    for n, i in enumerate(np.argsort(flow_frames[:, 1], kind="stable")):
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n)
        (a, b), pts = (int(v) for v in flow_frames[i]), flow[i]
        if not 0 <= a < b < frames or b <= ends[-1]:
            continue
        ends.append(b)
        if a not in known:  # still frames since the last pair's end hold its camera; a failed end holds nothing
            last = ends[bisect_right(ends, a) - 1]
            if last in failed or last not in known:
                failed.add(b)
                continue
            known[a], held[a] = known[last], last
        rot, centre = known[a]
        floor = _pair(_finite(pts), rot, centre, normal, offset, k, tol)
        if floor is None:
            failed.add(b)
            continue
        measured.append(int(i))
        r_ba = _rodrigues(floor[3][:3])  # earlier camera's frame -> later camera's
        shift = -r_ba.T @ floor[3][3:]
        known[b] = (rot @ r_ba.T, centre + rot @ shift)
    return known, measured, held


def _floor_normal(sample: list[tuple[np.ndarray, int, int, np.ndarray, np.ndarray]], normal: np.ndarray,
                  offset: float, k: np.ndarray, tol: float) -> np.ndarray:
    """Return the floor's normal (first-frame camera, up) that lets one camera move explain each sampled pair's
    floor corners best (the least squared reprojection error, each corner's capped at ``tol``: a larger cap lets
    the corners off the floor drown the floor's), within :data:`MAX_NORMAL_DEG` of ``normal`` (the feet's).

    sample: consecutive measured pairs, (corners (N,4), the frame whose camera the earlier one is (itself, or
    the one it holds), later frame, earlier camera's turn and centre as first chained). Why it can be seen: a
    wrong floor puts the corners at depths no camera move projects right; the camera's height only scales the
    scene, so it does not enter. The pairs are chained afresh for every normal tried: the floor is placed in
    each camera by turns that follow from that normal, not by the first chain's (whose drift, from the feet's
    normal, would pull the fit towards it). The fit still leans towards the normal the pairs' corners were
    measured on, so :data:`NORMAL_ROUNDS` rounds measure them again on each round's normal, until a round
    moves it by under 0.1 degrees."""
    import cv2
    from scipy.optimize import minimize
    from scipy.spatial.transform import Rotation

    e1 = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    cap = tol**2
    later = {b for _, _, b, _, _ in sample}  # frames whose camera a sampled pair gives

    def tilted(ab: np.ndarray) -> np.ndarray:
        return Rotation.from_rotvec(np.radians(ab[0]) * e1 + np.radians(ab[1]) * e2).apply(normal)

    def measure(n: np.ndarray) -> list[tuple[int, int, np.ndarray, Floor]]:
        turns: dict[int, np.ndarray] = {}
        floors = []
        for pts, a, b, rot, centre in sample:
            if a in later and a not in turns:  # its pair failed on this normal: its camera is not known
                continue
            floor = _pair(pts, turns.get(a, rot), centre, n, offset, k, tol)
            if floor is not None:
                floors.append((a, b, rot, floor))
                turns[b] = turns.get(a, rot) @ _rodrigues(floor[3][:3]).T
        return floors

    def cost(ab: np.ndarray, floors: list[tuple[int, int, np.ndarray, Floor]]) -> float:
        if np.hypot(*ab) > MAX_NORMAL_DEG or not floors:
            return 1e9
        n, total, turns = tilted(ab), 0.0, {}
        for a, b, first, (_, rays, seen, pose, height) in floors:
            rot = turns.get(a, first)
            down = -(rays @ (rot.T @ n))
            pts3 = rays / np.maximum(down, 1e-6)[:, None]  # height 1: the scale does not change the fit
            ok = (down > 1e-6) & (np.linalg.norm(pts3, axis=1) * height < MAX_FLOOR_M)
            rv, tv, err = pose[:3], pose[3:] / height, np.full(len(rays), np.inf)
            for _ in range(2 if ok.any() else 0):  # the corners that agree with the camera, it refitted to them
                err[ok] = _miss_px(pts3[ok], seen[ok], rv, tv, k)
                agree = ok & (err < tol)
                if agree.sum() < 6:
                    break
                rv, tv = cv2.solvePnPRefineLM(pts3[agree], seen[agree], k, None, rv.copy(), tv.copy())
            if ok.any():
                err[ok] = _miss_px(pts3[ok], seen[ok], rv, tv, k)
            total += float(np.minimum(err**2, cap).mean())
            turns[b] = rot @ _rodrigues(rv).T
        return total / len(floors)

    x, floors = np.zeros(2), measure(normal)
    for _ in range(NORMAL_ROUNDS):
        res = minimize(cost, x, args=(floors,), method="Nelder-Mead",
                       options={"initial_simplex": [x, x + [3, 0], x + [0, 3]], "xatol": 0.1, "fatol": 1e-4,
                                "maxfev": 40})
        step, x = np.hypot(*(res.x - x)), res.x
        floors = measure(tilted(x)) or floors
        if step < 0.1:
            break
    log.info("the floor's normal, measured on the background: %.1f deg from the feet's", np.hypot(*x))
    return tilted(x)


def _miss_px(points: np.ndarray, seen: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Return (N,) pixels between where a camera (OpenCV's rvec, tvec) projects ``points`` (N,3) and ``seen``."""
    import cv2

    return np.linalg.norm(cv2.projectPoints(points, rvec, tvec, k, None)[0].reshape(-1, 2) - seen, axis=1)


def _finite(pts: np.ndarray) -> np.ndarray:
    """Return the rows of a pair's corners (N, 4) that are not padding."""
    return pts[np.isfinite(pts).all(axis=1)]


def _rodrigues(rvec: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(rvec, np.float64))[0]


def checked_flow(points: np.ndarray | None, frames: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (points, frames) as float64 / int64 when they have the shapes of ``camera_flow`` and
    ``camera_flow_frames`` (docs/FORMATS.md), else None (missing: a keypoints file from elsewhere or from before
    they were kept; malformed: logged)."""
    if points is None or frames is None:
        return None
    p, f = np.asarray(points), np.asarray(frames)
    if p.ndim != 3 or p.shape[2] != 4 or f.shape != (len(p), 2) or p.dtype.kind not in "fiu" \
            or f.dtype.kind not in "iu":
        log.warning("ignoring camera_flow %s %s / camera_flow_frames %s %s: not (P, N, 4) points and (P, 2) frame "
                    "indices; a travelling camera's path is not measured", p.shape, p.dtype, f.shape, f.dtype)
        return None
    return p.astype(np.float64), f.astype(np.int64)


def path_length(centres: np.ndarray) -> float:
    """Return the length, metres, of a path (T, 3)."""
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())


def _pair(pts: np.ndarray, rot: np.ndarray, centre: np.ndarray, normal: np.ndarray, offset: float, k: np.ndarray,
          tol: float) -> Floor | None:
    """Return the later camera of a frame pair as seen from the earlier one (a :data:`Floor`), from corners
    ``pts`` (N, 4) seen in both, or None; the earlier camera's turn ``rot`` and ``centre`` in the first frame's
    camera place the ground in its view."""
    import cv2

    if len(pts) < MIN_FLOOR_POINTS:
        return None
    up = rot.T @ normal  # the ground in the earlier camera's frame
    height = float(normal @ centre + offset)
    if height <= 0.05:
        return None
    rays = np.linalg.solve(k, np.column_stack([pts[:, :2], np.ones(len(pts))]).T).T
    down = -(rays @ up)
    depth = np.where(down > 1e-6, height / np.maximum(down, 1e-6), np.inf)  # along z, since rays have z = 1
    on_floor = depth * np.linalg.norm(rays, axis=1) < MAX_FLOOR_M
    if on_floor.sum() < MIN_FLOOR_POINTS:
        return None
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(
        rays[on_floor] * depth[on_floor, None], pts[on_floor, 2:4], k, None, useExtrinsicGuess=False,
        iterationsCount=2000, reprojectionError=tol, confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or inliers is None or len(inliers) < MIN_FLOOR_POINTS:
        return None
    return rot, rays, pts[:, 2:4], np.concatenate([rvec.ravel(), tvec.ravel()]), height
