"""Left/right label flips of a 2D detector, found by continuity and undone before lifting.

Now and then MediaPipe labels a body as facing the other way for a few frames: its left and right keypoints
trade places, all of them at once (on a rendered punch with a moving camera, 17 of 90 frames; docs/model.md
section 1d). Lifted as they are, those frames are a body turned round, and a temporal lifter smears that into
their neighbours. A body does not trade its sides between two frames, so where the labels jump (the crossed
labels continue the previous frame much better, the hips and shoulders included) they flipped there; only between
consecutive frames, since across lost frames a person turning side-on looks the same. A run between two such jumps,
up to MAX_FLIP_S long, is undone, lost frames inside it included; a chain of frames with an odd number of jumps
is left as the detector has it, since which side of the unclear jump is right is not known. Legs or arms passing
each other side-on move no hip or shoulder across and are left alone, and so are flips of one limb (undoing the
whole body there would turn the rest round).

Written here because no library finds label flips in a keypoint track: a few lines of numpy.
"""

from __future__ import annotations

import numpy as np

from core.skeleton import FLIP_PERM, JOINT_INDEX

GROUPS: dict[str, tuple[int, ...]] = {
    "body": tuple(JOINT_INDEX[n] for n in ("l_hip", "l_shoulder", "r_hip", "r_shoulder", "l_knee", "l_ankle",
                                          "l_elbow", "l_wrist", "r_knee", "r_ankle", "r_elbow", "r_wrist")),
}
"""Joints whose left and right labels flip together (a name per group, so that limbs could be added); the pelvis and
thorax (between the hips and between the shoulders) do not change when they flip."""
EVENT_RATIO = 0.8
"""The labels flipped between two frames where the crossed labels move less than this share of the movement of the
labels as they are ..."""
EVENT_MARGIN = 0.5
"""... and at least this many torso lengths less, summed over the group's joints ..."""
ROOT_MARGIN = 0.15
"""... and where the hips and shoulders move less crossed too, by at least this many torso lengths: two legs (or
arms) passing each other, side-on, look like a flip of the knees and ankles alone."""
JOINT_CAP = 1.0
"""A joint's movement between two frames counts at most this many torso lengths (one wild joint does not decide)."""
MAX_GAP_S = 0.25
"""Frames further apart than this (a detection lost in between) split a clip into separate chains."""
MAX_FLIP_S = 1.5
"""Runs between two jumps longer than this are left alone: the detector's flips seen were a few frames to half a
second, and a longer run is as likely a person who turned round and back."""


def side_flips(joints_2d: np.ndarray, valid: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Return, per limb group of :data:`GROUPS`, the (T,) bool frames whose left and right labels are flipped.

    joints_2d: (T, 17, 2) H36M keypoints (pixels); valid: (T,) frames with a person; fps: the clip's rate.
    """
    xy = np.asarray(joints_2d, np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(xy).all(axis=(1, 2))
    frames = np.flatnonzero(valid)
    out = {name: np.zeros(len(xy), bool) for name in GROUPS}
    if len(frames) < 2:
        return out
    torso = np.linalg.norm(xy[frames, 8] - xy[frames, 0], axis=-1)
    scale = np.maximum(torso, 0.5 * np.median(torso)) + 1e-6  # foreshortened torsos: no tiny unit
    linked = np.diff(frames) <= max(1, round(MAX_GAP_S * max(float(fps), 1.0)))
    chains = np.split(np.arange(len(frames)), np.flatnonzero(~linked) + 1)
    longest = max(1, round(MAX_FLIP_S * max(float(fps), 1.0)))
    for name, group in GROUPS.items():
        g = list(group)
        now, before = xy[frames[1:]][:, g], xy[frames[:-1]][:, g]
        crossed = xy[frames[1:]][:, list(FLIP_PERM[g])]
        unit = scale[1:, None]
        same = np.minimum(np.linalg.norm(now - before, axis=-1) / unit, JOINT_CAP)
        cross = np.minimum(np.linalg.norm(crossed - before, axis=-1) / unit, JOINT_CAP)
        root = [0, 1, 2, 3]  # the hips and shoulders (GROUPS' first four)
        jump = ((cross.sum(1) < EVENT_RATIO * same.sum(1)) & (same.sum(1) - cross.sum(1) > EVENT_MARGIN)
                & (cross[:, root].sum(1) < EVENT_RATIO * same[:, root].sum(1))
                & (same[:, root].sum(1) - cross[:, root].sum(1) > ROOT_MARGIN)
                & (np.diff(frames) == 1))  # labels flip into i + 1; across lost frames a real turn looks the same
        for chain in chains:
            events = [int(i) + 1 for i in chain[:-1] if jump[i]]
            if not events or len(events) % 2:
                continue  # no flip, or one whose other end is unclear: the detector's labels stand
            for a, b in zip(events[0::2], events[1::2], strict=True):  # a long run is more likely a turn round
                if frames[b - 1] - frames[a] < longest:
                    out[name][frames[a]: frames[b - 1] + 1] = True  # lost frames inside the run too: filled from it
    return out


def unflip(joints_2d: np.ndarray, scores: np.ndarray, flips: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return copies of ``joints_2d`` (T, 17, 2) and ``scores`` (T, 17) with each group's flipped frames swapped
    back, left for right."""
    xy, sc = np.array(joints_2d, copy=True), np.array(scores, copy=True)
    for name, frames in flips.items():
        g = list(GROUPS[name])
        rows = np.flatnonzero(frames)
        xy[np.ix_(rows, g)] = np.asarray(joints_2d)[np.ix_(rows, list(FLIP_PERM[g]))]
        sc[np.ix_(rows, g)] = np.asarray(scores)[np.ix_(rows, list(FLIP_PERM[g]))]
    return xy, sc
