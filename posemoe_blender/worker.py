"""Worker process: ``python -m posemoe_blender.worker VIDEO --out MOTION.npz``.

Runs the capture pipeline for the Blender add-on (or batch) and speaks the progress
protocol (core/protocol.py): JSON lines on stdout, logs on stderr, the motion file
written atomically. SIGTERM cancels cleanly (exit code 130, nothing written).
``--check`` prints one JSON object describing the environment and exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import signal
import sys
from pathlib import Path

from core.errors import CancelledError, ExitCode, PosemoeError
from core.protocol import Failure, Result
from posemoe_blender.options import add_lift_options, cleanup_options, inference_config
from posemoe_blender.progress import LiveStream, Reporter

log = logging.getLogger("posemoe.worker")


def build_parser() -> argparse.ArgumentParser:
    """Return the worker's argument parser."""
    p = argparse.ArgumentParser(prog="python -m posemoe_blender.worker",
                                description="PoseMoE capture worker (speaks JSON lines on stdout)")
    p.add_argument("video", type=Path, nargs="?", help="input video")
    p.add_argument("--out", type=Path, help="motion .npz to write")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_lift_options(p)  # as `posemoe capture` takes them
    p.add_argument("--check", action="store_true", help="print the environment as one JSON line and exit")
    return p


def environment_report(device: str = "auto") -> dict:
    """Return versions, CUDA availability and the weights the worker would use."""
    import mediapipe
    import torch

    from core.inference import resolve_device
    from core.weights import DEFAULT_WEIGHTS

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mediapipe": mediapipe.__version__,
        "cuda": cuda,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "device": resolve_device(device).type,
        "weights": str(DEFAULT_WEIGHTS),
        "weights_present": DEFAULT_WEIGHTS.exists(),
    }


def _on_sigterm(_signum, _frame) -> None:
    raise CancelledError("cancelled by the caller (SIGTERM)")


def run(args: argparse.Namespace, channel) -> int:
    """Run the worker for parsed ``args``, writing protocol lines to ``channel``."""
    from posemoe_blender.pipeline import capture

    reporter = Reporter("json", channel=channel)
    try:
        if args.check:
            channel.write(json.dumps(environment_report(args.device)) + "\n")
            channel.flush()
            return ExitCode.OK
        if args.video is None or args.out is None:
            raise PosemoeError("worker needs VIDEO and --out MOTION.npz (or --check)")
        out = capture(args.video, args.out, args.weights, inference_config(args), args.smoothing, reporter,
                      **cleanup_options(args))
        reporter(Result(path=str(out)))
        return ExitCode.OK
    except PosemoeError as e:
        log.error("%s", e)
        reporter(Failure(message=str(e), kind=e.kind))
        return int(e.exit_code) if e.exit_code != ExitCode.BUG else int(ExitCode.USAGE)
    except KeyboardInterrupt:
        reporter(Failure(message="cancelled", kind="cancelled"))
        return int(ExitCode.CANCELLED)
    except Exception as e:  # a bug: report it on the protocol too, so the add-on can show it
        log.exception("worker crashed")
        reporter(Failure(message=f"internal error: {type(e).__name__}: {e}; see the worker log", kind="bug"))
        return int(ExitCode.BUG)


def main(argv: list[str] | None = None) -> int:
    """Entry point: stdout is reserved for protocol lines; stray prints go to stderr."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(LiveStream("stderr"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    channel, sys.stdout = sys.stdout, sys.stderr
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args, channel)
    finally:
        sys.stdout = channel


if __name__ == "__main__":
    sys.exit(main())
