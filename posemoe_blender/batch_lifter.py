"""``posemoe batch``'s lifter process (and the runner's client of it): load the lifter once, lift groups of clips.

``python -m posemoe_blender.batch_lifter --device auto`` reads one JSON line per group on stdin::

    {"clips": [{"id": 3, "keypoints": "OUT/.posemoe-batch.tmp/3.kp.npz",
                "output": "OUT/a.motion.npz", "source": "a.mp4"}, ...]}

The windows of all the group's clips share forward batches (core.inference.lift_many via
pipeline.lift_clips); each clip then gets capture's own clean-up (pipeline.to_motion) and its
motion file is written atomically. Answers are protocol lines (core/protocol.py) with the clip's
``id``: ``{"id", "result", "frames", "seconds"}`` or ``{"id", "error", "kind", "exit_code"}``;
lines without ``id`` are group progress, or an error that stops the process (weights unusable).
Closing stdin ends it. SIGINT is ignored so that Ctrl-C on the terminal reaches the batch
runner, which decides (a lifter dying on its own would look like a crash); SIGTERM stops it
without leaving a partial file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.config import InferenceConfig
from core.errors import ExitCode, PosemoeError
from core.protocol import Event, Message, Progress, Result, parse_line, to_line
from posemoe_blender.options import add_lift_options, cleanup_options, inference_config
from posemoe_blender.parent_watch import PARENT_ENV, exit_with_parent
from posemoe_blender.progress import LiveStream

log = logging.getLogger("posemoe.batch_lifter")


def _error(clip_id: Any, message: str, kind: str, code: int) -> dict:
    return {"id": clip_id, "error": message, "kind": kind, "exit_code": int(code)}


def lift_group(clips: list[dict], lifter, cfg: InferenceConfig, emit=lambda _e: None,
               smoothing: str = "medium", cleanup: dict | None = None) -> Iterator[dict]:
    """Lift the group ``clips`` (request dicts) with ``lifter``; yield one answer dict per clip.

    ``smoothing`` and ``cleanup`` (posemoe_blender.options.cleanup_options) apply to every clip; the
    lens is each clip's own where neither ``--focal`` nor ``--lens-mm`` is given. A clip whose keypoints
    cannot be read or that the options do not fit (a focal length no lens has on its image size), or whose
    clean-up or write fails, fails alone. If the shared forward pass itself fails, each clip is lifted again
    on its own, so that only a clip that breaks the lifter fails.
    """
    from core.motion_file import write_motion
    from posemoe_blender.pipeline import (
        check_camera_options,
        known_focal,
        lift_clips,
        read_keypoints_for_lifting,
        sides_unflipped,
        to_motion,
    )

    options = dict(cleanup or {})
    focal, lens_mm = options.pop("focal", None), options.pop("lens_mm", None)
    lens_metadata = options.pop("lens_metadata", True)
    loaded, lenses = [], []
    for c in clips:
        try:
            kp = sides_unflipped(read_keypoints_for_lifting(Path(c["keypoints"])))
            check_camera_options(focal, lens_mm, kp.image_size)
        except PosemoeError as e:
            yield _error(c["id"], str(e), e.kind, e.exit_code)
            continue
        loaded.append((c, kp))
        lenses.append(known_focal(kp, focal, lens_mm, lens_metadata, emit))  # each clip's own lens where stated
    if not loaded:
        return
    t0 = time.perf_counter()
    try:
        joints, used = lift_clips([kp for _, kp in loaded], lifter, cfg, emit, [f for f, _ in lenses],
                                  options.get("lying_down", False))
    except Exception as e:
        if len(loaded) > 1:
            log.warning("lifting %d clips together failed (%s); lifting them one by one", len(loaded), e)
            for c, _ in loaded:
                yield from lift_group([c], lifter, cfg, emit, smoothing, cleanup)
            return
        log.exception("lifting failed")
        c = loaded[0][0]
        yield _error(c["id"], f"internal error while lifting: {type(e).__name__}: {e}", "bug", ExitCode.BUG)
        return
    lift_s = time.perf_counter() - t0
    total = sum(kp.num_frames for _, kp in loaded)
    for (c, kp), joints_3d, (focal, focal_from) in zip(loaded, joints, lenses, strict=True):
        t1 = time.perf_counter()
        share = lift_s * kp.num_frames / max(1, total)  # this clip's part of the shared forward passes
        try:
            notes: list[str] = []
            clip = to_motion(kp, joints_3d, lifter, used, smoothing, _keeping_warnings(notes, emit),
                             source=str(c.get("source", "")), lift_seconds=share, focal=focal, focal_from=focal_from,
                             **options)
            out = write_motion(Path(c["output"]), clip)
        except PosemoeError as e:
            yield _error(c["id"], str(e), e.kind, e.exit_code)
            continue
        except Exception as e:  # a bug in one clip's clean-up must not take its group mates down
            log.exception("clean-up failed for %s", c.get("source"))
            yield _error(c["id"], f"internal error: {type(e).__name__}: {e}", "bug", ExitCode.BUG)
            continue
        answer = json.loads(to_line(Result(path=str(out))))
        yield {"id": c["id"], **answer, "frames": kp.num_frames, "warnings": notes,
               "seconds": round(share + time.perf_counter() - t1, 4)}


def _keeping_warnings(notes: list[str], emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """Return an emit that keeps warnings in ``notes`` (they go back with the clip's answer, to summary.json) and
    passes every other event on."""
    def on(event: Event) -> None:
        if isinstance(event, Message) and event.level == "warning":
            notes.append(event.message)
        else:
            emit(event)

    return on


def serve(lines, send, lifter, cfg: InferenceConfig, smoothing: str = "medium", cleanup: dict | None = None) -> None:
    """Answer every group request on ``lines`` through ``send(dict)``; return at end of input.
    ``smoothing``, ``cleanup``: as :func:`lift_group`'s."""
    def emit(event: Event) -> None:
        if isinstance(event, Progress):
            send(json.loads(to_line(event)))

    for line in lines:
        if not line.strip():
            continue
        try:
            clips = json.loads(line)["clips"]
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a request that is not {\"clips\": [...]}: %.200s", line)
            continue
        for answer in lift_group(clips, lifter, cfg, emit, smoothing, cleanup):
            send(answer)


def stderr_tail(proc: subprocess.Popen) -> tuple[threading.Thread, deque]:
    """Collect the last lines of ``proc``'s stderr on a thread (a full pipe would block it)."""
    tail: deque = deque(maxlen=20)
    reader = threading.Thread(target=lambda: tail.extend(proc.stderr), daemon=True)
    reader.start()
    return reader, tail


class LifterClient:
    """The batch runner's side: start the lifter (again after a crash), send groups, collect the answers.

    ``children`` starts and reaps subprocesses (batch._Children: a cancel reaches them all).
    """

    stall_s = 300.0
    """Kill the lifter when it sends nothing (no answer, no progress) for this long: a hang must not stall the batch."""
    startup_s = 600.0
    """Allowance for its start-up (importing torch, loading weights, first CUDA use) before it says it is ready."""

    def __init__(self, argv: list[str], children) -> None:
        self.argv, self.children = argv, children
        self.proc: subprocess.Popen | None = None
        self.fatal: tuple[str, int] | None = None  # the lifter cannot start (weights, device): every clip fails
        self._tail: deque = deque()
        self._ready = False

    def start(self) -> bool:
        """Start the lifter unless it runs; False when cancelled."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self.children.start(self.argv, stop_signal=signal.SIGTERM, stdin=subprocess.PIPE)
            self._ready = False
            if self.proc is not None:
                self._tail = stderr_tail(self.proc)[1]
        return self.proc is not None

    def lift(self, requests: list[dict], on_event) -> tuple[dict, str]:
        """Send one group; return (answers by clip id, '' or why the lifter stopped before answering them all)."""
        if self.fatal:
            return {}, self.fatal[0]
        if not self.start():
            return {}, "cancelled"
        proc, answers, want = self.proc, {}, {r["id"] for r in requests}
        try:
            proc.stdin.write(json.dumps({"clips": requests}) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died: the read below sees the end of its output
        stalled = threading.Event()

        def on_stall() -> None:
            stalled.set()
            proc.kill()

        while want - answers.keys():
            watchdog = threading.Timer(self.stall_s if self._ready else self.startup_s, on_stall)
            watchdog.daemon = True
            watchdog.start()
            try:
                line = proc.stdout.readline()
            finally:
                watchdog.cancel()
            if not line:
                code = self.children.finish(proc)
                self.proc = None
                if self.fatal:
                    return answers, self.fatal[0]
                why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                if stalled.is_set():
                    limit = self.stall_s if self._ready else self.startup_s
                    why = f"stalled (no progress for {limit:.0f} s) and was stopped"
                said = [ln.strip() for ln in self._tail if ln.strip()]
                return answers, f"lifter process {why} while lifting this clip" + (f": {said[-1]}" if said else "")
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if not isinstance(d, dict):
                continue
            if d.get("ready"):
                self._ready = True
            elif d.get("id") in want:
                answers[d["id"]] = d
            elif "error" in d:
                self.fatal = (str(d["error"]), int(d.get("exit_code", ExitCode.BUG)))
            elif isinstance(ev := parse_line(line), Progress):
                on_event(ev)
        return answers, ""

    def close(self) -> None:
        """End the lifter: closing its input lets it finish and exit."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.children.finish(self.proc)
            self.proc = None


def _on_sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: stdout carries only protocol lines, logs go to stderr."""
    p = argparse.ArgumentParser(prog="python -m posemoe_blender.batch_lifter", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_lift_options(p)  # the options of ``posemoe batch`` that apply to lifting, handed on as they were given
    args = p.parse_args(argv)
    handler = logging.StreamHandler(LiveStream("stderr"))
    handler.setFormatter(logging.Formatter("posemoe lifter: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    channel, sys.stdout = sys.stdout, sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit():  # a batch killed outright: stop, not lift the group in hand on into its outputs
        exit_with_parent(int(parent))

    def send(d: dict) -> None:
        channel.write(json.dumps(d, ensure_ascii=False) + "\n")
        channel.flush()

    try:
        from posemoe_blender.pipeline import load_model

        cfg, cleanup = inference_config(args), cleanup_options(args)
        lifter = load_model(args.weights, cfg)
        send({"ready": True})  # start-up (imports, weights) is over: the runner's stall clock starts now
        serve(sys.stdin, send, lifter, cfg, args.smoothing, cleanup)
        return int(ExitCode.OK)
    except PosemoeError as e:  # weights or device unusable: nothing this process can lift
        send({"error": str(e), "kind": e.kind, "exit_code": int(e.exit_code)})
        return int(e.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.CANCELLED)
    except BrokenPipeError:  # the runner went away
        return int(ExitCode.CANCELLED)
    finally:
        sys.stdout = channel


if __name__ == "__main__":
    sys.exit(main())
