"""2D extraction: MediaPipe BlazePose (VIDEO mode, model_complexity=1) -> H36M-17 keypoints.

One tracked person (MediaPipe's pose solution tracks the most prominent one). Frames
without a person are marked invalid and filled by interpolation, never dropped, so the
output has exactly one row per video frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import CancelledError, NoPersonError, WorkerEnvError
from core.keypoints import blazepose_to_h36m
from core.motion_file import Keypoints2D
from core.native_logs import quiet_native_stderr
from core.video import iter_frames, probe

log = logging.getLogger(__name__)

MAX_DETECT_SIDE = 1280
"""Frames larger than this (long side, pixels) are downscaled before detection: BlazePose
works at 256 px internally, so 4K input only costs conversion time. Landmarks are
normalised, so they map back to the full-size frame exactly."""

ProgressFn = Callable[[int, int], None]


def _make_pose():
    try:
        import mediapipe as mp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise WorkerEnvError(f"mediapipe is not installed ({e}); run `make setup` (needs mediapipe==0.10.21)") from None
    # complexity 1 is the model the 0.10.21 wheel ships; 0 and 2 would try to download.
    return mp.solutions.pose.Pose(
        static_image_mode=False, model_complexity=1, smooth_landmarks=True,
        enable_segmentation=False, min_detection_confidence=0.5, min_tracking_confidence=0.5,
    )


def _resize_for_detection(frame: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    scale = MAX_DETECT_SIDE / max(h, w)
    if scale >= 1.0:
        return frame
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def fill_invalid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return (T, ...) ``values`` with invalid frames linearly interpolated (edges held)."""
    from core.smoothing import fill_gaps

    values = np.asarray(values, dtype=np.float32)
    if not np.any(valid):
        return values.copy()
    flat = values.reshape(len(values), -1)
    frame_ok = np.asarray(valid, np.float64)[:, None] * np.ones(flat.shape[1])
    return fill_gaps(flat, frame_ok, min_weight=0.5).reshape(values.shape).astype(np.float32)


def extract_keypoints(
    video: Path,
    on_progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Keypoints2D:
    """Return the H36M-17 2D keypoints of the person in ``video``, one row per frame.

    Raises NoPersonError when no frame has a person, VideoError for unreadable clips.
    ``mp_landmarks`` (T,33,4: x px, y px, z, visibility) and ``mp_world`` (T,33,3 metres,
    MediaPipe's hip-centred world landmarks) are kept as extras.
    """
    info = probe(video)
    total = info.frame_count
    w, h = info.width, info.height
    rows_lm: list[np.ndarray] = []
    rows_world: list[np.ndarray] = []
    valid: list[bool] = []
    nan_lm = np.full((33, 4), np.nan, np.float32)
    nan_world = np.full((33, 3), np.nan, np.float32)
    with quiet_native_stderr(), _make_pose() as pose:
        for i, frame in enumerate(iter_frames(video)):
            if should_cancel is not None and should_cancel():
                raise CancelledError(f"{video}: extraction cancelled at frame {i}")
            res = pose.process(_resize_for_detection(frame))
            if res.pose_landmarks is None:
                rows_lm.append(nan_lm)
                rows_world.append(nan_world)
                valid.append(False)
            else:
                lm = res.pose_landmarks.landmark
                rows_lm.append(np.array([[p.x * w, p.y * h, p.z * w, p.visibility] for p in lm], np.float32))
                wl = res.pose_world_landmarks.landmark
                rows_world.append(np.array([[p.x, p.y, p.z] for p in wl], np.float32))
                valid.append(True)
            if on_progress is not None:
                on_progress(i + 1, max(total, i + 1))
    if not rows_lm:
        raise NoPersonError(f"{video}: the video has no decodable frames")
    valid_arr = np.array(valid, bool)
    if not valid_arr.any():
        raise NoPersonError(f"{video}: no person detected in any of {len(valid)} frames; "
                            "use a clip where one whole body is visible")
    if valid_arr.mean() < 0.5:
        log.warning("%s: a person was found in only %d of %d frames; the rest are interpolated",
                    video, valid_arr.sum(), len(valid_arr))
    mp_lm = fill_invalid(np.stack(rows_lm), valid_arr)
    mp_world = fill_invalid(np.stack(rows_world), valid_arr)
    joints_2d, scores = blazepose_to_h36m(mp_lm[..., :2], mp_lm[..., 3])
    scores[~valid_arr] = 0.0
    return Keypoints2D(
        joints_2d=joints_2d, scores=scores, valid=valid_arr, fps=info.fps, image_size=(w, h),
        extras={"mp_landmarks": mp_lm, "mp_world": mp_world},
    )
