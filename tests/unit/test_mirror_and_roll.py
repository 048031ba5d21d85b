"""benchmarks/mirror_and_roll.py: mirrored landmarks come back as found; a roll is undone on the 3D."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mirror_and_roll as mr  # noqa: E402
from test_held_out_renders import _keypoints  # noqa: E402


def _mirrored(kp, dx: float = 0.0):
    """Return ``kp`` as MediaPipe would find it in the mirrored frames, every landmark ``dx`` px further right in
    the unmirrored picture."""
    lm = np.array(kp.extras["mp_landmarks"], np.float32)
    lm[..., 0] = kp.image_size[0] - (lm[..., 0] + dx)
    return replace(kp, extras=kp.extras | {"mp_landmarks": lm[:, mr.MP_MIRROR]})


def test_landmarks_found_in_mirrored_frames_come_back_where_they_were():
    kp = _keypoints()
    back = mr.mirror_back(_mirrored(kp).extras["mp_landmarks"], kp.image_size[0])
    np.testing.assert_allclose(back, kp.extras["mp_landmarks"], atol=1e-4)


def test_sides_traded_on_some_frames_and_one_limb_are_matched_back():
    lm = np.asarray(_keypoints().extras["mp_landmarks"], np.float64)
    swapped = lm.copy()
    legs = [23, 25, 27, 29, 31]
    other = [i + 1 for i in legs]
    swapped[10:20, legs + other] = lm[10:20, other + legs]
    assert np.abs(swapped - lm).max() > 5.0  # the walk's legs are apart
    np.testing.assert_array_equal(mr.match_sides(lm, swapped), lm)


def test_the_average_is_halfway_and_a_frame_only_the_mirror_found_is_kept():
    kp = _keypoints()
    valid = kp.valid.copy()
    valid[5] = False
    first = replace(kp, valid=valid)
    out = mr.averaged(first, _mirrored(kp, dx=4.0))
    lm, got = kp.extras["mp_landmarks"], out.extras["mp_landmarks"]
    assert out.valid.all()
    np.testing.assert_allclose(got[valid, :, 0], lm[valid, :, 0] + 2.0, atol=1e-3)
    np.testing.assert_allclose(got[5, :, 0], lm[5, :, 0] + 4.0, atol=1e-3)
    np.testing.assert_allclose(got[..., 1:], lm[..., 1:], atol=1e-3)


class _Lift(torch.nn.Module):
    """A lifter that keeps each 2D point and puts it at depth 1, recording what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def test_a_rolled_lift_turns_the_input_and_turns_the_output_back():
    kp = _keypoints()
    model = _Lift()
    plain = mr.rolled_lift(kp, kp.joints_2d, model, 27, 0.0)
    calls = len(model.seen)
    rolled = mr.rolled_lift(kp, kp.joints_2d, model, 27, 10.0)
    assert len(model.seen) == 4 * calls  # one lift, then three
    # the first window's pelvis -> thorax in each lift (the batch's first row: not the flip augmentation's mirror)
    angles = [np.degrees(torch.atan2(*(s[0, :, 8] - s[0, :, 0]).mean(dim=0).flip(0)).item())
              for s in model.seen[calls::calls]]
    np.testing.assert_allclose(np.diff(angles), [10.0, 10.0], atol=0.01)
    np.testing.assert_allclose(rolled, plain, atol=1e-5)  # this lifter turns with the camera: nothing changes
