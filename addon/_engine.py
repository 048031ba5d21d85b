"""The single import gate from the add-on to the engine's Blender-safe ([B]) modules.

The add-on imports nothing else from the repository. The engine source lives either
in ``engine/`` inside the installed extension (put there by build.py) or, in a source
checkout, in the folder above ``addon/``. :func:`engine_root` finds it and
:func:`load` puts it on ``sys.path`` on first use (never at import time).
``BLENDER_SAFE_MODULES`` is also the list build.py checks into the zip.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

BLENDER_SAFE_MODULES: tuple[str, ...] = (
    "core.errors",
    "core.protocol",
    "core.skeleton",
    "core.frames",
    "core.motion_file",
    "core.rotations",
    "core.retarget",
    "core.rigs",
    "core.rig_names",
    "posemoe_blender.bake",
)
"""Modules the add-on may import in Blender's Python: stdlib, numpy and bpy only."""

ENGINE_DIRNAME = "engine"
"""Folder inside the extension that holds the bundled engine source (build.py)."""

_ADDON_DIR = Path(__file__).resolve().parent


class EngineImportError(ImportError):
    """The bundled engine is missing, incomplete, or shadowed by another package."""


def engine_root() -> Path:
    """Return the folder holding ``core/`` and ``posemoe_blender/`` (bundled, else the checkout)."""
    bundled = _ADDON_DIR / ENGINE_DIRNAME
    if (bundled / "core").is_dir():
        return bundled
    checkout = _ADDON_DIR.parent
    if (checkout / "core").is_dir() and (checkout / "addon").is_dir():
        return checkout
    raise EngineImportError(f"PoseMoE engine source not found in {bundled}; reinstall the extension")


def requirements_file() -> Path:
    """Return the pinned requirements for the worker venv (worker-only list if present)."""
    root = engine_root()
    worker_only = root / "requirements-worker.txt"
    return worker_only if worker_only.is_file() else root / "requirements.txt"


def _ensure_on_path(root: Path) -> None:
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def load(name: str) -> ModuleType:
    """Return the engine module ``name`` (one of BLENDER_SAFE_MODULES), importing it on first use."""
    if name not in BLENDER_SAFE_MODULES:
        raise EngineImportError(f"{name} is not Blender-safe; the add-on may only use {BLENDER_SAFE_MODULES}")
    module = sys.modules.get(name)
    if module is None:
        root = engine_root()
        _ensure_on_path(root)
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise EngineImportError(f"cannot import engine module {name} from {root}: {e}") from e
    _check_origin(name, module)
    return module


def _check_origin(name: str, module: ModuleType) -> None:
    """Refuse a same-named package from elsewhere (another add-on's ``core``) silently taking over."""
    top = sys.modules.get(name.partition(".")[0])
    origin = getattr(top, "__file__", None) or ""
    if not origin:
        return
    root = engine_root().resolve()
    try:
        Path(origin).resolve().relative_to(root)
        return
    except ValueError:
        pass
    ours = top.__name__ == "posemoe_blender" or "PoseMoE" in (getattr(top, "__doc__", None) or "")
    if ours:  # another copy of our own engine (a source checkout): same code, fine
        log.debug("%s comes from %s, not %s", name, origin, root)
        return
    raise EngineImportError(f"{name} was imported from {origin}, not from the PoseMoE engine in {root}; "
                            "another add-on uses the same package name")


def errors() -> ModuleType:
    """Return core.errors (PosemoeError tree, ExitCode)."""
    return load("core.errors")


def protocol() -> ModuleType:
    """Return core.protocol (Progress, Message, Result, Failure, parse_line)."""
    return load("core.protocol")


def motion_file() -> ModuleType:
    """Return core.motion_file (read_motion -> MotionClip)."""
    return load("core.motion_file")


def rigs() -> ModuleType:
    """Return core.rigs (rig presets, auto-detection, custom mappings)."""
    return load("core.rigs")


def bake() -> ModuleType:
    """Return posemoe_blender.bake (create_default_armature, bake_clip); needs bpy."""
    return load("posemoe_blender.bake")


def unavailable() -> str | None:
    """Return why the engine's modules cannot be used in this Blender (one line), or None.

    Every operator asks first: another add-on's package named ``core`` (or an engine missing from the extension)
    then stops it in one line, not with a traceback halfway, after a capture's panel state was set running."""
    try:
        for name in BLENDER_SAFE_MODULES:
            load(name)
    except EngineImportError as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None


def guarded(execute):
    """Decorate an operator's ``execute``: refused in one line (report) while :func:`unavailable` says why."""

    @functools.wraps(execute)
    def wrapper(self, context, *args, **kwargs):
        if (why := unavailable()) is not None:
            self.report({'ERROR'}, f"PoseMoE: {why}")
            return {'CANCELLED'}
        return execute(self, context, *args, **kwargs)

    return wrapper
