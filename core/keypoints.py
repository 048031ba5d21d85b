"""2D keypoint conventions: MediaPipe BlazePose-33 -> H36M-17, COCO-17 -> H36M-17, network normalization.

Remaps are index tables (DESIGN.md section 3), not hand-written assignments.
Blender-safe: numpy only.
"""

from __future__ import annotations

import numpy as np

from core.skeleton import FLIP_PERM, NUM_JOINTS

# H36M joint -> MediaPipe landmark(s) averaged to make it. The limb joints are then moved by LIMB_POINT_WEIGHTS (and
# the pelvis and thorax with them); spine (7), nose (9) and head top (10) are derived from other joints and landmarks.
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


LIMB_POINT_WEIGHTS: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {
    4: ((24, 11, 25), (-0.102, -0.064, -0.093)),  # l_hip: the other hip, the shoulder, the knee
    5: ((23, 27), (-0.057, -0.030)),  # l_knee: the hip, the ankle
    6: ((25, 29, 31), (-0.011, 0.437, 0.069)),  # l_ankle: the knee, the heel, the foot index
    11: ((12, 23, 13), (-0.052, 0.059, -0.013)),  # l_shoulder: the other shoulder, the hip, the elbow
    12: ((11, 15), (-0.042, -0.079)),  # l_elbow: the shoulder, the wrist
}
"""The training skeleton's left hip, knee, ankle, shoulder and elbow (the characters' joint centres) as MediaPipe's
landmark plus these weights times the vectors from it to the listed neighbour landmarks; the right side mirrors them
(:func:`limb_points`). MediaPipe puts its hips closer together, its ankles and knees higher and its shoulders higher and
closer together than the joints the lifter learnt (docs/model.md section 1): these weights take most of that constant
offset out. Affine, so it holds in any view and scale and in 3D. The wrists stay MediaPipe's: their fitted weights did
not carry over to characters left out of the fit. Fitted like :data:`HEAD_POINT_WEIGHTS`, on the same clips:
``python benchmarks/limb_points.py`` (docs/model.md section 1c, JSON in benchmarks/results/limb_points.json)."""
SCORED_WEIGHT = 0.2
"""A neighbour landmark weighing at least this much (the heel, for the ankle) also bounds the joint's score."""


LIFTER_ANKLE_RAISE = 0.06
"""Share of the ankle-to-knee vector by which the bundled lifter's input ankles are moved towards the knees (other
weights: core.weights.ankle_raise, from their training recipe). The lifter
learnt from synthetic 2D whose ankles sit where a detector's do, 2.4 cm above the joint centre on average
(core.synthetic: 80 % of clips, 1.5-4.5 cm towards the knee), on shins of a median 0.40 m. :data:`LIMB_POINT_WEIGHTS`
moves MediaPipe's ankles to the joint centres, which the ground and foot contacts need; handing the lifter those
makes it reach its ankles too low. On rendered clips with real MediaPipe 2D (docs/model.md section 1f), giving it
the raised ankles lowered P-MPJPE on 14 of 16 benchmark clips, 20 of 30 training-subject and 15 of 24 held-out ones;
moving the knees, hips or shoulders back likewise did not pay."""


MEDIAN_SHIN_M = 0.40
"""The training skeleton's median shin (knee to ankle), metres: turns the training's ankle offset into a share."""


def lifter_ankles(joints_2d: np.ndarray, raise_by: float = LIFTER_ANKLE_RAISE) -> np.ndarray:
    """Return a copy of H36M ``joints_2d`` (..., 17, D) joint centres with the ankles moved ``raise_by`` of the way to
    the knees (default :data:`LIFTER_ANKLE_RAISE`, the bundled weights'; core.weights.ankle_raise reads any weights'
    from their training recipe): the points the lifter learnt from."""
    out = np.array(joints_2d, copy=True)
    for ankle, knee in ((3, 2), (6, 5)):
        out[..., ankle, :] += raise_by * (out[..., knee, :] - out[..., ankle, :])
    return out


def _mirror_landmark(index: int) -> int:
    """Return the other side's MediaPipe body landmark (11-32: left odd, right even)."""
    return index + 1 if index % 2 else index - 1


def limb_points() -> dict[int, tuple[int, tuple[int, ...], tuple[float, ...]]]:
    """Return H36M joint -> (its MediaPipe landmark, neighbour landmarks, weights) of both sides'
    :data:`LIMB_POINT_WEIGHTS`."""
    out = {}
    for j, (neighbours, weights) in LIMB_POINT_WEIGHTS.items():
        base = BLAZEPOSE_TO_H36M[j][0]
        out[j] = (base, neighbours, weights)
        out[int(FLIP_PERM[j])] = (_mirror_landmark(base), tuple(_mirror_landmark(n) for n in neighbours), weights)
    return out


def blazepose_to_h36m(landmarks: np.ndarray, visibility: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(joints, scores)``: (..., 17, D) H36M points and (..., 17) confidences.

    landmarks: (..., 33, D) MediaPipe landmarks (pixels, or any unit; D = 2 or 3).
    visibility: (..., 33) per-landmark confidence in [0, 1]; ones when None.
    """
    return blazepose_to_h36m_by_rule(landmarks, visibility, fitted_head=True, fitted_limbs=True)


OLD_RULES: dict[str, tuple[bool, bool]] = {
    "the rule before the fitted head points": (False, False),
    "the rule before the fitted limb points": (True, False),
}
"""Earlier MediaPipe -> H36M rules, as (fitted head points, fitted limb points), that keypoints files may hold."""


def blazepose_to_h36m_by_rule(landmarks: np.ndarray, visibility: np.ndarray | None, fitted_head: bool,
                              fitted_limbs: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`blazepose_to_h36m` by the current rule (both True), or by an earlier one (:data:`OLD_RULES`): to
    recognise the keypoints it wrote, and to measure what each fitted part gains (benchmarks/limb_points.py)."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if visibility is None:
        visibility = np.ones(landmarks.shape[:-1], np.float32)
    visibility = np.asarray(visibility, np.float32)
    out = np.zeros(landmarks.shape[:-2] + (NUM_JOINTS, landmarks.shape[-1]), np.float32)
    score = np.zeros(landmarks.shape[:-2] + (NUM_JOINTS,), np.float32)
    for j, src in BLAZEPOSE_TO_H36M.items():
        out[..., j, :] = landmarks[..., list(src), :].mean(axis=-2)
        score[..., j] = visibility[..., list(src)].min(axis=-1)
    if fitted_limbs:
        for j, (base, neighbours, weights) in limb_points().items():
            w = np.asarray(weights, np.float32)
            vectors = landmarks[..., list(neighbours), :] - landmarks[..., base, None, :]
            out[..., j, :] = landmarks[..., base, :] + np.einsum("...nd,n->...d", vectors, w)
            scored = [n for n, wn in zip(neighbours, weights, strict=True) if abs(wn) >= SCORED_WEIGHT]
            if scored:
                score[..., j] = np.minimum(score[..., j], visibility[..., scored].min(axis=-1))
        out[..., 0, :] = 0.5 * (out[..., 1, :] + out[..., 4, :])  # pelvis and thorax: between the fitted joints
        out[..., 8, :] = 0.5 * (out[..., 11, :] + out[..., 14, :])
    out[..., 7, :] = 0.5 * (out[..., 0, :] + out[..., 8, :])
    score[..., 7] = np.minimum(score[..., 0], score[..., 8])
    eyes, vectors = face_vectors(landmarks)
    for j, w in HEAD_POINT_WEIGHTS.items():
        out[..., j, :] = eyes + np.einsum("...fd,f->...d", vectors, np.asarray(w, np.float32))
        score[..., j] = visibility[..., [MP_NOSE, *MP_EYES, *MP_MOUTH]].min(axis=-1)  # ears often hidden: not scored
    if not fitted_head:
        out[..., [9, 10], :] = old_head_points(landmarks)
    return out, score


COCO17_NAMES = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
                "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
"""The COCO keypoint order most 2D detectors write (YOLO pose, RTMPose, ViTPose, Detectron2, MMPose)."""
COCO_TO_H36M: dict[int, int] = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
"""H36M joint -> the COCO keypoint it is (the limbs); pelvis, spine and thorax are midpoints, nose and head top are
made from the face (:data:`COCO_HEAD_POINT_WEIGHTS`)."""
COCO_HEAD_POINT_WEIGHTS: dict[int, tuple[float, float]] = {9: (1.507, -0.207), 10: (-3.459, -0.418)}
"""The training skeleton's nose and head top from a face without a mouth (COCO has none): the eye midpoint plus these
weights times (nose tip - eyes, ear midpoint - eyes). Fitted as :data:`HEAD_POINT_WEIGHTS` are, on MediaPipe's eye
centres, nose tip and ears of the training subjects' renders (30 clips; `python benchmarks/head_points.py
--no-mouth`): 2.47 / 2.41 cm mean error (nose / head top) on the validation subjects' renders, the same as with the
mouth (2.48 / 2.39)."""


def coco_to_h36m(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(joints, scores)`` (..., 17, D) and (..., 17) in H36M-17 order from COCO-17 ``keypoints`` (..., 17,
    D) and ``scores`` (..., 17). Another detector's keypoints are its own: no MediaPipe offset is taken out."""
    kp, sc = np.asarray(keypoints, np.float32), np.asarray(scores, np.float32)
    out = np.zeros_like(kp)
    score = np.zeros_like(sc)
    for h, c in COCO_TO_H36M.items():
        out[..., h, :], score[..., h] = kp[..., c, :], sc[..., c]
    for h, (a, b) in {0: (1, 4), 8: (11, 14), 7: (0, 8)}.items():  # pelvis, thorax, then spine between them
        out[..., h, :] = 0.5 * (out[..., a, :] + out[..., b, :])
        score[..., h] = np.minimum(score[..., a], score[..., b])
    eyes = kp[..., 1:3, :].mean(axis=-2)
    vectors = np.stack([kp[..., 0, :] - eyes, kp[..., 3:5, :].mean(axis=-2) - eyes], axis=-2)
    for h, w in COCO_HEAD_POINT_WEIGHTS.items():
        out[..., h, :] = eyes + np.einsum("...fd,f->...d", vectors, np.asarray(w, np.float32))
        score[..., h] = sc[..., 0:3].min(axis=-1)  # ears often hidden: not scored (as HEAD_POINT_WEIGHTS' points)
    return out, score


LAYOUT_TOLERANCE = {"h36m": 0.1, "coco": 0.12}
"""How far a keypoint may sit from where an order puts it, in body sizes (the frame's largest distance between two
keypoints; median over frames), for the keypoints to be taken in that order (:func:`keypoint_layout`). On the 86
renders' keypoints: ours 0.000 from the H36M places and 0.175 or more from the COCO ones; their MediaPipe landmarks
picked in COCO order 0.070 or less from the COCO places and 0.187 or more from the H36M ones."""


def keypoint_layout(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> str:
    """Return "h36m", "coco" or "unknown": the order (T, 17, 2) keypoints look to be in, from the body's shape.

    H36M-17: the pelvis between the hips, the thorax between the shoulders, the spine between the two. COCO-17: both
    eyes by the nose. A COCO file read as H36M put the right elbow at the thorax and the eyes at the right hip and
    knee, and lifted a tangle with no error."""
    xy = np.asarray(joints_2d, np.float64)
    ok = np.isfinite(xy).all(axis=(1, 2)) & (np.ones(len(xy), bool) if valid is None else np.asarray(valid, bool))
    xy = xy[ok]
    if not len(xy):
        return "unknown"
    size = np.maximum(np.linalg.norm(xy[:, :, None] - xy[:, None], axis=-1).max(axis=(1, 2)), 1e-6)

    def off(point: int, a: int, b: int) -> float:
        return float(np.median(np.linalg.norm(xy[:, point] - 0.5 * (xy[:, a] + xy[:, b]), axis=-1) / size))

    if max(off(0, 1, 4), off(8, 11, 14), off(7, 0, 8)) < LAYOUT_TOLERANCE["h36m"]:
        return "h36m"
    if max(off(0, 1, 1), off(0, 2, 2)) < LAYOUT_TOLERANCE["coco"]:
        return "coco"
    return "unknown"


def remake_old_keypoints(joints_2d: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
                         valid: np.ndarray) -> str | None:
    """Bring keypoints written by an earlier rule (:data:`OLD_RULES`) up to date, in place; return that rule's name,
    or None if nothing was remade.

    Only where ``joints_2d`` (T, 17, 2) still holds, on its ``valid`` frames, exactly what that rule makes of
    ``landmarks`` (T, 33, 4: x, y, z, visibility): keypoints edited since, or made by another tool, are left as
    they are."""
    lm = np.asarray(landmarks)
    valid = np.asarray(valid, bool)
    if lm.ndim != 3 or lm.shape[:2] != (len(joints_2d), 33) or lm.shape[2] < 4 or not valid.any():
        return None
    stored = np.asarray(joints_2d)[valid]
    for name, (head, limbs) in OLD_RULES.items():
        old, _ = blazepose_to_h36m_by_rule(lm[valid][..., :2], lm[valid][..., 3], head, limbs)
        if np.allclose(stored, old, atol=1e-2):
            new, new_scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
            rows = np.isfinite(new).all(axis=(1, 2))  # lost frames too: extraction fills them from their neighbours
            joints_2d[rows] = new[rows]
            scores[:] = np.where(valid[:, None], new_scores, 0.0)
            return name
    return None


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


UPRIGHT_SHARE = 0.1
"""A clip (a shot) in which the torso points within 45 degrees of the image's up in at least this share of the
frames with a person (and :data:`UPRIGHT_MIN_FRAMES`) was filmed upright: the person stands or sits up part of the
time and lies, or crouches across the picture, the rest. A video turned on its side shows a standing person across
the picture in every frame. Turned by the median alone, a sprint start (27 % of its frames running upright) and two
renders of people getting up from the floor (14 and 16 %) were lifted as sideways videos: the runner flew 9 m up,
the renders read 62.3 and 103.3 mm P-MPJPE against 56.1 and 91.8 lifted as filmed."""
UPRIGHT_MIN_FRAMES = 5


def upright_turns(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> int:
    """Return k in 0..3: the quarter turns (clockwise, :func:`turn_points`) that bring the person's median
    pelvis -> thorax direction (H36M-17 pixels (T, 17, 2), over ``valid`` frames) nearest the image's up; 0 where
    the torso is upright in enough of the frames (:data:`UPRIGHT_SHARE`).

    0 for an upright person; 1-3 for a video turned on its side or upside down (recorded without rotation
    metadata) or a person lying down or upside down all the clip."""
    d = _torsos(joints_2d, valid)
    if not len(d) or _upright_enough(d):
        return 0
    return _median_turns(d)


def lies_across(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> bool:
    """True when the person lies (or crouches) across an upright picture most of the clip: the median torso is
    across or upside down, yet upright in enough frames (:data:`UPRIGHT_SHARE`) to show the video is upright. The
    clean-up then takes the ground as ``--lying-down`` does (the level camera's, not the body's up)."""
    d = _torsos(joints_2d, valid)
    return bool(len(d)) and _upright_enough(d) and _median_turns(d) != 0


def _torsos(joints_2d: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Return the (N, 2) pelvis -> thorax vectors, pixels, of the valid frames where both are known."""
    xy = np.asarray(joints_2d, np.float64)
    ok = np.ones(len(xy), bool) if valid is None else np.asarray(valid, bool)
    d = xy[ok, 8] - xy[ok, 0]
    return d[np.isfinite(d).all(axis=1)]


def _upright_enough(d: np.ndarray) -> bool:
    """True when torsos ``d`` (N, 2) point within 45 degrees of the image's up (-y) often enough."""
    up = -d[:, 1] >= np.cos(np.radians(45.0)) * np.linalg.norm(d, axis=1)
    return bool(up.sum() >= max(UPRIGHT_SHARE * len(d), UPRIGHT_MIN_FRAMES))


def _median_turns(d: np.ndarray) -> int:
    """Return the quarter turns that bring the median torso of ``d`` (N, 2) nearest the image's up."""
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
