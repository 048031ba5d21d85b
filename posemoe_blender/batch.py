"""``posemoe batch``: convert many clips, isolated per clip, resumable, with a summary.

Local backend: per clip, 2D extraction runs as its own ``posemoe extract`` subprocess (``--jobs``
at once); ONE long-lived lifter process (posemoe_blender/batch_lifter.py) loads the model once
and lifts the clips whose 2D is ready together, their windows sharing forward batches, with
capture's clean-up; then ``posemoe bake`` runs per clip in its own subprocess (same slots, ahead
of further extractions so that clips finish early).

One bad clip never stops the others: a failing subprocess fails its clip only, and a lifter
crash fails only the clips it had in flight (a group that crashes it is retried one clip at a
time in a fresh lifter, so only the culprit fails). Memory is bounded whatever the clip count:
subprocesses are per clip, the lifter takes bounded groups as they come (MAX_GROUP_CLIPS,
MAX_GROUP_FRAMES), and the 2D keypoints wait on disk in ``OUT/.posemoe-batch.tmp``, removed at
the end. Outputs are written atomically and a killed run's temp files are swept by the next
run, which skips clips whose outputs are complete and newer than the input (and only bakes a
clip that has its motion file but not its baked output).

Ray backend (posemoe_blender/batch_ray.py): each clip is one task running ``posemoe capture``
+ ``bake`` on its node (:meth:`BatchRunner.run_one`); there the lifter is per clip.

What a clip's steps warn of (the lifter's clean-up, a subprocess's warning messages) is logged with the clip's name
and kept in its summary record (``ClipJob.warnings``).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ExitCode, InputNotFoundError, OutputError
from core.file_checks import utf8_name
from core.motion_file import VIDEO_SUFFIXES, temp_stem
from core.protocol import Failure, Message, Progress, parse_line
from posemoe_blender.batch_lifter import LifterClient, stderr_tail
from posemoe_blender.parent_watch import PARENT_ENV

log = logging.getLogger(__name__)

FORMATS = ("fbx", "blend", "bvh", "glb", "npz")
WORK_DIR = ".posemoe-batch.tmp"  # under --out: same file system as the outputs
MAX_GROUP_CLIPS = 32  # clips lifted together at most (bounds the lifter's memory)
MAX_GROUP_FRAMES = 100_000  # frames lifted together at most (a longer clip goes alone)
LOCK_FILE = ".posemoe-batch.lock"  # under --out: one batch run at a time writes there
MANIFEST = ".posemoe-batch.jsonl"  # under --out: what each clip's outputs were made from and with (Manifest)


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
    lift_args: list[str] | None = None  # the options its motion file was made with (None: not known)
    bake_args: list[str] | None = None  # the options its baked output was made with (None: not known)
    source: dict | None = None  # the input its motion file was made from (video_identity; None: not known)
    warnings: list[str] = field(default_factory=list)  # what capture said of this clip's result (this run)


def video_identity(video: Path) -> dict | None:
    """Return what tells an input apart from another one given the same output name: its size and modification
    time, and (for the record, not compared: a moved input folder is the same clips) its resolved path; None when it
    cannot be read."""
    try:
        st = Path(video).stat()
        return {"path": str(Path(video).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        return None


def lock_output(out_dir: Path):
    """Return the held lock of ``out_dir`` for this batch run, or raise OutputError when another run holds it: two
    runs writing into one folder would take each other's work files and outputs (release it, or exit, when done)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(out_dir) / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(f"{out_dir}: another posemoe batch is writing into this folder; wait for it to finish "
                          "or choose another --out") from None
    return lock


class Manifest:
    """What each clip's outputs in a batch folder were made from (:func:`video_identity`) and with (options), kept
    across runs: a run on some of the clips, or one killed part-way, keeps the others' records (summary.json is
    each run's report). Lines of JSON appended as outputs are made (a kill loses at most the line being written),
    read with later lines winning, compacted at the end of a run."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST
        self._lock = threading.Lock()
        self._warned = False

    def read(self) -> dict[str, dict]:
        """Return ``{rel: record}``; unreadable lines (a cut last line, a hand edit) are skipped."""
        records: dict[str, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return records
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("rel"), str):
                records[rec["rel"]] = {**records.get(rec["rel"], {}), **rec}
        return records

    def record(self, job: ClipJob) -> None:
        """Append ``job``'s source and options (those known) as its latest record."""
        rec = {"rel": str(job.rel), **{k: v for k in ("source", "lift_args", "bake_args")
                                        if (v := getattr(job, k)) is not None}}
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
            except OSError as e:  # a record lost is a clip made again next run; the clip itself is fine
                if not self._warned:
                    log.warning("%s: cannot record what the clips were made from (%s); a rerun may make some "
                                "again", self.path, e.strerror)
                    self._warned = True

    def compact(self) -> None:
        """Rewrite the file with one line per clip (atomically; left as it is when that fails)."""
        records = self.read()
        tmp = self.path.with_name(f".{MANIFEST}.tmp")
        try:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in records.values()), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("%s: not compacted (%s)", self.path, e.strerror)
            tmp.unlink(missing_ok=True)


def find_videos(inputs: list[str]) -> list[tuple[Path, Path]]:
    """Return (video, base folder) pairs for files, folders (recursive) and globs, in a stable order.

    From folders and globs only names ending in :data:`VIDEO_SUFFIXES`, and no hidden ones (a name starting with a
    dot, or in a dot folder: macOS's ``._IMG_0001.MOV`` resource forks beside each clip copied from a Mac failed the
    batch as videos OpenCV cannot open); a file named on its own is taken whatever its name."""
    found: list[tuple[Path, Path]] = []
    hidden = 0
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths = [(v, v.relative_to(p).parts) for v in sorted(p.rglob("*"))]
        elif p.is_file():
            found.append((p, p.parent))
            continue
        elif any(ch in item for ch in "*?["):
            paths = [(Path(v), (Path(v).name,)) for v in sorted(glob.glob(item, recursive=True))]
        else:
            raise InputNotFoundError(f"{item}: no such file, folder or matching glob")
        videos = [(v, parts) for v, parts in paths if v.suffix.lower() in VIDEO_SUFFIXES]
        shown = [v for v, parts in videos if not any(part.startswith(".") for part in parts)]
        hidden += len(videos) - len(shown)
        for v in shown:
            if v.is_symlink() and not v.exists():
                log.warning("%s: a link to a file that is gone (%s); skipped", v, os.readlink(v))
        found += [(v, p if p.is_dir() else v.parent) for v in shown if v.is_file()]
    if hidden:
        log.info("skipped %d hidden file(s) with a video's name (names starting with a dot, or in a dot folder)",
                 hidden)
    seen, unique = set(), []
    for v, base in found:
        key = v.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((v, base))
    return unique


NAME_BYTES = 255 - len(".motion.npz") - len("_999")
"""Longest output name stem, in bytes: its motion file and a collision suffix still fit the file system's 255."""


def output_name(name: str) -> str:
    """Return ``name`` as an output name Blender's exporters can write: bytes that are not UTF-8 text (a Latin-1
    name from an old zip) as ``_``, and cut to NAME_BYTES (a 250-byte CJK name plus ``.motion.npz`` would not
    fit)."""
    name = utf8_name(name)
    while len(name.encode("utf-8")) > NAME_BYTES:
        name = name[:-1]
    return name


def plan_jobs(videos: list[tuple[Path, Path]]) -> list[ClipJob]:
    """Return one job per video; output names mirror the input folders (:func:`output_name`), collisions get a
    suffix."""
    jobs, used = [], set()
    for video, base in videos:
        try:
            rel = video.resolve().relative_to(base.resolve()).with_suffix("")
        except ValueError:
            rel = Path(video.stem)
        rel = Path(*(output_name(part) for part in rel.parts))
        candidate, n = rel, 1
        while str(candidate).lower() in used:  # e.g. a.mp4 and a.mov, or case-only differences
            n += 1
            candidate = rel.with_name(f"{rel.name}_{n}")
        used.add(str(candidate).lower())
        jobs.append(ClipJob(video=video, rel=candidate))
    return jobs


def _same_input(made_from: dict, now: dict | None) -> bool:
    return now is not None and all(made_from.get(k) == now[k] for k in ("size", "mtime_ns"))


def _readable_motion(path: Path) -> bool:
    """True when ``path`` reads as a motion file (a damaged one, say copied half, is made again, not kept)."""
    from core.errors import PosemoeError
    from core.motion_file import read_motion

    try:
        read_motion(path)
        return True
    except PosemoeError:
        return False


def _is_fresh(out: Path, video: Path) -> bool:
    return out.exists() and out.stat().st_mtime >= video.stat().st_mtime


def _changed(made_with: list[str] | None, now: list[str]) -> bool:
    return made_with is not None and made_with != now  # outputs of unknown options are kept, as before


def baked_with(fmt: str, bake_args: list[str]) -> list[str]:
    """Return what a clip's baked output is recorded as made with: the format and the bake's options. One record per
    clip, so a run in another format must not leave an older export of the first format counted as made with these
    options (baked --in-place as .fbx, again as .bvh without it: the .fbx is baked again on the next .fbx run)."""
    return [f"--format={fmt}", *bake_args]


def changed_options(jobs: list[ClipJob], lift_args: list[str], bake_args: list[str] | None) -> list[ClipJob]:
    """The jobs whose existing outputs were made with other options than these (``bake_args`` None: not baked)."""
    return [j for j in jobs if _changed(j.lift_args, lift_args) or (bake_args is not None
                                                                    and _changed(j.bake_args, bake_args))]


def recall_options(out_dir: Path, jobs: list[ClipJob]) -> None:
    """Give each job the input and options its existing outputs were made from and with: from the folder's
    :class:`Manifest`, else from the last run's summary.json (outputs of older runs); a missing or unreadable record
    leaves them unknown, and outputs then count as they are."""
    try:
        clips = json.loads((Path(out_dir) / "summary.json").read_text())["clips"]
        made = {str(c["rel"]): c for c in clips if isinstance(c, dict) and "rel" in c}
    except (OSError, ValueError, KeyError, TypeError):
        made = {}
    made.update(Manifest(out_dir).read())
    for job in jobs:
        record = made.get(str(job.rel), {})
        for key in ("lift_args", "bake_args"):
            value = record.get(key)
            if isinstance(value, list) and all(isinstance(a, str) for a in value):
                setattr(job, key, value)
        source = record.get("source")
        if isinstance(source, dict) and {"path", "size", "mtime_ns"} <= set(source):
            job.source = source


def keep_other_clips(out_dir: Path, jobs: list[ClipJob]) -> list[tuple[ClipJob, Path]]:
    """Give a new output name to each job whose name's outputs in ``out_dir`` were made from another clip: a
    recorded input at another path and of another size or time (two folders of ``take1.mp4`` batched one after the
    other into one --out, or an input deleted and a namesake taking its name). A file replaced at the same path, or a
    moved folder of the same clips, keeps its name. The new name is the first free ``NAME_2``, ``NAME_3``, ... or the
    one an earlier run gave this clip. Call after :func:`recall_options`; return (job, old name) of those renamed."""
    records = Manifest(out_dir).read()
    used = {k.lower() for k in records} | {str(j.rel).lower() for j in jobs}
    renamed = []
    for job in jobs:
        made_from, now = job.source, video_identity(job.video)
        if made_from is None or now is None or made_from.get("path") == now["path"] or _same_input(made_from, now):
            continue
        old, n = job.rel, 2
        while True:
            name = old.with_name(f"{old.name}_{n}")
            theirs = (records.get(str(name)) or {}).get("source")
            if isinstance(theirs, dict) and (theirs.get("path") == now["path"] or _same_input(theirs, now)):
                break  # this clip's own outputs, renamed so by an earlier run
            if str(name).lower() not in used:
                break
            n += 1
        job.rel = name
        used.add(str(name).lower())
        job.lift_args = job.bake_args = job.source = None
        recall_options(out_dir, [job])  # what its own outputs, if it has some, were made with
        renamed.append((job, old))
    return renamed


def sweep_temps(out_dir: Path, jobs: list[ClipJob]) -> None:
    """Remove the temp files a killed run left beside the jobs' outputs (atomic writers' ``.NAME.*.tmp*``, the
    name cut at 100 characters as they cut it), and the folders left empty for clips that were not finished."""
    out_dir = Path(out_dir)
    stale = [out_dir / ".summary.json.tmp"]
    for job in jobs:
        folder = out_dir / job.rel.parent
        if folder.is_dir():
            stale += folder.glob(f".{glob.escape(temp_stem(job.rel.name))}.*tmp*")
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    for job in jobs:
        if job.status in ("done", "skipped"):
            continue
        folder = out_dir / job.rel.parent
        while folder != out_dir and out_dir in folder.parents:
            try:
                folder.rmdir()  # only an empty one
            except OSError:
                break
            folder = folder.parent


class _Children:
    """The subprocesses running now, so that a cancel reaches every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[subprocess.Popen, int] = {}
        self.cancelled = False

    def start(self, argv: list[str], stop_signal: int = signal.SIGINT, **kwargs) -> subprocess.Popen | None:
        """Start ``argv`` (stdout/stderr piped); None once cancelled. ``stop_signal`` asks it to stop cleanly."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        with self._lock:
            if self.cancelled:
                return None
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())},
                                    **kwargs)
            self._procs[proc] = stop_signal
            return proc

    def finish(self, proc: subprocess.Popen, timeout: float = 30.0) -> int:
        """Return ``proc``'s exit code (killed if it does not exit within ``timeout``) and forget it."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        with self._lock:
            self._procs.pop(proc, None)
        return code

    def cancel(self, grace: float = 10.0) -> None:
        """Ask every child to stop (the CLI children clean up on SIGINT), then kill those still running."""
        with self._lock:
            self.cancelled = True
            procs = list(self._procs.items())
        for proc, sig in procs:
            if proc.poll() is None:
                proc.send_signal(sig)
        deadline = time.monotonic() + grace
        for proc, _ in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class _Step:
    code: int
    error: str = ""
    frames: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_STAGES = {"extract": "extract", "lift": "lift", "filter": "lift", "bake": "bake"}


def _last_line(tail: deque, code: int) -> str:
    lines = [ln.strip() for ln in tail if ln.strip()]
    return lines[-1] if lines else f"exited with code {code}"


def _run_step(argv: list[str], on_event, children: _Children, stage: str) -> _Step:
    """Run a posemoe subcommand (``--progress json``); return its exit code, error, frames and seconds per stage.

    Seconds are split at the first progress event of each stage (``capture`` reports extract then
    lift), time before the first event counting for ``stage``.
    """
    t0 = time.perf_counter()
    proc = children.start(argv)
    if proc is None:
        return _Step(int(ExitCode.CANCELLED), "cancelled")
    reader, tail = stderr_tail(proc)
    step, marks = _Step(0), [(stage, t0)]
    for line in proc.stdout:
        ev = parse_line(line)
        if isinstance(ev, Progress):
            name = _STAGES.get(ev.stage)
            if name and name != marks[-1][0]:
                marks.append((name, time.perf_counter()))
            if ev.stage == "extract":
                step.frames = ev.total
            on_event(ev)
        elif isinstance(ev, Failure):
            step.error = ev.message
        elif isinstance(ev, Message) and ev.level == "warning":
            step.warnings.append(ev.message)
    step.code = children.finish(proc)
    reader.join(timeout=5)
    marks.append(("", time.perf_counter()))
    for (name, t), (_, t_next) in zip(marks, marks[1:], strict=False):
        step.seconds[name] = round(step.seconds.get(name, 0.0) + t_next - t, 3)
    if step.code != 0 and not step.error:
        step.error = _last_line(tail, step.code)
    return step


class BatchRunner:
    """Runs the jobs: ``jobs`` slots for extraction and baking subprocesses, one lifter process for all clips."""

    def __init__(self, out_dir: Path, fmt: str, device: str = "auto", jobs: int = 1, force: bool = False,
                 lift_args: list[str] = (), bake_args: list[str] = (), on_update=None, on_made=None) -> None:
        """``lift_args`` / ``bake_args``: ``capture`` / ``bake`` options for every clip (posemoe_blender.options);
        a clip whose outputs were made with other options, or from another input (:func:`recall_options`), is made
        again. ``on_made(job)``: called as each output is made (:meth:`Manifest.record`)."""
        if fmt not in FORMATS:
            raise OutputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.out_dir, self.fmt, self.device, self.jobs, self.force = Path(out_dir), fmt, device, max(1, jobs), force
        self.lift_args, self.bake_args = list(lift_args), list(bake_args)
        self.baked_with = baked_with(fmt, self.bake_args)
        self.on_update = on_update or (lambda job, event: None)
        self.on_made = on_made
        self.cancel = threading.Event()
        self.children = _Children()
        self.lift_groups: list[int] = []  # clips per group sent to the lifter (cross-clip batching at work)
        self._cli = [sys.executable, "-m", "posemoe_blender.cli"]
        self._common = ["--progress", "json", "--device", self.device]
        self.lifter_argv = [sys.executable, "-m", "posemoe_blender.batch_lifter", "--device", self.device,
                            *self.lift_args]

    def _paths(self, job: ClipJob) -> tuple[Path, Path]:
        motion = self.out_dir / job.rel.parent / f"{job.rel.name}.motion.npz"
        final = motion if self.fmt == "npz" else self.out_dir / job.rel.parent / f"{job.rel.name}.{self.fmt}"
        return motion, final

    def _todo(self, job: ClipJob) -> str:
        """Return what ``job`` still needs: "none" (complete and newer than its input), "bake" or "all"."""
        if self.force:
            return "all"
        motion, final = self._paths(job)
        other_input = job.source is not None and not _same_input(job.source, video_identity(job.video))
        if (not _is_fresh(motion, job.video) or _changed(job.lift_args, self.lift_args) or other_input
                or not _readable_motion(motion)):
            return "all"
        if self.fmt == "npz":
            return "none"
        baked = _is_fresh(final, job.video) and _is_fresh(final, motion)  # from this motion file, not an older one
        return "none" if baked and not _changed(job.bake_args, self.baked_with) else "bake"

    def _bake_argv(self, job: ClipJob) -> list[str]:
        motion, final = self._paths(job)
        return self._cli + ["bake", str(motion), "-o", str(final), *self.bake_args] + self._common

    # -- one clip, two subprocesses: the Ray task body -------------------------------------------

    def run_one(self, job: ClipJob) -> ClipJob:
        """Capture (and bake) one clip in ``posemoe capture`` / ``bake`` subprocesses; never raises."""
        todo = self._todo(job)
        motion, final = self._paths(job)
        if todo == "none":
            self._skipped(job)
            return job
        if (error := _make_folder(final.parent)) is not None:
            job.status, job.error, job.exit_code = "failed", error, int(ExitCode.OUTPUT)
            self.on_update(job, None)
            return job
        steps = []
        if todo == "all":
            steps.append(("extract", self._cli + ["capture", str(job.video), "-o", str(motion), *self.lift_args]
                          + self._common))
        if self.fmt != "npz":
            steps.append(("bake", self._bake_argv(job)))
        for stage, argv in steps:
            if self.cancel.is_set():
                job.status = "cancelled"
                return job
            step = _run_step(argv, lambda ev: self.on_update(job, ev), self.children, stage)
            job.seconds.update(step.seconds)
            job.frames = step.frames or job.frames
            _warn(job, step.warnings)
            if step.code != 0:
                job.status, job.error, job.exit_code = _failed(step.code), step.error, step.code
                self.on_update(job, None)
                return job
            self._made(job, stage)
        job.status, job.output = "done", str(final)
        self.on_update(job, None)
        return job

    # -- the local pipeline: extract slots -> one lifter -> bake slots ---------------------------

    def run(self, jobs: list[ClipJob]) -> list[ClipJob]:
        """Run every job; Ctrl-C stops the subprocesses, marks unfinished clips cancelled and re-raises."""
        self._work = self.out_dir / WORK_DIR
        self._ids = {id(j): i for i, j in enumerate(jobs)}
        self._lock, self._all_done = threading.Lock(), threading.Event()
        self._tasks: queue.PriorityQueue = queue.PriorityQueue()
        self._lift_q: queue.Queue = queue.Queue()
        self._seq = itertools.count()
        shutil.rmtree(self._work, ignore_errors=True)  # left by a killed run
        sweep_temps(self.out_dir, jobs)
        self._work.mkdir(parents=True)
        todo = [(j, self._todo(j)) for j in jobs]
        self._left = sum(t != "none" for _, t in todo)
        for job, t in todo:
            if t == "none":
                self._skipped(job)
            elif (error := _make_folder(self._paths(job)[1].parent)) is not None:
                self._fail(job, int(ExitCode.OUTPUT), error)
            else:
                self._submit(1 if t == "all" else 0, self._bake if t == "bake" else self._extract, job)
        if self._left == 0:
            self._all_done.set()
        client = LifterClient(self.lifter_argv, self.children)
        threads = [threading.Thread(target=self._slot, daemon=True) for _ in range(self.jobs)]
        if any(t == "all" for _, t in todo):
            threads.append(threading.Thread(target=self._lift_loop, args=(client,), daemon=True))
        for t in threads:
            t.start()
        crashed = False
        try:
            while not self._all_done.wait(0.5):
                if not all(t.is_alive() for t in threads):  # they only end when told: a bug here
                    crashed = True
                    self.cancel.set()
                    break
        except KeyboardInterrupt:
            self.cancel.set()
            self.children.cancel()
            raise
        finally:
            for _ in range(self.jobs):
                self._tasks.put((99, next(self._seq), None, None))
            self._lift_q.put(None)
            for t in threads:
                t.join()
            for job in jobs:
                if crashed and job.status in ("pending", "cancelled"):
                    job.status, job.exit_code = "failed", int(ExitCode.BUG)
                    job.error = "internal error: the batch runner stopped early (see the log); rerun to finish"
                elif job.status == "pending":
                    job.status = "cancelled"
            sweep_temps(self.out_dir, jobs)
            shutil.rmtree(self._work, ignore_errors=True)
        return jobs

    def _skipped(self, job: ClipJob) -> None:
        """Mark ``job`` skipped, its outputs complete. Outputs whose record a kill lost (written, then the batch killed
        before it recorded them) count as made with this run's options, which kept them, and are recorded so."""
        job.status, job.output = "skipped", str(self._paths(job)[1])
        if job.lift_args is None:
            job.lift_args, job.source = self.lift_args, video_identity(job.video)
        if self.fmt != "npz" and job.bake_args is None:
            job.bake_args = self.baked_with
        self.on_update(job, None)

    def _made(self, job: ClipJob, stage: str) -> None:
        """Record the options ``job``'s output of ``stage`` ("extract": its motion file, "bake") was made with."""
        if stage == "bake":
            job.bake_args = self.baked_with
        else:
            job.lift_args, job.source = self.lift_args, video_identity(job.video)
        if self.on_made is not None:
            self.on_made(job)

    def _submit(self, priority: int, fn, job: ClipJob) -> None:
        """Queue a subprocess task; bakes (0) go ahead of extractions (1) so that clips finish early."""
        self._tasks.put((priority, next(self._seq), fn, job))

    def _end(self, job: ClipJob, status: str, error: str = "", code: int = 0, output: str = "") -> None:
        job.status, job.error, job.exit_code = status, error, code
        job.output = output or job.output
        self.on_update(job, None)
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._all_done.set()

    def _fail(self, job: ClipJob, code: int, error: str) -> None:
        status = "cancelled" if self.cancel.is_set() else _failed(code)
        self._end(job, status, "" if status == "cancelled" else error, code)

    def _slot(self) -> None:
        while True:
            _, _, fn, job = self._tasks.get()
            if fn is None:
                return
            if self.cancel.is_set():
                self._end(job, "cancelled")
                continue
            try:
                fn(job)
            except Exception as e:  # a bug here must not hang the batch: this clip fails, the rest go on
                log.exception("batch task failed for %s", job.video)
                self._fail(job, int(ExitCode.BUG), f"internal error: {type(e).__name__}: {e}")

    def _keypoints(self, job: ClipJob) -> Path:
        return self._work / f"{self._ids[id(job)]}.kp.npz"

    def _extract(self, job: ClipJob) -> None:
        argv = self._cli + ["extract", str(job.video), "-o", str(self._keypoints(job))] + self._common
        step = _run_step(argv, lambda ev: self.on_update(job, ev), self.children, "extract")
        job.seconds.update(step.seconds)
        job.frames = step.frames
        _warn(job, step.warnings)
        if step.code != 0:
            self._fail(job, step.code, step.error)
        else:
            self._lift_q.put(job)

    def _bake(self, job: ClipJob) -> None:
        step = _run_step(self._bake_argv(job), lambda ev: self.on_update(job, ev), self.children, "bake")
        job.seconds.update(step.seconds)
        if not job.frames and step.code == 0:  # only baked this run: count the motion file's frames
            with np.load(self._paths(job)[0]) as motion:
                job.frames = len(motion["joints_3d"])
        if step.code != 0:
            self._fail(job, step.code, step.error)
        else:
            self._made(job, "bake")
            self._end(job, "done", output=str(self._paths(job)[1]))

    def _lift_loop(self, client: LifterClient) -> None:
        """Take the clips whose 2D is ready, as they come, in bounded groups; lift each group in one go."""
        client.start()  # load the model while the first clips are extracted
        try:
            while (job := self._lift_q.get()) is not None:
                group, frames = [job], job.frames
                while len(group) < MAX_GROUP_CLIPS and frames < MAX_GROUP_FRAMES:
                    try:
                        nxt = self._lift_q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._lift_q.put(None)
                        break
                    group.append(nxt)
                    frames += nxt.frames
                self._lift_group(client, group, retry_alone=True)
        finally:
            client.close()

    def _lift_group(self, client: LifterClient, group: list[ClipJob], retry_alone: bool) -> None:
        if self.cancel.is_set():
            for job in group:
                self._end(job, "cancelled")
            return
        self.lift_groups.append(len(group))
        requests = [{"id": self._ids[id(j)], "keypoints": str(self._keypoints(j)),
                     "output": str(self._paths(j)[0]), "source": j.video.name} for j in group]
        try:
            answers, stopped = client.lift(requests, lambda ev: [self.on_update(j, ev) for j in group])
        except Exception as e:  # e.g. the lifter cannot be started at all
            log.exception("lifter failed")
            answers, stopped = {}, f"lifter process failed: {type(e).__name__}: {e}"
        left = []
        for job, req in zip(group, requests, strict=True):
            answer = answers.get(req["id"])
            if answer is None:
                left.append(job)
                continue
            Path(req["keypoints"]).unlink(missing_ok=True)
            job.seconds["lift"] = round(float(answer.get("seconds", 0.0)), 3)
            if "error" in answer:
                self._fail(job, int(answer.get("exit_code", ExitCode.BUG)), str(answer["error"]))
                continue
            self._made(job, "extract")
            job.frames = int(answer.get("frames", job.frames))
            _warn(job, [str(w) for w in answer.get("warnings") or []])
            if self.fmt == "npz":
                self._end(job, "done", output=str(self._paths(job)[0]))
            else:
                self._submit(0, self._bake, job)
        if len(left) > 1 and retry_alone and not client.fatal and not self.cancel.is_set():
            for job in left:  # the lifter died on one of them: alone, only that clip fails
                self._lift_group(client, [job], retry_alone=False)
            return
        for job in left:
            Path(self._keypoints(job)).unlink(missing_ok=True)
            code = client.fatal[1] if client.fatal else int(ExitCode.BUG)
            self._fail(job, code, stopped)


def _warn(job: ClipJob, notes: list[str]) -> None:
    """Keep what a step said of ``job``'s result (summary.json ``warnings``) and show it, naming the clip."""
    for note in notes:
        if note not in job.warnings:
            job.warnings.append(note)
            log.warning("%s: %s", job.rel, note)


def _make_folder(folder: Path) -> str | None:
    """Create ``folder`` (and its parents); return None, or the one-line error when that cannot be done (a file
    in the way, no permission): that clip fails, the others go on."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return None
    except OSError as e:
        return (f"{folder}: cannot create this output folder ({e.strerror}); move what is in the way or choose "
                "another --out")


def _failed(code: int) -> str:
    """Return the status of a clip whose subprocess exited with ``code`` (Ctrl-C reaches children too)."""
    return "cancelled" if code in (ExitCode.CANCELLED, -signal.SIGINT) else "failed"


def write_summary(out_dir: Path, jobs: list[ClipJob], settings: dict) -> Path:
    """Atomically write ``summary.json`` in ``out_dir``; return its path."""
    path = Path(out_dir) / "summary.json"
    data = {"settings": settings, "counts": {s: sum(j.status == s for j in jobs)
                                             for s in ("done", "skipped", "failed", "cancelled", "pending")},
            "clips": [{**asdict(j), "video": str(j.video), "rel": str(j.rel)} for j in jobs]}
    tmp = path.with_name(".summary.json.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # the last run's report would tell scripts that this run's clips are done
        made = sum(j.status == "done" for j in jobs)
        raise OutputError(f"{path}: cannot write the batch summary ({e.strerror}); {made} clip(s) made this run are "
                          "in place, the last run's summary removed; free some space and rerun to write it") from None
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
