"""benchmarks/head_points.py: the fit of the nose and head top from face landmarks finds what made the points."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import head_points as hp  # noqa: E402


def _write_clip(folder: Path, name: str, weights: np.ndarray, rng: np.random.Generator, frames: int = 40) -> None:
    """Write <name>_truth.npz and <name>_kp.npz whose true nose and head top are ``weights`` . face vectors."""
    lm = np.concatenate([rng.normal(300, 40, (frames, 33, 2)), rng.uniform(0.5, 1, (frames, 33, 2))], -1)
    made = hp.weighted_rule(lm[..., :2], weights)
    joints_2d = rng.normal(300, 40, (frames, 17, 2))
    joints_2d[:, [9, 10]] = made
    joints_3d = rng.normal(0, 0.3, (frames, 17, 3))
    joints_3d[..., 2] = rng.uniform(2, 6, (frames, 17))
    valid = np.ones(frames, bool)
    valid[3] = False
    lm[3] = np.nan  # an invalid frame: left out, not a NaN in the fit
    np.savez(folder / f"{name}_truth.npz", joints_2d=joints_2d, joints_3d=joints_3d,
             intrinsics=np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]]))
    np.savez(folder / f"{name}_kp.npz", mp_landmarks=lm, valid=valid)


def test_the_fit_recovers_the_weights_and_the_check_uses_other_clips(tmp_path):
    rng = np.random.default_rng(0)
    truth = np.array([[0.1, 1.3, -0.3], [-0.6, -2.4, 0.1]])
    (tmp_path / "fit").mkdir()
    (tmp_path / "check").mkdir()
    for i in range(3):
        _write_clip(tmp_path / "fit", f"train{i}", truth, rng)
    _write_clip(tmp_path / "check", "val0", truth, rng)
    (tmp_path / "fit" / "lonely_truth.npz").write_bytes(b"")  # no _kp.npz beside it: not a clip
    clips = hp.load_clips(tmp_path / "fit")
    assert [c["name"] for c in clips] == ["train0", "train1", "train2"] and len(clips[0]["landmarks"]) == 39
    assert np.allclose(hp.fit(clips), truth, atol=1e-9)
    out = tmp_path / "hp.json"
    assert hp.main(["--fit-dir", str(tmp_path / "fit"), "--check-dir", str(tmp_path / "check"),
                    "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["fit_clips"] == 3 and list(res["check"]["clips"]) == ["val0"]
    assert res["check"]["overall"]["new"]["head_top"] == pytest.approx(0.0, abs=1e-6)
    assert res["check"]["overall"]["old"]["head_top"] > 1.0  # random faces: the old rule is far off


def test_no_clips_to_fit_is_a_clear_exit(tmp_path, capsys):
    assert hp.main(["--fit-dir", str(tmp_path), "--check-dir", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 2
    assert "render_real2d_set.py" in capsys.readouterr().err
