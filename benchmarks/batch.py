"""Throughput of ``posemoe batch`` (issue 6) and its behaviour under load (issue 9).

Makes N short clips (default 20 x 3 s) by cutting the demo clip and, when present,
../shared/data/video clips into a temp folder (optionally a fraction of broken files: garbage
bytes or truncated MP4s), then runs ``posemoe batch`` on them as a user would (a subprocess,
each configuration into a fresh output folder) and reports, per configuration, clips/min,
frames/s, per-stage seconds, exit code, whether every good clip finished, and the peak memory
of the whole process tree (batch runner + extraction/lifter/bake subprocesses + Ray processes),
sampled from /proc every 0.25 s (RSS summed, and PSS, which counts shared libraries once).

    python benchmarks/batch.py                       # 20 clips, --jobs 1 / --jobs 2 / Ray local
    python benchmarks/batch.py --quick               # 3 x 1 s clips: checks the script works
    python benchmarks/batch.py --clips 100 --seconds 1 --broken-fraction 0.1 --configs jobs2
    python benchmarks/batch.py --format npz bvh

Writes benchmarks/results/batch.json (batch_quick.json with --quick, batch_load.json with broken
files) unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEO = REPO.parent / "shared" / "data" / "video"
SOURCES = ["demo", SHARED_VIDEO / "pose_1.mp4", SHARED_VIDEO / "sports2d_demo.mp4"]  # 30 fps, one person throughout
CONFIGS = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray": ["--backend", "ray", "--jobs", "2"]}


def make_clips(folder: Path, count: int, seconds: float, broken_fraction: float) -> list[dict]:
    """Write ``count`` clips into ``folder`` (sub-folders take0..take3); return one record per clip."""
    import cv2

    sources = []
    from posemoe_blender.demo import ensure_demo_clip

    sources = [ensure_demo_clip()[0] if s == "demo" else s for s in SOURCES]
    for src in (s for s in sources if s.exists()):
        cap = cv2.VideoCapture(str(src))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        cap.release()
        sources.append((src, cap.get(cv2.CAP_PROP_FPS) or 30.0, frames))
    n_broken = round(count * broken_fraction)
    broken_at = {round(i * count / n_broken) for i in range(n_broken)} if n_broken else set()
    records = []
    for i in range(count):
        src, fps, frames = sources[i % len(sources)]
        n = min(len(frames), max(1, round(seconds * fps)))
        start = (i // len(sources)) * 7 % max(1, len(frames) - n + 1)  # different cuts of the same source
        name = f"take{i % 4}/{'broken' if i in broken_at else 'clip'}_{i:03d}.mp4"
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = frames[0].shape[:2]
        out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for f in frames[start:start + n]:
            out.write(f)
        out.release()
        if i in broken_at:  # alternately garbage with an MP4 header, and a truncated MP4 (no index)
            data = path.read_bytes()
            garbage = sum(r["broken"] for r in records) % 2
            path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096) if garbage else data[: len(data) * 2 // 5])
        records.append({"rel": str(Path(name).with_suffix("")), "source": src.name, "frames": n,
                        "size": [w, h], "broken": i in broken_at})
    return records


def _tree(root: int) -> list[int]:
    """Return ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _memory_kib(pid: int) -> tuple[int, int]:
    """Return (RSS, PSS) of ``pid`` in KiB (0, 0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines()[1:] if ln.endswith("kB")}
    return fields.get("Rss", 0), fields.get("Pss", 0)


class TreeMemory:
    """Samples the process tree under a pid; ``peak_rss``/``peak_pss`` in MiB, ``peak_procs``."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_pss = 0.0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            mem = [_memory_kib(p) for p in pids]
            self.peak_rss = max(self.peak_rss, sum(m[0] for m in mem) / 1024)
            self.peak_pss = max(self.peak_pss, sum(m[1] for m in mem) / 1024)
            self.peak_procs = max(self.peak_procs, sum(1 for m in mem if m[0]))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_batch(clips: Path, out: Path, fmt: str, config: str, device: str) -> dict:
    """Run one ``posemoe batch`` and return its figures (from the wall clock and summary.json)."""
    argv = [sys.executable, "-m", "posemoe_blender.cli", "batch", str(clips), "--out", str(out), "--format", fmt,
            "--device", device, "--progress", "none", *CONFIGS[config]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mem = TreeMemory(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    mem.stop()
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {"clips": []}
    done = [c for c in summary["clips"] if c["status"] in ("done", "skipped")]
    stages: dict[str, float] = {}
    for c in summary["clips"]:
        for k, v in c["seconds"].items():
            stages[k] = round(stages.get(k, 0.0) + v, 2)
    frames = sum(c["frames"] for c in done)
    return {
        "config": config, "format": fmt, "argv": " ".join(argv[2:]), "exit_code": proc.returncode,
        "wall_s": round(wall, 2), "clips_done": len(done),
        "clips_failed": sum(c["status"] == "failed" for c in summary["clips"]), "frames": frames,
        "clips_per_min": round(60 * len(done) / wall, 2), "frames_per_s": round(frames / wall, 1),
        "stage_seconds_summed": stages, "peak_rss_mib": round(mem.peak_rss), "peak_pss_mib": round(mem.peak_pss),
        "peak_processes": mem.peak_procs, "lift_groups": summary.get("settings", {}).get("lift_groups"),
        "status": {c["rel"]: c["status"] for c in summary["clips"]},
        "stderr_tail": err.strip().splitlines()[-3:] if proc.returncode not in (0, 7) else [],
    }


def machine() -> dict:
    """Return what the figures were measured on."""
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor() or platform.machine())
    mem_kib = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal"))
    gpu = shutil.which("nvidia-smi") and subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1), "gpu": gpu or None,
            "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20, help="number of clips")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each clip")
    ap.add_argument("--broken-fraction", type=float, default=0.0, help="share of clips that are broken files")
    ap.add_argument("--format", nargs="+", default=["npz"], choices=("npz", "bvh", "fbx", "glb", "blend"))
    ap.add_argument("--configs", default="jobs1,jobs2,ray", help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--quick", action="store_true", help="3 clips of 1 s, no warm-up: check that the script works")
    ap.add_argument("--out", type=Path, default=None, help="JSON to write (default under benchmarks/results)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder of clips and outputs")
    args = ap.parse_args()
    if args.quick:
        args.clips, args.seconds = 3, 1.0
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if unknown := [c for c in configs if c not in CONFIGS]:
        ap.error(f"unknown --configs {unknown}; use {', '.join(CONFIGS)}")
    name = "batch_quick" if args.quick else "batch_load" if args.broken_fraction > 0 else "batch"
    out_json = args.out or REPO / "benchmarks" / "results" / f"{name}.json"

    work = Path(tempfile.mkdtemp(prefix="posemoe_batch_bench_"))
    try:
        clips = make_clips(work / "clips", args.clips, args.seconds, args.broken_fraction)
        report = {"date": date.today().isoformat(), "machine": machine(),
                  "clips": {"count": len(clips), "broken": sum(c["broken"] for c in clips),
                            "seconds_each": args.seconds, "frames_good": sum(c["frames"] for c in clips
                                                                             if not c["broken"]),
                            "sources": sorted({c["source"] for c in clips})},
                  "runs": []}
        if not args.quick:  # first-run costs (page cache for torch/MediaPipe/bpy) out of the figures
            warm = work / "warm"
            warm.mkdir()
            shutil.copy(work / "clips" / f"{clips[0]['rel']}.mp4", warm / "w.mp4")
            run_batch(warm, work / "warm_out", args.format[-1], "jobs1", args.device)
        for fmt in args.format:
            for config in configs:
                r = run_batch(work / "clips", work / f"out_{fmt}_{config}", fmt, config, args.device)
                r["good_all_done"] = all(r["status"].get(c["rel"]) == "done" for c in clips if not c["broken"])
                r["broken_all_failed"] = all(r["status"].get(c["rel"]) == "failed" for c in clips if c["broken"])
                report["runs"].append(r)
                print(f"{fmt:5s} {config:6s} exit {r['exit_code']:3d}  {r['wall_s']:7.1f} s  "
                      f"{r['clips_done']:3d} done {r['clips_failed']:3d} failed  {r['clips_per_min']:6.1f} clips/min  "
                      f"{r['frames_per_s']:6.1f} frames/s  peak RSS {r['peak_rss_mib']} MiB (PSS {r['peak_pss_mib']}) "
                      f"good all done: {r['good_all_done']}", flush=True)
                for line in r["stderr_tail"]:
                    print("   ", line)
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"machine: {report['machine']}\nwrote {out_json}")
        ok = all(r["good_all_done"] and r["broken_all_failed"] for r in report["runs"])
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
