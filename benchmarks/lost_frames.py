"""Frames without a person: what the temporal lifter should be given of them (core.inference.seen_span).

When MediaPipe finds nobody (the person has not walked in yet, has left, or is hidden), the extraction fills those
frames' 2D by holding the nearest detection at a clip's ends and interpolating between detections inside it. Lifted
through, the temporal lifter reads that as a person standing still or gliding, and the frames next to it suffer.
Three ways, flip augmentation on, measured on the frames with a person:

- ``through``: the whole clip as filled (the rule before 2026-11-27);
- ``shipped``: what ``core.inference.lift_sequence`` does: from the first frame with a person to the last, the ends
  holding the first and last lifted pose; gaps inside lifted through;
- ``split`` (gaps inside only, not shipped): each run of frames with a person lifted on its own, the gap between
  interpolated.

On synthetic validation clips (held-out subjects, shared bodies, detector-gap 2D noise) at 30 fps of ``--frames``
frames with frames lost at the start, the end or the middle (``--gaps``: ``start60`` = the first 60 frames, ``end60``,
``mid30`` = 30 frames from ``--mid-start``), filled as the extraction fills them; and on real MediaPipe 2D of the
rendered clips of ``--render-frames`` (90) frames or more in ``--dirs`` (their first 90 frames, raw lifter as
``posemoe capture`` lifts) with ``--render-gaps`` lost (their first 30 frames, or 30 from ``--render-mid-start``).
The 8-second validation renders (``scripts/render_real2d_set.py --validation --seconds 8 --min-seconds 8``) test
gaps with a long side on each. MPJPE and P-MPJPE in mm over every frame with a person, and over those
within 40 frames of a lost one. JSON in benchmarks/results/lost_frames.json (docs/model.md, section 2c).

    python benchmarks/lost_frames.py [--gaps start10 start60 end60 mid30 mid40] [--frames 243] [--mid-start 100]
    python benchmarks/lost_frames.py --gaps --dirs ~/.cache/posemoe/real2d_val_long --render-frames 240 \
        --render-gaps mid15 mid30 mid60 --render-mid-start 90 --json benchmarks/results/lost_frames_long.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from head_points import write_results  # noqa: E402

CACHE = Path.home() / ".cache" / "posemoe"
NEAR = 40


def lost_mask(name: str, frames: int, mid_start: int) -> np.ndarray:
    """Return (frames,) bool, True where a person is found, for a scenario name (``start60``, ``end60``, ``mid30``)."""
    kind = name.rstrip("0123456789")
    n = int(name[len(kind):])
    valid = np.ones(frames, bool)
    lost = {"start": slice(0, n), "end": slice(frames - n, frames), "mid": slice(mid_start, mid_start + n)}
    valid[lost[kind]] = False
    return valid


def figures(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Return MPJPE and P-MPJPE (mm) of (N, T, 17, 3) ``pred`` over the valid frames, and over those near a lost one."""
    from core.metrics import mpjpe, p_mpjpe

    seen, lost = np.flatnonzero(valid), np.flatnonzero(~valid)
    near = seen[np.abs(seen[:, None] - lost[None]).min(axis=1) <= NEAR]
    out = {}
    for key, frames in (("", seen), ("near_", near)):
        p, g = pred[:, frames].reshape(-1, 17, 3), gt[:, frames].reshape(-1, 17, 3)
        out[f"{key}mpjpe_mm"], out[f"{key}p_mpjpe_mm"] = 1000 * mpjpe(p, g), 1000 * p_mpjpe(p, g)
    return out


def variants(model, window: int, clips: list[np.ndarray], valid: np.ndarray, fps: float) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Return {way: (N, T, 17, 3)} lifts of normalised 2D ``clips`` (each (T, 17, 2), already filled) with ``valid``."""
    from core.config import InferenceConfig
    from core.contact import runs
    from core.inference import hold_ends, lift_many, seen_span
    from core.smoothing import fill_gaps

    cfg = InferenceConfig(device="cpu")
    t = len(valid)
    out = {"through": np.stack(lift_many(model, clips, window, cfg, fps=[fps] * len(clips)))}
    a, b = seen_span(valid, t)
    lifted = lift_many(model, [c[a:b] for c in clips], window, cfg, fps=[fps] * len(clips))
    out["shipped"] = np.stack([hold_ends(y, a, t) for y in lifted])
    spans = runs(valid)
    if len(spans) > 1:
        pieces = lift_many(model, [c[s:e + 1] for c in clips for s, e in spans], window, cfg,
                           fps=[fps] * len(clips) * len(spans))
        split = []
        for i in range(len(clips)):
            y = np.zeros((t, 17, 3), np.float32)
            for (s, e), p in zip(spans, pieces[i * len(spans):(i + 1) * len(spans)], strict=True):
                y[s:e + 1] = p
            split.append(fill_gaps(y.reshape(t, -1), valid[:, None].astype(float), 0.5).reshape(t, 17, 3))
        out["split"] = np.stack(split)
    return out


def synthetic(weights: Path, gaps: list[str], windows: int, frames: int, mid_start: int) -> dict:
    """Return {gap: {way: figures}} on synthetic validation clips."""
    import core.training as training
    from core.extract import fill_invalid

    run = training.validation_predictions(weights, max_windows=windows, window=frames)
    x, y = np.asarray(run.windows.x, np.float32), run.windows.y
    out = {}
    for gap in gaps:
        valid = lost_mask(gap, frames, mid_start)
        lifts = variants(run.model, run.model_cfg.window, [fill_invalid(c, valid) for c in x], valid, 30.0)
        out[gap] = {"clips": len(x), "frames": frames, **{k: figures(v, y, valid) for k, v in lifts.items()}}
        _print(f"synthetic {gap} of {frames}", out[gap])
    return out


def rendered(weights: Path, dirs: list[Path], gaps: Sequence[str] = ("start30", "mid30"), frames: int = 90,
             mid_start: int = 30) -> dict:
    """Return {gap: {way: figures, "clips": names}} pooled over the renders of ``frames`` frames or more (their first
    ``frames``; mid gaps from frame ``mid_start``)."""
    from core.extract import fill_invalid
    from core.inference import lift_input
    from core.keypoints import turn_camera_points
    from core.motion_file import read_keypoints
    from core.weights import ankle_raise, load_lifter
    from posemoe_blender.pipeline import lifter_joints, sides_unflipped

    model, cfg, meta = load_lifter(weights)
    out = {}
    for gap in gaps:
        valid = lost_mask(gap, frames, mid_start)
        lifts: dict[str, list] = {}
        gts, names = [], []
        for folder in dirs:
            for kp_file in sorted(folder.glob("*_kp.npz")):
                truth = kp_file.with_name(kp_file.name.replace("_kp.npz", "_truth.npz"))
                kp = sides_unflipped(read_keypoints(kp_file))
                if not truth.exists() or len(kp.joints_2d) < frames or not kp.valid.all():
                    continue
                kp = replace(kp, joints_2d=fill_invalid(kp.joints_2d[:frames], valid),
                             scores=kp.scores[:frames] * valid[:, None], valid=valid)
                x, turns = lift_input(lifter_joints(kp, ankle_raise(meta)), kp.image_size, valid)
                for k, v in variants(model, cfg.window, [x], valid, kp.fps).items():
                    lifts.setdefault(k, []).append(turn_camera_points(v[0], -turns))
                g = np.load(truth)["joints_3d"][:frames].astype(np.float64)
                gts.append(g - g[:, :1])
                names.append(f"{folder.name}/{kp_file.name[:-7]}")
        if gts:
            gt = np.stack(gts)
            out[gap] = {"clips": names, **{k: figures(np.stack(v).astype(np.float64), gt, valid)
                                           for k, v in lifts.items()}}
            _print(f"renders {gap} of {frames} ({len(gts)} clips)", out[gap])
    return out


def _print(label: str, r: dict) -> None:
    ways = [k for k in ("through", "shipped", "split") if k in r]
    print(f"{label}, MPJPE / P-MPJPE (within {NEAR} frames of a lost one): " + "; ".join(
        f"{k} {r[k]['mpjpe_mm']:.2f} / {r[k]['p_mpjpe_mm']:.2f} ({r[k]['near_mpjpe_mm']:.2f} / "
        f"{r[k]['near_p_mpjpe_mm']:.2f})" for k in ways), flush=True)


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.weights import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--gaps", nargs="*", default=["start10", "start60", "end60", "mid30", "mid40"])
    p.add_argument("--frames", type=int, default=243, help="synthetic clip length")
    p.add_argument("--mid-start", type=int, default=100, help="first lost frame of the mid gaps (synthetic)")
    p.add_argument("--windows", type=int, default=400, help="synthetic validation clips (at most)")
    p.add_argument("--dirs", type=Path, nargs="*", default=[CACHE / "real2d_val", CACHE / "gt"])
    p.add_argument("--render-gaps", nargs="*", default=["start30", "mid30"], help="gaps in the renders")
    p.add_argument("--render-frames", type=int, default=90, help="renders' frames measured (shorter ones skipped)")
    p.add_argument("--render-mid-start", type=int, default=30, help="first lost frame of the renders' mid gaps")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "lost_frames.json")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    out = {"weights": a.weights.name,
           "synthetic": synthetic(a.weights, a.gaps, a.windows, a.frames, a.mid_start) if a.gaps else {},
           "rendered": rendered(a.weights, [d for d in a.dirs if d.is_dir()], a.render_gaps, a.render_frames,
                                a.render_mid_start)}
    return write_results(a.json, out)


if __name__ == "__main__":
    raise SystemExit(main())
