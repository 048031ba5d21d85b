"""scripts/render_real2d_set.py: seeded clip draws, training subjects only."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from render_real2d_set import CHARACTERS, clip_spec, training_rows  # noqa: E402

ROWS = [{"clip": f"{s}_01", "subject": s, "seconds": str(sec), "category": "walk", "path": f"/x/{s}_01.bvh.gz"}
        for s, sec in (("01", 10.0), ("07", 2.0), ("86", 30.0))]  # fmt: skip


def test_clip_draws_depend_on_seed_and_index_only_and_stay_in_range():
    a = [clip_spec(ROWS, 3, i, 3.0) for i in range(30)]
    assert a == [clip_spec(ROWS, 3, i, 3.0) for i in range(30)]
    assert a != [clip_spec(ROWS, 4, i, 3.0) for i in range(30)]
    assert len({s["name"] for s in a}) == 30
    for s in a:
        length = {r["path"]: float(r["seconds"]) for r in ROWS}[s["bvh"]]
        assert s["seconds"] == min(3.0, length) and 0.0 <= s["start"] <= max(0.0, length - 3.0) + 1e-9
        assert s["character"] in CHARACTERS and -180 <= s["yaw"] <= 180 and s["size"] in ("640x480", "480x640")
    assert len({s["character"] for s in a}) > 2


def test_training_rows_hold_no_validation_subject(shared_data):
    from core.datasets import VALIDATION_SUBJECTS, default_data_dir

    rows = training_rows(default_data_dir())
    assert len(rows) > 500
    assert not {r["subject"] for r in rows} & set(VALIDATION_SUBJECTS)


def test_validation_rows_hold_only_validation_subjects(shared_data):
    """--validation: a held-out set to measure on, drawn from the validation subjects only."""
    from core.datasets import VALIDATION_SUBJECTS, default_data_dir

    rows = training_rows(default_data_dir(), validation=True)
    assert rows and {r["subject"] for r in rows} <= set(VALIDATION_SUBJECTS)
    assert clip_spec(rows, 0, 0, 3.0, "v")["name"].startswith("v0_0000_")
    long = training_rows(default_data_dir(), validation=True, min_seconds=8.0)  # --min-seconds: long takes only
    assert long and all(float(r["seconds"]) >= 8.0 for r in long) and len(long) < len(rows)
    assert all(r in rows for r in long)


def test_camera_height_range_is_drawn_within_and_leaves_the_other_draws_alone():
    """--raise: steep cameras change the camera's height only; the default range keeps earlier sets' draws."""
    plain = [clip_spec(ROWS, 5, i, 3.0) for i in range(20)]
    steep = [clip_spec(ROWS, 5, i, 3.0, raise_m=(2.5, 5.0)) for i in range(20)]
    assert all(-0.6 <= s["raise"] <= 1.5 for s in plain) and all(2.5 <= s["raise"] <= 5.0 for s in steep)
    assert [{**s, "raise": 0} for s in plain] == [{**s, "raise": 0} for s in steep]
    assert plain == [clip_spec(ROWS, 5, i, 3.0, raise_m=(-0.6, 1.5)) for i in range(20)]
