import numpy as np
import pytest

from core.errors import InputNotFoundError, VideoError
from core.video import iter_frames, probe


def write_clip(path, frames=12, size=(64, 48), fps=25.0):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        w.write(img)
    w.release()
    return path


def test_probe_and_stream(tmp_path):
    p = write_clip(tmp_path / "c.avi")
    info = probe(p)
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    frames = list(iter_frames(p, prefetch=2))
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8


def test_stopping_early_releases_decoder(tmp_path):
    p = write_clip(tmp_path / "c.avi", frames=50)
    it = iter_frames(p, prefetch=1)
    next(it)
    it.close()  # must not hang


@pytest.mark.parametrize("content,name", [(b"", "empty.mp4"), (b"this is text" * 100, "text.mp4"),
                                          (b"\x89PNG\r\n\x1a\n" + bytes(200), "image.mp4"),
                                          (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n",
                                           "pointer.mp4")])
def test_not_a_video(tmp_path, content, name):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(VideoError) as e:
        probe(p)
    assert str(p) in str(e.value)


def test_truncated_video(tmp_path):
    p = write_clip(tmp_path / "c.avi", frames=5)
    data = p.read_bytes()
    t = tmp_path / "trunc.avi"
    t.write_bytes(data[: len(data) // 10])
    with pytest.raises(VideoError):
        probe(t)


def test_an_mp4_cut_before_its_index_says_so(tmp_path):
    """A recording that never finished (or a copy cut short) has its frames but no 'moov' box: say that, not
    'convert it to H.264'."""
    import struct

    t = tmp_path / "cut.mp4"
    t.write_bytes(struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x02\x00" + struct.pack(">I4s", 4008, b"mdat")
                  + bytes(4000))
    with pytest.raises(VideoError, match="no index"):
        probe(t)


def test_missing_and_folder(tmp_path):
    with pytest.raises(InputNotFoundError):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoError):
        probe(tmp_path)


def test_a_name_that_is_not_text_opens_through_a_link_or_says_to_rename(tmp_path, monkeypatch):
    """OpenCV's reader crashes on a file name that is not UTF-8 (a Latin-1 name from an old zip): it is opened
    through a link with a plain name; where no link can be made (Windows without the right), one line says why."""
    import os
    from pathlib import Path

    from core import video

    latin = tmp_path / os.fsdecode(b"caf\xe9.mp4")
    latin.write_bytes(b"0")
    with video._utf8_named(latin) as name:
        assert name.isascii() and Path(name).resolve() == latin.resolve()
    with video._utf8_named(tmp_path / "plain.mp4") as name:
        assert name == str(tmp_path / "plain.mp4")

    def refused(*_a, **_k):
        raise OSError(1, "A required privilege is not held by the client")

    monkeypatch.setattr(video.os, "symlink", refused)
    with pytest.raises(VideoError, match=r"caf\\xe9.mp4: the file name is not valid text.*rename the file"):
        with video._utf8_named(latin):
            pass
