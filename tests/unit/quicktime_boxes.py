"""QuickTime box builders for the tests of core.video_metadata (tests/unit/test_video_metadata.py, the fuzzing)."""

import struct

FFMPEG_META = bytes.fromhex(
    "0000014d6d657461000000000000002168646c7200000000000000006d647461000000000000000000000000000000009f6b"
    "6579730000000000000004000000206d647461636f6d2e6170706c652e717569636b74696d652e6d616b65000000216d6474"
    "61636f6d2e6170706c652e717569636b74696d652e6d6f64656c0000003f6d647461636f6d2e6170706c652e717569636b74"
    "696d652e63616d6572612e666f63616c5f6c656e6774682e33356d6d5f6571756976616c656e740000000f6d647461656e63"
    "6f64657200000081696c73740000001d00000001000000156461746100000001000000004170706c650000001e0000000200"
    "0000166461746100000001000000006950686f6e650000001a00000003000000126461746100000001000000003133000000"
    "24000000040000001c6461746100000001000000004c61766636312e372e313030"
)
"""The ``meta`` box ffmpeg writes (libavformat 61.7 via PyAV 14.0.1, ``movflags=use_metadata_tags``, under
``udta``, ISO form) for the keys com.apple.quicktime.make = "Apple", .model = "iPhone",
.camera.focal_length.35mm_equivalent = "13" (text, as ffmpeg stores it; iPhones store a number) and its own
encoder key: another writer's bytes, so the tests do not only read what our writer writes."""


def box(kind: bytes, payload: bytes) -> bytes:
    """Return one box: 32-bit size, type, payload."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def movie(moov_children: bytes, fast_start: bool = False, large_mdat: bool = False) -> bytes:
    """Return the bytes of a QuickTime file (no playable media) whose movie box holds ``moov_children``."""
    ftyp = box(b"ftyp", b"qt  \0\0\0\0qt  ")
    mdat = (struct.pack(">I4sQ", 1, b"mdat", 16 + 64) + bytes(64)) if large_mdat else box(b"mdat", bytes(64))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + moov_children)
    return ftyp + (moov + mdat if fast_start else mdat + moov)


def ffmpeg_movie() -> bytes:
    """Return a file with ffmpeg's metadata box (:data:`FFMPEG_META`) where ffmpeg puts it."""
    return movie(box(b"udta", FFMPEG_META))
