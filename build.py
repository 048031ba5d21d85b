"""Build the Blender 4.2+ extension zip: ``python build.py [--validate] [--out DIR]``.

Stdlib only. Layout of dist/posemoe_blender-<version>.zip (the zip root is the add-on's
Python package, as Blender's extension format requires):

    blender_manifest.toml           the manifest
    __init__.py, _engine.py, ...    addon/* (the add-on package)
    engine/core/ ...                the engine source + core/assets weights, for the worker
    engine/posemoe_blender/ ...     (the add-on imports its Blender-safe modules via _engine.py)
    engine/requirements.txt, engine/requirements-worker.txt, engine/pyproject.toml

``--validate`` runs ``blender --command extension validate`` on the zip when a blender
binary is on PATH, else Blender's own validator script from an installed ``bpy`` module,
else only this script's manifest checks; it exits non-zero with the problems listed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import logging
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

log = logging.getLogger("build")

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "addon"
MANIFEST = "blender_manifest.toml"
ENGINE_DIR = "engine"
ENGINE_PACKAGES = ("core", "posemoe_blender")
ENGINE_FILES = ("requirements.txt", "requirements-worker.txt", "pyproject.toml")
DEV_ONLY_REQUIREMENTS = ("bpy", "pytest", "hypothesis", "ruff", "mypy")
"""Dropped from requirements.txt to make requirements-worker.txt (the worker needs none of them)."""
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".tmp", ".log")

REQUIRED_KEYS = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license",
                 "blender_version_min")
PERMISSION_KEYS = ("files", "network", "clipboard", "camera", "microphone")
TERSE_MAX = 64
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BuildError(Exception):
    """The package cannot be built or is invalid; the message lists what to fix."""


# -- manifest checks ----------------------------------------------------------------------------


def _terse_problem(value: object) -> str | None:
    """Return what is wrong with a tagline / permission reason, or None."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > TERSE_MAX:
        return f"must be at most {TERSE_MAX} characters, has {len(value)}"
    if CONTROL.search(value) or value != value.strip():
        return "must not contain control characters or surrounding spaces"
    if not (value[-1].isalnum() or value[-1] in ")]}"):
        return "must not end with punctuation (such as a period)"
    return None


def _id_problem(value: str) -> str | None:
    if not value.isidentifier() or "__" in value or value.startswith("_") or value.endswith("_"):
        return "must be a Python identifier without '__' and without a leading or trailing '_'"
    return None


def _check_blender_min(value: object) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
        return "must be three numbers such as \"4.2.0\""
    if tuple(int(x) for x in value.split(".")) < (4, 2, 0):
        return "must be 4.2.0 or newer (extensions need Blender 4.2)"
    return None


def _check_permissions(value: object) -> list[str]:
    if not isinstance(value, dict):
        return ["[permissions] must be a table of reasons, e.g. files = \"Read videos\" (not a list)"]
    problems = []
    for key, reason in value.items():
        if key not in PERMISSION_KEYS:
            problems.append(f"permissions: unknown key {key!r}; allowed: {', '.join(PERMISSION_KEYS)}")
        elif (p := _terse_problem(reason)) is not None:
            problems.append(f"permissions.{key}: reason {p}")
    return problems


def manifest_problems(data: dict) -> list[str]:
    """Return every problem of a parsed manifest (empty when it is valid)."""
    problems = [f"missing required key {k!r}" for k in REQUIRED_KEYS if k not in data]
    strings = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min")
    problems += [f"{k!r} must be a string" for k in strings if k in data and not isinstance(data[k], str)]
    if problems:
        return problems
    checks = {
        "id": _id_problem(data["id"]),
        "version": None if SEMVER.match(data["version"]) else "must be a semantic version such as \"0.1.0\"",
        "schema_version": None if SEMVER.match(data["schema_version"]) else "must be a version such as \"1.0.0\"",
        "tagline": _terse_problem(data["tagline"]),
        "type": None if data["type"] in ("add-on", "theme") else "must be \"add-on\" or \"theme\"",
        "blender_version_min": _check_blender_min(data["blender_version_min"]),
        "name": None if data["name"].strip() and not CONTROL.search(data["name"]) else "must be a non-empty name",
        "maintainer": None if data["maintainer"].strip() else "must not be empty",
    }
    problems += [f"{k}: {p}" for k, p in checks.items() if p is not None]
    for key in ("license", "tags"):
        value = data.get(key, ["x"])
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{key}: must be a non-empty list of strings")
    if "permissions" in data:
        problems += _check_permissions(data["permissions"])
    return problems


def read_manifest(path: Path) -> dict:
    """Return the parsed manifest at ``path``; raises BuildError with the TOML error."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BuildError(f"{path}: cannot read the manifest ({e})") from None


def check_manifest(path: Path) -> dict:
    """Return the manifest at ``path`` if valid; raises BuildError listing every problem."""
    data = read_manifest(path)
    problems = manifest_problems(data)
    if problems:
        raise BuildError(f"{path} is not a valid extension manifest:\n  - " + "\n  - ".join(problems))
    return data


# -- the zip ------------------------------------------------------------------------------------------


def blender_safe_modules(engine_gate: Path = ADDON_DIR / "_engine.py") -> tuple[str, ...]:
    """Return BLENDER_SAFE_MODULES as written in addon/_engine.py (read with ast, not imported)."""
    tree = ast.parse(engine_gate.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "BLENDER_SAFE_MODULES":
            return tuple(ast.literal_eval(node.value))
    raise BuildError(f"{engine_gate}: no BLENDER_SAFE_MODULES tuple")


def default_weights_name(root: Path = ROOT) -> str:
    """Return core.config.DEFAULT_WEIGHTS_NAME, read from the source (build.py imports nothing of the engine)."""
    for node in ast.parse((root / "core" / "config.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DEFAULT_WEIGHTS_NAME":
            return ast.literal_eval(node.value)
    raise BuildError(f"{root / 'core' / 'config.py'}: no DEFAULT_WEIGHTS_NAME")


def _wanted(path: Path, base: Path, weights: str = "") -> bool:
    """Whether ``path`` goes into the zip: source and data files, and of core/assets' weights only the default
    (the comparison lifters stay in the repository: they are for benchmarks, not for the worker)."""
    rel = path.relative_to(base)
    if path.parent.name == "assets" and path.suffix in (".safetensors", ".json"):
        return path.stem == Path(weights).stem
    return (path.is_file() and not any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts)
            and not path.name.endswith(SKIP_SUFFIXES))


def package_files(root: Path = ROOT) -> dict[str, Path]:
    """Return {name in the zip: source file} for the add-on and the engine."""
    files = {MANIFEST: root / MANIFEST}
    addon = root / "addon"
    files.update({p.relative_to(addon).as_posix(): p for p in sorted(addon.rglob("*")) if _wanted(p, addon)})
    weights = default_weights_name(root)
    for package in ENGINE_PACKAGES:
        base = root / package
        files.update({f"{ENGINE_DIR}/{p.relative_to(root).as_posix()}": p
                      for p in sorted(base.rglob("*")) if _wanted(p, base, weights)})
    for name in ENGINE_FILES:
        if (root / name).is_file():
            files[f"{ENGINE_DIR}/{name}"] = root / name
    return files


def worker_requirements(requirements: str) -> str:
    """Return ``requirements`` without the dev/test-only pins (bpy, pytest, hypothesis, ruff)."""
    keep = []
    for line in requirements.splitlines():
        name = re.split(r"[\s=<>!~\[;]", line.strip(), maxsplit=1)[0].lower()
        if name not in DEV_ONLY_REQUIREMENTS:
            keep.append(line)
    return "\n".join(["# Generated by build.py from requirements.txt: the worker venv's pins."] + keep) + "\n"


def check_contents(files: dict[str, Path], root: Path = ROOT) -> None:
    """Raise BuildError when a Blender-safe module or the worker entry point would be missing."""
    needed = [f"{ENGINE_DIR}/{m.replace('.', '/')}.py" for m in blender_safe_modules(root / "addon" / "_engine.py")]
    needed += [f"{ENGINE_DIR}/posemoe_blender/worker.py", f"{ENGINE_DIR}/requirements.txt", "__init__.py"]
    missing = [n for n in needed if n not in files]
    if missing:
        raise BuildError("the package would lack " + ", ".join(missing) + "; the add-on needs them")
    if f"{ENGINE_DIR}/core/assets/{default_weights_name(root)}" not in files:
        log.warning("no default weights under core/assets/: the worker will need --weights")


def build(out_dir: Path = ROOT / "dist", root: Path = ROOT) -> Path:
    """Write the extension zip into ``out_dir`` and return its path."""
    manifest = check_manifest(root / MANIFEST)
    files = package_files(root)
    check_contents(files, root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, source in sorted(files.items()):
            zf.write(source, name)
        if f"{ENGINE_DIR}/requirements-worker.txt" not in files:
            text = (root / "requirements.txt").read_text(encoding="utf-8")
            zf.writestr(f"{ENGINE_DIR}/requirements-worker.txt", worker_requirements(text))
    tmp.replace(target)
    log.info("wrote %s (%d files, %.1f MB)", target, len(files), target.stat().st_size / 1e6)
    return target


# -- validation ------------------------------------------------------------------------------------------


def _bpy_validator() -> Path | None:
    """Return blender_ext.py (Blender's extension CLI) from an installed bpy module, if any."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    hits = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return hits[-1] if hits else None


def validate(zip_path: Path) -> None:
    """Validate the built zip with Blender when possible, always with this script's checks."""
    with zipfile.ZipFile(zip_path) as zf:
        if MANIFEST not in zf.namelist():
            raise BuildError(f"{zip_path}: no {MANIFEST} at the zip root")
        problems = manifest_problems(tomllib.loads(zf.read(MANIFEST).decode("utf-8")))
    if problems:
        raise BuildError(f"{zip_path}: manifest problems:\n  - " + "\n  - ".join(problems))
    blender, validator = shutil.which("blender"), _bpy_validator()
    if blender:
        argv = [blender, "--factory-startup", "--command", "extension", "validate", str(zip_path)]
    elif validator:
        argv = [sys.executable, str(validator), "validate", str(zip_path)]
    else:
        log.info("no blender binary or bpy module: checked the manifest fields only")
        return
    proc = subprocess.run(argv, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "error" in output.lower():
        raise BuildError(f"Blender's validator rejected {zip_path}:\n{output}")
    log.info("%s: %s", "blender" if blender else "bpy's blender_ext.py", output.splitlines()[-1] if output else "ok")


def main(argv: list[str] | None = None) -> int:
    """Build (and optionally validate) the extension; return the exit code."""
    parser = argparse.ArgumentParser(description="Build the PoseMoE Blender extension zip.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip")
    parser.add_argument("--validate", action="store_true", help="validate the built zip (Blender's validator if found)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="only check this manifest file (no build); with --validate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.manifest is not None:
            check_manifest(args.manifest)
            log.info("%s: manifest OK", args.manifest)
            return 0
        target = build(args.out)
        if args.validate:
            validate(target)
    except BuildError as e:
        log.error("error: %s", e)
        return 1
    sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
