"""benchmarks/real2d_gap.py: the detector's error splits into parts that add up; variants lift what they say."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import held_out_renders as hr  # noqa: E402
import real2d_gap as rg  # noqa: E402
from test_held_out_renders import _keypoints  # noqa: E402

from core.motion_file import write_keypoints  # noqa: E402


def _folder(tmp_path: Path) -> Path:
    """Write one walking clip whose keypoints are the truth plus a constant offset and a wobble."""
    kp = _keypoints()
    write_keypoints(tmp_path / "v0_0000_a_kp.npz", kp)
    truth = hr.variant_keypoints(kp, True, True, True).joints_2d.astype(np.float64)
    t = np.arange(len(truth))[:, None, None]
    truth = truth - [4.0, -3.0] - 2.0 * np.sin(t / 9.0 + np.arange(17)[None, :, None])
    joints_3d = np.concatenate([(truth - 320.0) / 200.0, np.full(truth.shape[:2] + (1,), 4.0)], -1)
    np.savez(tmp_path / "v0_0000_a_truth.npz", joints_3d=joints_3d, joints_2d=truth,
             meta=json.dumps({"character": "nobody", "category": "walk"}))
    return tmp_path


def test_the_error_parts_add_up_to_the_error_and_the_bias_is_constant(tmp_path):
    (clip,) = rg.load_clips(_folder(tmp_path))
    parts = rg.error_parts(clip)
    e = clip["kp"].joints_2d - clip["true_2d"]
    np.testing.assert_allclose(parts["bias"], parts["bias"][:1].repeat(len(e), 0))
    np.testing.assert_allclose(parts["bias"][0].mean(axis=0), [4.0, -3.0], atol=0.5)
    assert np.abs(parts["slow"]).mean() > 3 * np.abs(parts["fast"]).mean()  # the wobble is slow (9-frame period)
    stats = rg.error_stats([clip])
    assert set(stats) == {"bias", "slow", "fast"} and len(stats["slow"]) == 17


def test_measure_lifts_each_variant_and_the_truth_is_the_truth(tmp_path):
    clips = rg.load_clips(_folder(tmp_path))
    out = tmp_path / "gap.json"
    assert rg.main(["--dir", str(tmp_path), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    row = res["clips"]["v0_0000_a"]
    assert set(row) == {"frames", "shipped", "true_2d", "bias", "slow", "fast", "shipped_minus_bias",
                        "shipped_minus_fast", *(f"oracle {g}" for g in rg.GROUPS)}
    assert row["frames"] == len(clips[0]["ok"]) and res["pooled_p_mpjpe_mm"]["shipped"] == row["shipped"]
    assert row["shipped"] != row["true_2d"] and row["true_2d"] != row["bias"]


def test_no_clips_says_how_to_make_them(tmp_path, capsys):
    assert rg.main(["--dir", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    assert "render_real2d_set.py --validation" in capsys.readouterr().err


def test_a_constant_offset_in_the_body_frame_is_found_and_taken_out():
    """Keypoints whose right hip sits 2 % of the height behind the true joint (the left one mirrored), in a body
    that turns: the fit finds that offset, and the error left on other clips of the same kind is nil."""
    from types import SimpleNamespace

    from core.skeleton import JOINT_INDEX as J

    k = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])

    def clip(seed: int) -> dict:
        rng = np.random.default_rng(seed)
        t = 40
        yaw = np.linspace(0, 2.5, t) + rng.uniform(0, 6)
        base = rng.normal(0, 0.2, (17, 3)) + [0, 0, 0]
        base[[J["r_hip"], J["l_hip"], J["pelvis"], J["thorax"]]] = [[-0.1, 0, 0], [0.1, 0, 0], [0, 0, 0], [0, -0.5, 0]]
        rot = np.stack([[[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]] for a in yaw])
        x3 = np.einsum("tij,kj->tki", rot, base) + [0.0, 0.0, 4.0]
        height = 1.7
        right = x3[:, 1] - x3[:, 4]
        right /= np.linalg.norm(right, axis=-1, keepdims=True)
        up = x3[:, 8] - x3[:, 0]
        up /= np.linalg.norm(up, axis=-1, keepdims=True)
        back = np.cross(right, up)  # camera axes: the body's right x up points behind it
        moved = x3.copy()
        moved[:, 1] += 0.02 * height * back
        moved[:, 4] += 0.02 * height * back
        proj = lambda p: (p @ k.T)[..., :2] / p[..., 2:]  # noqa: E731
        return {"camera_3d": x3, "intrinsics": k, "ok": np.ones(t, bool), "height_m": height,
                "true_2d": proj(x3), "kp": SimpleNamespace(joints_2d=proj(moved))}

    res = rg.body_frame_offsets([clip(s) for s in range(4)], [clip(s) for s in range(10, 13)])
    hip = res["torso hip"]
    np.testing.assert_allclose(hip["offset_pct"], [0.0, 0.0, -2.0], atol=0.02)  # outwards, up, forwards
    assert hip["held_out"][0] > 1.0 and hip["held_out"][1] < 0.02
    assert res["torso knee"]["held_out"] == [0.0, 0.0]  # nothing there to take out
