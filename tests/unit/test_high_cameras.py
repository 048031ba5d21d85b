"""benchmarks/high_cameras.py: the camera-height bands it reads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from high_cameras import band  # noqa: E402


def test_band_reads_low_high_metres():
    assert band("0.5-2") == (0.5, 2.0) and band("3-4.5") == (3.0, 4.5)


@pytest.mark.parametrize("text", ["2-1", "0-2", "3-3", "x-2"])
def test_band_refuses_empty_or_backwards_ranges(text):
    with pytest.raises((argparse.ArgumentTypeError, ValueError)):
        band(text)
