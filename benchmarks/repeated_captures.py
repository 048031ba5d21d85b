"""Leak check (issue 9, load): N captures in a row in one Blender session, through the installed add-on.

The add-on is built and installed from its zip into a temporary extensions repository exactly as
tests/integration/addon_harness.py does (real ``bpy``), and each capture runs the real worker
subprocess on a clip (default: the demo clip, whole: the worker has no frame-range option)
and bakes it as a new Action, driven as the modal timer drives it. After each capture this process's
resident memory, open file descriptors, threads, child processes (zombies included) and leftover
capture temp folders are recorded, and the slopes over captures 2..N are fitted (the first capture
pays one-off imports and caches).

Each capture's Action is removed after it is measured (``--keep-actions`` keeps them, as a user
would), so that memory growth is not the baked keys themselves.

Usage: python benchmarks/repeated_captures.py [--captures 20] [--video CLIP] [--out JSON]
Prints one line per capture and a summary; writes benchmarks/results/repeated_captures.json.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))


class _TmpFactory:
    """The one method of pytest's tmp_path_factory that the add-on harness uses."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name + "-", dir=self.root))


def _status(key: str) -> int:
    """Return a number field of /proc/self/status (VmRSS in kB, Threads)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return _status("VmRSS") / 1024


def _children() -> list[str]:
    """Return 'pid:state' of this process's child processes (a 'Z' state is an unreaped worker)."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[1]) == me:
            out.append(f"{entry}:{fields[0]}")
    return out


def _sample(index: int, seconds: float, bpy) -> dict:
    gc.collect()
    tmp = Path(tempfile.gettempdir())
    return {"capture": index, "seconds": round(seconds, 2), "rss_mb": round(_rss_mb(), 1),
            "fds": len(os.listdir("/proc/self/fd")), "threads": _status("Threads"), "children": len(_children()),
            "capture_temp_dirs": len(list(tmp.glob("posemoe-capture-*"))), "actions": len(bpy.data.actions),
            "objects": len(bpy.data.objects)}


def _slope(rows: list[dict], key: str) -> float:
    """Least-squares slope of ``key`` per capture over ``rows``."""
    xs = np.array([r["capture"] for r in rows], float)
    ys = np.array([r[key] for r in rows], float)
    return round(float(np.polyfit(xs, ys, 1)[0]), 3) + 0.0 if len(xs) >= 2 else 0.0  # + 0.0: never "-0.0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=20)
    parser.add_argument("--video", type=Path, default=None, help="clip to capture (default: the demo clip)")
    parser.add_argument("--keep-actions", action="store_true", help="keep each capture's Action (as a user would)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "repeated_captures.json")
    args = parser.parse_args()
    if args.video is None:
        from posemoe_blender.demo import ensure_demo_clip

        args.video = ensure_demo_clip()[0]

    import bpy  # first: it makes Blender's addon_utils importable for the harness

    harness = importlib.import_module("addon_harness")

    work = Path(tempfile.mkdtemp(prefix="posemoe-leak-"))
    installer = harness.installed_addon(_TmpFactory(work))
    addon = next(installer)
    bpy.ops.wm.read_homefile(use_empty=True)
    addon.ops_capture.logs_dir = lambda: work  # worker logs beside the rest, not in the user's folder
    prefs = addon.preferences.get_prefs()
    prefs.worker_python = sys.executable  # this venv has the worker's packages
    settings = bpy.context.scene.posemoe
    settings.video_path, settings.create_armature = str(args.video), True
    ctx, reports = bpy.context, []

    rows = [_sample(0, 0.0, bpy)]
    print(json.dumps(rows[0]), flush=True)
    for i in range(1, args.captures + 1):
        t0 = time.perf_counter()
        runner = addon.ops_capture.make_capture_runner(ctx, args.video, Path(sys.executable),
                                                       lambda lv, msg: reports.append((sorted(lv), msg)))
        outcome = harness.drive(runner, ctx, timeout=900)
        if outcome != {'FINISHED'}:
            raise SystemExit(f"capture {i} ended {outcome}: {reports[-3:]} {runner.worker.last_log_line()}")
        seconds = time.perf_counter() - t0
        settings.create_armature = False  # later captures bake onto the armature the first one made
        if not args.keep_actions:
            action = settings.armature.animation_data.action
            settings.armature.animation_data.action = None
            bpy.data.actions.remove(action)
        del runner
        rows.append(_sample(i, seconds, bpy))
        print(json.dumps(rows[-1]), flush=True)

    after = rows[1:]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
        "blender": bpy.app.version_string, "video": args.video.name, "captures": args.captures,
        "keep_actions": args.keep_actions,
        "rss_mb_first_last": [after[0]["rss_mb"], after[-1]["rss_mb"]],
        "rss_mb_per_capture": _slope(rows[2:], "rss_mb"),
        "fds_first_last": [after[0]["fds"], after[-1]["fds"]], "fds_per_capture": _slope(rows[2:], "fds"),
        "threads_first_last": [after[0]["threads"], after[-1]["threads"]],
        "children_max": max(r["children"] for r in after),
        "capture_temp_dirs_max": max(r["capture_temp_dirs"] for r in after),
        "mean_capture_s": round(float(np.mean([r["seconds"] for r in after])), 2),
        "note": "slopes: least squares over captures 2..N (the first pays one-off imports and caches)",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.captures} captures of {args.video.name}: RSS {after[0]['rss_mb']} -> {after[-1]['rss_mb']} MB "
          f"({result['rss_mb_per_capture']:+.3f} MB/capture), fds {after[0]['fds']} -> {after[-1]['fds']} "
          f"({result['fds_per_capture']:+.3f}/capture), children max {result['children_max']}, "
          f"capture temp dirs max {result['capture_temp_dirs_max']}, {result['mean_capture_s']} s/capture; "
          f"JSON: {args.out}", flush=True)
    try:
        next(installer)  # disable the add-on and remove the temporary repository
    except StopIteration:
        pass
    shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # bpy + torch exit handlers can deadlock (see tests/conftest.py)


if __name__ == "__main__":
    sys.exit(main())
