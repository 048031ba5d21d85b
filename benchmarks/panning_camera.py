"""A camera that turns to follow the person (issue 7): the turn measured on the background, and the motion
with and without it taken out.

Clips: the panning renders of benchmarks/render_gt_clips.py (``--pan``: a camera standing 3.5 m from the path
turns to keep the pelvis in view, with a little hand shake), its tracking renders (a camera 3.5 m away travels
beside the person without turning, as a cameraman walking alongside, over a tiled floor) and
the orbiting one of posemoe bench (the camera circles the person: it moves, so the clean-up should keep each
frame's view). Real MediaPipe 2D (cached in
--gt-dir), the bundled lifter, clean-up ``medium`` with the character's height; figures against the truth as
the first frame's camera saw it (benchmarks/motion_quality.py). Variants:
  standing   camera_rotation not given: each frame taken as seen from one standing camera (before 2026-11-26);
  turn       the turn measured by core.extract, taken out where it leaves the feet stiller (before session 9);
  travel     as shipped: also the camera's path measured on the floor (core.camera_travel), used where it
             leaves the feet stiller;
  travel, true focal   the same with the true focal length given (--focal), as a user who knows their lens.
Writes benchmarks/results/panning_camera.json, and docs/images/tracking_shot_root.png (the tracking shots' root
paths from above) when both tracking shots were measured.

    python benchmarks/render_gt_clips.py --pan && python benchmarks/panning_camera.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import motion_quality as mq  # noqa: E402

CLIPS = ("walk_pan_02_01", "run_pan_16_08", "walk_track_02_01", "run_track_16_08", "walk_follow_02_01", "punch_02_05",
         "punch_orbit_02_05")
PLOT = REPO / "docs" / "images" / "tracking_shot_root.png"
PATHS: dict[str, dict[str, np.ndarray]] = {}  # clip -> variant -> root path in the true world (for the plot)
FIGURES = ("mpjpe_mm", "accel_err_mm", "root_err_pct", "skate_true_contacts_cm_s", "ground_normal_err_deg",
           "contact_recall")


def true_turns(truth_path: Path) -> np.ndarray:
    """Return (T, 3, 3) the true camera turns (camera t -> first camera, OpenCV axes) of a rendered clip."""
    m = np.array(np.load(truth_path)["camera_to_world"], np.float64)
    cv = np.diag([1.0, -1.0, -1.0])
    return cv @ m[0, :3, :3].T @ m[:, :3, :3] @ cv


def measure(name: str, gt_dir: Path, weights: Path) -> dict:
    """Return the measured turn's error and every variant's figures for one clip."""
    from core.camera_motion import turn_angles
    from core.camera_travel import path_length
    from core.motion_cleanup import clean_motion
    from core.world import transform_points

    truth_path = gt_dir / f"{name}_truth.npz"
    truth = mq.load_truth(truth_path)
    kp = mq.keypoints(gt_dir / f"{name}.mp4", gt_dir)
    if "camera_flow" not in kp.extras:  # a keypoints cache from before the turn and the floor's flow were kept
        (gt_dir / f"{name}_kp.npz").unlink()
        kp = mq.keypoints(gt_dir / f"{name}.mp4", gt_dir)
    lift = mq.lifted(kp, weights, gt_dir).astype(np.float64)
    turns, true = kp.extras["camera_rotation"].astype(np.float64), true_turns(truth_path)
    err = turn_angles(np.einsum("tji,tjk->tik", turns, true))
    centres = np.array(np.load(truth_path)["camera_to_world"], np.float64)[..., :3, 3]
    res: dict = {"true_turn_deg": float(turn_angles(true).max()), "measured_turn_deg": float(turn_angles(turns).max()),
                 "turn_error_deg_mean": float(err.mean()), "turn_error_deg_max": float(err.max()),
                 "true_travel_m": path_length(centres) if centres.ndim == 2 else 0.0}
    flow = kp.extras["camera_flow"], kp.extras["camera_flow_frames"]
    for variant, rot, fl, focal in (("standing", None, None, None), ("turn", turns, None, None),
                                    ("travel", turns, flow, None), ("travel_true_focal", turns, flow, truth["focal"])):
        rel, root, info = clean_motion(lift, kp.joints_2d, kp.scores, kp.valid, truth["fps"], kp.image_size, "medium",
                                       subject_height=mq.TRUTH_HEIGHT, focal=focal, camera_rotation=rot,
                                       camera_flow=fl)
        r = mq.evaluate(rel.astype(np.float64), root.astype(np.float64), info, truth)
        PATHS.setdefault(name, {"truth": truth["world_joints"][:, 0]})[variant] = transform_points(root, truth["world"])
        res[variant] = {k: r[k] for k in FIGURES} | {"camera_turn_deg": info["camera_turn_deg"],
                                                     "camera_travel_m": info["camera_travel_m"]}
    return res


def plot(clips: tuple[str, ...] = ("walk_track_02_01", "run_track_16_08"), out: Path = PLOT) -> Path | None:
    """Draw the tracking shots' root paths seen from above (truth, the pipeline before, as shipped) into ``out``."""
    if not all(c in PATHS for c in clips):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(clips), figsize=(5.2 * len(clips), 3.6))
    for ax, name in zip(np.atleast_1d(axes), clips, strict=True):
        for variant, style, label in (("truth", "k-", "truth"), ("turn", "C3--", "before (camera travel not measured)"),
                                      ("travel", "C0-", "as shipped (path measured on the floor)")):
            path = PATHS[name][variant]
            ax.plot(path[:, 0], path[:, 1], style, label=label)
            ax.plot(path[:1, 0], path[:1, 1], style[:2] + "o")
        ax.set_title(f"{name}: pelvis seen from above")
        ax.set_xlabel("x m")
        ax.set_ylabel("y m")
        ax.set_aspect("equal", adjustable="datalim")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    results = mq.clip_study(argv, __doc__, CLIPS, REPO / "benchmarks" / "results" / "panning_camera.json", measure,
                            "benchmarks/render_gt_clips.py --pan")
    if (image := plot()) is not None:
        print(f"wrote {image}")
    print("| clip | turn: true / measured ° (error mean, max) | variant | camera turn taken out ° "
          "| camera travel: true / used m | MPJPE mm "
          "| accel mm/f² | root err % | skate at true contacts cm/s | ground ° | contact recall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        turn = (f"{r['true_turn_deg']:.1f} / {r['measured_turn_deg']:.1f} ({r['turn_error_deg_mean']:.1f}, "
                f"{r['turn_error_deg_max']:.1f})")
        for variant in ("standing", "turn", "travel", "travel_true_focal"):
            v = r[variant]
            print(f"| {name} | {turn} | {variant} | {v['camera_turn_deg']:.1f} "
                  f"| {r['true_travel_m']:.2f} / {v['camera_travel_m']:.2f} | {v['mpjpe_mm']:.1f} "
                  f"| {v['accel_err_mm']:.2f} | {v['root_err_pct']:.1f} | {v['skate_true_contacts_cm_s']:.2f} "
                  f"| {v['ground_normal_err_deg']:.1f} | {v['contact_recall']:.2f} |")
            turn = ""
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
