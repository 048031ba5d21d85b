"""Streaming video reading on OpenCV: never loads a whole clip into memory.

Honours rotation metadata (phone clips), reports unreadable files and codecs OpenCV
cannot decode (AV1) with one actionable line, and decodes on a background thread so
decoding overlaps with detection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputFileError, InputNotFoundError, VideoError
from core.file_checks import not_a_file
from core.native_logs import quiet_native_stderr
from core.video_metadata import lacks_mp4_index

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
MIN_FPS = 1.0
"""A stated rate below this is taken as unknown (a zero time scale reads as 0.002 fps)."""
_UNDECODABLE_FOURCC = {"av01": "AV1", "AV01": "AV1"}


@dataclass(frozen=True)
class VideoInfo:
    """What a clip holds: frame size after rotation (pixels), frames per second, frame count."""

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    codec: str


_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
                (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


GIT_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def is_git_lfs_pointer(path: Path) -> bool:
    """True for a Git LFS pointer file: the small text a clone without ``git lfs`` holds in place of a large file."""
    try:
        with open(path, "rb") as f:
            return f.read(len(GIT_LFS_POINTER)) == GIT_LFS_POINTER
    except OSError:
        return False


def _fourcc(cap) -> str:
    import cv2

    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")


@contextlib.contextmanager
def _utf8_named(path: Path) -> Iterator[str]:
    """Yield a name OpenCV can take for ``path``: itself, or, where the name is not valid UTF-8 (a Latin-1 name
    from an old zip or network share, which crashes OpenCV's FFmpeg reader), a link to it with a plain name in a
    temporary folder, gone once the file is open."""
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="posemoe-video-") as tmp:
            link = Path(tmp) / f"video{path.suffix.encode('ascii', 'replace').decode()}"
            try:
                os.symlink(os.fsencode(path.absolute()), link)
            except OSError:  # no right to make links (Windows without developer mode)
                raise VideoError(f"{os.fsencode(name).decode('utf-8', 'backslashreplace')}: the file name is not "
                                 "valid text, which the video reader cannot open; rename the file") from None
            yield str(link)
        return
    yield name


def _animated(path: Path) -> bool:
    """True for a GIF of more than one frame (dance clips are often shared so): FFmpeg reads it as a video."""
    import cv2

    with quiet_native_stderr(), _utf8_named(path) as name:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    try:
        return cap.isOpened() and cap.grab() and cap.grab()
    finally:
        cap.release()


def _open(path: Path):
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: video not found; check the path")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file; give one video file (an image sequence: encode "
                         "it first, e.g. ffmpeg -framerate 30 -i img_%04d.png clip.mp4)")
    if (kind := not_a_file(path)) is not None:
        raise VideoError(f"{path}: is {kind}, not a video file; give the video file itself")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes); re-export or re-copy the video")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise InputFileError(f"{path}: cannot read it ({e.strerror}); check the file's permissions") from None
    if is_git_lfs_pointer(path):
        raise VideoError(f"{path}: is a Git LFS pointer, not the video; fetch the file itself (git lfs pull)")
    image = next((kind for magic, kind in _IMAGE_MAGIC if head.startswith(magic)), None)
    if image is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        image = "WebP"
    if image is not None and not (image == "GIF" and _animated(path)):  # OpenCV would read it as a one-frame video
        raise VideoError(f"{path}: is a {'still ' * (image == 'GIF')}{image} image, not a video; capture motion from "
                         "a video clip")
    if head.startswith(b"PK\x03\x04") and path.suffix.lower() == ".npz":
        raise VideoError(f"{path}: is a .npz file (keypoints or motion), not a video; lift keypoints with posemoe "
                         "lift, bake motion with posemoe bake")
    with quiet_native_stderr(), _utf8_named(path) as name:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        if lacks_mp4_index(path):
            raise VideoError(f"{path}: the file has no index (no 'moov' box): it was cut short in copying, or its "
                             "recording never finished; copy it again from the original")
        raise VideoError(
            f"{path}: not a video OpenCV can open; convert it to H.264 MP4 (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)"
        )
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def probe(path: Path) -> VideoInfo:
    """Return the clip's :class:`VideoInfo`, decoding one frame to prove it is readable."""
    import cv2

    path = Path(path)
    cap = _open(path)
    try:
        codec = _fourcc(cap)
        with quiet_native_stderr():
            ok, frame = cap.read()
        if not ok or frame is None:
            if codec in _UNDECODABLE_FOURCC:
                raise VideoError(
                    f"{path}: {_UNDECODABLE_FOURCC[codec]} video cannot be decoded here; "
                    "convert it to H.264 (ffmpeg -i IN -c:v libx264 OUT.mp4)"
                )
            raise VideoError(f"{path}: no frame could be decoded (truncated or unsupported codec '{codec}'); "
                             "convert it to H.264 MP4")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not np.isfinite(fps) or fps < MIN_FPS or fps > 1000:  # a broken time base, not a camera's rate
            log.warning("%s: frame rate unknown (%s); assuming %.0f fps", path, fps, DEFAULT_FPS)
            fps = DEFAULT_FPS
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return VideoInfo(path, int(frame.shape[1]), int(frame.shape[0]), fps, max(count, 0), codec)
    finally:
        cap.release()


def iter_frames(path: Path, prefetch: int = 8, rgb: bool = True) -> Iterator[np.ndarray]:
    """Yield (H,W,3) uint8 frames (RGB unless ``rgb=False``), decoded ahead on a thread.

    At most ``prefetch`` decoded frames are held at once, so memory is bounded whatever
    the clip length. Stopping the iteration early stops the decoder thread.
    """
    import cv2

    cap = _open(Path(path))
    frames: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    _END = object()

    def decode() -> None:
        try:
            while not stop.is_set():
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if rgb:
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                while not stop.is_set():
                    try:
                        frames.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        finally:
            cap.release()
            while not stop.is_set():
                try:
                    frames.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=decode, name="video-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = frames.get()
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
