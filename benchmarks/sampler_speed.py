"""Training-batch speed (issue 4): frames/s of the numpy sampler (one process) and of the device sampler.

On a GPU, training was limited by how fast batches were made (docs/model.md section 2d), so this measures the
two ways of making them on the same training data: ``core.synthetic.WindowSampler`` in this process (a
``--workers`` process makes batches at this rate each) and ``core.synthetic_device.DeviceWindowSampler`` on the
CPU and, where torch sees one, on CUDA (timed to the device's end of work). Batches of ``--batch`` windows of
``--window`` frames from the training subjects. Prints a table and saves JSON (default
benchmarks/results/sampler_speed.json, or --json).

    python benchmarks/sampler_speed.py [--batch 512] [--window 81] [--threads 1] [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.config import TrainConfig
    from core.datasets import VALIDATION_SUBJECTS
    from core.training import motion_set, samplers

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512, help="windows per batch")
    p.add_argument("--window", type=int, default=81, help="frames per window")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the numpy sampler uses one)")
    p.add_argument("--repeats", type=int, default=5, help="timed batches per figure (median)")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "sampler_speed.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = True  # as training sets it (the device sampler turns it off inside)
    cfg = TrainConfig()
    cfg = replace(cfg, model=replace(cfg.model, window=a.window))
    motion = motion_set(cfg)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = {"cpu": platform.processor() or platform.machine(), "threads": a.threads, "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None, "batch": a.batch,
           "window": a.window, "results": []}  # fmt: skip
    rows = [("numpy", "cpu")] + [("device", d) for d in devices]
    for kind, device in rows:
        sampler, _ = samplers(replace(cfg, sampler=kind), motion, VALIDATION_SUBJECTS,
                               device=torch.device(device))  # fmt: skip
        times = []
        for i in range(a.repeats + 1):  # the first is a warm-up
            t0 = time.perf_counter()
            sampler.sample(a.batch)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        fps = a.batch * a.window / statistics.median(times)
        out["results"].append({"sampler": kind, "device": device, "frames_per_s": round(fps, 1)})
        print(f"{kind:6s} sampler on {device:4s}  {fps:12,.0f} frames/s", flush=True)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
