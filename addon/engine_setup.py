"""Create the worker's virtual environment and pip-install the pinned engine requirements.

Run as a SUBPROCESS by the add-on (never imported into Blender, never pip into
Blender's own Python): ``PYTHON engine_setup.py --venv DIR --engine ENGINE_ROOT
--requirements FILE``. Stdlib only. It speaks the worker progress protocol on stdout
(JSON lines as in core.protocol / docs/FORMATS.md: {"stage","done","total"}, a final
{"result": venv_python} or {"error","kind"}); pip's own output goes to stderr (the log).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MIN_PYTHON = (3, 11)
PTH_NAME = "posemoe_engine.pth"


def emit(**fields: object) -> None:
    """Write one protocol line on stdout and flush it."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def venv_python(venv: Path) -> Path:
    """Return the Python executable inside ``venv``."""
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def count_requirements(path: Path) -> int:
    """Return the number of requirement lines in ``path`` (comments and options skipped)."""
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return sum(1 for ln in lines if ln and not ln.startswith("-"))


def run_streamed(argv: list[str], stage: str, total: int) -> tuple[int, str]:
    """Run ``argv``, copy its output to stderr, emit progress per 'Collecting' line.

    Returns (exit code, last 'ERROR:' line of its output or '').
    """
    done, last_error = 0, ""
    emit(stage=stage, done=0, total=total)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, encoding="utf-8", errors="replace", bufsize=1)
    for line in proc.stdout:
        sys.stderr.write(line)
        if line.startswith(("Collecting ", "Requirement already satisfied")):
            done = min(total, done + 1)
            emit(stage=stage, done=done, total=total)
        elif line.startswith("Installing collected packages"):
            emit(stage="install", done=0, total=1)
        elif line.startswith("ERROR:"):
            last_error = line.strip()[:240]
    return proc.wait(), last_error


def pth_files(venv: Path) -> list[Path]:
    """Return the engine's .pth files in ``venv`` (POSIX or Windows layout), found without running its Python."""
    return [p for p in (*venv.glob(f"lib/python3*/site-packages/{PTH_NAME}"), venv / "Lib" / "site-packages" / PTH_NAME)
            if p.is_file()]


def pth_path(python: Path) -> Path:
    """Return where the venv of ``python`` keeps the engine's .pth file."""
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return Path(purelib, PTH_NAME)


def write_pth(python: Path, engine: Path) -> None:
    """Put the engine source on the venv's path, so ``python -m posemoe_blender.worker`` works anywhere. Written
    last, only when every package installed: the add-on takes a venv with it as ready (preferences.setup_finished)."""
    pth_path(python).write_text(str(engine.resolve()) + "\n", encoding="utf-8")


def setup(venv: Path, engine: Path, requirements: Path) -> int:
    """Create ``venv`` (if needed), install ``requirements``, link ``engine``; return an exit code."""
    if sys.version_info < MIN_PYTHON:
        emit(error=f"Python {sys.version.split()[0]} is too old; the engine needs Python 3.11 or newer",
             kind="environment")
        return 6
    if not requirements.is_file() or not (engine / "posemoe_blender").is_dir():
        emit(error=f"engine source incomplete: {requirements} or {engine / 'posemoe_blender'} missing; "
             "reinstall the extension", kind="environment")
        return 6
    python = venv_python(venv)
    if not python.is_file():
        emit(stage="venv", done=0, total=1)
        code = subprocess.call([sys.executable, "-m", "venv", str(venv)], stdout=sys.stderr, stderr=sys.stderr)
        if code != 0 or not python.is_file():
            emit(error=f"could not create a virtual environment in {venv} (venv exit code {code})",
                 kind="environment")
            return 6
        emit(stage="venv", done=1, total=1)
    for old in pth_files(venv):
        old.unlink(missing_ok=True)  # not ready until this set-up succeeds (a re-run may fail halfway)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    code, pip_error = run_streamed(pip + ["-r", str(requirements)], "download", count_requirements(requirements))
    if code != 0:
        emit(error=f"pip install failed (exit code {code}): {pip_error or 'see the set-up log'}",
             kind="environment")
        return 6
    write_pth(python, engine)
    emit(result=str(python))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the set-up; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True, help="virtual environment folder to create")
    parser.add_argument("--engine", type=Path, required=True, help="folder holding core/ and posemoe_blender/")
    parser.add_argument("--requirements", type=Path, required=True, help="pinned requirements file")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONHOME", None)
    try:
        return setup(args.venv, args.engine, args.requirements)
    except (OSError, subprocess.SubprocessError) as e:
        emit(error=f"engine set-up failed: {e}", kind="environment")
        return 6


if __name__ == "__main__":
    sys.exit(main())
