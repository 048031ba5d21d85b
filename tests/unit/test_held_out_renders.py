"""benchmarks/held_out_renders.py: each variant makes its keypoints by its own rule; results pool per clip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import held_out_renders as hr  # noqa: E402
from test_side_flips import _walk  # noqa: E402

from core.keypoints import blazepose_to_h36m  # noqa: E402
from core.motion_file import Keypoints2D, write_keypoints  # noqa: E402

# BlazePose landmark -> the H36M joint of _walk it sits on (faces on the head, hands on the wrists, feet on the ankles)
_ON = {0: 9, **dict.fromkeys(range(1, 11), 10), 11: 11, 12: 14, 13: 12, 14: 15, 15: 13, 16: 16,
       **{i: 13 if i % 2 else 16 for i in range(17, 23)}, 23: 4, 24: 1, 25: 5, 26: 2, 27: 6, 28: 3,
       **{i: 6 if i % 2 else 3 for i in range(29, 33)}}  # fmt: skip
_MIRROR = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, *[i + (1 if i % 2 else -1) for i in range(11, 33)]]
"""BlazePose's left/right twin of each landmark."""


def _keypoints(flipped: slice | None = None) -> Keypoints2D:
    """Return keypoints of a walking body with MediaPipe-like landmarks (feet and hands a little off their joints),
    the whole body's labels traded on ``flipped``."""
    xy = _walk(yaw0_deg=30)
    lm = np.zeros((len(xy), 33, 4), np.float32)
    for i, j in _ON.items():
        lm[:, i, :2] = xy[:, j] + [3.0 * (i % 5) - 6.0, 4.0 if i >= 29 else 0.0]
    lm[..., 3] = 0.9
    if flipped is not None:
        lm[flipped] = lm[flipped][:, _MIRROR]
    world = np.concatenate([(lm[..., :2] - 320.0) / 200.0, np.zeros_like(lm[..., :1])], -1)
    joints, scores = blazepose_to_h36m(lm[..., :2], lm[..., 3])
    return Keypoints2D(joints, scores, np.ones(len(xy), bool), 30.0, (640, 480),
                       {"mp_landmarks": lm, "mp_world": world})


def test_the_flip_check_is_on_only_where_the_variant_says():
    clean, flipped = _keypoints(), _keypoints(slice(40, 46))
    shipped = hr.variant_keypoints(flipped, True, True, True)
    assert np.allclose(shipped.joints_2d, hr.variant_keypoints(clean, True, True, True).joints_2d, atol=1e-4)
    raw = hr.variant_keypoints(flipped, True, True, False)
    changed = np.flatnonzero(np.abs(raw.joints_2d - shipped.joints_2d).max(axis=(1, 2)) > 1e-3)
    assert changed.tolist() == list(range(40, 46))


def test_the_rules_differ_where_their_points_do():
    kp = _keypoints()
    shipped, limbs, old = (hr.variant_keypoints(kp, *hr.VARIANTS[v]) for v in
                           ("shipped", "mediapipe_limbs", "mediapipe_joints"))
    moved = np.abs(shipped.joints_2d - limbs.joints_2d).max(axis=(0, 2)) > 1e-3
    assert moved[[1, 2, 3, 4, 5, 6, 11, 12, 14, 15]].all() and not moved[[9, 10, 13, 16]].any()
    head = np.abs(limbs.joints_2d - old.joints_2d).max(axis=(0, 2)) > 1e-3
    assert head[[9, 10]].all() and not head[[1, 2, 3, 13]].any()


def test_measure_pools_whole_clips_and_skips_those_still_rendering(tmp_path):
    for name, character, flipped in (("v0_0000_a", "human_small", None), ("v0_0001_b", "nobody", slice(20, 24))):
        kp = _keypoints(flipped)
        kp.valid[5:8] = False  # lost frames are not measured
        write_keypoints(tmp_path / f"{name}_kp.npz", kp)
        truth = hr.variant_keypoints(_keypoints(), True, True, True).joints_2d
        joints_3d = np.concatenate([(truth - 320.0) / 200.0, np.full(truth.shape[:2] + (1,), 4.0)], -1)
        np.savez(tmp_path / f"{name}_truth.npz", joints_3d=joints_3d, joints_2d=truth,
                 meta=json.dumps({"character": character, "category": "walk"}))
    np.savez(tmp_path / "v0_0002_c_truth.npz", joints_3d=np.zeros((3, 17, 3)))  # no keypoints yet: skipped
    out = tmp_path / "res.json"
    assert hr.main(["--dir", str(tmp_path), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert sorted(res["clips"]) == ["v0_0000_a", "v0_0001_b"]
    a, b = res["clips"]["v0_0000_a"], res["clips"]["v0_0001_b"]
    assert a["frames"] == b["frames"] == 87 and res["overall"]["frames"] == 174
    if (hr.CHARACTERS / "human_small.json").is_file():  # ../shared/data beside the repository
        assert a["height_m"] == pytest.approx(1.221)
    assert b["height_m"] == 1.75  # a character without its JSON: the default height
    assert a["shipped"] == a["no_flip_check"]  # nothing flipped: the same lift
    assert b["shipped"] != b["no_flip_check"]
    for source in (*hr.VARIANTS, "mp_world"):
        assert np.isfinite(list(res["overall"][source].values())).all()


def test_no_clips_says_how_to_make_them(tmp_path, capsys):
    assert hr.main(["--dir", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    assert "render_real2d_set.py --validation" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
