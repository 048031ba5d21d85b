"""One person through the clip: find where the detector jumped to somebody else, keep the main person.

MediaPipe's pose solution follows one body from frame to frame, but when it loses it (a fast move, an
occlusion) it detects again and may pick another person: the keypoints then jump across the image in one
frame. Lifted, that is a body teleporting, and the root path, the ground and the foot locks built on it
are wrong for the whole clip (a real two-person clip: the ground came out 67 degrees off). Here a jump in
the body's position or size between two frames that no body makes splits the clip into runs; the longest
run is the main person, and runs that continue it (starting where it left off, allowing for the time in
between) are kept with it. Where the hips are out of the picture (a close-up) the shoulders tell instead.
Frames of the other runs are marked invalid, so they are filled like frames without a detection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

HIPS = (23, 24)
SHOULDERS = (11, 12)
MAX_STEP_TORSOS = 1.0
"""Largest move of the hips' centre between two frames at 30 fps, in torso lengths (a sprinter moves about
0.6); scaled up for lower frame rates."""
MAX_LINK_TORSOS = 4.0
"""Across a gap (the body lost, or somebody else in between) a run continues the main person only if it
starts within this many torso lengths of where the main person was, however long the gap."""
MAX_SIZE_RATIO = 1.6
"""Largest change of the torso's length between two frames (turning side-on shortens the 2D torso little;
another, nearer or farther person changes it a lot)."""


@dataclass
class _Bodies:
    """Per frame (NaN where missing): the hips' and the shoulders' centres (T, 2) px, the torso's length and the
    shoulders' width (T,) px."""

    hips: np.ndarray
    shoulders: np.ndarray
    torso: np.ndarray
    width: np.ndarray


def _bodies(landmarks: np.ndarray) -> _Bodies:
    """Return the :class:`_Bodies` of MediaPipe landmarks (T, 33, >=2)."""
    hip = landmarks[:, HIPS, :2].mean(axis=1)
    shoulder = landmarks[:, SHOULDERS, :2].mean(axis=1)
    width = np.linalg.norm(landmarks[:, SHOULDERS[0], :2] - landmarks[:, SHOULDERS[1], :2], axis=1)
    return _Bodies(hip, shoulder, np.linalg.norm(shoulder - hip, axis=1), width)


def _step_limit(fps: float) -> float:
    """Return the largest hip move between two consecutive frames, torso lengths, at ``fps``."""
    return MAX_STEP_TORSOS * max(1.0, 30.0 / max(fps, 1e-6))


def _ratio_ok(x: float, y: float) -> bool:
    ratio = max(y, 1e-6) / max(x, 1e-6)
    return 1 / MAX_SIZE_RATIO <= ratio <= MAX_SIZE_RATIO


def _same_body(bodies: _Bodies, a: int, b: int, reach: float) -> bool:
    """Return whether frame ``b`` can show the body of frame ``a``: the hips within ``reach`` torso lengths and the
    torso's length within :data:`MAX_SIZE_RATIO`, or else the shoulders within that reach and their width within
    that ratio. The second reading keeps a close-up together: with the hips out of the picture MediaPipe guesses
    them, and a new guess after a lost frame or two moves them half a torso (a clip of arm curls was cut in two, its
    last 7.6 s dropped as another person's)."""
    size = max(bodies.torso[a], bodies.torso[b], 1e-6)
    if (np.linalg.norm(bodies.hips[b] - bodies.hips[a]) / size <= reach
            and _ratio_ok(bodies.torso[a], bodies.torso[b])):
        return True
    return bool(np.linalg.norm(bodies.shoulders[b] - bodies.shoulders[a]) / size <= reach
                and _ratio_ok(bodies.width[a], bodies.width[b]))


def _runs(bodies: _Bodies, valid: np.ndarray, step_limit: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = prev = None
    for t in np.flatnonzero(valid):
        if prev is None:
            start = t
        elif not _same_body(bodies, prev, t, step_limit * (t - prev)):
            out.append((start, prev))
            start = t
        prev = t
    if start is not None:
        out.append((start, prev))
    return out


def same_person(a: np.ndarray, b: np.ndarray, frames_apart: int, fps: float) -> bool:
    """Return whether landmarks ``b`` (33, >=2 px), ``frames_apart`` frames after ``a``, can show ``a``'s body
    (the test that splits runs, capped at :data:`MAX_LINK_TORSOS` across long gaps)."""
    reach = min(_step_limit(fps) * max(frames_apart, 1), MAX_LINK_TORSOS)
    return _same_body(_bodies(np.stack([a, b]).astype(np.float64)), 0, 1, reach)


def runs_of_one_body(landmarks: np.ndarray, valid: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """Return [(first, last), ...] inclusive frame runs of valid frames with no impossible jump inside."""
    return _runs(_bodies(np.asarray(landmarks, np.float64)), np.asarray(valid, bool), _step_limit(fps))


def main_person(landmarks: np.ndarray, valid: np.ndarray, fps: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Return (valid (T,) bool with other people's frames cleared, [(first, last), ...] the runs dropped).

    The longest run is the main person; going outwards from it, a run is kept when its first (last) frame
    continues the kept neighbour's last (first): within the step limit per elapsed frame, at most
    :data:`MAX_LINK_TORSOS`.
    """
    valid = np.asarray(valid, bool)
    bodies = _bodies(np.asarray(landmarks, np.float64))
    step_limit = _step_limit(fps)
    spans = _runs(bodies, valid, step_limit)
    if len(spans) < 2:
        return valid.copy(), []
    main = max(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
    keep = {main}
    for direction in (1, -1):
        edge = spans[main]
        i = main + direction
        while 0 <= i < len(spans):
            a, b = (edge[1], spans[i][0]) if direction == 1 else (edge[0], spans[i][1])
            if _same_body(bodies, a, b, min(step_limit * abs(b - a), MAX_LINK_TORSOS)):
                keep.add(i)
                edge = spans[i]
            i += direction
    out = valid.copy()
    dropped = [spans[i] for i in range(len(spans)) if i not in keep]
    for first, last in dropped:
        out[first: last + 1] = False
    return out, dropped


def main_person_found_again(landmarks: np.ndarray, valid: np.ndarray, fps: float, left: dict[int, np.ndarray]
                            ) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """Return :func:`main_person`'s (valid, runs dropped) plus ``taken`` (T,) bool: frames whose landmarks are to
    come from ``left`` (frame -> landmarks of the body the tracker left, found again there: core.extract.LeftBody).

    Two readings are weighed: the tracker's frames alone, and the tracker's with the left body put in wherever it
    was found. The one that keeps more frames of its main person wins: the left body may be the main person the
    tracker lost (to a passer-by, mid-flip), or somebody the tracker rightly left for the main person.
    """
    valid = np.asarray(valid, bool)
    kept, dropped = main_person(landmarks, valid, fps)
    taken = np.zeros(len(valid), bool)
    taken[[i for i in left if 0 <= i < len(valid)]] = True
    if not taken.any():
        return kept, dropped, taken
    swapped = np.array(landmarks, np.float64, copy=True)
    for i in np.flatnonzero(taken):
        swapped[i] = left[i][: swapped.shape[1], : swapped.shape[2]]
    kept2, dropped2 = main_person(swapped, valid | taken, fps)
    if kept2.sum() <= kept.sum():
        return kept, dropped, np.zeros(len(valid), bool)
    return kept2, dropped2, taken & kept2


MAX_BLIP_S = 0.07
"""A torso that points another way than the frames around it for at most this long (two frames at 30 fps) is a bad
detection, not a move: nobody turns over in that time (a darkened cut of sports2d_demo.mp4: two such frames near its
end). At a clip's start the frames before the first detection are filled from it, so an upside-down first detection
(a head cut off by the picture's top edge) makes an upside-down body until the second."""
BLIP_TURN_DEG = 120.0
"""How far the torso's direction in the picture must differ from the frames around it ..."""
BLIP_AGREE_DEG = 60.0
"""... which agree with each other within this (at the clip's start or end: the three frames after or before)."""
MIN_BLIP_FPS = 20.0
"""Below this frame rate two frames span enough time to tumble: only a clip's first or last found frame is dropped
(a back tuck at 5-8 fps has an upside-down frame between upright ones; a 5 fps clip whose head is cropped had its
first detection upside down, and the frames before it, lost, copied it)."""
MIN_BLIP_TORSO = 0.3
"""Frames whose torso is shorter in the picture than this share of the clip's median (a body bowing towards the
camera) have no direction to compare, and are neither dropped nor compared with."""


def _turn_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.degrees(np.angle(np.exp(1j * (a - b)))))


def inverted_blips(landmarks: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """Return (T,) bool: found frames whose torso (hips -> shoulders in the picture) points more than
    :data:`BLIP_TURN_DEG` away from the frames just before and after, for at most :data:`MAX_BLIP_S`; only among
    frames found one after the other (a body tumbling while the detector missed it turns between far frames); under
    :data:`MIN_BLIP_FPS` only a single first or last found frame, judged by the three found after or before it."""
    body = _bodies(np.asarray(landmarks, np.float64))
    up = body.shoulders - body.hips
    angle = np.arctan2(up[:, 0], -up[:, 1])
    out = np.zeros(len(angle), bool)
    found = np.asarray(valid, bool) & np.isfinite(angle)
    if not found.any():
        return out
    slow = fps < MIN_BLIP_FPS
    sized = found & (body.torso >= MIN_BLIP_TORSO * np.median(body.torso[found]))
    out = _short_edge_blips(angle, found, sized)
    found = sized
    frames = np.flatnonzero(found)
    a = angle[frames]
    longest = 1 if slow else max(1, round(MAX_BLIP_S * max(float(fps), 1.0)))
    def next_to(i: int, j: int) -> bool:  # found frames i < j with no frame lost between them (across a gap, a flip)
        return 0 <= i and j < len(frames) and frames[j] - frames[i] == j - i

    for k in range(len(frames)):
        for r in range(1, longest + 1):
            if not next_to(k, k + r - 1) or out[frames[k]]:
                break
            if next_to(k - 1, k + r) and not slow:
                refs = a[[k - 1, k + r]]  # the frames either side
            elif k == 0 and next_to(k, k + r + 2):
                refs = a[k + r: k + r + 3]  # the clip starts with it: the three frames after
            elif k + r == len(frames) and next_to(k - 3, k + r - 1):
                refs = a[k - 3: k]
            else:
                continue
            agree = _turn_deg(refs[:, None], refs[None, :]).max() <= BLIP_AGREE_DEG
            if agree and (_turn_deg(a[k: k + r, None], refs[None, :]) > BLIP_TURN_DEG).all():
                out[frames[k: k + r]] = True
                break
    return out


def _short_edge_blips(angle: np.ndarray, found: np.ndarray, sized: np.ndarray) -> np.ndarray:
    """Return (T,) bool: the first or last found frame when its torso is too short to compare
    (:data:`MIN_BLIP_TORSO`) yet points over :data:`BLIP_TURN_DEG` away from the three full-sized frames found right
    after (before) it, which agree. A garbled first detection (5 fps squats, head cropped: the shoulders under the
    hips, the torso a quarter of its size) is not a bow towards the camera that the next frames go on with."""
    out = np.zeros(len(angle), bool)
    frames = np.flatnonzero(found)
    for edge, refs in ((frames[:1], frames[1:4]), (frames[-1:], frames[-4:-1][::-1])):
        if len(frames) < 4 or sized[edge].all() or not sized[refs].all() or np.ptp(refs) != 2 \
                or abs(int(refs[0]) - int(edge[0])) != 1:
            continue
        a = angle[refs]
        agree = _turn_deg(a[:, None], a[None, :]).max() <= BLIP_AGREE_DEG
        if agree and (_turn_deg(angle[edge], a) > BLIP_TURN_DEG).all():
            out[edge] = True
    return out


def warn_if_mostly_filled(source: object, valid: np.ndarray) -> None:
    """Warn when a person was found in under half of the frames (the rest are filled by interpolation)."""
    if valid.mean() < 0.5:
        log.warning("%s: a person was found in only %d of %d frames; the rest are interpolated", source,
                    int(valid.sum()), len(valid))


def frame_ranges(runs: list[tuple[int, int]]) -> str:
    """Return inclusive frame runs as text, touching runs merged: [(3, 3), (4, 9), (12, 12)] -> "3-9, 12"."""
    merged: list[list[int]] = []
    for a, b in sorted(runs):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in merged)
