"""Lifting clips filmed at rates the lifter never learnt: as they are vs at a rate it knows (core.inference.rate_plan).

The lifter learnt 25-60 fps. Webcams and old phones film at 5-15 fps, slow motion at 90-240. This lifts the same
validation clips (held-out subjects, shared bodies, synthetic 2D noise, as ``posemoe eval``) at each rate twice:
``as_is`` (the frames as they come) and ``planned`` (what ``posemoe lift`` does: slow clips' 2D interpolated to
a multiple of their rate, fast ones as interleaved streams of 27-40 fps), through
core.inference.lift_many with flip averaging and the shipped stitching. Metrics in mm (accel per frame^2 at
the clip's own rate). Mocap is 24 fps, so the true motion of a fast rate is interpolated: its accel figures
flatter any smoothing.

``--rendered DIR`` also lifts real MediaPipe 2D (core.extract) of rendered clips with their truth
(benchmarks/render_gt_clips.py; faster ones with scripts/make_demo_clip.py --fps 60 or 120): a fast clip at its
own rate, a 30 fps clip also cut to 15, 10 and 5 fps (every 2nd, 3rd, 6th frame, re-encoded), each lifted both
ways; P-MPJPE and H-MPJPE (the clip scaled to the true stature) of the raw lifter over the frames with a person.
JSON in benchmarks/results/frame_rates.json (docs/model.md, "Frame rates").

    python benchmarks/frame_rates.py [--weights W] [--rates 5 8 10 15 20 24 30 50 60 90 120 240] [--clips 150]
                                     [--rendered ~/.cache/posemoe/gt]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEYS = ("mpjpe_mm", "p_mpjpe_mm", "h_mpjpe_mm", "accel_mm")


def seconds_at(fps: float) -> float:
    """Clip length for a rate: at least 81 frames (the lifter's window) and 3 s of motion (1.5 s from 200 fps)."""
    return max(81 / fps, 1.5 if fps >= 200 else 3.0)


def cut_video(video: Path, every: int, out: Path) -> None:
    """Write every ``every``-th frame of ``video`` to ``out`` at 1/every of its rate (a slower camera)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps / every, size)
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            writer.write(frame)
        i += 1
    cap.release()
    writer.release()


def rendered_rows(folder: Path, model: torch.nn.Module, window: int, raise_by: float) -> dict[str, dict]:
    """Return, per rendered clip and rate, the raw lifter's P-MPJPE / H-MPJPE (mm) lifted as is and planned."""
    import tempfile

    import numpy as np

    from core.extract import extract_keypoints
    from core.inference import lift_sequence, rate_plan
    from core.metrics import h_mpjpe, p_mpjpe
    from posemoe_blender.pipeline import lifter_joints

    rows = {}
    for truth_path in sorted(folder.glob("*_truth.npz")):
        truth = np.load(truth_path)
        video = truth_path.with_name(truth_path.name.replace("_truth.npz", ".mp4"))
        fps = float(truth["fps"])
        gt_all = truth["joints_3d"] - truth["joints_3d"][:, :1]
        for every in (1,) if fps > 40 else (1, 2, 3, 6):
            with tempfile.TemporaryDirectory() as tmp:
                clip = video if every == 1 else Path(tmp) / "cut.mp4"
                if every > 1:
                    cut_video(video, every, clip)
                kp = extract_keypoints(clip)
            gt = gt_all[::every][: len(kp.joints_2d)]
            row = {"frames": int(len(gt)), "plan": list(rate_plan(kp.fps, len(gt)))}
            for name, rate in (("as_is", None), ("planned", kp.fps)):
                x = lifter_joints(kp, raise_by)
                y = lift_sequence(x, kp.image_size, model, window, valid=kp.valid, fps=rate)[: len(gt)]
                v = kp.valid[: len(gt)]
                row[name] = {"p_mpjpe_mm": round(1000 * p_mpjpe(y[v], gt[v]), 2),
                             "h_mpjpe_mm": round(1000 * h_mpjpe(y[v], gt[v]), 2)}  # fmt: skip
            key = f"{video.stem}@{fps / every:g}"
            rows[key] = row
            print(f"{key}: {row}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    import core.training as training
    from core.inference import lift_many, rate_plan
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, load_lifter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--rates", type=float, nargs="*", default=[5, 8, 10, 15, 20, 24, 30, 50, 60, 90, 120, 240])
    p.add_argument("--clips", type=int, default=150, help="validation clips per rate (at most)")
    p.add_argument("--rendered", type=Path, help="also real MediaPipe 2D of the rendered clips in this folder")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "frame_rates.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    model, mcfg, meta = load_lifter(a.weights)
    motion, rows = None, {}
    for fps in a.rates:
        frames = int(round(fps * seconds_at(fps)))
        cfg = replace(training.TrainConfig(), model=replace(mcfg, window=frames), sampler="numpy", workers=0)
        motion = motion or training.motion_set(cfg)
        _, val_s = training.samplers(cfg, motion, tuple(meta.get("val_subjects") or ()))
        val = val_s.fixed_windows(a.clips, training.VAL_SEED, fps=fps)
        row = {"clips": int(len(val.x)), "frames": frames, "plan": list(rate_plan(fps, frames))}
        for name, rates in (("as_is", None), ("planned", [fps] * len(val.x))):
            pred = np.stack(lift_many(model, list(val.x), mcfg.window, fps=rates))
            m = training.all_metrics(pred, val.y)
            row[name] = {k: round(m[k], 2) for k in KEYS}
        rows[f"{fps:g}"] = row
        print(f"{fps:g} fps ({row['clips']} clips of {frames} frames, up/streams {row['plan']}): "
              f"as is {row['as_is']}, planned {row['planned']}", flush=True)
    out = {"weights": a.weights.name, "rates": rows}
    if a.rendered:
        out["rendered"] = rendered_rows(a.rendered, model, mcfg.window, ankle_raise(meta))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print("\n| fps | clips | lifted at | as is: MPJPE / P-MPJPE / H-MPJPE / accel | planned |\n|---|---|---|---|---|")
    for fps, r in rows.items():
        up, streams = r["plan"]
        at = float(fps) * up / streams
        cell = lambda d: " / ".join(f"{d[k]:.1f}" for k in KEYS)  # noqa: E731
        print(f"| {fps} | {r['clips']} | {at:g} | {cell(r['as_is'])} | {cell(r['planned'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
