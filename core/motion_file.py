"""Keypoint and motion files (.npz, ``allow_pickle=False``): validated readers, atomic writers.

Formats are specified in docs/FORMATS.md. Blender-safe: stdlib + numpy only.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputFileError, InputNotFoundError, OutputError
from core.file_checks import not_a_file
from core.skeleton import JOINT_NAMES, NUM_JOINTS

log = logging.getLogger(__name__)

MOTION_FORMAT_VERSION = 1
KEYPOINTS_REQUIRED = ("joints_2d", "scores", "valid", "fps", "image_size")
MOTION_REQUIRED = KEYPOINTS_REQUIRED + ("joints_3d", "root", "joint_names", "meta")
DETECTOR_EXTRAS = ("mp_landmarks", "mp_world", "camera_flow", "camera_flow_frames")
"""Keypoints-file extras that stay there: the detector's own output and the background corners (large; what the
clean-up needed of them is in the motion)."""
JOINT_CENTRES_KEY = "joint_centres_2d"
"""Motion-file extra (scalar 1) saying its ``joints_2d`` are our extractor's joint centres, as in a keypoints file that
keeps ``mp_landmarks``: lifting them again raises the lifter's ankles the same way (core.keypoints.lifter_ankles)."""
MAX_FRAMES = 10_000_000  # ~3.8 days at 30 fps: anything larger is a corrupt header
KEYPOINT_FPS_RANGE = (0.001, 1000.0)
"""Frame rates a keypoints file may state: down to a zero time scale's 0.002 (what a broken header reads as), up to a
high-speed camera; far below, the clean-up's filters overflow (1e-160 fps crashed them)."""
MAX_IMAGE_SIDE = 100_000
"""Largest image side, pixels, a keypoints file may state (1e10 made the root's solve singular)."""
MAX_OUTSIDE = 100.0
"""Keypoints may lie off the image (a limb out of frame), but not beyond this many image sides from it."""


@dataclass
class Keypoints2D:
    """2D detections of one person over a clip.

    joints_2d: (T,17,2) float32 pixels, H36M order; scores: (T,17) float32 in [0,1];
    valid: (T,) bool, a person was detected (other frames were filled); fps; image_size (w,h).
    """

    joints_2d: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    fps: float
    image_size: tuple[int, int]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints_2d.shape[0])


@dataclass
class MotionClip(Keypoints2D):
    """A lifted clip: :class:`Keypoints2D` plus 3D.

    joints_3d: (T,17,3) float32 metres, camera frame, root-relative (pelvis = 0);
    root: (T,3) float32 metres, camera-frame pelvis position (NaN where unknown).
    """

    joints_3d: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_JOINTS, 3), np.float32))
    root: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    meta: dict = field(default_factory=dict)


VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".3gp", ".3g2", ".mts",
                  ".m2ts", ".flv", ".ogv", ".gif")
"""Names a video file ends in (phones' .3gp and camcorders' AVCHD .mts among them): what ``batch`` takes from a folder
or a glob, and the message when a video is given where a .npz is expected."""


def _load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} file not found; check the path")
    if (kind := not_a_file(path)) is not None:
        raise InputFileError(f"{path}: is {kind}, expected a {what} .npz file; give the file itself")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise InputFileError(f"{path}: cannot read it ({e.strerror}); check the file's permissions") from None
    if not zipfile.is_zipfile(path):  # np.load would take other bytes for a pickle and say so, which misleads
        if path.suffix.lower() in VIDEO_SUFFIXES:
            raise InputFileError(f"{path}: is a video, not a {what} .npz; make one from it first "
                                 f"(posemoe {'capture' if what == 'motion' else 'extract'} VIDEO -o FILE.npz)")
        raise InputFileError(f"{path}: not a {what} .npz (not a zip archive); re-create it with posemoe, "
                             "see docs/FORMATS.md")
    try:
        _check_declared_sizes(path)
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except InputFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, MemoryError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputFileError(
            f"{path}: not a readable {what} .npz ({first}); re-create it with posemoe, see docs/FORMATS.md"
        ) from None
    except Exception as e:  # zipfile.BadZipFile and friends from a corrupt archive
        raise InputFileError(f"{path}: corrupt {what} .npz ({type(e).__name__}); re-create it") from None


def _check_declared_sizes(path: Path) -> None:
    """Refuse an .npz (a zip archive: the caller checked) whose arrays claim more bytes than it holds."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            declared = int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1)
            if declared > info.file_size:
                raise InputFileError(f"{path}: '{info.filename[:-4]}' declares {shape} ({declared} bytes) but holds "
                                     f"{info.file_size} bytes; the file is corrupt, re-create it")


_KINDS = {"fiu": "numbers", "f": "floating-point numbers", "biu": "booleans or integers"}


def _check_array(path: Path, name: str, a: np.ndarray, shape: tuple, kinds: str) -> None:
    if a.dtype.kind not in kinds:
        raise InputFileError(f"{path}: '{name}' has dtype {a.dtype}, expected {_KINDS[kinds]}; see docs/FORMATS.md")
    if len(a.shape) != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape, strict=False)):
        want = "(" + ",".join("T" if s is None else str(s) for s in shape) + ")"
        raise InputFileError(f"{path}: '{name}' has shape {a.shape}, expected {want}; see docs/FORMATS.md")


def _scalar(path: Path, name: str, a: np.ndarray) -> float:
    if a.dtype.kind not in "fiu" or a.size != 1:
        raise InputFileError(f"{path}: '{name}' must be one number, got {a.dtype} {a.shape}")
    return float(a.reshape(()))


def _parse_keypoints(path: Path, a: dict[str, np.ndarray]) -> Keypoints2D:
    missing = [k for k in KEYPOINTS_REQUIRED if k not in a]
    if missing:
        raise InputFileError(f"{path}: missing keys {missing}; a keypoints file needs {list(KEYPOINTS_REQUIRED)}")
    j2 = a["joints_2d"]
    _check_array(path, "joints_2d", j2, (None, NUM_JOINTS, 2), "fiu")
    t = j2.shape[0]
    if t < 1 or t > MAX_FRAMES:
        raise InputFileError(f"{path}: 'joints_2d' has {t} frames; expected 1..{MAX_FRAMES}")
    _check_array(path, "scores", a["scores"], (t, NUM_JOINTS), "fiu")
    _check_array(path, "valid", a["valid"], (t,), "biu")
    fps = _scalar(path, "fps", a["fps"])
    lo, hi = KEYPOINT_FPS_RANGE
    if not (np.isfinite(fps) and lo <= fps <= hi):
        raise InputFileError(f"{path}: fps={fps} is not a frame rate in [{lo:g}, {hi:g}]; write the clip's own rate")
    size = a["image_size"]
    if size.dtype.kind not in "fiu" or size.shape != (2,) or not np.all(np.isfinite(size)) or np.any(size < 1) \
            or np.any(size > MAX_IMAGE_SIDE):
        got = size.tolist() if size.size <= 4 else f"{size.dtype} {size.shape}"  # one line, whatever it holds
        raise InputFileError(f"{path}: 'image_size' must be (width, height) in pixels, 1 to {MAX_IMAGE_SIDE:,}, "
                             f"got {got}")
    valid = a["valid"].astype(bool)
    joints_2d = j2.astype(np.float32)
    scores = a["scores"].astype(np.float32)
    if not np.all(np.isfinite(joints_2d[valid])) or not np.all(np.isfinite(scores[valid])):
        raise InputFileError(f"{path}: 'joints_2d'/'scores' contain NaN or inf in frames marked valid")
    if not valid.any():
        raise InputFileError(f"{path}: no frame is marked valid (no person detected); nothing to lift")
    joints_2d[~valid] = np.nan_to_num(joints_2d[~valid])  # other detectors write NaN where they found nobody
    extras = {k: v for k, v in a.items() if k not in MOTION_REQUIRED}
    return Keypoints2D(joints_2d, np.clip(np.nan_to_num(scores), 0, 1), valid, fps,
                       (int(size[0]), int(size[1])), extras)


def _check_pixels(path: Path, xy: np.ndarray, size: np.ndarray) -> None:
    """Refuse 2D that cannot be pixel coordinates on an image of ``size``: far outside it, or all within a
    couple of pixels (0-1 normalised coordinates, as some detectors write)."""
    side = float(np.max(size))
    reach = float(np.abs(xy).max())
    if reach > MAX_OUTSIDE * side:
        raise InputFileError(f"{path}: 'joints_2d' reaches {reach:.3g} px on a {int(size[0])}x{int(size[1])} image; "
                             "expected pixel coordinates on that image (docs/FORMATS.md)")
    if side >= 64 and float(np.ptp(xy, axis=(0, 1)).max()) < 2.0:
        raise InputFileError(f"{path}: 'joints_2d' spans under 2 px on a {int(size[0])}x{int(size[1])} image; "
                             "normalised (0-1) coordinates? multiply them by the image width and height")
    w, h = float(size[0]), float(size[1])
    if xy.size:
        mid = np.median(xy.reshape(-1, 2), axis=0)  # the body's middle: a close-up's legs off the frame hardly move it
        if not (-0.5 * w <= mid[0] <= 1.5 * w and -0.5 * h <= mid[1] <= 1.5 * h):
            log.warning("%s: the keypoints' middle (%.0f, %.0f) lies over half an image outside the stated %dx%d "
                        "image; was image_size written for another resolution? then the lifted motion will be wrong",
                        path, mid[0], mid[1], int(w), int(h))


def read_keypoints(path: Path) -> Keypoints2D:
    """Return the validated 2D keypoints in ``path`` (any .npz with the five required keys)."""
    path = Path(path)
    kp = _parse_keypoints(path, _load_npz(path, "keypoints"))
    _check_pixels(path, kp.joints_2d[kp.valid], np.asarray(kp.image_size))  # what lifting reads (baking does not)
    return kp


def read_motion(path: Path) -> MotionClip:
    """Return the validated motion clip in ``path``; raises InputFileError on any defect."""
    path = Path(path)
    a = _load_npz(path, "motion")
    missing = [k for k in MOTION_REQUIRED if k not in a]
    if missing:
        raise InputFileError(f"{path}: missing keys {missing}; not a posemoe motion file (docs/FORMATS.md)")
    kp = _parse_keypoints(path, a)
    t = kp.num_frames
    _check_array(path, "joints_3d", a["joints_3d"], (t, NUM_JOINTS, 3), "f")
    _check_array(path, "root", a["root"], (t, 3), "f")
    joints_3d, root = a["joints_3d"].astype(np.float32), a["root"].astype(np.float32)  # checked as float32
    if not np.all(np.isfinite(joints_3d)) or np.any(np.isinf(root)):
        raise InputFileError(f"{path}: 'joints_3d' holds NaN or inf, or 'root' inf; re-run posemoe lift")
    names = a["joint_names"]
    if names.dtype.kind != "U" or tuple(names.tolist()) != JOINT_NAMES:
        raise InputFileError(f"{path}: 'joint_names' is not the H36M-17 list this version reads")
    try:
        meta = json.loads(str(a["meta"].reshape(())))
    except (ValueError, TypeError, RecursionError):
        raise InputFileError(f"{path}: 'meta' is not a JSON string") from None
    if not isinstance(meta, dict):
        raise InputFileError(f"{path}: 'meta' must be a JSON object")
    version = meta.get("format_version", 1)
    if isinstance(version, float) and version.is_integer() and abs(version) < 1e6:  # 1.0: other tools' JSON
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 10**6:
        raise InputFileError(f"{path}: meta format_version {version!r} is not a version number (1 to "
                             f"{MOTION_FORMAT_VERSION}); write an integer, see docs/FORMATS.md")
    if version > MOTION_FORMAT_VERSION:
        raise InputFileError(
            f"{path}: motion format version {version!r} is newer than this posemoe reads; update posemoe"
        )
    kp.extras.pop("meta", None)
    return MotionClip(kp.joints_2d, kp.scores, kp.valid, kp.fps, kp.image_size, kp.extras,
                      joints_3d=joints_3d, root=root, meta=meta)


TEMP_STEM_BYTES = 100


def temp_stem(stem: str) -> str:
    """Return ``stem`` cut to at most TEMP_STEM_BYTES bytes as the file system stores them (never inside a
    character): temp files beside an output start with it, and must fit where the output's own name (up to 255
    bytes: 85 CJK characters) fits. The batch's sweep of a killed run's temp files cuts names the same way."""
    out = stem[:TEMP_STEM_BYTES]
    while len(os.fsencode(out)) > TEMP_STEM_BYTES:
        out = out[:-1]
    return out


def _temp_beside(path: Path) -> tuple[int, str]:
    """Return (fd, name) of a new temp file beside ``path``; OutputError names what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give the output a file name ending in .npz")
    if path.suffix != ".npz":
        raise OutputError(f"{path}: output must end in .npz")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist; create it or choose another output")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give the output a file name ending in .npz")
    try:  # the stem cut short: the temp name must fit where the output's own name fits
        return tempfile.mkstemp(prefix=f".{temp_stem(path.stem)}.", suffix=".tmp.npz", dir=parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {parent} ({e.strerror}); choose a writable folder") from None


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back; done once at import,
    os.umask(mask)  # before any thread could create a file in the window
    return mask


_FILE_MODE = 0o666 & ~_read_umask()


def check_writable(path: Path) -> None:
    """Raise OutputError now (before minutes of work) when ``path`` could not be written."""
    fd, tmp = _temp_beside(path)
    os.close(fd)
    os.unlink(tmp)


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` via a temp file + rename; never leaves a partial file."""
    return atomic_save_all([(path, arrays)])[0]


def atomic_save_all(files: list[tuple[Path, dict[str, np.ndarray]]]) -> list[Path]:
    """Write each (path, arrays) .npz: every file goes to a temp file beside its path first, and only when all are
    written are they renamed into place, one after the other. A failed write (a full disk) leaves none of them and
    no temp file; only a failure or an interrupt between the renames, a moment, can leave some renamed."""
    temps: list[str] = []
    try:
        for path, arrays in files:
            fd, tmp = _temp_beside(Path(path))
            temps.append(tmp)
            _write_npz(fd, tmp, Path(path), arrays)
        for (path, _), tmp in zip(files, temps, strict=True):
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise OutputError(f"{path}: write failed ({e.strerror}); check that no other program holds it "
                                  "open and the folder is writable") from None
    except BaseException:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
        raise
    return [Path(path) for path, _ in files]


def _write_npz(fd: int, tmp: str, path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an .npz into the open temp file ``fd`` (named ``tmp``) that will become ``path``."""
    try:
        # np.savez's layout (stored, zip64), written here so that a failed write (disk full) closes the
        # archive at once instead of its finaliser raising on a closed file at exit; and never pickles
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            for name, value in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a normal file follows the user's umask
    except OSError as e:
        raise OutputError(f"{path}: write failed ({e.strerror}); check free space and permissions") from None


def keypoints_arrays(kp: Keypoints2D) -> dict[str, np.ndarray]:
    """Return the arrays of a keypoints file for ``kp`` (required keys + extras)."""
    out = {
        "joints_2d": np.asarray(kp.joints_2d, np.float32),
        "scores": np.asarray(kp.scores, np.float32),
        "valid": np.asarray(kp.valid, bool),
        "fps": np.asarray(float(kp.fps), np.float64),
        "image_size": np.asarray(kp.image_size, np.int64),
    }
    out.update({k: np.asarray(v) for k, v in kp.extras.items()})
    return out


def write_keypoints(path: Path, kp: Keypoints2D) -> Path:
    """Atomically write ``kp`` as a keypoints .npz."""
    return atomic_save_npz(path, keypoints_arrays(kp))


def write_motion(path: Path, clip: MotionClip) -> Path:
    """Atomically write ``clip`` as a motion .npz (format version in ``meta``)."""
    return atomic_save_npz(path, motion_arrays(clip))


def motion_arrays(clip: MotionClip) -> dict[str, np.ndarray]:
    """Return the arrays of a motion file for ``clip``."""
    meta = dict(clip.meta)
    meta.setdefault("format_version", MOTION_FORMAT_VERSION)
    arrays = keypoints_arrays(clip)
    for key in DETECTOR_EXTRAS:  # detector extras stay in keypoints files
        arrays.pop(key, None)
    arrays.update({
        "joints_3d": np.asarray(clip.joints_3d, np.float32),
        "root": np.asarray(clip.root, np.float32),
        "joint_names": np.asarray(JOINT_NAMES),
        "meta": np.asarray(json.dumps(meta)),
    })
    return arrays
