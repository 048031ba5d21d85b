"""2D extraction: MediaPipe BlazePose (VIDEO mode, model_complexity=1) -> H36M-17 keypoints.

One tracked person (MediaPipe's pose solution tracks the most prominent one; where it jumps to somebody
else, the body it left is looked for again (:class:`LeftBody`) and core.tracks keeps the main person). Where
it finds nobody, a second, single-image BlazePose looks again in an upscaled square around where the body
last was, upright and turned half round (or, until a body is known, in overlapping tiles): BlazePose's
detector misses small, far people (a runner about 10 m away in a 640x480 render: found in 17 of 90 frames,
all 90 with the crops; docs/motion_quality.md) and most upside-down ones. Frames still without a person are marked
invalid and filled by interpolation, never dropped, so the output has exactly one row per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.camera_motion import BackgroundTracker, ShotCuts
from core.errors import CancelledError, NoPersonError, WorkerEnvError
from core.keypoints import blazepose_to_h36m
from core.motion_file import Keypoints2D
from core.native_logs import quiet_native_stderr
from core.shots import shot_spans
from core.tracks import frame_ranges, inverted_blips, main_person_found_again, same_person, warn_if_mostly_filled
from core.video import iter_frames, probe
from core.video_metadata import read_lens_mm
from core.world import focal_length

log = logging.getLogger(__name__)

MAX_DETECT_SIDE = 1280
"""Frames larger than this (long side, pixels) are downscaled before detection: BlazePose
works at 256 px internally, so 4K input only costs conversion time. Landmarks are
normalised, so they map back to the full-size frame exactly."""

CROP_PX = 512
"""Side, pixels, that a retry crop is resized to: the body then fills about half of it."""
CROP_HOLD_S = 1.0
"""How long, seconds, the retry keeps looking where the body last was before scanning tiles again."""
TILE_EVERY = 5
"""While no body is known, the tiles are scanned on every this many frames (9 extra runs each)."""
MIN_LEFT_RUN = 3
"""A body the tracker stayed on for fewer frames than this is not looked for when it leaves it: MediaPipe's
one-frame re-fits of a body a torso length off read as jumps there and back."""
LEFT_BODY_S = 5.0
"""How long, seconds, the body the tracker left (:class:`LeftBody`) is looked for without being found: somebody
walking in front of it hides it for a second or two."""

ProgressFn = Callable[[int, int], None]


def _make_pose(static: bool = False):
    try:
        import mediapipe as mp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise WorkerEnvError(f"mediapipe is not installed ({e}); run `make setup` (needs mediapipe==0.10.21)") from None
    # complexity 1 is the model the 0.10.21 wheel ships; 0 and 2 would try to download.
    return mp.solutions.pose.Pose(
        static_image_mode=static, model_complexity=1, smooth_landmarks=not static,
        enable_segmentation=False, min_detection_confidence=0.5, min_tracking_confidence=0.5,
    )


def _resize_for_detection(frame: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    scale = MAX_DETECT_SIDE / max(h, w)
    if scale >= 1.0:
        return frame
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def crop_square(frame: np.ndarray, cx: float, cy: float, side: float, out_px: int = CROP_PX
                ) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Return (crop (out_px, out_px, 3), (x0, y0, scale)): the square of ``side`` pixels centred on (cx, cy),
    black outside the frame, resized; a crop pixel (u, v) is frame pixel (x0 + u / scale, y0 + v / scale)."""
    import cv2

    s = max(int(round(side)), 2)
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    h, w = frame.shape[:2]
    out = np.zeros((s, s, 3), frame.dtype)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if fx1 > fx0 and fy1 > fy0:
        out[fy0 - y0: fy1 - y0, fx0 - x0: fx1 - x0] = frame[fy0:fy1, fx0:fx1]
    scale = out_px / s
    return cv2.resize(out, (out_px, out_px), interpolation=cv2.INTER_LINEAR), (float(x0), float(y0), scale)


def body_square(landmarks_px: np.ndarray, min_side: float = 96.0) -> tuple[float, float, float]:
    """Return (cx, cy, side) of the square, twice the body's extent, to look for it in the next frame."""
    lo, hi = landmarks_px[:, :2].min(axis=0), landmarks_px[:, :2].max(axis=0)
    return float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, max(2.0 * float((hi - lo).max()), min_side)


def tile_squares(width: int, height: int) -> list[tuple[float, float, float]]:
    """Return the overlapping squares (cx, cy, side) of a 3 x 3 grid, each half the frame's long side, that
    cover a ``width`` x ``height`` frame. Measured on the demo dancer shrunk to 0.3x in a 640x480 frame at four
    places (tests/integration/test_extract_small_person.py): found at all four, where 2 x 2 tiles of two thirds
    of the side found it at two."""
    side = max(width, height) / 2.0

    def centres(extent: int) -> list[float]:
        return sorted({side / 2, extent / 2, extent - side / 2}) if extent > side else [extent / 2]

    return [(cx, cy, side) for cy in centres(height) for cx in centres(width)]


Body = tuple[np.ndarray, np.ndarray]
"""One detection: landmarks (33, 4: x px, y px, z, visibility) in the frame and world landmarks (33, 3 m)."""


def _body(res, size: tuple[float, float], origin: tuple[float, float] = (0.0, 0.0), turned: bool = False) -> Body:
    """Return the :data:`Body` of a MediaPipe result whose image spans ``size`` frame pixels from ``origin``;
    ``turned``: the image was turned half round (180 degrees) before detection."""
    (w, h), (x0, y0) = size, origin
    pts = np.array([[p.x, p.y, p.z, p.visibility] for p in res.pose_landmarks.landmark], np.float32)
    world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], np.float32)
    if turned:  # a half turn about the camera's axis: (x, y) -> (1 - x, 1 - y) in the image, (-x, -y) in the world
        pts[:, :2] = 1.0 - pts[:, :2]
        world[:, :2] *= -1.0
    pts[:, 0], pts[:, 1], pts[:, 2] = x0 + pts[:, 0] * w, y0 + pts[:, 1] * h, pts[:, 2] * w
    return pts, world


def look_in_square(retry, frame: np.ndarray, square: tuple[float, float, float], turned: bool = True
                   ) -> Body | None:
    """Return the :data:`Body` the single-image BlazePose ``retry`` finds in ``square`` (cx, cy, side) of
    ``frame``, or None. With ``turned``, a miss is looked at again turned half round: BlazePose misses most
    upside-down bodies (sports2d_demo.mp4's back flip: 7 of its 8 upside-down frames found only so)."""
    crop, (x0, y0, scale) = crop_square(frame, *square)
    side = CROP_PX / scale
    res = retry.process(crop)
    if res.pose_landmarks is not None:
        return _body(res, (side, side), (x0, y0))
    if turned:
        res = retry.process(np.ascontiguousarray(crop[::-1, ::-1]))
        if res.pose_landmarks is not None:
            return _body(res, (side, side), (x0, y0), turned=True)
    return None


class LeftBody:
    """The body MediaPipe's tracker jumped away from, still looked for.

    When the tracked body jumps to somewhere no body goes in the time (core.tracks), the body it left is often
    still in view: the single-image BlazePose looks for it in a square around where it was, every frame (after
    :data:`CROP_HOLD_S` without it, every :data:`TILE_EVERY`-th), until the tracker jumps back to it or it is
    not found for :data:`LEFT_BODY_S`. What it finds is kept aside, and core.tracks weighs it against the
    tracker's frames (sports2d_demo.mp4: the tracker left a man flipping off a box for a walker, and the flip
    was lost).
    """

    def __init__(self, fps: float, hold: int) -> None:
        self.fps, self.hold = fps, hold
        self.give_up = max(hold, int(round(LEFT_BODY_S * fps)))
        self.run = 0  # frames the tracker has stayed on one body
        self.lm: np.ndarray | None = None  # where it was last found
        self.at = 0
        self.found: dict[int, Body] = {}  # frame -> what was found there

    def step(self, i: int, frame: np.ndarray, tracked: np.ndarray | None, last: np.ndarray | None, last_at: int,
             retry) -> None:
        """Look for the left body in frame ``i``; ``tracked``: the tracker's landmarks there (or None), ``last``
        its landmarks at frame ``last_at`` before."""
        jumped = tracked is not None and last is not None and not same_person(last, tracked, i - last_at, self.fps)
        if self.lm is not None and tracked is not None:
            # the tracker is on it: it never left (MediaPipe re-fitted the same body a torso off), or it jumped
            # back; the other person walking up to where this one was, without a jump, is not that
            if same_person(self.lm, tracked, 1, self.fps) or (
                    jumped and same_person(self.lm, tracked, i - self.at, self.fps)):
                self.lm = None
        run = self.run  # how long the tracker stayed on the body it may have just left
        if tracked is not None:
            self.run = 1 if jumped else self.run + 1
        if jumped and self.lm is None and run >= MIN_LEFT_RUN:
            self.lm, self.at = last, last_at
        if self.lm is None:
            return
        since = i - self.at
        if since > self.give_up:
            self.lm = None  # lost
            return
        if since > self.hold and since % TILE_EVERY:
            return  # hidden for a while (somebody in front): looked for on every TILE_EVERY-th frame only
        body = look_in_square(retry, frame, body_square(self.lm))
        if body is None:
            return
        theirs = same_person(tracked, body[0], 0, self.fps) if tracked is not None else \
            last is not None and same_person(last, body[0], i - last_at, self.fps)
        if theirs or not same_person(self.lm, body[0], since, self.fps):
            return  # the tracker's body (now, or where it last was) seen in the crop, or somebody else
        self.lm, self.at = body[0], i
        self.found[i] = body


def fill_invalid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return (T, ...) ``values`` with invalid frames linearly interpolated (edges held)."""
    from core.smoothing import fill_gaps

    values = np.asarray(values, dtype=np.float32)
    if not np.any(valid):
        return values.copy()
    flat = values.reshape(len(values), -1)
    frame_ok = np.asarray(valid, np.float64)[:, None] * np.ones(flat.shape[1])
    return fill_gaps(flat, frame_ok, min_weight=0.5).reshape(values.shape).astype(np.float32)


def decoding_stopped_early(decoded: int, stated: int) -> bool:
    """True when a clip decoded clearly fewer frames than its header states: a cut or damaged file, where OpenCV
    stops at the first frame it cannot read. A few frames short is normal (headers of some containers estimate the
    count from the duration), so at least 5 frames and 10 % must be missing."""
    return stated > 0 and stated - decoded >= max(5, 0.1 * stated)


def extract_keypoints(
    video: Path,
    on_progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Keypoints2D:
    """Return the H36M-17 2D keypoints of the person in ``video``, one row per frame.

    Raises NoPersonError when no frame has a person, VideoError for unreadable clips.
    ``mp_landmarks`` (T,33,4: x px, y px, z, visibility), ``mp_world`` (T,33,3 metres,
    MediaPipe's hip-centred world landmarks), ``lens_mm`` (the 35 mm-equivalent focal length the file states,
    core.video_metadata; only where it states one) and ``camera_rotation`` (T,3,3: each frame's camera turn from the
    first frame's, measured on the background with the default focal length, core.camera_motion) are kept as
    extras, with ``camera_flow`` and ``camera_flow_frames`` (the background corners followed where the camera
    moved, for core.camera_travel).
    """
    info = probe(video)
    total = info.frame_count
    w, h = info.width, info.height
    rows_lm: list[np.ndarray] = []
    rows_world: list[np.ndarray] = []
    valid: list[bool] = []
    nan_lm = np.full((33, 4), np.nan, np.float32)
    nan_world = np.full((33, 3), np.nan, np.float32)
    square: tuple[float, float, float] | None = None  # where the body last was
    last_seen = -(10**9)
    hold = max(1, int(round(CROP_HOLD_S * (info.fps or 30.0))))
    background = BackgroundTracker((w, h), focal_length((w, h), None))
    fps = info.fps or 30.0
    left = LeftBody(fps, hold)
    shots = ShotCuts(fps)
    last: np.ndarray | None = None
    with quiet_native_stderr(), _make_pose() as pose, _make_pose(static=True) as retry:
        for i, frame in enumerate(iter_frames(video)):
            if should_cancel is not None and should_cancel():
                raise CancelledError(f"{video}: extraction cancelled at frame {i}")
            res = pose.process(_resize_for_detection(frame))
            body = None if res.pose_landmarks is None else _body(res, (w, h))
            if body is None:
                if i - last_seen > hold:
                    square = None
                if square is not None:
                    body = look_in_square(retry, frame, square)
                elif i % TILE_EVERY == 0:  # tiles: upright only, they are 9 looks already
                    looks = (look_in_square(retry, frame, tile, turned=False) for tile in tile_squares(w, h))
                    body = next((b for b in looks if b is not None), None)
            lm = None if body is None else body[0]
            left.step(i, frame, lm, last, last_seen, retry)
            if body is None:
                rows_lm.append(nan_lm)
                rows_world.append(nan_world)
                valid.append(False)
            else:
                rows_lm.append(body[0])
                rows_world.append(body[1])
                square, last, last_seen = body_square(lm), lm, i
                valid.append(True)
            bodies = (lm, left.found[i][0] if i in left.found else None)  # both people kept out of the background
            background.update(frame, [(*b[:, :2].min(axis=0), *b[:, :2].max(axis=0)) for b in bodies if b is not None])
            shots.update(frame)
            if on_progress is not None:
                on_progress(i + 1, max(total, i + 1))
    if not rows_lm:
        raise NoPersonError(f"{video}: the video has no decodable frames")
    if decoding_stopped_early(len(rows_lm), total):
        log.warning("%s: decoding stopped at frame %d of the %d the file states (truncated or damaged?); the motion "
                    "covers those %d frames only; re-copy or re-export the video for the rest",
                    video, len(rows_lm), total, len(rows_lm))
    cuts = shots.cuts()
    lm_all, world_all, valid_arr = _main_person(video, np.stack(rows_lm), np.stack(rows_world),
                                                np.array(valid, bool), left.found, fps, cuts)
    blips = inverted_blips(lm_all, valid_arr, fps)
    if blips.any():  # filled like frames without a person
        log.info("%s: frames %s dropped: the torso there points the other way from the frames around it",
                 video, frame_ranges([(int(i), int(i)) for i in np.flatnonzero(blips)]))
        valid_arr = valid_arr & ~blips
    if not valid_arr.any():
        raise NoPersonError(f"{video}: no person detected in any of {len(valid)} frames; "
                            "use a clip where one whole body is visible, lit and sharp, and at least a sixth of the "
                            "picture's height (crop or film closer)")
    warn_if_mostly_filled(video, valid_arr)
    spans = shot_spans(cuts, valid_arr, fps)  # each with a person in it (short or empty shots are merged)
    if len(spans) > 1:  # a cut that leaves a shot under half a second (the clip's last frame) is said as none
        kept = [a for a, _ in spans[1:]]
        log.warning("%s: the video cuts to another shot at frame%s %s; each shot is lifted on its own and joined "
                    "where the body carries on (trim the clip to one shot if the shots are not one performance)",
                    video, "s" * (len(kept) > 1), ", ".join(map(str, kept)))
    # Lost frames are filled within their shot: not from the other camera's view of the body.
    mp_lm = np.concatenate([fill_invalid(lm_all[a:b], valid_arr[a:b]) for a, b in spans])
    mp_world = np.concatenate([fill_invalid(world_all[a:b], valid_arr[a:b]) for a, b in spans])
    joints_2d, scores = blazepose_to_h36m(mp_lm[..., :2], mp_lm[..., 3])
    scores[~valid_arr] = 0.0
    extras = {"mp_landmarks": mp_lm, "mp_world": mp_world, "camera_rotation": background.rotations(),
              **dict(zip(("camera_flow", "camera_flow_frames"), background.flow(), strict=True))}
    if cuts:
        extras["shot_cuts"] = np.asarray(cuts, np.int32)
    lens_mm = read_lens_mm(video)
    if lens_mm is not None:
        extras["lens_mm"] = np.asarray(lens_mm, np.float64)
    return Keypoints2D(joints_2d=joints_2d, scores=scores, valid=valid_arr, fps=info.fps, image_size=(w, h),
                       extras=extras)


def _main_person(video: Path, lm: np.ndarray, world: np.ndarray, valid: np.ndarray, left: dict[int, Body],
                 fps: float, cuts: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (landmarks, world landmarks, valid) of the main person (core.tracks.main_person_found_again), shot by
    shot (``cuts``: the frames that begin one): frames where the tracker was on somebody else take the body it left
    (:class:`LeftBody`) where counting it keeps more of the main person, and are invalid otherwise."""
    kept, taken = np.zeros_like(valid), np.zeros_like(valid)
    others: list[tuple[int, int]] = []
    for a, b in shot_spans(cuts, valid, fps):  # at a cut the body moves in the picture at once: no other person
        found = {i - a: v[0] for i, v in left.items() if a <= i < b}
        k, o, t = main_person_found_again(lm[a:b], valid[a:b], fps, found)
        kept[a:b], taken[a:b] = k, t
        others += [(first + a, last + a) for first, last in o]
    if taken.any():
        lm, world = lm.copy(), world.copy()
        for i in np.flatnonzero(taken):
            lm[i], world[i] = left[i]
        log.info("%s: the detector jumped to another person; the main person was found again in %d frames "
                 "around it", video, int(taken.sum()))
    if others:
        n = int(sum(b - a + 1 for a, b in others))
        log.warning("%s: the detector jumped to another person (or a fast move or a part out of the picture "
                    "looked like one) in frame%s %s; %s filled from the main person's", video, "s" * (n > 1),
                    frame_ranges(others), "those frames are" if n > 1 else "that frame is")
    return lm, world, kept
