"""Camera turning during a clip (a panning tripod, a hand following the person), measured on the background.

One camera's root path is the pelvis seen from that camera; if the camera turns to follow the person, the
person stays in the middle of the image and "walks on the spot". :class:`BackgroundTracker` follows corners
outside the person from frame to frame (OpenCV's Shi-Tomasi corners and pyramidal Lucas-Kanade flow,
checked forward and back) and fits the camera's turn between the two frames to their rays; chained, the
turns give every frame's camera relative to the first. The clean-up (core.motion_cleanup) uses them only
where taking the turn out leaves the planted feet stiller: a camera that also moved (an orbit, a dolly) is
not a turn, and there it keeps each frame's own view.

Why a rotation and not a homography (``cv2.findHomography``): a homography has 8 degrees of freedom and
fits anything to corners strung along one edge (a horizon, a floor line), which plain scenes are made of;
tried on rendered clips from standing cameras it "measured" turns of up to 62 degrees. A turn has 3, and
where the corners cannot pin it (all on one line) the frame pair counts as still. OpenCV has no robust
rotation-only fit, so :func:`fit_rotation` is a small RANSAC around ``scipy``'s ``Rotation.align_vectors``.
The rays need a focal length before ``--focal`` is known: the default field of view's, whose error scales
the turn by the same small factor (10 % for a 54 instead of 60 degree lens).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
"""A person's box (x0, y0, x1, y1), full-frame pixels."""

TRACK_SIDE = 320
"""Frames are tracked at this long side, pixels: with :data:`EVERY` and corners carried over, 1.1 ms a frame on
the development machine from a standing camera (3 % of a capture's wall time), 2.0 from a turning one (6.0
before the RANSAC's hypotheses were fitted all at once; at 480 px on every frame, 4.7 ms from a standing camera,
for the same accuracy on the panning renders)."""
MAX_CORNERS = 200
EVERY = 2
"""Frames are measured in pairs this many apart and the turn interpolated between (half the cost; a hand's
turn is smooth over 1/15 s, and the clean-up's filter smooths finer shake anyway)."""
REDETECT_EVERY = 5
"""Corners are followed from pair to pair and found afresh every this many measured pairs, or when fewer than
half of those found are left: finding them is the tracker's dearest step."""
MIN_TRACKS = 10
"""Fewer consistent background corners than this (a plain wall, a person in front of the only object): the
frame pair counts as still (identity), never as a guess."""
PERSON_MARGIN = 0.4
"""The person's box is widened by this fraction of its size on each side before corners inside are dropped:
their shadow and loose clothing move with them."""
MAX_FB_PX = 0.5
"""A corner tracked forward and back must land within this many (tracking) pixels of where it started: drops
corners on a straight edge (the horizon), which slide along it, and the flicker of video compression."""
STILL_PX = 0.15
"""Below this median flow, pixels, the frame pair counts as still (identity): a standing camera then adds no
drift, however long the clip."""
INLIER_PX = 1.0
"""A corner agrees with a turn when the turn predicts it within this many (tracking) pixels."""
MIN_SPREAD = 0.1
"""The corners must spread in two directions: the smaller principal spread at least this fraction of the
larger one, else (corners along one line) the turn about that line cannot be told and the pair counts as still."""
FLOW_KEEP = 64
"""Background corners kept per measured frame pair where the camera moved (:meth:`BackgroundTracker.flow`), a
random subset: what core.camera_travel needs to find a travelling camera's path on the floor (0.9 MB a minute
of moving-camera video; a standing camera keeps none)."""
MIN_TURN_DEG = 5.0
"""A clip whose camera turns less than this (largest angle from the first frame) counts as a standing camera:
the tracking drifts by up to 0.5 degrees over a rendered clip from a standing camera with a plain background
(up to 2.3 in other settings tried), and a turn this small moves the root by under a tenth of its distance
from the camera."""


def _rays(points: np.ndarray, size: tuple[int, int], focal: float) -> np.ndarray:
    """Return (N, 3) unit rays, camera frame, through pixels ``points`` (N, 2) of a centred pinhole."""
    from core.contact import camera_rays

    d = camera_rays(points, size, focal)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _triads(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Return (H, 3, 3) orthonormal frames (columns) built on vector pairs (H, 3): the first, then the pair's
    normal, then their cross product."""
    n = np.cross(first, second)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    return np.stack([first, n, np.cross(first, n)], axis=-1)


def fit_rotation(src: np.ndarray, dst: np.ndarray, tol: float, rng: np.random.Generator, iterations: int = 64
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Return (R (3,3), inliers (N,) bool): the rotation with dst ~ R src for unit rays (N, 3), RANSAC over
    pairs (two rays fix a rotation: every hypothesis at once, from the pairs' frames), inliers within ``tol``
    radians, refitted on them by least squares (``Rotation.align_vectors``)."""
    from scipy.spatial.transform import Rotation

    pick = np.stack([rng.choice(len(src), 2, replace=False) for _ in range(iterations)])
    rot = _triads(dst[pick[:, 0]], dst[pick[:, 1]]) @ _triads(src[pick[:, 0]], src[pick[:, 1]]).transpose(0, 2, 1)
    inl = np.linalg.norm(np.einsum("hij,nj->hni", rot, src) - dst[None], axis=-1) < tol
    best = inl[np.argmax(inl.sum(axis=1))]
    if best.sum() < 2:
        return np.eye(3), best
    fit, _ = Rotation.align_vectors(dst[best], src[best])
    return fit.as_matrix(), np.linalg.norm(fit.apply(src) - dst, axis=1) < tol


CUT_THUMB = (64, 36)
CUT_MIN_CHANGE = 0.6
"""A hard cut changes a brightness-normalised 64x36 thumbnail by at least this much on average (in standard
deviations of the frame): 0.78-1.14 at the 9 cuts of two real edited clips; 0.46 at most, over every frame, on a
handheld phone clip of spins and floor work, 0.34 on a cartoon, 0.25 where the sun's flare made a clip flicker."""
CUT_FLAT_STD = 8.0
"""A thumbnail whose grey levels vary less than this (of 255) is blank: black, a fade, a flat title card."""
CUT_MIN_RATIO = 5.0
"""... and by at least this many times the median change of the frames around (one second either side)."""


CUT_MIN_BLOCKS = 0.7
"""... and in at least this share of its 4 x 4 blocks, each compared on its own (:func:`_blocks_changed`): 0.88-1.0
at those cuts, 0.38 where somebody close to the camera covered half the picture for a while, which is no cut."""


def _blocks_changed(a: np.ndarray, b: np.ndarray) -> float:
    """Return the share of the 4 x 4 blocks of grey thumbnails ``a``, ``b`` (CUT_THUMB) whose picture changed: its
    pattern (each block's own mean out, over the larger of the two's spread) by half a spread on average, or its
    brightness by 15 % of the range."""
    w, h = CUT_THUMB
    blocks_a, blocks_b = (x.reshape(4, h // 4, 4, w // 4) for x in (a, b))
    mean_a, mean_b = blocks_a.mean(axis=(1, 3), keepdims=True), blocks_b.mean(axis=(1, 3), keepdims=True)
    spread = np.maximum(np.maximum(blocks_a.std(axis=(1, 3), keepdims=True), blocks_b.std(axis=(1, 3), keepdims=True)),
                        CUT_FLAT_STD)
    pattern = (np.abs((blocks_a - mean_a) - (blocks_b - mean_b)) / spread).mean(axis=(1, 3))
    brightness = np.abs(mean_a - mean_b)[:, 0, :, 0] / 255.0
    return float(((pattern > 0.5) | (brightness > 0.15)).mean())


class ShotCuts:
    """Find the hard cuts of an edited clip: frames whose picture changes at once, all over, far more than the frames
    around it do, and does not come back the next frame (a flash). Feed frames in order with :meth:`update`.

    Hand-written (PySceneDetect's content detector does the same with more options) to avoid a dependency for
    one warning: a few lines on thumbnails the capture already decodes."""

    def __init__(self, fps: float) -> None:
        self.half = max(2, int(round(fps)))
        # The last two pictures that were not blank (normalised thumbnails) and the last one's raw grey levels.
        self._prev: np.ndarray | None = None
        self._before: np.ndarray | None = None
        self._prev_raw: np.ndarray | None = None
        self.change: list[float] = []  # against the last picture before it (0 for a blank frame)
        self.blocks: list[float] = []  # share of the thumbnail's blocks that changed: all of them at a cut
        self.skip: list[float] = []  # against the picture before that one: a flash's way back is small there
        self.pictures: list[int] = []  # the frames that are not blank

    def update(self, frame: np.ndarray) -> None:
        """Add the next frame (H, W, 3) uint8."""
        import cv2

        h, w = frame.shape[:2]  # every few pixels first (4x faster on 1080p), then averaged down
        small = frame[:: max(1, h // (4 * CUT_THUMB[1])), :: max(1, w // (4 * CUT_THUMB[0]))]
        t = cv2.cvtColor(cv2.resize(small, CUT_THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        t = t.astype(np.float32)
        if float(t.std()) < CUT_FLAT_STD:  # a black or blank frame (a fade, a dip to black) is no picture of its own:
            self.change.append(0.0)  # a cut through it is found at the next picture, against the last before it
            self.blocks.append(0.0)
            self.skip.append(np.inf)
            return
        z = (t - t.mean()) / float(t.std())  # brightness and contrast out: flicker, exposure
        self.change.append(0.0 if self._prev is None else float(np.abs(z - self._prev).mean()))
        self.blocks.append(0.0 if self._prev_raw is None else _blocks_changed(self._prev_raw, t))
        self.skip.append(np.inf if self._before is None else float(np.abs(z - self._before).mean()))
        self.pictures.append(len(self.change) - 1)
        self._before, self._prev, self._prev_raw = self._prev, z, t

    def cuts(self) -> list[int]:
        """Return the frames that begin a new shot."""
        d = np.asarray(self.change)
        skip = np.asarray(self.skip)
        following = dict(zip(self.pictures, self.pictures[1:], strict=False))  # picture -> the next picture
        out = []
        for i in np.flatnonzero(d >= CUT_MIN_CHANGE):
            window = np.r_[d[max(1, i - self.half): i], d[i + 1: i + 1 + self.half]]
            around = float(np.median(window)) if window.size else 0.0
            # Not a flash: the next picture does not come back to the one before, nor is this one the way back.
            back = min(skip[following[i]] if i in following else np.inf, skip[i])
            if d[i] >= CUT_MIN_RATIO * max(around, 0.02) and back >= 0.5 * d[i] and self.blocks[i] >= CUT_MIN_BLOCKS:
                out.append(int(i))
        return out


class BackgroundTracker:
    """Feed frames in order with :meth:`update`; :meth:`rotations` gives each frame's camera turn."""

    def __init__(self, image_size: tuple[int, int], focal: float) -> None:
        w, h = image_size
        self.scale = min(1.0, TRACK_SIDE / max(w, h))
        self.size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        self.focal = focal * self.scale
        self._rng = np.random.default_rng(0)
        self._prev: np.ndarray | None = None
        self._prev_box: list[Box] | None = None
        self._chain = np.eye(3)
        self._out: list[np.ndarray] = []
        self._pts: np.ndarray | None = None  # corners carried over from the last pair, in the previous frame
        self._anchors: np.ndarray | None = None  # where the corners were in the frame they were found in
        self._anchor_frame = 0
        self._kept: tuple[np.ndarray, tuple[int, int]] | None = None  # this pair's corners for flow()
        self._age = self._found = 0
        self._broken = False
        self.tracked: list[int] = []
        self._flow: list[np.ndarray] = []
        self._flow_frames: list[tuple[int, int]] = []
        self._flow_rng = np.random.default_rng(1)  # its own: the turn's RANSAC draws stay as they were

    def update(self, frame: np.ndarray, person_box: Box | list[Box] | None) -> None:
        """Add the next frame (H, W, 3) uint8 RGB; ``person_box`` (x0, y0, x1, y1) full-frame pixels, a list of such
        boxes (several people), or None.
        Every :data:`EVERY`-th frame is measured against the last measured one; those between are interpolated."""
        import cv2

        if len(self._out) % EVERY or self._broken:
            self._out.append(None if not self._broken else self._chain.copy())
            self.tracked.append(0)
            return
        n = 0
        try:
            gray = cv2.cvtColor(cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            if self._prev is not None:
                step, n = self._step(self._prev, gray, self._prev_box)
                self._chain = self._chain @ step  # camera t -> t-EVERY -> ... -> 0
        except cv2.error as e:  # an odd frame must not stop a capture: the turn is held from here on
            log.warning("camera turn not measured from frame %d on (%s)", len(self._out), str(e).splitlines()[0])
            self._broken = True
            gray, person_box = self._prev, self._prev_box
        self.tracked.append(n)
        self._out.append(self._chain.copy())
        if self._kept is not None:
            self._flow.append(self._kept[0])
            self._flow_frames.append(self._kept[1])
            self._kept = None
        self._prev, self._prev_box = gray, [person_box] if isinstance(person_box, tuple) else person_box

    def _step(self, prev: np.ndarray, cur: np.ndarray, boxes: list[Box] | None) -> tuple[np.ndarray, int]:
        """Return (R (3,3) turning ``cur``'s camera directions into ``prev``'s, number of corners agreeing)."""
        import cv2

        self._kept = None
        rects = []  # the people's boxes, widened, in tracking pixels
        for bx0, by0, bx1, by1 in ((v * self.scale for v in box) for box in boxes or []):
            mx, my = PERSON_MARGIN * (bx1 - bx0), PERSON_MARGIN * (by1 - by0)
            rects.append((bx0 - mx, by0 - my, bx1 + mx, by1 + my))
        pts, anchors = self._pts, self._anchors
        if pts is not None:  # corners followed on from the last pair, minus those the people now cover
            xy = pts.reshape(-1, 2)
            covered = np.zeros(len(xy), bool)
            for x0, y0, x1, y1 in rects:
                covered |= (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
            pts, anchors = pts[~covered], anchors[~covered]
        if pts is None or len(pts) < max(MIN_TRACKS, self._found // 2) or self._age >= REDETECT_EVERY:
            mask = np.full(prev.shape, 255, np.uint8)
            for x0, y0, x1, y1 in rects:
                mask[max(0, int(y0)): max(0, int(y1) + 1), max(0, int(x0)): max(0, int(x1) + 1)] = 0
            # a low corner quality: flat-shaded or plain scenes have few strong corners; the checks drop bad ones
            pts = cv2.goodFeaturesToTrack(prev, MAX_CORNERS, 0.003, 6, mask=mask)
            self._age, self._found = 0, 0 if pts is None else len(pts)
            anchors, self._anchor_frame = pts, len(self._out) - EVERY
        self._age += 1
        self._pts = None
        if pts is None or len(pts) < MIN_TRACKS:
            return np.eye(3), 0
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(15, 15), maxLevel=3)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, winSize=(15, 15), maxLevel=3)
        fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        ok = (status.ravel() == 1) & (status_back.ravel() == 1) & (fb < MAX_FB_PX)
        self._pts, self._anchors = nxt[ok], anchors[ok]
        src, dst = nxt.reshape(-1, 2)[ok].astype(np.float64), pts.reshape(-1, 2)[ok].astype(np.float64)
        if len(src) < MIN_TRACKS or np.median(np.linalg.norm(src - dst, axis=1)) < STILL_PX:
            return np.eye(3), len(src)
        # for flow(): where each corner was when found (a longer base than the pair's: less drift when chained)
        keep = self._flow_rng.choice(len(src), min(FLOW_KEEP, len(src)), replace=False)
        both = np.hstack([self._anchors.reshape(-1, 2)[keep], src[keep]])
        self._kept = ((both + 0.5) / self.scale).astype(np.float32), (self._anchor_frame, len(self._out))
        rot, inliers = fit_rotation(_rays(src, self.size, self.focal), _rays(dst, self.size, self.focal),
                                    INLIER_PX / self.focal, self._rng)
        if inliers.sum() < MIN_TRACKS:
            return np.eye(3), 0
        spread = np.linalg.svd(dst[inliers] - dst[inliers].mean(axis=0), compute_uv=False)
        if spread[1] < MIN_SPREAD * spread[0]:
            return np.eye(3), 0
        return rot, int(inliers.sum())

    def rotations(self) -> np.ndarray:
        """Return (T, 3, 3) float32: R_t turns camera-t directions into the first frame's (p_0 = R_t p_t)."""
        from scipy.spatial.transform import Rotation, Slerp

        known = [i for i, r in enumerate(self._out) if r is not None]
        if not known:
            return np.zeros((0, 3, 3), np.float32)
        out = np.repeat(self._out[known[-1]][None], len(self._out), axis=0)  # the last frames hold the last turn
        if len(known) > 1:
            slerp = Slerp(known, Rotation.from_matrix(np.array([self._out[i] for i in known])))
            out[: known[-1] + 1] = slerp(np.arange(known[-1] + 1)).as_matrix()
        return out.astype(np.float32)


    def flow(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (points (P, FLOW_KEEP, 4) float32, frames (P, 2) int32): for each measured frame where the
        background moved since the last one, background corners as (x, y) in an earlier frame (the one where the
        corners were found, up to :data:`REDETECT_EVERY` measured frames before) then (x, y) in this one,
        full-frame pixels (the keypoints' convention: a pixel's centre at +0.5), NaN-padded, and the two frames'
        indices."""
        pts = np.full((len(self._flow), FLOW_KEEP, 4), np.nan, np.float32)
        for i, p in enumerate(self._flow):
            pts[i, : len(p)] = p
        return pts, np.array(self._flow_frames, np.int32).reshape(-1, 2)


def refocus(rotations: np.ndarray, measured_with: float, focal: float) -> np.ndarray:
    """Return ``rotations`` (T, 3, 3) measured with the focal length ``measured_with`` as ``focal`` would have
    measured them: a pan or tilt moves the image by about focal x angle, so those parts of the turn scale by
    ``measured_with / focal``; a roll does not depend on the focal length."""
    from scipy.spatial.transform import Rotation

    if abs(measured_with - focal) < 1e-9 * focal:
        return rotations
    vec = Rotation.from_matrix(rotations).as_rotvec() * np.array([measured_with / focal, measured_with / focal, 1.0])
    return Rotation.from_rotvec(vec).as_matrix()


def turn_angles(rotations: np.ndarray) -> np.ndarray:
    """Return (T,) degrees each rotation (T, 3, 3) turns by."""
    cos = (np.trace(rotations, axis1=1, axis2=2) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def turning_rotations(rotations: np.ndarray | None, frames: int) -> np.ndarray | None:
    """Return the camera rotations (T, 3, 3) when the camera turned by at least :data:`MIN_TURN_DEG`; None for
    a standing camera, or for missing or malformed ``rotations`` (a keypoints file from elsewhere: logged)."""
    if rotations is None:
        return None
    r = np.asarray(rotations)
    if r.shape != (frames, 3, 3) or r.dtype.kind not in "fiu" or not np.all(np.isfinite(r)) \
            or not np.allclose(r @ r.transpose(0, 2, 1), np.eye(3), atol=1e-3):
        log.warning("ignoring camera_rotation (shape %s, %s): not %d finite 3x3 rotation matrices, one a frame; "
                    "the camera is taken to stand still", r.shape, r.dtype, frames)
        return None
    r = r.astype(np.float64)
    angle = turn_angles(r)
    if angle.max() < MIN_TURN_DEG:
        return None
    log.info("the camera turned by up to %.1f deg during the clip", angle.max())
    return r
