"""``posemoe batch``: convert many clips, isolated per clip, resumable, with a summary.

Each clip runs as its own ``posemoe capture`` then ``posemoe bake`` subprocess, so a crash,
an out-of-memory or a bad file in one clip never stops the others and memory stays bounded
whatever the clip count. ``--jobs`` clips run at once (a thread per slot only waits on its
subprocess). Outputs are written atomically by the subcommands, so an interrupted batch
leaves no partial files and the next run skips what is complete and newer than its input.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import ExitCode, InputNotFoundError, OutputError
from core.protocol import Failure, Progress, parse_line

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")
FORMATS = ("fbx", "blend", "bvh", "glb", "npz")


@dataclass
class ClipJob:
    """One input clip and where its outputs go."""

    video: Path
    rel: Path  # output path relative to --out, without suffix
    status: str = "pending"  # pending | done | skipped | failed | cancelled
    frames: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    output: str = ""
    error: str = ""
    exit_code: int = 0


def find_videos(inputs: list[str]) -> list[tuple[Path, Path]]:
    """Return (video, base folder) pairs for files, folders (recursive) and globs, in a stable order."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += [(v, p) for v in sorted(p.rglob("*")) if v.is_file() and v.suffix.lower() in VIDEO_SUFFIXES]
        elif p.is_file():
            found.append((p, p.parent))
        elif any(ch in item for ch in "*?["):
            found += [(Path(v), Path(v).parent) for v in sorted(glob.glob(item, recursive=True)) if Path(v).is_file()]
        else:
            raise InputNotFoundError(f"{item}: no such file, folder or matching glob")
    seen, unique = set(), []
    for v, base in found:
        key = v.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((v, base))
    return unique


def plan_jobs(videos: list[tuple[Path, Path]]) -> list[ClipJob]:
    """Return one job per video; output names mirror the input folders, collisions get a suffix."""
    jobs, used = [], set()
    for video, base in videos:
        try:
            rel = video.resolve().relative_to(base.resolve()).with_suffix("")
        except ValueError:
            rel = Path(video.stem)
        candidate, n = rel, 1
        while str(candidate).lower() in used:  # e.g. a.mp4 and a.mov, or case-only differences
            n += 1
            candidate = rel.with_name(f"{rel.name}_{n}")
        used.add(str(candidate).lower())
        jobs.append(ClipJob(video=video, rel=candidate))
    return jobs


def _is_fresh(out: Path, video: Path) -> bool:
    return out.exists() and out.stat().st_mtime >= video.stat().st_mtime


def _run_step(argv: list[str], on_event, cancel: threading.Event) -> tuple[int, str, int]:
    """Run a posemoe subcommand; return (exit code, error line, frames seen)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()
    frames, error = 0, ""
    for line in proc.stdout:
        ev = parse_line(line)
        if isinstance(ev, Progress):
            if ev.stage == "extract":
                frames = ev.total
            on_event(ev)
        elif isinstance(ev, Failure):
            error = ev.message
        if cancel.is_set():
            proc.terminate()
            break
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    reader.join(timeout=5)
    if code != 0 and not error:
        tail = [ln.strip() for ln in err_lines if ln.strip()]
        error = tail[-1] if tail else f"exited with code {code}"
    return code, error, frames


class BatchRunner:
    """Runs the jobs with ``jobs`` parallel slots and records results."""

    def __init__(self, out_dir: Path, fmt: str, character: Path | None = None, rig: str = "auto",
                 device: str = "auto", jobs: int = 1, force: bool = False, on_update=None) -> None:
        if fmt not in FORMATS:
            raise OutputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.out_dir, self.fmt, self.character, self.rig = Path(out_dir), fmt, character, rig
        self.device, self.jobs, self.force = device, max(1, jobs), force
        self.on_update = on_update or (lambda job, event: None)
        self.cancel = threading.Event()

    def _paths(self, job: ClipJob) -> tuple[Path, Path]:
        motion = self.out_dir / job.rel.parent / f"{job.rel.name}.motion.npz"
        final = motion if self.fmt == "npz" else self.out_dir / job.rel.parent / f"{job.rel.name}.{self.fmt}"
        return motion, final

    def run_one(self, job: ClipJob) -> ClipJob:
        """Capture (and bake) one clip; never raises."""
        motion, final = self._paths(job)
        if not self.force and _is_fresh(final, job.video) and (self.fmt == "npz" or _is_fresh(motion, job.video)):
            job.status, job.output = "skipped", str(final)
            self.on_update(job, None)
            return job
        final.parent.mkdir(parents=True, exist_ok=True)
        cli = [sys.executable, "-m", "posemoe_blender.cli"]
        common = ["--progress", "json", "--device", self.device]
        steps = [("capture", cli + ["capture", str(job.video), "-o", str(motion)] + common)]
        if self.fmt != "npz":
            bake = cli + ["bake", str(motion), "-o", str(final), "--rig", self.rig] + common
            if self.character:
                bake += ["--character", str(self.character)]
            steps.append(("bake", bake))
        for name, argv in steps:
            if self.cancel.is_set():
                job.status = "cancelled"
                return job
            t0 = time.perf_counter()
            code, error, frames = _run_step(argv, lambda ev: self.on_update(job, ev), self.cancel)
            job.seconds[name] = round(time.perf_counter() - t0, 3)
            job.frames = frames or job.frames
            if code != 0:
                job.status, job.error, job.exit_code = "failed", error, code
                self.on_update(job, None)
                return job
        job.status, job.output = "done", str(final)
        self.on_update(job, None)
        return job

    def run(self, jobs: list[ClipJob]) -> list[ClipJob]:
        """Run every job; Ctrl-C stops the running subprocesses and marks the rest cancelled."""
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = [pool.submit(self.run_one, j) for j in jobs]
            try:
                for _ in as_completed(futures):
                    pass
            except KeyboardInterrupt:
                self.cancel.set()
                for f in futures:
                    f.cancel()
                raise
        return jobs


def write_summary(out_dir: Path, jobs: list[ClipJob], settings: dict) -> Path:
    """Atomically write ``summary.json`` in ``out_dir``; return its path."""
    path = Path(out_dir) / "summary.json"
    data = {"settings": settings, "counts": {s: sum(j.status == s for j in jobs)
                                             for s in ("done", "skipped", "failed", "cancelled", "pending")},
            "clips": [{**asdict(j), "video": str(j.video), "rel": str(j.rel)} for j in jobs]}
    tmp = path.with_name(".summary.json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def summary_table(jobs: list[ClipJob]) -> str:
    """Return a plain-text table of the batch results."""
    rows = [("clip", "status", "frames", "seconds", "output / error")]
    for j in jobs:
        rows.append((str(j.rel), j.status, str(j.frames), f"{sum(j.seconds.values()):.1f}",
                     j.output if j.status in ("done", "skipped") else j.error))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=False)) + "  " + r[4] for r in rows)


def exit_code(jobs: list[ClipJob]) -> int:
    """Return OK when every clip is done or skipped, PARTIAL when some failed, CANCELLED when interrupted."""
    if any(j.status in ("cancelled", "pending") for j in jobs):
        return int(ExitCode.CANCELLED)
    return int(ExitCode.PARTIAL) if any(j.status == "failed" for j in jobs) else int(ExitCode.OK)


def _ray_run_one(job: ClipJob, settings: dict) -> ClipJob:
    """Ray task body: the same per-clip work as the local runner, on whichever node Ray picks."""
    return BatchRunner(**settings).run_one(job)


def run_on_ray(jobs: list[ClipJob], settings: dict, address: str | None = None, on_done=None) -> list[ClipJob]:
    """Run the jobs as Ray tasks (local instance, or the cluster at ``address``); return them updated.

    Each clip asks for a quarter GPU when the cluster has GPUs, so lifting is scheduled on GPU
    nodes there (the worker then picks CUDA); otherwise one CPU. Outputs must be on storage
    every node sees (the same ``--out`` path).
    """
    try:
        import ray
    except ImportError:
        from core.errors import WorkerEnvError

        raise WorkerEnvError("--backend ray needs the ray package; run `make setup` (ray is pinned)") from None
    started = not ray.is_initialized()
    if started:
        local = address is None
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 num_cpus=settings.get("jobs") if local else None,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}} if local else None)
    try:
        gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_run_one)
        refs = {task.remote(j, settings): i for i, j in enumerate(jobs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = refs[done[0]]
                jobs[i] = ray.get(done[0])
                if on_done is not None:
                    on_done(jobs[i], None)
        except KeyboardInterrupt:
            for r in pending:
                ray.cancel(r, force=True)
            raise
    finally:
        if started:
            ray.shutdown()
    return jobs
