"""posemoe_blender.demo: the demo clip is rendered on demand, never shipped; a clear error without the data."""

import pytest

from core.errors import InputNotFoundError
from posemoe_blender import demo


def test_missing_shared_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_VIDEO", tmp_path / "cache" / "demo_clip.mp4")
    monkeypatch.setattr(demo, "DEMO_TRUTH", tmp_path / "cache" / "demo_clip_truth.npz")
    monkeypatch.setattr(demo, "SHARED_DATA", tmp_path / "no shared data")
    with pytest.raises(InputNotFoundError, match="shared beside it"):
        demo.ensure_demo_clip()
    assert not (tmp_path / "cache").exists()  # nothing half-made


def test_a_rendered_clip_is_reused(tmp_path, monkeypatch):
    video, truth = tmp_path / "demo_clip.mp4", tmp_path / "demo_clip_truth.npz"
    video.write_bytes(b"v")
    truth.write_bytes(b"t")
    monkeypatch.setattr(demo, "DEMO_VIDEO", video)
    monkeypatch.setattr(demo, "DEMO_TRUTH", truth)
    monkeypatch.setattr(demo, "SHARED_DATA", tmp_path / "absent")  # not needed once rendered
    assert demo.ensure_demo_clip() == (video, truth)
