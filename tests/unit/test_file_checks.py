"""core.file_checks: a path that is not a regular file is named for what it is, before anything opens it."""

import os
import threading
from pathlib import Path

import pytest

from core.errors import InputFileError
from core.file_checks import not_a_file
from core.motion_file import read_keypoints


def test_kinds(tmp_path: Path) -> None:
    (tmp_path / "f.npz").write_bytes(b"x")
    os.symlink(tmp_path / "f.npz", tmp_path / "link.npz")
    assert not_a_file(tmp_path / "f.npz") is None and not_a_file(tmp_path / "link.npz") is None
    assert not_a_file(tmp_path / "missing.npz") is None  # "not found" is the caller's to say
    assert not_a_file(tmp_path) == "a folder"
    assert not_a_file(Path("/dev/null")) == "a character device"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_is_refused_without_opening_it(tmp_path: Path) -> None:
    pipe = tmp_path / "k.npz"
    os.mkfifo(pipe)
    # Were it opened for reading it would block until a writer comes: this one comes after 5 s, so a regression
    # fails slowly instead of hanging the suite.
    writer = threading.Timer(5.0, lambda: os.close(os.open(pipe, os.O_WRONLY)))
    writer.start()
    try:
        assert not_a_file(pipe) == "a named pipe (FIFO)"
        with pytest.raises(InputFileError, match=r"k\.npz: is a named pipe \(FIFO\), expected a keypoints"):
            read_keypoints(pipe)
        assert writer.is_alive()  # refused at once, not after the writer unblocked an open()
    finally:
        writer.cancel()


def test_utf8_name_keeps_text_and_replaces_bytes_that_are_not_utf8():
    from core.file_checks import utf8_name

    assert utf8_name("café 舞") == "café 舞"
    assert utf8_name(os.fsdecode(b"caf\xe9 latin-1")) == "caf_ latin-1"  # Python's escape of a Latin-1 byte
    assert utf8_name("a\ud800b") == "a?b"  # any other lone surrogate (not a file name's byte)
