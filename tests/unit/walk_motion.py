"""A procedural walk with known foot contacts, seen by a pitched and rolled pinhole camera (test helper)."""

from __future__ import annotations

import numpy as np

from core.contact import two_bone_ik
from core.world import invert, transform_points, world_from_ground

FPS = 30.0
IMAGE_SIZE = (1280, 720)
FOCAL = 700.0
ANKLE_H = 0.08
THIGH = SHIN = 0.46


def walk_world(seconds: float = 4.0, speed: float = 1.0, stride: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Return (joints (T,17,3) metres, Z-up world, ground z = 0; stance (T,2) bool left/right) of a walk along +X.

    Each foot: 60 % of the cycle planted (perfectly still at ankle height), 40 % swinging forward with a
    10 cm lift; the pelvis moves at ``speed`` m/s with a small bob; the subject faces +X (left = +Y).
    """
    t = np.arange(int(seconds * FPS)) / FPS
    period = stride / speed
    bob = 0.90 + 0.01 * np.cos(4 * np.pi * t / period)
    pelvis = np.stack([speed * t - speed * seconds / 2, np.zeros_like(t), bob], -1)
    feet, stance = [], []
    for side, phase0 in ((1.0, 0.0), (-1.0, 0.5)):
        ph = (t / period + phase0) % 1.0
        cycle = np.floor(t / period + phase0)
        on = ph < 0.6
        # planted: the foot stays where the pelvis was at mid-stance; swinging: cosine blend to the next spot
        spot = (cycle + 0.3) * stride - speed * seconds / 2 - phase0 * stride
        s = np.clip((ph - 0.6) / 0.4, 0, 1)
        blend = 0.5 - 0.5 * np.cos(np.pi * s)
        x = np.where(on, spot, spot + blend * stride)
        z = ANKLE_H + np.where(on, 0.0, 0.10 * np.sin(np.pi * s))
        feet.append(np.stack([x, np.full_like(t, 0.1 * side), z], -1))
        stance.append(on)
    return _body(pelvis, feet[0], feet[1], t), np.stack(stance, -1)


def _body(pelvis: np.ndarray, l_foot: np.ndarray, r_foot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return (T,17,3) H36M joints from the pelvis and ankle tracks (legs by two-bone IK, a simple upper body)."""
    n = len(t)
    j = np.zeros((n, 17, 3))
    j[:, 0] = pelvis
    up, left, fwd = np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), np.array([1.0, 0, 0])
    for hip_i, knee_i, ankle_i, foot, side in ((4, 5, 6, l_foot, 1), (1, 2, 3, r_foot, -1)):
        hip = pelvis + side * 0.1 * left
        knee0 = hip - THIGH * up + 0.05 * fwd
        ankle0 = knee0 - SHIN * up
        knee, ankle = two_bone_ik(hip, knee0, ankle0, foot)
        j[:, hip_i], j[:, knee_i], j[:, ankle_i] = hip, knee, ankle
    j[:, 7] = pelvis + 0.25 * up
    j[:, 8] = pelvis + 0.50 * up
    j[:, 9] = j[:, 8] + 0.20 * up + 0.08 * fwd
    j[:, 10] = j[:, 8] + 0.33 * up
    swing = 0.3 * np.sin(2 * np.pi * t)[:, None]  # arm angle, radians
    for sh, el, wr, side in ((11, 12, 13, 1), (14, 15, 16, -1)):
        arm = -np.cos(swing) * up + side * np.sin(swing) * fwd
        j[:, sh] = j[:, 8] + side * 0.18 * left
        j[:, el] = j[:, sh] + 0.28 * arm
        j[:, wr] = j[:, el] + 0.25 * arm
    return j


def camera(pitch_deg: float = 20.0, roll_deg: float = 5.0, height: float = 1.6) -> np.ndarray:
    """Return the (4,4) world_from_camera of a camera ``height`` m up, 4 m from the walk, pitched down and rolled."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    up = np.array([np.sin(r) * np.cos(p), -np.cos(r) * np.cos(p), -np.sin(p)])
    w = world_from_ground(up, height)
    w[:3, 3] += np.array([0.0, -4.0, 0.0])  # the walk passes 4 m in front of the camera
    return w


def to_camera(world_joints: np.ndarray, world_from_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (camera-frame joints (T,17,3), pixels (T,17,2)) of world joints seen by the camera."""
    cam = transform_points(world_joints, invert(world_from_camera))
    uv = FOCAL * cam[..., :2] / cam[..., 2:] + np.array(IMAGE_SIZE) / 2.0
    return cam, uv


def jump_world(lean_deg: float = 35.0) -> tuple[np.ndarray, np.ndarray]:
    """Return (joints (T,17,3), planted (T,2) bool) of a standing broad jump along +X, Z-up world, ground z = 0:
    1 s standing, 0.5 s in the air (1.2 m forward, feet up to 35 cm), 1 s standing; the upper body leans
    ``lean_deg`` forward all along (a crouch), so the body's average up leans too."""
    t = np.arange(int(2.5 * FPS)) / FPS
    air = np.clip((t - 1.0) / 0.5, 0.0, 1.0)
    x = 1.2 * (0.5 - 0.5 * np.cos(np.pi * air))
    lift = 0.35 * np.sin(np.pi * air)
    pelvis = np.stack([x, np.zeros_like(t), 0.85 + lift], -1)
    feet = [np.stack([x, np.full_like(t, 0.1 * side), ANKLE_H + lift], -1) for side in (1.0, -1.0)]
    j = _body(pelvis, feet[0], feet[1], np.zeros_like(t))
    a = np.radians(lean_deg)
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    j[:, 7:] = pelvis[:, None] + (j[:, 7:] - pelvis[:, None]) @ rot.T
    planted = np.repeat(((air <= 0.0) | (air >= 1.0))[:, None], 2, axis=1)
    return j, planted


def stand_world(seconds: float = 3.0, raised: float = 0.0) -> np.ndarray:
    """Return joints (T,17,3), Z-up world, ground z = 0, of a person standing on one spot, feet 20 cm apart, facing
    +X, the right foot ``raised`` m off the ground; only the arms move."""
    t = np.arange(int(seconds * FPS)) / FPS
    pelvis = np.stack([np.zeros_like(t), np.zeros_like(t), np.full_like(t, 0.9)], -1)
    feet = [np.stack([np.zeros_like(t), np.full_like(t, 0.1 * side), np.full_like(t, ANKLE_H + lift)], -1)
            for side, lift in ((1.0, 0.0), (-1.0, raised))]
    return _body(pelvis, feet[0], feet[1], t)


def sit_world(seconds: float = 3.0) -> np.ndarray:
    """Return joints (T,17,3), Z-up world, ground z = 0, of a person seated on a chair, facing +X: thighs level,
    shins upright, feet flat in front of the hips, upright back; only the arms move. Mid-ankle -> thorax leans
    back by about 25 degrees here, the spine not at all."""
    t = np.arange(int(seconds * FPS)) / FPS
    pelvis = np.stack([np.zeros_like(t), np.zeros_like(t), np.full_like(t, ANKLE_H + SHIN)], -1)
    j = _body(pelvis, pelvis.copy(), pelvis.copy(), t)
    for hip_i, knee_i, ankle_i in ((4, 5, 6), (1, 2, 3)):
        j[:, knee_i] = j[:, hip_i] + np.array([THIGH, 0.0, 0.0])
        j[:, ankle_i] = j[:, knee_i] - np.array([0.0, 0.0, SHIN])
    return j
