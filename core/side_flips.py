"""Left/right label flips of a 2D detector, found by continuity and undone before lifting.

Now and then MediaPipe labels a body as facing the other way for a few frames: its left and right keypoints
trade places, all of them at once (on a rendered punch with a moving camera, 17 of 90 frames; docs/model.md
section 1d). Lifted as they are, those frames are a body turned round, and a temporal lifter smears that into
their neighbours. A body does not trade its sides between two frames, so where the labels jump (the crossed
labels continue the previous frame much better, the hips and shoulders included) they flipped there; only between
consecutive frames, since across lost frames a person turning side-on looks the same. A run between two such jumps,
up to MAX_FLIP_S long, is undone, lost frames inside it included; a chain of frames with an odd number of jumps
is left as the detector has it, since which side of the unclear jump is right is not known. Legs or arms passing
each other side-on move no hip or shoulder across and are left alone by this whole-body check.

Then, on the body so corrected, the same for the knees and ankles alone: MediaPipe also trades the labels of the
lower legs only, keeping its hips (the rest of the punch's flip, 10 frames). Legs passing each other side-on look
like that too, so this check is stricter: the jump must also hold against each point's place predicted at its speed
(fast strides carry the legs past each other between two frames, but along their motion), clips under MIN_LEG_FPS
are not checked, runs are at most MAX_LEG_FLIP_S, and a chain is changed only when every one of its jumps pairs up
so (on real side-view walking, the detector's leg labels also drift back without a clear jump; pairing across such
a drift would turn correct frames round).

Written here because no library finds label flips in a keypoint track: a few lines of numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.skeleton import FLIP_PERM, JOINT_INDEX


@dataclass(frozen=True)
class FlipGroup:
    """Joints whose left and right labels flip together, checked in :data:`GROUPS`' order."""

    joints: tuple[int, ...]
    root: int
    """How many of the first ``joints`` must also move less crossed, by ROOT_MARGIN (0: no such check)."""
    longest_s: float
    """Runs between two jumps longer than this (seconds) are not undone."""
    all_or_none: bool
    """Change a chain only when every jump in it pairs into a run undone (else: each short run on its own)."""
    at_speed: bool = False
    """Also require the jump against each point's place predicted at its speed (legs passing each other fast)."""
    min_fps: float = 0.0
    """Clips at lower frame rates are not checked for this group."""
    bridge_s: float = 0.0
    """A flip may also take up to this long (seconds) to happen: the labels then swing across over a few frames,
    which are left as they are, and the frames on either side are compared."""

    def __post_init__(self) -> None:
        if self.at_speed and self.bridge_s:  # the speed check predicts one frame ahead only
            raise ValueError("a flip group checked at speed cannot also look for swings")


def _joints(*names: str) -> tuple[int, ...]:
    return tuple(JOINT_INDEX[n] for n in names)


MAX_FLIP_S = 1.5
"""Whole-body runs between two jumps longer than this are left alone: the detector's flips seen were a few frames to
half a second, and a longer run is as likely a person who turned round and back."""
MAX_LEG_FLIP_S = 0.5
"""The same for the lower legs alone (the leg flips seen on renders: 1 to 10 frames at 30 fps)."""
MAX_BRIDGE_S = 0.1
"""MediaPipe smooths its landmarks over time, so a whole-body flip of its labels can swing across over two or three
frames instead of one (a jumping jack re-encoded: the shoulders -92, 3, -10, +73 px apart in four frames, then
back over two; none seen on the renders): a flip is also found between frames at most this far apart (3 frames at
30 fps, 6 at 60), where no person turns round."""
BRIDGE_RATIO = 0.5
"""Over such a swing the crossed labels must move less than this share of the labels as they are (EVENT_RATIO between
two frames); the shoulders must stand wide at both ends (:data:`WIDE_OPEN`); and swings are looked for only where
the one-frame flips leave one unpaired: a real turn round at 120-360 degrees a second matches a swing too (a
review's sweep: 81 of 360 synthetic turns, with swings looked for everywhere), and on the rendered punch a muddle of
the hips and shoulders while the legs alone flip did."""
WIDE_OPEN = 0.5
"""Share of the chain's widest shoulders (90th percentile) that both ends of a swing must show."""
MIN_BRIDGE_FPS = 20.0
"""Below this frame rate a few frames span enough time to turn round in: no swings are looked for."""
MIN_LEG_FPS = 20.0
"""Below this frame rate a stride carries the legs past each other within two frames, and continuity cannot tell a
step from a flip (synthetic walks at 10 frames/s and 2-3 strides a second gave false leg flips; none at 24 or more)."""
GROUPS: dict[str, FlipGroup] = {
    "body": FlipGroup(_joints("l_hip", "l_shoulder", "r_hip", "r_shoulder", "l_knee", "l_ankle", "l_elbow", "l_wrist",
                              "r_knee", "r_ankle", "r_elbow", "r_wrist"), root=4, longest_s=MAX_FLIP_S,
                      all_or_none=False, bridge_s=MAX_BRIDGE_S),
    "legs": FlipGroup(_joints("l_knee", "l_ankle", "r_knee", "r_ankle"), root=0, longest_s=MAX_LEG_FLIP_S,
                      all_or_none=True, at_speed=True, min_fps=MIN_LEG_FPS),
}
"""The groups, whole body first (the hips and shoulders first in it); the pelvis and thorax (between the hips and
between the shoulders) do not change when they flip."""
EVENT_RATIO = 0.8
"""The labels flipped between two frames where the crossed labels move less than this share of the movement of the
labels as they are ..."""
EVENT_MARGIN = 0.5
"""... and at least this many torso lengths less, summed over the group's joints ..."""
ROOT_MARGIN = 0.15
"""... and, for the whole body, where the hips and shoulders move less crossed too, by at least this many torso
lengths: two legs (or arms) passing each other, side-on, look like a flip of the knees and ankles alone."""
JOINT_CAP = 1.0
"""A joint's movement between two frames counts at most this many torso lengths (one wild joint does not decide)."""
MAX_GAP_S = 0.25
"""Frames further apart than this (a detection lost in between) split a clip into separate chains."""


def _jumps(now: np.ndarray, crossed: np.ndarray, expected: np.ndarray, unit: np.ndarray,
           margin: float | None = None, ratio: float = EVENT_RATIO) -> np.ndarray:
    """Return (N,) where the crossed labels (N, J, 2) are clearly nearer the expected places than the labels as they
    are: less than ``ratio`` of their distance, and by ``margin`` (default EVENT_MARGIN) torso lengths ``unit``."""
    same = np.minimum(np.linalg.norm(now - expected, axis=-1) / unit, JOINT_CAP).sum(1)
    cross = np.minimum(np.linalg.norm(crossed - expected, axis=-1) / unit, JOINT_CAP).sum(1)
    return (cross < ratio * same) & (same - cross > (EVENT_MARGIN if margin is None else margin))


def _flip_jumps(xy: np.ndarray, frames: np.ndarray, g: list[int], root: list[int], unit: np.ndarray,
                group: FlipGroup, d: int) -> np.ndarray:
    """Return (len(frames),) bool: where the labels of ``group`` (joints ``g``) are flipped from ``frames[i]`` to
    ``frames[i + d]``, both found and ``d`` frames apart (False where ``i + d`` runs past the end)."""
    out = np.zeros(len(frames), bool)
    if len(frames) <= d:
        return out
    now, before = xy[frames[d:]][:, g], xy[frames[:-d]][:, g]
    crossed = xy[frames[d:]][:, list(FLIP_PERM[g])]
    u, ratio = unit[d - 1:], EVENT_RATIO if d == 1 else BRIDGE_RATIO
    jump = _jumps(now, crossed, before, u, ratio=ratio) & (frames[d:] - frames[:-d] == d)
    if root:  # frames a real turn looks the same
        jump &= _jumps(now[:, root], crossed[:, root], before[:, root], u, ROOT_MARGIN, ratio)
    if group.at_speed:  # legs passing each other fast swap places between two frames too, but along their motion
        ahead = 2 * before[1:] - before[:-1]  # each point's place had it kept its speed
        jump[1:] &= _jumps(now[1:], crossed[1:], ahead, u[1:]) & (frames[d + 1:] - frames[:-d - 1] == d + 1)
        jump[0] = False  # no speed before the first pair
    out[: len(jump)] = jump
    return out


def _wide_open(xy: np.ndarray, frames: np.ndarray, chains: list[np.ndarray]) -> np.ndarray:
    """Return (len(frames),) bool: found frames whose shoulders stand at least WIDE_OPEN of their chain's widest
    (its 90th percentile) apart in the picture. A body turning round passes side-on (shoulders together) between the
    two frames a swing compares, which this takes out: at both ends that wide, a turn would have to cover 120 degrees
    or more in the swing's 0.1 s."""
    width = np.linalg.norm(xy[frames, JOINT_INDEX["l_shoulder"]] - xy[frames, JOINT_INDEX["r_shoulder"]], axis=-1)
    out = np.zeros(len(frames), bool)
    for chain in chains:
        out[chain] = width[chain] >= WIDE_OPEN * np.percentile(width[chain], 90)
    return out


def _events(chain: np.ndarray, jumps: dict[int, np.ndarray]) -> list[tuple[int, int]]:
    """Return the label flips in ``chain`` (indices into the found frames) as (i, d): flipped between frame i and
    i + d, in order. Of overlapping candidates the quickest swing wins (a flip over d frames is also seen over d + 1,
    from the frame before or to the frame after)."""
    first, last = int(chain[0]), int(chain[-1])
    found = sorted((d, i) for d in jumps for i in range(first, last - d + 1) if jumps[d][i])
    out: list[tuple[int, int]] = []
    for d, i in found:
        if all(max(i, j) >= min(i + d, j + e) for j, e in out):  # [i, i + d) meets none taken
            out.append((i, d))
    return sorted(out)


def side_flips(joints_2d: np.ndarray, valid: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Return, per group of :data:`GROUPS`, the (T,) bool frames whose left and right labels are flipped; each group
    is checked on the keypoints with the groups before it undone (as :func:`unflip` undoes them, in order).

    joints_2d: (T, 17, 2) H36M keypoints (pixels); valid: (T,) frames with a person; fps: the clip's rate.
    """
    xy = np.asarray(joints_2d, np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(xy).all(axis=(1, 2))
    frames = np.flatnonzero(valid)
    out = {name: np.zeros(len(xy), bool) for name in GROUPS}
    if len(frames) < 2:
        return out
    torso = np.linalg.norm(xy[frames, 8] - xy[frames, 0], axis=-1)
    unit = (np.maximum(torso, 0.5 * np.median(torso)) + 1e-6)[1:, None]  # foreshortened torsos: no tiny unit
    linked = np.diff(frames) <= max(1, round(MAX_GAP_S * max(float(fps), 1.0)))
    chains = np.split(np.arange(len(frames)), np.flatnonzero(~linked) + 1)
    for name, group in GROUPS.items():
        if fps < group.min_fps:
            continue
        g, root = list(group.joints), list(range(group.root))
        jumps = {1: _flip_jumps(xy, frames, g, root, unit, group, 1)}  # labels flip into i + 1; across lost frames
        if fps >= MIN_BRIDGE_FPS:  # a real turn looks the same ... or swing across over d - 1 frames
            wide = _wide_open(xy, frames, chains)
            # no swing longer than the found frames (a person in a few frames of a fast clip)
            for d in range(2, min(1 + int(group.bridge_s * float(fps) + 1e-9), len(frames))):
                jumps[d] = _flip_jumps(xy, frames, g, root, unit, group, d)
                jumps[d][: len(frames) - d] &= wide[:-d] & wide[d:]  # a turn crosses side-on in between
        longest = max(1, round(group.longest_s * max(float(fps), 1.0)))
        for chain in chains:
            events = _events(chain, {1: jumps[1]})
            if len(events) % 2:  # one unpaired: its other end perhaps a flip that swung across over a few frames
                events = _events(chain, jumps)
            if not events or len(events) % 2:
                continue  # no flip, or one whose other end is unclear: the detector's labels stand
            # a run starts after its first jump (its swing left as it is) and ends where its second begins
            runs = [(frames[a + da], frames[b]) for (a, da), (b, _) in zip(events[0::2], events[1::2], strict=True)]
            short = [(a, b) for a, b in runs if b - a < longest]  # a long run is more likely a turn round
            if group.all_or_none and len(short) < len(runs):
                continue
            for a, b in short:
                out[name][a: b + 1] = True  # lost frames inside the run too: filled from it
        xy = unflip(xy, np.zeros(xy.shape[:2]), {name: out[name]})[0]
    return out


def unflip(joints_2d: np.ndarray, scores: np.ndarray, flips: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return copies of ``joints_2d`` (T, 17, 2) and ``scores`` (T, 17) with each group's flipped frames swapped
    back, left for right, group after group in :data:`GROUPS`' order."""
    xy, sc = np.array(joints_2d, copy=True), np.array(scores, copy=True)
    for name in GROUPS:
        frames = flips.get(name)
        if frames is None or not frames.any():
            continue
        g = list(GROUPS[name].joints)
        rows = np.flatnonzero(frames)
        xy[np.ix_(rows, g)] = xy[np.ix_(rows, list(FLIP_PERM[g]))]
        sc[np.ix_(rows, g)] = sc[np.ix_(rows, list(FLIP_PERM[g]))]
    return xy, sc
