"""Lifting with the camera's focal length known (``--focal`` / ``--lens-mm``) vs unknown, across lenses.

The lifter learnt focal lengths of 0.5-1.5 image widths. Phones also film through ultra-wide (about 0.35
widths) and telephoto lenses (2-3 widths). Given the focal length, core.inference.lift_input zooms the 2D
about the image centre to LIFT_FOCAL (what a zoom lens does from the same place: same camera-frame pose). This
lifts the same validation clips (held-out subjects, shared bodies, synthetic 2D with the detector-gap noise,
27-frame windows, as ``posemoe eval``) filmed through one focal length at a time, unknown and known; mm.

``--rendered DIR`` also lifts real MediaPipe 2D of rendered clips with their truth (scripts/make_demo_clip.py;
``--lens 13 --min-distance 1.8`` for an ultra-wide, ``--lens 100 --min-distance 9`` for a telephoto): the raw
lifter's P-MPJPE / H-MPJPE over the frames with a person, focal length unknown and known (the render's own),
and the whole capture (clean-up, root, ground) with the lens unknown and stated in the video's metadata.
JSON in benchmarks/results/known_focal.json (docs/model.md, "Known focal length").

    python benchmarks/known_focal.py [--weights W] [--windows 600] [--rendered DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEYS = ("mpjpe_mm", "p_mpjpe_mm", "h_mpjpe_mm")
# focal length in image widths, camera distance range in metres
LENSES = ((0.25, (1.5, 4.0)), (0.35, (2.0, 8.0)), (0.5, (2.0, 8.0)), (0.7, (2.0, 8.0)), (1.0, (2.0, 8.0)),
          (1.5, (2.0, 8.0)), (2.5, (2.0, 8.0)), (2.5, (5.0, 12.0)))


def rendered_rows(folder: Path, weights: Path) -> dict[str, dict]:
    """Return, per rendered clip: the raw lifter's P-MPJPE / H-MPJPE (mm) with the focal length unknown and known
    (the render's own), and the whole capture (lifter + clean-up: root, ground) with the lens unknown and with
    the lens stated in the video's metadata as a phone states it (whole millimetres, core.video_metadata)."""
    import shutil
    import tempfile

    import numpy as np

    from core.extract import extract_keypoints
    from core.inference import lift_sequence
    from core.metrics import h_mpjpe, p_mpjpe
    from core.video_metadata import write_lens_mm
    from core.weights import ankle_raise, load_lifter
    from core.world import FULL_FRAME_DIAGONAL_MM
    from posemoe_blender.pipeline import lifter_joints

    model, mcfg, meta = load_lifter(weights)
    rows = {}
    for truth_path in sorted(folder.glob("*_truth.npz")):
        name = truth_path.name.replace("_truth.npz", "")
        truth = np.load(truth_path)
        focal = float(truth["intrinsics"][0, 0])
        stated = round(focal * FULL_FRAME_DIAGONAL_MM / float(np.hypot(*truth["image_size"])))
        with tempfile.TemporaryDirectory() as tmp:  # the render as a phone writes it: the lens in its metadata
            phone = Path(tmp) / f"{name}.mp4"
            shutil.copy(truth_path.with_name(f"{name}.mp4"), phone)
            write_lens_mm(phone, stated)
            kp = extract_keypoints(phone)
        gt = (truth["joints_3d"] - truth["joints_3d"][:, :1])[: len(kp.joints_2d)]  # a video may decode short
        v = kp.valid[: len(gt)]
        row = {"focal_widths": round(focal / kp.image_size[0], 3)}
        for key, f in (("unknown", None), ("known", focal)):
            x = lifter_joints(kp, ankle_raise(meta))
            y = lift_sequence(x, kp.image_size, model, mcfg.window, valid=kp.valid, fps=kp.fps, focal=f)
            y = y[: len(gt)]
            row[key] = {"p_mpjpe_mm": round(1000 * p_mpjpe(y[v], gt[v]), 2),
                        "h_mpjpe_mm": round(1000 * h_mpjpe(y[v], gt[v]), 2)}  # fmt: skip
        row["capture"] = {"stated_lens_mm": stated, **capture_rows(kp, truth_path, weights)}
        rows[name] = row
        print(f"{name}: {row}", flush=True)
    return rows


def capture_rows(kp, truth_path: Path, weights: Path) -> dict[str, dict]:
    """Return the whole capture's figures (posemoe_blender.pipeline.lift at the render's character height) with
    the lens the keypoints' video states ignored ("unknown") and used ("stated")."""
    import numpy as np

    sys.path.insert(0, str(REPO / "benchmarks"))
    from motion_quality import TRUTH_HEIGHT, evaluate, load_truth

    from core.metrics import p_mpjpe
    from posemoe_blender.pipeline import lift

    truth = load_truth(truth_path)
    n = min(len(kp.joints_2d), len(truth["joints"]))
    truth = {**truth, "joints": truth["joints"][:n], "world_joints": truth["world_joints"][:n],
             "contacts": truth["contacts"][:n]}
    gt = truth["joints"] - truth["joints"][:, :1]
    out = {}
    for key, use in (("unknown", False), ("stated", True)):
        clip = lift(kp, weights, lens_metadata=use, subject_height=TRUTH_HEIGHT)
        rel, root = clip.joints_3d[:n].astype(np.float64), clip.root[:n].astype(np.float64)
        m = evaluate(rel, root, clip.meta, truth)
        out[key] = {"focal_from": clip.meta["focal_from"], "p_mpjpe_mm": round(1000 * p_mpjpe(rel, gt), 2),
                    **{k: round(float(m[k]), 2) for k in ("mpjpe_mm", "root_err_pct", "distance_m",
                                                          "ground_normal_err_deg", "skate_true_contacts_cm_s")}}
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    import core.training as training
    from core.inference import LIFT_FOCAL
    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--windows", type=int, default=600, help="validation windows per lens")
    p.add_argument("--rendered", type=Path, help="also real MediaPipe 2D of the rendered clips in this folder")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "known_focal.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    base = training.TrainConfig()
    rows = []
    for focal, distance in LENSES:
        cfg = replace(base, augment=replace(base.augment, focal_range=(focal, focal), distance_range=distance))
        run = training.validation_predictions(a.weights, cfg=cfg, max_windows=a.windows, window=27)
        known = training.predict(run.model, run.windows.x * (LIFT_FOCAL / focal))  # what lift_input does
        row = {"focal_widths": focal, "distance_m": list(distance), "windows": int(len(run.pred))}
        for name, pred in (("unknown", run.pred), ("known", known)):
            m = training.all_metrics(pred, run.windows.y)
            row[name] = {k: round(m[k], 2) for k in KEYS}
        rows.append(row)
        print(row, flush=True)
    out = {"weights": a.weights.name, "lift_focal_widths": LIFT_FOCAL, "validation": rows}
    if a.rendered:
        out["rendered"] = rendered_rows(a.rendered, a.weights)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print("\n| focal (widths) | distance m | unknown: MPJPE / P-MPJPE / H-MPJPE | known |\n|---|---|---|---|")
    cell = lambda d: " / ".join(f"{d[k]:.1f}" for k in KEYS)  # noqa: E731
    for r in rows:
        d = r["distance_m"]
        print(f"| {r['focal_widths']} | {d[0]:g}-{d[1]:g} | {cell(r['unknown'])} | {cell(r['known'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
