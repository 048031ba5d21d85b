"""BVH reading (plain and gzip), validation errors, and forward kinematics against hand-computed poses."""

import gzip

import numpy as np
import pytest

from core.bvh import forward_kinematics, parse_bvh, read_bvh
from core.errors import InputFileError, InputNotFoundError

BVH = """HIERARCHY
ROOT hip
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0
"""


def test_parse_and_fk_match_hand_computation(tmp_path):
    bvh = parse_bvh(BVH, "t.bvh")
    assert bvh.names == ["hip", "arm", "arm_end"] and bvh.motion.shape == (2, 9)
    assert bvh.fps == pytest.approx(25.0)
    pos, rot = forward_kinematics(bvh)
    assert np.allclose(pos[0], [[1, 2, 3], [11, 2, 3], [16, 2, 3]])
    # frame 1: root turns 90 deg about Z: x -> y; arm turns 90 deg about its Y: x -> -z (in the root's frame)
    assert np.allclose(pos[1, 1], [0, 10, 0], atol=1e-9)
    assert np.allclose(pos[1, 2], [0, 10, -5], atol=1e-9)
    assert rot.shape == (2, 3, 3, 3)


def test_gzip_and_plain_read_the_same(tmp_path):
    plain, gz = tmp_path / "a.bvh", tmp_path / "a.bvh.gz"
    plain.write_text(BVH)
    with gzip.open(gz, "wt") as f:
        f.write(BVH)
    assert np.array_equal(read_bvh(plain).motion, read_bvh(gz).motion)


@pytest.mark.parametrize("text,needle", [
    ("hello", "not a BVH"),
    (BVH.replace("Frames: 2", "Frames: 3").replace("0 0 0 90 0 0 0 90 0", "0 0 0 90 0 0 0\n90 0"), "damaged"),
    (BVH.replace("CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation"), "unknown channels"),
    (BVH.replace("0 0 0 90 0 0 0 90 0", "0 0 0 90 0 0 0 nan 0"), "NaN"),
    (BVH.replace("OFFSET 10 0 0", "OFFSET 10 0"), "malformed"),
])  # fmt: skip
def test_malformed_files_raise_input_file_error_naming_the_file(text, needle):
    with pytest.raises(InputFileError, match=needle) as e:
        parse_bvh(text, "bad.bvh")
    assert "bad.bvh" in str(e.value)


def test_a_wrong_frame_count_reads_the_whole_frames():
    """Exporters and copies stopped part way leave a ``Frames:`` line that the lines do not match: one frame a line,
    the whole ones are read (tests/unit/test_own_bvh_library.py has the cut and damaged cases)."""
    assert parse_bvh(BVH.replace("Frames: 2", "Frames: 3"), "more.bvh").motion.shape == (2, 9)
    assert parse_bvh(BVH.replace("Frames: 2", "Frames: 1"), "fewer.bvh").motion.shape == (2, 9)


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError):
        read_bvh(tmp_path / "nope.bvh")


def test_text_round_trip_and_other_axes():
    """to_text writes back what parse_bvh read; change_axes moves every joint by the same similarity (rotation,
    scale, root shift), in each joint's own channel order."""
    from scipy.spatial.transform import Rotation

    from core.bvh import change_axes, to_text

    bvh = parse_bvh(BVH, "t.bvh")
    again = parse_bvh(to_text(bvh), "again.bvh")
    assert again.names == bvh.names and np.allclose(again.motion, bvh.motion) and np.allclose(again.offsets,
                                                                                              bvh.offsets)
    q = Rotation.from_euler("xz", [-90, 30], degrees=True).as_matrix()
    moved = parse_bvh(to_text(change_axes(bvh, q, 0.01, np.array([1.0, 2.0, 3.0]))), "moved.bvh")
    assert [j.channels for j in moved.joints] == [j.channels for j in bvh.joints]
    pos, _ = forward_kinematics(bvh)
    pos2, _ = forward_kinematics(moved)
    root_offset = bvh.offsets[0]  # position channels count from the offset here: the shift is applied to both
    expected = 0.01 * (pos - root_offset) @ q.T + 0.01 * root_offset @ q.T + np.array([1.0, 2.0, 3.0])
    assert np.allclose(pos2 - pos2[:, :1], expected - expected[:, :1], atol=1e-6)


def test_euler_angles_stay_continuous_through_ninety_degrees():
    """scipy keeps the middle angle within +-90 degrees: a turn through 90 there would jump the other two channels
    by half a turn, which a reader interpolating channels would play as a spin. The same rotations, continuous."""
    from scipy.spatial.transform import Rotation

    from core.bvh import continuous_euler

    middle = np.radians(np.linspace(60, 120, 40))
    rot = Rotation.from_euler("ZXY", np.stack([np.full(40, 0.3), middle, np.linspace(-0.2, 0.4, 40)], 1))
    raw = rot.as_euler("ZXY")
    assert np.abs(np.diff(raw, axis=0)).max() > 2.0
    fixed = continuous_euler(raw[:, None])[:, 0]
    assert np.abs(np.diff(fixed, axis=0)).max() < 0.1
    assert np.allclose(Rotation.from_euler("ZXY", fixed).as_matrix(), rot.as_matrix())


SIX = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT hips
  {
    OFFSET 0 1 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    JOINT arm
    {
      OFFSET 1 0 0
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 0 0 0 0 0   0 1 0 0 0 0   1 0 0 10 0 0
1 0 0 0 0 0   0 1.2 0 0 0 0   1 0 0 20 0 0
2 0 0 0 0 0   0 0.9 0 0 0 0   1 0 0 30 0 0
"""


def test_still_position_channels_are_dropped_and_the_motion_kept():
    """Blender's exporter gives an unconnected rig's every joint six channels; a joint that only ever sits at its
    offset loses its three position channels, one that moves (hips under a root carrying the travel) keeps them."""
    from core.bvh import drop_still_positions, to_text

    bvh = parse_bvh(SIX, "six.bvh")
    lean = drop_still_positions(bvh)
    assert [len(j.channels) for j in lean.joints[:3]] == [6, 6, 3] and lean.motion.shape == (3, 15)
    again = parse_bvh(to_text(lean), "lean.bvh")
    np.testing.assert_allclose(forward_kinematics(again)[0], forward_kinematics(bvh)[0], atol=1e-6)
