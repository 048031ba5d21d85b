"""2D keypoint conventions: MediaPipe BlazePose-33 -> H36M-17, network normalization.

Remaps are index tables (DESIGN.md section 3), not hand-written assignments.
Blender-safe: numpy only.
"""

from __future__ import annotations

import numpy as np

from core.skeleton import NUM_JOINTS

# H36M joint -> MediaPipe landmark(s) averaged to make it. Spine (7), nose (9) and head top (10) are derived
# afterwards from other joints and landmarks.
BLAZEPOSE_TO_H36M: dict[int, tuple[int, ...]] = {
    0: (23, 24), 1: (24,), 2: (26,), 3: (28,), 4: (23,), 5: (25,), 6: (27,),
    8: (11, 12), 11: (11,), 12: (13,), 13: (15,), 14: (12,), 15: (14,), 16: (16,),
}  # fmt: skip
MP_NOSE = 0
MP_EYES = (2, 5)  # left eye, right eye (centres)
MP_EARS = (7, 8)
MP_MOUTH = (9, 10)
HEAD_POINT_WEIGHTS: dict[int, tuple[float, float, float]] = {
    9: (0.104, 1.333, -0.284),  # nose (H36M "neck/nose")
    10: (-0.648, -2.384, 0.017),  # head top
}
"""The training skeleton's nose and head top (core.datasets: fixed points in the head frame, 3.5 cm below and 2.5
cm ahead of the eyes, 10.4 cm above and 1.6 cm behind them) as the eye midpoint plus these weights times the face
vectors of :func:`face_vectors` (mouth, nose tip and ear midpoint, each minus the eye midpoint). An affine
combination of face landmarks, so the point holds in any view, at any scale and in 2D or 3D; midline points only,
so a mirrored face gives the mirrored points (a left-minus-right-eye term, also tried, was fitted to 0.000 on
mirrored clips and left out).
Fitted by least squares to rendered clips of training subjects, whose true points are known:
``python benchmarks/head_points.py`` (docs/model.md section 1b, JSON in benchmarks/results/head_points.json)."""


def face_vectors(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (eye midpoint (..., D), face vectors (..., 3, D)) of MediaPipe ``landmarks`` (..., 33, D): the mouth
    midpoint, the nose tip and the ear midpoint, each minus the eye midpoint."""
    lm = np.asarray(landmarks)
    eyes = lm[..., list(MP_EYES), :].mean(axis=-2)
    vectors = np.stack([lm[..., list(MP_MOUTH), :].mean(axis=-2) - eyes, lm[..., MP_NOSE, :] - eyes,
                        lm[..., list(MP_EARS), :].mean(axis=-2) - eyes], axis=-2)
    return eyes, vectors


OLD_HEAD_TOP_FROM_EYES = 1.6
"""The head top before the fitted weights (until 2026-11-26): eyes + 1.6 x (eyes - mouth); the nose was the nose tip."""


def old_head_points(landmarks: np.ndarray) -> np.ndarray:
    """Return (..., 2, D) nose and head top of MediaPipe ``landmarks`` (..., 33, D) by the rule before the fitted
    weights (:data:`OLD_HEAD_TOP_FROM_EYES`), as keypoints files written before 2026-11-26 hold them."""
    lm = np.asarray(landmarks)
    eyes = lm[..., list(MP_EYES), :].mean(axis=-2)
    mouth = lm[..., list(MP_MOUTH), :].mean(axis=-2)
    return np.stack([lm[..., MP_NOSE, :], eyes + OLD_HEAD_TOP_FROM_EYES * (eyes - mouth)], axis=-2)


def remake_old_head_points(joints_2d: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
                           valid: np.ndarray) -> bool:
    """Bring keypoints written before the fitted head points up to date, in place; return True if it did.

    Only where ``joints_2d`` (T, 17, 2) still holds, on its ``valid`` frames, exactly the old rule's nose and head
    top of ``landmarks`` (T, 33, 4: x, y, z, visibility): keypoints edited since, or made by another tool, are left
    as they are."""
    lm = np.asarray(landmarks)
    valid = np.asarray(valid, bool)
    if lm.ndim != 3 or lm.shape[:2] != (len(joints_2d), 33) or lm.shape[2] < 4 or not valid.any():
        return False
    old = old_head_points(lm[valid][..., :2].astype(np.float64))
    if not np.allclose(np.asarray(joints_2d)[valid][:, [9, 10]], old, atol=1e-2):
        return False
    new, new_scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
    joints_2d[:, [9, 10]] = new[:, [9, 10]]
    scores[:, [9, 10]] = np.where(valid[:, None], new_scores[:, [9, 10]], 0.0)
    return True


def blazepose_to_h36m(landmarks: np.ndarray, visibility: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(joints, scores)``: (..., 17, D) H36M points and (..., 17) confidences.

    landmarks: (..., 33, D) MediaPipe landmarks (pixels, or any unit; D = 2 or 3).
    visibility: (..., 33) per-landmark confidence in [0, 1]; ones when None.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if visibility is None:
        visibility = np.ones(landmarks.shape[:-1], np.float32)
    out = np.zeros(landmarks.shape[:-2] + (NUM_JOINTS, landmarks.shape[-1]), np.float32)
    score = np.zeros(landmarks.shape[:-2] + (NUM_JOINTS,), np.float32)
    for j, src in BLAZEPOSE_TO_H36M.items():
        out[..., j, :] = landmarks[..., list(src), :].mean(axis=-2)
        score[..., j] = visibility[..., list(src)].min(axis=-1)
    out[..., 7, :] = 0.5 * (out[..., 0, :] + out[..., 8, :])
    score[..., 7] = np.minimum(score[..., 0], score[..., 8])
    eyes, vectors = face_vectors(landmarks)
    face = visibility[..., [MP_NOSE, *MP_EYES, *MP_MOUTH]].min(axis=-1)  # the ears are often hidden: not scored
    for j, w in HEAD_POINT_WEIGHTS.items():
        out[..., j, :] = eyes + np.einsum("...fd,f->...d", vectors, np.asarray(w, np.float32))
        score[..., j] = face
    return out, score


def normalize_2d(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Return pixel points (..., 2) in the network frame: x/W*2-1, y/W*2-H/W (aspect kept)."""
    xy = np.asarray(xy, dtype=np.float32)
    out = xy / np.float32(width) * 2.0
    out[..., 0] -= 1.0
    out[..., 1] -= np.float32(height / width)
    return out


def denormalize_2d(xy_n: np.ndarray, width: float, height: float) -> np.ndarray:
    """Inverse of :func:`normalize_2d`: network-frame points (..., 2) -> pixels."""
    xy = np.array(xy_n, dtype=np.float32, copy=True)
    xy[..., 0] += 1.0
    xy[..., 1] += np.float32(height / width)
    return xy * np.float32(width) / 2.0


def upright_turns(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> int:
    """Return k in 0..3: the quarter turns (clockwise, :func:`turn_points`) that bring the person's median
    pelvis -> thorax direction (H36M-17 pixels (T, 17, 2), over ``valid`` frames) nearest the image's up.

    0 for an upright person; 1-3 for a video turned on its side or upside down (recorded without rotation
    metadata) or a person lying down or upside down most of the clip."""
    xy = np.asarray(joints_2d, np.float64)
    ok = np.ones(len(xy), bool) if valid is None else np.asarray(valid, bool)
    d = xy[ok, 8] - xy[ok, 0]  # pelvis -> thorax
    d = d[np.isfinite(d).all(axis=1)]
    if not len(d):
        return 0
    dx, dy = np.median(d, axis=0)
    # after k clockwise quarter turns (u, v) -> (-v, u) each; image up is -y
    ups = [-dy, -dx, dy, dx]
    return int(np.argmax(ups))


def turn_points(xy: np.ndarray, image_size: tuple[int, int], k: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Return pixel points (..., 2) of a ``image_size`` (W, H) image turned ``k`` quarter turns clockwise, and the
    turned image's size: each turn maps (x, y) to (H - y, x) and swaps W and H. About the image's centre it is
    (u, v) -> (-v, u), which for a centred pinhole is the camera rolled about its axis: 3D camera-frame points
    turn the same way (:func:`turn_camera_points`)."""
    out = np.array(xy, np.float32, copy=True)
    w, h = image_size
    for _ in range(k % 4):
        out = np.stack([h - out[..., 1], out[..., 0]], axis=-1)
        w, h = h, w
    return out, (w, h)


def turn_camera_points(points: np.ndarray, k: int) -> np.ndarray:
    """Return camera-frame points (..., 3) (x right, y down) turned as :func:`turn_points` turns the image:
    (x, y, z) -> (-y, x, z) per quarter turn; ``k`` negative turns back."""
    out = np.array(points, copy=True)
    for _ in range(k % 4):
        out = np.stack([-out[..., 1], out[..., 0], out[..., 2]], axis=-1)
    return out
