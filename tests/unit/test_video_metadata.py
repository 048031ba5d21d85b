"""core.video_metadata: the lens a video file states (QuickTime keyed metadata), read without decoding."""

import struct

import pytest
from quicktime_boxes import box, ffmpeg_movie, movie

from core.video_metadata import LENS_KEY, lens_meta_box, read_lens_mm, write_lens_mm


def _meta(value_type: int, value: bytes, key: str = LENS_KEY, others: tuple[str, ...] = (), iso: bool = False) -> bytes:
    """A meta box with ``others`` keys first, then ``key`` holding ``value`` of ``value_type``."""
    names = [*others, key]
    entries = b"".join(struct.pack(">I", 8 + len(n)) + b"mdta" + n.encode() for n in names)
    keys = box(b"keys", struct.pack(">II", 0, len(names)) + entries)
    items = b"".join(box(struct.pack(">I", i), box(b"data", struct.pack(">II", 1, 0) + b"x"))
                     for i in range(1, len(names)))
    items += box(struct.pack(">I", len(names)), box(b"data", struct.pack(">II", value_type, 0) + value))
    return box(b"meta", (b"\0\0\0\0" if iso else b"") + keys + box(b"ilst", items))


def _read(tmp_path, data: bytes) -> float | None:
    p = tmp_path / "clip.mov"
    p.write_bytes(data)
    return read_lens_mm(p)


@pytest.mark.parametrize("value_type, value, expected", [
    (23, struct.pack(">f", 13.0), 13.0),  # float32, as iPhones write it
    (24, struct.pack(">d", 77.5), 77.5),
    (1, b"26", 26.0),  # text, as ffmpeg writes it
    (2, "24".encode("utf-16-be"), 24.0),
    (21, struct.pack(">h", 120), 120.0),  # big-endian signed, 2 bytes
    (22, bytes([0, 0, 48]), 48.0),  # big-endian unsigned, 3 bytes
    (66, struct.pack(">h", -13), -13.0),  # read as stated; the pipeline rejects impossible lenses
    (77, struct.pack(">I", 35), 35.0),
])
def test_every_numeric_value_type_reads(tmp_path, value_type, value, expected):
    assert _read(tmp_path, movie(_meta(value_type, value, others=("com.apple.quicktime.make",)))) == expected


@pytest.mark.parametrize("value_type, value", [
    (23, struct.pack(">f", float("nan"))), (1, b"wide"), (13, b"\xff\xd8"), (23, b"\0\0"), (21, bytes(5)),
])
def test_values_that_are_not_a_number_read_as_unknown(tmp_path, value_type, value):
    assert _read(tmp_path, movie(_meta(value_type, value))) is None


def test_where_the_box_sits(tmp_path):
    meta = _meta(23, struct.pack(">f", 13.0))
    assert _read(tmp_path, movie(meta, fast_start=True)) == 13.0  # the movie box before the media
    assert _read(tmp_path, movie(meta, large_mdat=True)) == 13.0  # a 64-bit box size before it
    iso = _meta(23, struct.pack(">f", 14.0), iso=True)
    assert _read(tmp_path, movie(box(b"udta", iso))) == 14.0  # ISO meta (version + flags) under user data
    assert _read(tmp_path, movie(box(b"trak", box(b"udta", iso)))) == 14.0  # in a track


def test_files_that_do_not_state_the_lens(tmp_path):
    assert _read(tmp_path, movie(b"")) is None
    assert _read(tmp_path, movie(_meta(23, struct.pack(">f", 13.0), key="com.apple.quicktime.make"))) is None
    assert _read(tmp_path, b"") is None
    assert _read(tmp_path, b"not a video at all") is None
    assert read_lens_mm(tmp_path / "missing.mov") is None
    assert read_lens_mm(tmp_path) is None  # a folder


def test_broken_structures_read_as_unknown(tmp_path):
    good = movie(_meta(23, struct.pack(">f", 13.0)))
    assert _read(tmp_path, good[:-10]) is None  # truncated: the movie box runs past the end
    at = good.index(b"keys") - 4
    bad_entry = good[:at + 16] + struct.pack(">I", 3) + good[at + 20:]  # a key entry shorter than its header
    assert _read(tmp_path, bad_entry) is None
    no_item = good.replace(struct.pack(">I4s", 20, b"data"), struct.pack(">I4s", 20, b"free"))
    assert _read(tmp_path, no_item) is None
    huge = box(b"moov", struct.pack(">I4s", 2**31, b"meta"))  # a meta box claiming 2 GB
    assert _read(tmp_path, huge) is None


def test_write_then_read_and_the_file_stays_playable_in_structure(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(movie(b""))
    write_lens_mm(p, 13.0)
    assert read_lens_mm(p) == 13.0
    data = p.read_bytes()
    moov = data.index(b"moov") - 4
    assert struct.unpack(">I", data[moov:moov + 4])[0] == len(data) - moov  # the movie box grew to hold it
    assert data.endswith(lens_meta_box(13.0))


def test_write_refuses_a_fast_start_file(tmp_path):
    p = tmp_path / "clip.mp4"
    before = movie(b"", fast_start=True)
    p.write_bytes(before)
    with pytest.raises(ValueError, match="last box"):
        write_lens_mm(p, 13.0)
    assert p.read_bytes() == before


def test_reads_what_ffmpeg_writes(tmp_path):
    """Another writer's box (quicktime_boxes.FFMPEG_META): ISO form under user data, a text value, the lens the
    third of four keys."""
    assert _read(tmp_path, ffmpeg_movie()) == 13.0
