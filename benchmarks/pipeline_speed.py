"""Per-stage speed of the capture pipeline on one clip: decode, 2D extraction, lifting, filtering.

Prints a table and writes benchmarks/results/pipeline_speed.json. Whole-process comparisons
(capture vs the bare MediaPipe loop) are measured separately with an external timer; see
docs/benchmarks.md.
    python benchmarks/pipeline_speed.py [VIDEO] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    import torch

    from core.config import InferenceConfig
    from core.extract import extract_keypoints
    from core.inference import lift_sequence
    from core.motion_cleanup import clean_motion
    from core.video import iter_frames, probe
    from core.weights import DEFAULT_WEIGHTS, load_lifter
    from posemoe_blender.demo import ensure_demo_clip

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=None, help="clip to time (default: the demo clip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lift-frames", type=int, default=20_000, help="synthetic frames for the lifter figure")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline_speed.json")
    args = ap.parse_args()
    args.video = args.video or ensure_demo_clip()[0]

    info = probe(args.video)
    n = sum(1 for _ in iter_frames(args.video))
    decode_s = _best(lambda: sum(1 for _ in iter_frames(args.video)), args.repeat)
    kp = None

    def run_extract():
        nonlocal kp
        kp = extract_keypoints(args.video)

    extract_s = _best(run_extract, max(1, args.repeat - 1))
    model, mcfg, _ = load_lifter(DEFAULT_WEIGHTS, device="cpu")
    rng = np.random.default_rng(0)
    long_2d = (kp.joints_2d[rng.integers(0, n, args.lift_frames)] + rng.normal(0, 2, (args.lift_frames, 17, 2)))
    res = {}
    for flip in (True, False):
        cfg = InferenceConfig(device="cpu", flip_tta=flip)
        res[flip] = _best(lambda c=cfg: lift_sequence(long_2d, kp.image_size, model, mcfg.window, c), args.repeat)
    lifted = lift_sequence(kp.joints_2d, kp.image_size, model, mcfg.window, InferenceConfig(device="cpu"))
    filter_s = _best(lambda: clean_motion(lifted, kp.joints_2d, kp.scores, kp.valid, kp.fps, kp.image_size),
                     args.repeat)
    clip_s = n / info.fps
    lift_clip_s = n / (args.lift_frames / res[True])
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "video": args.video.name, "frames": n, "size": [info.width, info.height], "fps": info.fps,
        "decode_fps": n / decode_s, "extract_fps": n / extract_s,
        "lift_fps_flip": args.lift_frames / res[True], "lift_fps_noflip": args.lift_frames / res[False],
        "cleanup_fps": n / filter_s,
        "capture_realtime_factor": clip_s / (extract_s + lift_clip_s + filter_s),
        "lift_share_of_capture": lift_clip_s / (extract_s + lift_clip_s + filter_s),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for k, v in report.items():
        print(f"{k:28s} {v:.3g}" if isinstance(v, float) else f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
