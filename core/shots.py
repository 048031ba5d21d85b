"""Clips edited from several shots: each shot lifted and cleaned on its own, then joined where the body continues.

A hard cut (core.camera_motion.ShotCuts) puts the camera somewhere else from one frame to the next. Lifted as one
shot, the temporal lifter smears the two views into each other for a window's length, the root jumps by however far
the cameras stood apart, and one ground is fitted to floors seen from different places (a real dance clip of five
shots floated 0.45 m for 14 s). Here every shot gets its own lift and clean-up (its own ground, its own camera
turn and travel), and the shots are joined in the first shot's ground-aligned world: each later shot turned about
the vertical and moved along the ground so that the body carries on where, and facing the way, the last shot left
it (an animator's edit of one continuous performance; different takes at least do not jump). The result is in the
first shot's camera frame, as a one-shot motion is.

Numpy only. Hand-written: the join is a yaw and a shift chosen from two frames, nothing a library offers.
"""

from __future__ import annotations

import numpy as np

from core.camera_motion import EVERY
from core.skeleton import JOINT_INDEX as J
from core.world import invert, stature

MIN_SHOT_S = 0.5
"""A shot with a person in fewer frames than this many seconds' worth is not lifted on its own (a title card, a
flash-cut insert): it stays with the shot before it (the first: the one after)."""


def shot_spans(cuts: np.ndarray | list[int], valid: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """Return the clip's shots as half-open frame ranges [(start, stop), ...] from the frames that begin one
    (``cuts``), short or person-less shots (:data:`MIN_SHOT_S`) merged into a neighbour."""
    t = len(valid)
    bounds = sorted({int(c) for c in np.asarray(cuts, int).ravel() if 0 < int(c) < t})
    spans = [(a, b) for a, b in zip([0, *bounds], [*bounds, t], strict=True)]
    need = max(1, int(round(MIN_SHOT_S * fps)))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and int(np.sum(valid[out[-1][0]: out[-1][1]])) < need:
            out[-1] = (out[-1][0], b)  # the shot before was too short: this one takes it in
        elif out and int(np.sum(valid[a:b])) < need:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def shot_rotations(camera_rotation: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    """Return a shot's camera turns (core.camera_motion: each frame's from the clip's first) from its own first
    frame: the turn measured across the cut, between unrelated pictures, drops out."""
    try:
        rot = np.asarray(camera_rotation, np.float64)
    except (TypeError, ValueError):
        rot = np.zeros(0)
    if rot.ndim != 3 or rot.shape[1:] != (3, 3) or len(rot) < b:
        return None  # none, or malformed: the clean-up takes the camera to stand still (as for one shot)
    # Frames are measured every EVERY-th and interpolated between: a shot starting between two is based on the
    # first measured frame of its own (a frame before it, interpolated across the cut, holds still).
    e = a + (-a) % EVERY
    if e >= b:
        return None
    out = np.einsum("ji,tjk->tik", rot[e], rot[a:b])
    out[: e - a] = np.eye(3)
    return out


def shot_flow(flow: tuple[np.ndarray, np.ndarray] | None, a: int, b: int
              ) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """Return the background corners (core.camera_motion.BackgroundTracker.flow) followed within frames [a, b),
    their frame numbers counted from ``a``; None where there are none."""
    if flow is None or flow[0] is None or flow[1] is None:
        return None
    try:
        points, frames = np.asarray(flow[0], np.float64), np.asarray(flow[1], np.float64)
    except (TypeError, ValueError):
        return None  # malformed: no travel measured (core.camera_travel.checked_flow says so for one shot)
    if frames.ndim != 2 or frames.shape[1] != 2 or len(frames) != len(points) or not np.isfinite(frames).all():
        return None
    frames = frames.astype(np.int64)
    inside = (frames >= a).all(axis=1) & (frames < b).all(axis=1)
    if not inside.any():
        return None
    return points[inside], frames[inside] - a


def _yaw(vector: np.ndarray) -> float:
    return float(np.arctan2(vector[1], vector[0]))


def _facing(world_joints: np.ndarray) -> float:
    """Return the body's heading, radians about Z, from its hip line (Z-up world points (17, 3))."""
    return _yaw(world_joints[J["l_hip"]] - world_joints[J["r_hip"]])


def shared_bone_lengths(joints_3d: np.ndarray, scores: np.ndarray, valid: np.ndarray,
                        spans: list[tuple[int, int]]) -> np.ndarray:  # fmt: skip
    """Return (17,) bone lengths for a stature of 1, one body for every shot of an edited clip, for
    core.motion_cleanup.clean_motion(bone_lengths=), which scales them to the subject's height: each shot's lifted
    joints (T,17,3) scaled to one stature, then each bone's median over the frames of every shot, weighted as a
    shot's clean-up weighs its frames.

    Why: each shot is cleaned on its own, and its own medians gave the same person bones 4-6 % apart from shot to
    shot. One length per bone over the clip is what a rig has, and what the motion file's skeleton then keeps.
    """
    from core.filters import constant_bone_lengths, median_bone_lengths

    rel = np.asarray(joints_3d, np.float64)
    rel = rel - rel[:, :1]
    w = (np.clip(np.asarray(scores, np.float64), 0.0, 1.0) * np.asarray(valid, bool)[:, None]).mean(axis=1) + 1e-3
    scaled = np.concatenate([rel[a:b] / max(stature(rel[a:b], w[a:b]), 1e-6) for a, b in spans])
    w = np.concatenate([w[a:b] for a, b in spans])
    lengths = median_bone_lengths(scaled, w)
    # the stature of those bones over every shot's poses (the thorax-to-head-top distance bends with the neck)
    return lengths / max(stature(constant_bone_lengths(scaled, w, lengths=lengths), w), 1e-6)


def join_shots(parts: list[tuple[np.ndarray, np.ndarray, dict]], spans: list[tuple[int, int]]
               ) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Return (joints_3d, root, info) of the whole clip from each shot's core.motion_cleanup.clean_motion output,
    joined as the module says, in the first shot's camera frame: ``info`` is the first shot's, with the contacts of
    every shot (their frames counted from the clip's start), the foot locks moved with their shot, the largest
    camera turn, the camera travels summed, and ``shots`` (the [first, last] frames of each)."""
    worlds = [np.asarray(p[2]["world_from_camera"], np.float64) for p in parts]
    out_rel, out_root = [], []
    info = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parts[0][2].items()}
    info["contacts"] = {"left": [], "right": []}
    info["foot_locks"] = {"left": [], "right": []}
    to_first = invert(worlds[0])
    previous: np.ndarray | None = None  # the last shot's two last frames, world points (2, 17, 3)
    for (rel, root, shot_info), world, (a, _) in zip(parts, worlds, spans, strict=True):
        points = (rel + root[:, None]) @ world[:3, :3].T + world[:3, 3]  # this shot's ground-aligned world
        align = np.eye(4)
        if previous is not None:
            turn = _facing(previous[-1]) - _facing(points[0])
            c, s = np.cos(turn), np.sin(turn)
            align[:2, :2] = [[c, -s], [s, c]]
            step = previous[-1, J["pelvis"], :2] - previous[0, J["pelvis"], :2] if len(previous) > 1 else 0.0
            align[:2, 3] = previous[-1, J["pelvis"], :2] + step - align[:2, :2] @ points[0, J["pelvis"], :2]
        points = points @ align[:3, :3].T + align[:3, 3]
        previous = points[-2:]
        camera = points @ to_first[:3, :3].T + to_first[:3, 3]
        out_root.append(camera[:, J["pelvis"]])
        out_rel.append(camera - camera[:, J["pelvis"], None])
        for side in ("left", "right"):
            locks = np.asarray(shot_info.get("foot_locks", {}).get(side, []), np.float64).reshape(-1, 3)
            moved = locks @ align[:3, :3].T + align[:3, 3]
            ranges = [[first + a, last + a] for first, last in shot_info["contacts"][side]]
            if len(moved) != len(ranges):
                moved = np.zeros((0, 3))  # locks that do not pair with the contacts: left out
            for n, (first, last) in enumerate(ranges):
                done = info["contacts"][side]
                if done and first == a and done[-1][1] == a - 1:  # planted across the cut: two contacts, not one
                    first += 1  # (a bake would pin the foot to one spot seen from two cameras)
                if first > last:
                    continue
                done.append([first, last])
                if len(moved):
                    info["foot_locks"][side].append([round(float(v), 4) for v in moved[n]])
    info["camera_turn_deg"] = max(float(p[2].get("camera_turn_deg", 0.0)) for p in parts)
    info["camera_travel_m"] = round(sum(float(p[2].get("camera_travel_m", 0.0)) for p in parts), 3)
    info["shots"] = [[a, b - 1] for a, b in spans]
    return (np.concatenate(out_rel).astype(np.float32), np.concatenate(out_root).astype(np.float32), info)
