"""Motion quality on rendered ground-truth clips (issue 7): filters, contacts, foot locking, root, ground.

For each clip (the demo clip, plus the MOTION_CLIPS ``*_truth.npz`` + ``.mp4`` pairs in --gt-dir rendered
with scripts/make_demo_clip.py from validation-subject CMU motion), real MediaPipe 2D (core.extract,
cached) feeds three 3D sources:
  lifter     the PoseMoE lifter (bundled weights, or --weights), the real pipeline;
  mp_world   MediaPipe's own world landmarks (mp_world extras), for comparison;
  synthetic  the true pose with synthetic noise (white + slow drift + outliers) and noisy true 2D.
Each source goes through core.motion_cleanup.clean_motion with every preset (and medium without
foot locking); figures are compared with the truth. Prints a table, writes
benchmarks/results/motion_quality.json and (with --plot) docs/images/motion_quality_joint.png.

    python benchmarks/motion_quality.py [--gt-dir ~/.cache/posemoe/gt] [--weights W] [--plot]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.metrics import (  # noqa: E402
    accel_error,
    bone_length_cv,
    foot_skate,
    ground_penetration,
    jitter,
    mpjpe,
    procrustes_align,
    root_trajectory_error,
)

log = logging.getLogger("motion_quality")
TRUTH_HEIGHT = 1.799  # the CC0 character of the renders (shared/data/characters/human_mixamo.json)
TRUTH_ANKLE = 0.0745  # its ankle height above the sole, metres
PRESETS = ("none", "light", "medium", "strong")
FEET = [6, 3]  # left, right ankle


def load_truth(path: Path) -> dict:
    """Return the truth of a rendered clip: camera-frame joints, a Z-up world with the floor at 0, contacts.

    For a moving camera (per-frame camera_to_world) the joints are in the first frame's camera, as the
    pipeline puts them when it follows a turning camera; ``joints_2d`` stays per frame."""
    from core.contact import detect_contacts, foot_speed
    from core.world import transform_points

    z = np.load(path)
    joints = z["joints_3d"].astype(np.float64)
    m = np.array(z["camera_to_world"], np.float64)
    if m.ndim == 3:  # a moving camera: the truth as the first frame's camera sees it
        cv = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera <-> Blender camera axes
        to_first = cv @ np.linalg.inv(m[0])[None] @ m @ cv  # (T,4,4): camera t -> camera 0
        joints = np.einsum("tij,tnj->tni", to_first[:, :3, :3], joints) + to_first[:, None, :3, 3]
        m = m[0]
    world = np.eye(4)
    world[:3, :3] = m[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # OpenCV camera -> Blender camera axes
    world[:3, 3] = m[:3, 3]
    jw = transform_points(joints, world)
    world[2, 3] -= jw[:, FEET, 2].min() - TRUTH_ANKLE  # make_demo_clip puts the floor under the lowest sole
    jw = transform_points(joints, world)
    fps = float(z["fps"])
    contacts = detect_contacts(jw[:, FEET, 2] - TRUTH_ANKLE, foot_speed(jw[:, FEET], fps, 4.0), fps)
    return {"joints": joints, "world": world, "world_joints": jw, "fps": fps, "contacts": contacts,
            "image_size": tuple(int(v) for v in z["image_size"]), "focal": float(z["intrinsics"][0, 0]),
            "joints_2d": z["joints_2d"].astype(np.float64)}


def keypoints(video: Path, cache: Path):
    """Return the MediaPipe keypoints of ``video`` (cached as an .npz in ``cache``, shared with bench.py)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench

    return bench.keypoints(video, cache)


def lifted(kp, weights: Path, cache: Path) -> np.ndarray:
    """Return (T,17,3) lifter output for keypoints ``kp`` (cached per weights file and inference settings)."""
    import hashlib

    import core.inference
    from core.config import InferenceConfig
    from core.keypoints import LIFTER_ANKLE_RAISE

    rules = hashlib.sha256(Path(core.inference.__file__).read_bytes()).hexdigest()  # how clips are cut and padded
    settings = json.dumps({**InferenceConfig(device="cpu").to_dict(), "fps": kp.fps,
                           "ankle_raise": LIFTER_ANKLE_RAISE, "inference": rules}, sort_keys=True).encode()
    tag = hashlib.sha256(weights.read_bytes() + settings).hexdigest()[:10]
    out = cache / f"lift_{tag}_{len(kp.joints_2d)}_{abs(hash(kp.joints_2d.tobytes())) % 10**8}.npy"
    if out.exists():
        return np.load(out)
    from core.inference import lift_sequence
    from core.weights import ankle_raise, load_lifter
    from posemoe_blender.pipeline import lifter_joints

    model, cfg, meta = load_lifter(weights)
    x = lifter_joints(kp, ankle_raise(meta))  # as posemoe capture lifts
    j = lift_sequence(x, kp.image_size, model, cfg.window, InferenceConfig(device="cpu"), valid=kp.valid, fps=kp.fps)
    np.save(out, j)
    return j


def synthetic(truth: dict, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return noisy (joints_3d (T,17,3), joints_2d (T,17,2), scores (T,17)) made from the truth."""
    from core.smoothing import smooth_series

    rng = np.random.default_rng(seed)
    rel = truth["joints"] - truth["joints"][:, :1]
    drift = smooth_series(rng.normal(0, 0.06, rel.shape), truth["fps"], 1.0)  # slow, ~2 cm
    noisy = rel + rng.normal(0, 0.012, rel.shape) + drift
    scores = np.full(rel.shape[:2], 0.9)
    bad = rng.random(rel.shape[:2]) < 0.02
    noisy[bad] += rng.normal(0, 0.10, (int(bad.sum()), 3))
    scores[bad] = 0.15
    uv = truth["joints_2d"] + rng.normal(0, 2.0, truth["joints_2d"].shape)
    return noisy, uv, scores


def evaluate(rel: np.ndarray, root: np.ndarray, info: dict | None, truth: dict) -> dict:
    """Return the metrics of one output (rel (T,17,3) root-relative, root (T,3), camera frame) against the truth."""
    from core.contact import FEET as LEGS
    from core.world import camera_pose, transform_points

    gt_rel = truth["joints"] - truth["joints"][:, :1]
    fps = truth["fps"]
    out = {"mpjpe_mm": 1000 * mpjpe(rel, gt_rel), "accel_err_mm": 1000 * accel_error(rel, gt_rel),
           "jitter_mm": 1000 * jitter(rel), "bone_cv_pct": 100 * bone_length_cv(rel)}
    if root is None:
        return out
    absolute = rel + root[:, None]
    tw = transform_points(absolute, truth["world"])  # the output seen in the true world
    rte = root_trajectory_error(root, truth["joints"][:, 0])
    out.update({"root_err_cm": 100 * rte["mean"], "root_err_pct": rte["percent"], "distance_m": rte["distance"],
                "skate_true_contacts_cm_s": foot_skate(tw[:, FEET], truth["contacts"], fps),
                "penetration_true_floor_cm": 100 * ground_penetration(tw[:, FEET, 2] - TRUTH_ANKLE)[1]})
    if info is not None:
        ow = transform_points(absolute, np.array(info["world_from_camera"]))
        own = np.zeros((len(rel), 2), bool)
        for f, side in enumerate(("left", "right")):
            for s, e in info["contacts"][side]:
                own[s: e + 1, f] = True
        ankle_h = info["ground"]["ankle_height_m"]
        feet = [leg[2] for leg in LEGS]
        up_true = truth["world"][2, :3]
        out.update({"skate_own_contacts_cm_s": foot_skate(ow[:, feet], own, fps),
                    "penetration_own_cm": 100 * ground_penetration(ow[:, feet, 2] - ankle_h)[1],
                    "contact_precision": float((own & truth["contacts"]).sum() / max(own.sum(), 1)),
                    "contact_recall": float((own & truth["contacts"]).sum() / max(truth["contacts"].sum(), 1)),
                    "ground_normal_err_deg": float(np.degrees(np.arccos(np.clip(
                        np.dot(info["world_from_camera"][2][:3], up_true), -1, 1)))),
                    "pitch_deg": camera_pose(np.array(info["world_from_camera"]))["pitch_deg"],
                    "true_pitch_deg": camera_pose(truth["world"])["pitch_deg"]})
    return out


def run_source(name: str, joints_3d: np.ndarray, joints_2d: np.ndarray, scores: np.ndarray, truth: dict) -> dict:
    """Return {variant: metrics} for one 3D source through every clean-up preset."""
    from core.motion_cleanup import clean_motion

    valid = np.ones(len(joints_3d), bool)
    rows = {}
    for preset in PRESETS + ("medium_no_lock",):
        p, lock = (preset, True) if preset != "medium_no_lock" else ("medium", False)
        rel, root, info = clean_motion(joints_3d, joints_2d, scores, valid, truth["fps"], truth["image_size"], p,
                                       subject_height=TRUTH_HEIGHT, foot_lock=lock)
        rows[preset] = evaluate(rel.astype(np.float64), root.astype(np.float64), info, truth)
    base = rows["none"]["mpjpe_mm"]
    for r in rows.values():
        r["mpjpe_change_mm"] = r["mpjpe_mm"] - base
    log.info("%s done", name)
    return rows


def mp_world_h36m(kp, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return MediaPipe world landmarks as H36M joints (T,17,3): as given, and similarity-aligned to the truth."""
    from core.keypoints import blazepose_to_h36m

    mw = np.asarray(kp.extras["mp_world"], np.float64)
    j, _ = blazepose_to_h36m(mw)
    j = j - j[:, :1]
    gt_rel = truth["joints"] - truth["joints"][:, :1]
    aligned = procrustes_align(j.reshape(1, -1, 3), gt_rel.reshape(1, -1, 3)).reshape(j.shape)
    return j, aligned - aligned[:, :1]


def filter_comparison(sources: dict[str, tuple[np.ndarray, np.ndarray]], truth: dict) -> dict:
    """Return {method: {cutoff: {source: (accel_err_mm, mpjpe_mm)}}} of the candidate smoothers alone.

    sources: name -> (root-relative joints (T,17,3), confidences (T,17)), already similarity-aligned
    where their axes differ from the truth's, so only the temporal filtering is compared.
    """
    from core.smoothing import METHODS, smooth_series

    gt_rel = truth["joints"] - truth["joints"][:, :1]
    out: dict = {}
    for method in METHODS:
        for cutoff in (3.0, 5.0, 8.0):
            row = {}
            for name, (rel, conf) in sources.items():
                y = smooth_series(rel, truth["fps"], cutoff, method, conf)
                y = y - y[:, :1]
                row[name] = [round(1000 * accel_error(y, gt_rel), 3), round(1000 * mpjpe(y, gt_rel), 2)]
            out.setdefault(method, {})[str(cutoff)] = row
    return out


def baseline_rows(joints_3d: np.ndarray, kp, truth: dict, aligned: np.ndarray | None = None) -> dict:
    """Return metrics of the raw source and of the previous pipeline (light Butterworth, fixed bones, pinhole root)."""
    from core.filters import constant_bone_lengths
    from core.motion_cleanup import PRESETS
    from core.smoothing import smooth_series
    from core.trajectory import estimate_root

    rel = joints_3d - joints_3d[:, :1]
    raw = evaluate(aligned if aligned is not None else rel, None, None, truth)
    prev = constant_bone_lengths(smooth_series(rel, truth["fps"], PRESETS["light"]), symmetric=False).astype(np.float64)
    root = estimate_root(prev, kp.joints_2d, kp.scores, truth["image_size"])
    root = smooth_series(root, truth["fps"], PRESETS["light"])
    return {"raw": raw, "previous_pipeline": evaluate(prev, root.astype(np.float64), None, truth)}


def plot_joint(path: Path, fps: float, panels: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    """Draw panels of time series (name -> (T,) metres, plotted in cm) one above the other as a PNG (OpenCV)."""
    import cv2

    w, ph, pad = 960, 300, 60
    img = np.full((ph * len(panels), w, 3), 255, np.uint8)
    colours = [(0, 0, 0), (60, 60, 230), (40, 160, 40), (200, 120, 0)]
    for p, (title, series) in enumerate(panels):
        top = p * ph
        t = len(next(iter(series.values())))
        allv = np.concatenate(list(series.values()))
        lo, hi = float(allv.min()), float(allv.max())
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)

        def xy(i: float, v: float, t=t, top=top, lo=lo, hi=hi) -> tuple[int, int]:
            y = top + ph - pad + 20 - (v - lo) / (hi - lo) * (ph - 2 * pad)
            return int(pad + i / (t - 1) * (w - 2 * pad)), int(y)

        cv2.rectangle(img, xy(0, hi), xy(t - 1, lo), (0, 0, 0), 1)
        for k in range(5):
            v = lo + k / 4 * (hi - lo)
            cv2.putText(img, f"{v * 100:.0f}", (8, xy(0, v)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for s in range(0, t, int(round(fps / 2))):
            cv2.putText(img, f"{s / fps:.1f}s", (xy(s, lo)[0] - 10, xy(s, lo)[1] + 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (0, 0, 0), 1)
        for k, (name, vals) in enumerate(series.items()):
            pts = np.array([xy(i, v) for i, v in enumerate(vals)], np.int32)
            cv2.polylines(img, [pts], False, colours[k % 4], 2 if k == 0 else 1, cv2.LINE_AA)
            cv2.putText(img, name, (pad + 250 * k, top + 42), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colours[k % 4], 1)
        cv2.putText(img, title, (pad, top + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


MOTION_CLIPS = ("run_16_08", "walk_02_01", "wander_15_01")
"""The rendered clips of this study (benchmarks/render_gt_clips.py); bench.py covers the whole set."""
OTHER_STATIC_CLIPS = ("jump_16_05", "sit_113_15", "kick_113_13", "dance_113_04", "walk_26_01", "run_113_07")
"""The rest of bench.py's static-camera clips (``--clips``; docs/motion_quality.md, the whole set)."""


def clips(gt_dir: Path, names: tuple[str, ...] = MOTION_CLIPS) -> list[tuple[str, Path, Path]]:
    """Return (name, video, truth) of the demo clip and the clips ``names`` rendered in ``gt_dir``."""
    from posemoe_blender.demo import ensure_demo_clip

    out = [("demo_05_02_dance", *ensure_demo_clip())]
    for name in names:
        video, t = gt_dir / f"{name}.mp4", gt_dir / f"{name}_truth.npz"
        if video.exists() and t.exists():
            out.append((name, video, t))
    return out


def clip_study(argv: list[str] | None, doc: str, clips: tuple[str, ...], out: Path, measure, render: str) -> dict:
    """Run ``measure(name, gt_dir, weights) -> dict`` on each rendered clip of a study script (options --gt-dir,
    --weights, --clips, --out), skipping with a hint (``render``: the command that renders them) those not
    rendered; write {"weights", "clips"} as JSON to --out and return the clips' results."""
    from core.weights import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--clips", nargs="+", default=list(clips))
    ap.add_argument("--out", type=Path, default=out)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    results = {}
    for name in args.clips:
        if not (args.gt_dir / f"{name}_truth.npz").exists():
            print(f"skip {name}: no rendered truth in {args.gt_dir} (run {render})")
            continue
        results[name] = measure(name, args.gt_dir, args.weights)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"weights": args.weights.name, "clips": results}, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    from core.weights import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "motion_quality.json")
    ap.add_argument("--clips", nargs="+", default=list(MOTION_CLIPS),
                    help=f"rendered clips besides the demo clip (also: {' '.join(OTHER_STATIC_CLIPS)})")
    ap.add_argument("--plot", action="store_true", help="write docs/images/motion_quality_joint.png")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    cache = args.gt_dir
    cache.mkdir(parents=True, exist_ok=True)
    results: dict = {"weights": args.weights.name if args.weights.exists() else None, "clips": {}}
    for name, video, truth_path in clips(args.gt_dir, tuple(args.clips)):
        truth = load_truth(truth_path)
        kp = keypoints(video, cache)
        res: dict = {"frames": len(truth["joints"]), "true_contact_frames": truth["contacts"].sum(0).tolist()}
        mw, mw_aligned = mp_world_h36m(kp, truth)
        res["mp_world"] = baseline_rows(mw, kp, truth, mw_aligned) | run_source("mp_world", mw, kp.joints_2d,
                                                                                 kp.scores, truth)
        syn = synthetic(truth)
        res["synthetic"] = run_source("synthetic", *syn, truth)
        candidates = {"mp_world": (mw_aligned, kp.scores), "synthetic": (syn[0] - syn[0][:, :1], syn[2])}
        if args.weights.exists():
            lift = lifted(kp, args.weights, cache).astype(np.float64)
            res["lifter"] = baseline_rows(lift, kp, truth) | run_source("lifter", lift, kp.joints_2d, kp.scores,
                                                                         truth)
            candidates["lifter"] = (lift - lift[:, :1], kp.scores)
        res["filters"] = filter_comparison(candidates, truth)
        results["clips"][name] = res
        if args.plot and "lifter" in res and name.startswith("walk"):
            _plot(truth, kp, lift, name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=float))
    args.out.with_suffix(".md").write_text(markdown(results) + "\n")
    print(table(results))
    return 0


def _plot(truth: dict, kp, lift: np.ndarray, name: str) -> None:
    """Plot the right ankle before (no filter, no locking) and after (medium) clean-up, each in its own world."""
    from core.motion_cleanup import clean_motion
    from core.world import transform_points

    def track(world_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        travel = world_joints[-1, 0, :2] - world_joints[0, 0, :2]
        fwd = travel / max(np.linalg.norm(travel), 1e-9)
        ankle = world_joints[:, 3]
        return ankle[:, 2], (ankle[:, :2] - ankle[0, :2]) @ fwd

    runs = {"truth": track(truth["world_joints"])}
    variants = (("before: no filter, no lock", "none", False), ("after: medium + foot lock", "medium", True))
    for label, preset, lock in variants:
        j, r, info = clean_motion(lift, kp.joints_2d, kp.scores, kp.valid, truth["fps"], truth["image_size"], preset,
                                  subject_height=TRUTH_HEIGHT, foot_lock=lock)
        runs[label] = track(transform_points(j + r[:, None], np.array(info["world_from_camera"])))
    heights = {k: v[0] for k, v in runs.items()}
    forward = {k: v[1] for k, v in runs.items()}
    plot_joint(REPO / "docs" / "images" / "motion_quality_joint.png", truth["fps"], [
        (f"{name} (lifter on MediaPipe 2D): right ankle height above the ground (cm)", heights),
        ("right ankle position along the walking direction (cm); flat steps = planted foot", forward)])


def markdown(results: dict) -> str:
    """Return the headline table (Markdown) for docs/motion_quality.md: per clip, the lifter and MediaPipe rows."""
    cols = [("accel_err_mm", "accel err mm/f²", 2), ("jitter_mm", "jitter mm/f³", 2), ("mpjpe_mm", "MPJPE mm", 1),
            ("mpjpe_change_mm", "ΔMPJPE mm", 2), ("bone_cv_pct", "bone CV %", 2),
            ("skate_own_contacts_cm_s", "skate cm/s", 2), ("skate_true_contacts_cm_s", "skate@true cm/s", 1),
            ("penetration_own_cm", "under ground cm", 2), ("root_err_pct", "root err %", 1),
            ("ground_normal_err_deg", "ground err °", 1)]
    rows = [("lifter", "raw"), ("lifter", "previous_pipeline"), ("lifter", "none"), ("lifter", "light"),
            ("lifter", "medium"), ("lifter", "strong"), ("lifter", "medium_no_lock"), ("mp_world", "raw"),
            ("mp_world", "medium")]
    out = ["| clip | source / variant | " + " | ".join(c[1] for c in cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for clip, res in results["clips"].items():
        for source, variant in rows:
            row = res.get(source, {}).get(variant)
            if row is None:
                continue
            vals = [f"{row[k]:.{d}f}" if isinstance(row.get(k), float) else "-" for k, _, d in cols]
            out.append(f"| {clip} | {source} / {variant} | " + " | ".join(vals) + " |")
    return "\n".join(out)


def table(results: dict) -> str:
    """Return a plain-text table of the headline figures per clip, source and variant."""
    cols = ["mpjpe_mm", "mpjpe_change_mm", "accel_err_mm", "jitter_mm", "bone_cv_pct", "root_err_pct",
            "skate_own_contacts_cm_s", "skate_true_contacts_cm_s", "penetration_own_cm", "ground_normal_err_deg"]
    lines = [f"{'clip/source/variant':44s}" + "".join(f"{c[:12]:>13s}" for c in cols)]
    for clip, res in results["clips"].items():
        for source in ("lifter", "mp_world", "synthetic"):
            for variant, row in res.get(source, {}).items():
                vals = "".join(f"{row[c]:13.2f}" if isinstance(row.get(c), float) else f"{'-':>13s}" for c in cols)
                lines.append(f"{clip + '/' + source + '/' + variant:44s}{vals}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
