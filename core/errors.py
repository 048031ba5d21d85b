"""Error tree and process exit codes shared by the CLI, the worker and the add-on.

Library code raises these; only ``posemoe_blender.cli`` and ``posemoe_blender.worker``
turn them into exit codes. Each ``kind`` string is what the worker reports in its
``{"error": ..., "kind": ...}`` line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (documented in README.md, "Exit codes")."""

    OK = 0
    BUG = 1
    USAGE = 2
    BAD_INPUT = 3
    NO_PERSON = 4
    MODEL = 5
    ENVIRONMENT = 6
    PARTIAL = 7
    OUTPUT = 8
    NOT_FOUND = 9
    BAD_VIDEO = 10
    TIMEOUT = 11
    CANCELLED = 130


class PosemoeError(Exception):
    """Base of every expected failure; the message is one actionable line."""

    exit_code: ExitCode = ExitCode.BUG
    kind: str = "bug"


class InputNotFoundError(PosemoeError):
    """An input path does not exist."""

    exit_code, kind = ExitCode.NOT_FOUND, "not_found"


class InputFileError(PosemoeError):
    """An input file exists but is malformed (wrong keys, shapes, NaN, not the format)."""

    exit_code, kind = ExitCode.BAD_INPUT, "bad_input"


class VideoError(PosemoeError):
    """A video that cannot be decoded (not a video, truncated, unsupported codec)."""

    exit_code, kind = ExitCode.BAD_VIDEO, "bad_video"


class NoPersonError(PosemoeError):
    """No person was detected in (enough of) the video."""

    exit_code, kind = ExitCode.NO_PERSON, "no_person"


class ModelError(PosemoeError):
    """Weights missing, corrupt, or not matching their config/checksum."""

    exit_code, kind = ExitCode.MODEL, "model"


class WorkerEnvError(PosemoeError):
    """The environment lacks something (a package, CUDA when asked for, a Python)."""

    exit_code, kind = ExitCode.ENVIRONMENT, "environment"


class OutputError(PosemoeError):
    """An output cannot be written (permission, missing folder, full disk, bad suffix)."""

    exit_code, kind = ExitCode.OUTPUT, "output"


class ConfigError(PosemoeError):
    """A config file or option has unknown keys or bad values."""

    exit_code, kind = ExitCode.USAGE, "usage"


class RigError(PosemoeError):
    """A character/armature cannot be used (no armature, missing mapped bones)."""

    exit_code, kind = ExitCode.BAD_INPUT, "rig"


class CancelledError(PosemoeError):
    """The user cancelled the run."""

    exit_code, kind = ExitCode.CANCELLED, "cancelled"


class WorkerTimeoutError(PosemoeError):
    """The worker made no progress for too long."""

    exit_code, kind = ExitCode.TIMEOUT, "timeout"
