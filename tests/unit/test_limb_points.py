"""benchmarks/limb_points.py: the fit of the limb joints from MediaPipe's landmarks finds what made the joints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import limb_points as lp  # noqa: E402
from head_points import load_clips  # noqa: E402

from core.keypoints import LIMB_POINT_WEIGHTS, blazepose_to_h36m  # noqa: E402

WRIST = np.array([0.2, 0.1, 0.5])  # the candidate's true weights in these clips


def _write_clip(folder: Path, name: str, character: str, rng: np.random.Generator, frames: int = 30) -> None:
    """Write <name>_truth.npz and <name>_kp.npz whose true limb joints are the shipped weights' (and the wrists
    :data:`WRIST`'s) combinations of random landmarks."""
    lm = np.concatenate([rng.normal(300, 40, (frames, 33, 2)), rng.uniform(0.5, 1, (frames, 33, 2))], -1)
    joints_2d, _ = blazepose_to_h36m(lm[..., :2])
    for joint, (base, neighbours) in lp.sides(13).items():
        joints_2d[:, joint] = lp.made(lm[..., :2], base, neighbours, WRIST)
    joints_3d = rng.normal(0, 0.3, (frames, 17, 3))
    joints_3d[..., 2] = rng.uniform(2, 6, (frames, 17))
    valid = np.ones(frames, bool)
    valid[5] = False
    lm[5] = np.nan
    np.savez(folder / f"{name}_truth.npz", joints_2d=joints_2d, joints_3d=joints_3d,
             intrinsics=np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]]),
             meta=json.dumps({"character": character}))
    np.savez(folder / f"{name}_kp.npz", mp_landmarks=lm, valid=valid)


def test_the_fit_recovers_the_weights_and_reports_left_out_characters(tmp_path):
    rng = np.random.default_rng(2)
    for part in ("fit", "check"):
        (tmp_path / part).mkdir()
    for i, character in enumerate(("a", "a", "b", "b")):
        _write_clip(tmp_path / "fit", f"train{i}", character, rng)
    _write_clip(tmp_path / "check", "val0", "c", rng)
    clips = load_clips(tmp_path / "fit")
    for j, (_, weights) in LIMB_POINT_WEIGHTS.items():
        assert np.allclose(lp.fit(clips, j), weights, atol=1e-6)
    assert np.allclose(lp.fit(clips, 13), WRIST, atol=1e-6)
    out = tmp_path / "lp.json"
    assert lp.main(["--fit-dir", str(tmp_path / "fit"), "--check-dir", str(tmp_path / "check"),
                    "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["fit_characters"] == ["a", "b"] and res["check_clips"] == 1
    hip = res["limbs"]["hip"]
    assert hip["shipped"] and not res["limbs"]["wrist"]["shipped"]
    assert hip["check"][1] == pytest.approx(0.0, abs=1e-4) and hip["check"][0] > 1.0
    assert set(hip["left_out_character"]) == {"a", "b"}
    assert res["check_per_joint_cm"]["fitted"]["l_ankle"] == pytest.approx(0.0, abs=1e-4)
    assert res["check_per_joint_cm"]["raw"]["l_ankle"] > 1.0


def test_no_clips_to_fit_is_a_clear_exit(tmp_path, capsys):
    assert lp.main(["--fit-dir", str(tmp_path), "--check-dir", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 2
    assert "render_real2d_set.py" in capsys.readouterr().err
