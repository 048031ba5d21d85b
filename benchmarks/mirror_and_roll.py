"""Does looking twice help on real 2D (issue 4)? The detector on mirrored frames, the lifter on rolled 2D.

Two test-time augmentations that the pipeline does not use, measured on rendered clips with truth
(``scripts/render_real2d_set.py``) through the whole lift and clean-up, as benchmarks/real2d_gap.py measures:

- ``mirrored``: MediaPipe run again on every frame mirrored left to right (a second, independent tracker), its
  landmarks mirrored back and their sides matched to the first run's frame by frame (per arm and per leg: the two
  runs' brief label flips need not agree), then ``averaged`` with the first run (visibility: the larger). If the two
  looks' errors were independent the average would halve the detector's error's variance.
- ``roll +-A``: the lifter's normalised 2D turned by -A, 0 and +A degrees about the image centre (for a centred
  pinhole, the camera rolled), each lifted and its 3D turned back, the three averaged. The lifter learnt from
  cameras rolled by a few degrees; an average over rolls smooths what it does not see the same at each.

The mirrored extraction is kept beside each clip as ``<name>_kp_mirrored.npz`` (about 1.5 s of CPU per second of
video at 640x480); ``--no-mirror`` measures the rolls only. JSON in benchmarks/results/mirror_and_roll.json.

    python benchmarks/mirror_and_roll.py [--dir DIR] [--rolls 5 10] [--no-mirror]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402
from held_out_renders import CACHE, variant_keypoints  # noqa: E402
from real2d_gap import clips_or_hint  # noqa: E402

MP_MIRROR = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, *[i + (1 if i % 2 else -1) for i in range(11, 33)]])
"""BlazePose's left/right twin of each of its 33 landmarks."""
LEFT_LIMBS = ([11, 13, 15, 17, 19, 21], [23, 25, 27, 29, 31])
"""The left arm's and left leg's landmarks (the right ones are each + 1): sides are matched limb by limb."""


def mirrored_extraction(video: Path):
    """Return ``core.extract.extract_keypoints`` of ``video`` with every frame mirrored left to right."""
    import core.extract

    frames = core.extract.iter_frames

    def mirrored(path, *args, **kwargs):
        for frame in frames(path, *args, **kwargs):
            yield np.ascontiguousarray(frame[:, ::-1])

    with mock.patch.object(core.extract, "iter_frames", mirrored):
        return core.extract.extract_keypoints(video)


def mirror_back(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Return landmarks (T, 33, 4: x px, y px, z, visibility) found in frames ``width`` px wide that were mirrored,
    as the unmirrored frames' landmarks: x -> width - x, each landmark swapped with its twin."""
    out = np.array(landmarks, np.float64)[:, MP_MIRROR]
    out[..., 0] = width - out[..., 0]
    return out


def match_sides(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Return ``other`` (T, 33, >=2) with each arm's and leg's left and right traded on the frames where that
    brings it nearer ``ref`` (image distance summed over the limb's landmarks)."""
    out = np.array(other, copy=True)
    for left in LEFT_LIMBS:
        right = [i + 1 for i in left]

        def dist(a: list[int], b: list[int]) -> np.ndarray:
            return np.linalg.norm(ref[:, a, :2] - out[:, b, :2], axis=-1).sum(axis=1)

        traded = dist(left, right) + dist(right, left) < dist(left, left) + dist(right, right)
        rows = np.flatnonzero(traded)
        out[np.ix_(rows, left + right)] = out[np.ix_(rows, right + left)]
    return out


def averaged(kp, mirrored_kp):
    """Return ``kp`` with its MediaPipe landmarks averaged with ``mirrored_kp``'s (mirrored back, sides matched) on
    the frames both found the person; frames only the mirrored run found take its landmarks."""
    lm = np.asarray(kp.extras["mp_landmarks"], np.float64)
    other = match_sides(lm, mirror_back(mirrored_kp.extras["mp_landmarks"], kp.image_size[0]))
    both, only = kp.valid & mirrored_kp.valid, mirrored_kp.valid & ~kp.valid
    out = lm.copy()
    out[both, :, :3] = 0.5 * (lm[both, :, :3] + other[both, :, :3])
    out[both, :, 3] = np.maximum(lm[both, :, 3], other[both, :, 3])
    out[only] = other[only]
    return replace(kp, valid=kp.valid | mirrored_kp.valid, extras=kp.extras | {"mp_landmarks": out.astype(np.float32)})


def unmirrored(kp, mirrored_kp):
    """Return ``kp`` with the mirrored run's landmarks (mirrored back, sides matched) in place of its own."""
    lm = np.asarray(kp.extras["mp_landmarks"], np.float64)
    other = match_sides(lm, mirror_back(mirrored_kp.extras["mp_landmarks"], kp.image_size[0]))
    return replace(kp, valid=mirrored_kp.valid, extras=kp.extras | {"mp_landmarks": other.astype(np.float32)})


def rolled_lift(kp, joints_2d: np.ndarray, model, window: int, degrees: float) -> np.ndarray:
    """Return the root-relative 3D (T, 17, 3) of ``joints_2d`` lifted as ``core.inference.lift_sequence`` does,
    averaged over the 2D turned by -``degrees``, 0 and +``degrees`` about the image centre (each turned back)."""
    from core.config import InferenceConfig
    from core.inference import lift_input, lift_many
    from core.keypoints import turn_camera_points

    x, turns = lift_input(joints_2d, kp.image_size, kp.valid)
    outs = []
    for a in ((-degrees, 0.0, degrees) if degrees else (0.0,)):
        c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
        turn = np.array([[c, -s], [s, c]], np.float32)
        y = lift_many(model, [x @ turn.T], window, InferenceConfig(device="cpu"), None, [kp.fps])[0].copy()
        y[..., :2] = y[..., :2] @ turn  # the inverse turn (turn.T.T)
        outs.append(y)
    return turn_camera_points(np.mean(outs, axis=0), -turns)


def p_mpjpe_lifted(c: dict, kp, model, cfg, raise_by: float, roll: float = 0.0) -> float:
    """Return P-MPJPE (mm) over ``c``'s frames with a person: ``kp`` lifted (rolled), cleaned as capture does."""
    from core.keypoints import lifter_ankles
    from core.metrics import p_mpjpe
    from core.motion_cleanup import clean_motion

    y = rolled_lift(kp, lifter_ankles(kp.joints_2d.astype(np.float32), raise_by), model, cfg.window, roll)
    rel, _, _ = clean_motion(y, kp.joints_2d, kp.scores, kp.valid, kp.fps, kp.image_size, "medium",
                             subject_height=c["height_m"])
    ok = c["ok"]
    return 1000 * p_mpjpe(rel.astype(np.float64)[ok], c["gt"][ok])


def measure(folder: Path, clips: list[dict], rolls: list[float], mirror: bool) -> dict:
    """Return per-clip and pooled P-MPJPE of each augmentation on ``clips`` (of ``folder``)."""
    from core.motion_file import read_keypoints, write_keypoints
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, load_lifter

    model, cfg, meta = load_lifter(Path(DEFAULT_WEIGHTS), device="cpu")
    raise_by = ankle_raise(meta)
    rows = {}
    for c in clips:
        kp = c["kp"]
        row = {"frames": int(c["ok"].sum()), "shipped": p_mpjpe_lifted(c, kp, model, cfg, raise_by)}
        for a in rolls:
            row[f"roll +-{a:g}"] = p_mpjpe_lifted(c, kp, model, cfg, raise_by, a)
        if mirror:
            cached = folder / f"{c['name']}_kp_mirrored.npz"
            if not cached.is_file():
                write_keypoints(cached, mirrored_extraction(folder / f"{c['name']}.mp4"))
            raw, other = read_keypoints(folder / f"{c['name']}_kp.npz"), read_keypoints(cached)
            for name, make in (("mirrored", unmirrored), ("averaged", averaged)):
                row[name] = p_mpjpe_lifted(c, variant_keypoints(make(raw, other), True, True, True), model, cfg,
                                           raise_by)
        rows[c["name"]] = {k: round(v, 2) for k, v in row.items()}
        print(f"{c['name']:24s} " + "  ".join(f"{k} {v:6.2f}" for k, v in row.items() if k != "frames"), flush=True)
    w = np.array([r["frames"] for r in rows.values()], np.float64)
    keys = [k for k in next(iter(rows.values())) if k != "frames"]
    pooled = {k: round(float(np.dot(w, [r[k] for r in rows.values()]) / w.sum()), 2) for k in keys}
    lower = {k: int(sum(r[k] < r["shipped"] - 0.05 for r in rows.values())) for k in keys if k != "shipped"}
    return {"weights": Path(DEFAULT_WEIGHTS).name, "weights_sha256": meta.get("sha256"), "clips": rows,
            "pooled_p_mpjpe_mm": pooled, "clips_lower_than_shipped": lower, "frames": int(w.sum())}


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=CACHE / "real2d_val", help="rendered clips (<name>.mp4, _truth.npz, "
                    "_kp.npz)")
    ap.add_argument("--rolls", type=float, nargs="*", default=[5.0, 10.0], help="roll sizes, degrees")
    ap.add_argument("--no-mirror", action="store_true", help="skip the mirrored extraction")
    ap.add_argument("--out", type=Path, help="JSON (default benchmarks/results/mirror_and_roll.json)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the clean-up's warnings about each render are not the point here
    torch.set_num_threads(2)
    clips = clips_or_hint(a.dir)
    if not clips:
        return 2
    res = measure(a.dir, clips, a.rolls, not a.no_mirror)
    print(f"pooled P-MPJPE, {len(clips)} clips, {res['frames']} frames (mm):")
    for k, v in res["pooled_p_mpjpe_mm"].items():
        print(f"  {k:10s} {v:6.2f}" + (f"  (lower on {res['clips_lower_than_shipped'][k]} of {len(clips)} clips)"
                                       if k != "shipped" else ""))
    return write_results(a.out or REPO / "benchmarks" / "results" / "mirror_and_roll.json",
                         {"folder": str(a.dir)} | res)


if __name__ == "__main__":
    sys.exit(main())
