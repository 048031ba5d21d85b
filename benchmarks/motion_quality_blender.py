"""Baked result of the motion clean-up on the CC0 Mixamo character (bpy): feet, ground, tilt, travel.

For every moving ground-truth clip (see benchmarks/motion_quality.py), the lifter's motion is cleaned
(``medium``), written to and read back from a motion file, baked with posemoe_blender.bake onto
``human_mixamo``, and the evaluated pose bones are measured in Blender: foot-bone speed during the
clip's contacts (cm/s), foot height in contact against the rest pose, torso tilt from the vertical,
hips travel against the truth. The previous pipeline (light smoothing, pinhole root, no world) is
measured the same way. Writes benchmarks/results/motion_quality_blender.json.

    python benchmarks/motion_quality_blender.py [--gt-dir ~/.cache/posemoe/gt] [--weights W] [--clips ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import motion_quality as mq  # noqa: E402

CHARACTER = REPO.parent / "shared" / "data" / "characters" / "human_mixamo.blend"
BONES = ("mixamorig:LeftFoot", "mixamorig:RightFoot", "mixamorig:Hips", "mixamorig:Neck")


def measure(clip, contacts: np.ndarray, truth: dict) -> dict:
    """Return Blender-side figures of ``clip`` baked onto the Mixamo character (contacts: (T, 2) bool)."""
    import bpy

    from posemoe_blender.bake import bake_clip

    bpy.ops.wm.open_mainfile(filepath=str(CHARACTER))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    bake_clip(clip, arm, rig="auto")
    rest_foot = float((arm.matrix_world @ arm.data.bones[BONES[0]].head_local).z)
    track = []
    for f in range(1, len(clip.joints_3d) + 1):
        bpy.context.scene.frame_set(f)
        track.append([np.array(arm.matrix_world @ arm.pose.bones[b].head) for b in BONES])
    track = np.array(track)
    from core.metrics import foot_skate

    torso = track[:, 3] - track[:, 2]
    tilt = np.degrees(np.arccos(torso[:, 2] / np.linalg.norm(torso, axis=-1)))
    true_travel = truth["world_joints"][-1, 0, :2] - truth["world_joints"][0, 0, :2]
    true_torso = truth["world_joints"][:, 8] - truth["world_joints"][:, 0]
    true_tilt = np.degrees(np.arccos(true_torso[:, 2] / np.linalg.norm(true_torso, axis=-1)))
    return {"foot_skate_cm_s": foot_skate(track[:, :2], contacts, truth["fps"]),
            "foot_height_in_contact_cm": float(100 * (np.median(track[:, :2, 2][contacts]) - rest_foot)),
            "lowest_foot_cm": float(100 * (track[:, :2, 2].min() - rest_foot)),
            "torso_tilt_deg": float(np.median(tilt)), "true_torso_tilt_deg": float(np.median(true_tilt)),
            "hips_travel_m": float(np.linalg.norm(track[-1, 2, :2] - track[0, 2, :2])),
            "true_travel_m": float(np.linalg.norm(true_travel))}


def clips_for(name: str, truth: dict, kp, lift: np.ndarray) -> tuple:
    """Return (cleaned clip, previous-pipeline clip, contacts (T, 2)) of one ground-truth clip."""
    from core.filters import constant_bone_lengths
    from core.motion_cleanup import PRESETS, clean_motion
    from core.motion_file import MotionClip, read_motion, write_motion
    from core.smoothing import smooth_series
    from core.trajectory import estimate_root

    rel, root, info = clean_motion(lift, kp.joints_2d, kp.scores, kp.valid, truth["fps"], truth["image_size"],
                                   "medium", subject_height=mq.TRUTH_HEIGHT,
                                   camera_rotation=kp.extras.get("camera_rotation"),
                                   camera_flow=(kp.extras.get("camera_flow"), kp.extras.get("camera_flow_frames")))
    contacts = np.zeros((len(rel), 2), bool)
    for f, side in enumerate(("left", "right")):
        for first, last in info["contacts"][side]:
            contacts[first: last + 1, f] = True
    args = (kp.joints_2d, kp.scores, kp.valid, truth["fps"], kp.image_size, {})
    with tempfile.TemporaryDirectory() as tmp:  # through the file format, as the add-on reads it
        path = write_motion(Path(tmp) / "m.npz", MotionClip(*args, joints_3d=rel, root=root,
                                                             meta={"source": name} | info))
        cleaned = read_motion(path)
    prev = constant_bone_lengths(smooth_series(lift - lift[:, :1], truth["fps"], PRESETS["light"]), symmetric=False)
    proot = smooth_series(estimate_root(prev, kp.joints_2d, kp.scores, kp.image_size), truth["fps"], PRESETS["light"])
    return cleaned, MotionClip(*args, joints_3d=prev, root=proot, meta={"source": name}), contacts


def main(argv: list[str] | None = None) -> int:
    from core.weights import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "motion_quality_blender.json")
    ap.add_argument("--clips", nargs="+", default=list(mq.MOTION_CLIPS),
                    help="rendered clips (also the panning ones: walk_pan_02_01 run_pan_16_08)")
    args = ap.parse_args(argv)
    results = {}
    for name, video, truth_path in mq.clips(args.gt_dir, tuple(args.clips)):
        if name.startswith("demo"):
            continue  # dancing on one spot: nothing travels
        truth = mq.load_truth(truth_path)
        kp = mq.keypoints(video, args.gt_dir)
        lift = mq.lifted(kp, args.weights, args.gt_dir).astype(np.float64)
        cleaned, previous, contacts = clips_for(name, truth, kp, lift)
        results[name] = {"clean_motion": measure(cleaned, contacts, truth),
                         "previous_pipeline": measure(previous, contacts, truth)}
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
