"""Lifter speed (issue 4): frames/s of core.inference.lift_sequence, flip TTA on, on the CPU and on CUDA.

What ``posemoe lift`` does after the 2D pass: normalised 2D windows (stride window // 2) through the network
twice (plain and mirrored), overlap-averaged back to frames, copies to and from the device included. CPU with
``--threads`` (target: >= 1,000 frames/s on 2 cores); CUDA, when torch sees a GPU, at several inference
batch sizes (target: >= 50,000 frames/s on one H100), on a ``--frames``-long clip. Prints a table and saves
JSON (default benchmarks/results/lifter_speed.json, or --json).

    python benchmarks/lifter_speed.py [--weights W ...] [--threads 2] [--frames 30000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _median_speed(model, window: int, frames: int, threads: int, device: str, batch: int | None,  # noqa: ANN001
                  repeats: int) -> float:  # fmt: skip
    from core.training import lift_speed

    return statistics.median(lift_speed(model, window, frames, threads, device, batch) for _ in range(repeats))


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.inference import AUTO_BATCH
    from core.weights import DEFAULT_WEIGHTS, load_lifter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--frames", type=int, default=30000, help="clip length for the CUDA runs")
    p.add_argument("--cpu-frames", type=int, default=3000, help="clip length for the CPU run")
    p.add_argument("--batches", default="64,256,1024", help="CUDA inference batch sizes (windows)")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "lifter_speed.json")
    a = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    out = {"cpu": platform.processor() or platform.machine(), "threads": a.threads, "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0) if cuda else None, "results": []}  # fmt: skip
    for w in a.weights:
        model, mcfg, _ = load_lifter(w)
        n_params = sum(t.numel() for t in model.parameters())
        rows = [("cpu", None, a.cpu_frames)] + [("cuda", int(b), a.frames) for b in a.batches.split(",") if cuda]
        for device, batch, frames in rows:
            fps = _median_speed(model, mcfg.window, frames, a.threads, device, batch, a.repeats)
            row = {"weights": str(w), "parameters": n_params, "window": mcfg.window, "device": device,
                   "batch_windows": batch or AUTO_BATCH[device], "frames": frames,
                   "frames_per_s": round(fps, 1)}  # fmt: skip
            out["results"].append(row)
            print(f"{str(w)[-44:]:44s} {device:4s} batch {row['batch_windows']:5d}  {fps:12,.0f} frames/s", flush=True)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
