import numpy as np
import pytest

from core.frames import blender_to_camera, camera_to_blender
from core.motion_cleanup import PRESETS
from core.smoothing import smooth_series
from core.trajectory import default_focal, estimate_root


def test_camera_to_blender_axes():
    # camera: x right, y down, z forward -> Blender: x right, z up, subject in front is +Y... away from camera
    assert camera_to_blender(np.array([1.0, 0, 0])).tolist() == [1, 0, 0]
    assert camera_to_blender(np.array([0, -1.0, 0])).tolist() == [0, 0, 1]  # up in the image is +Z
    assert camera_to_blender(np.array([0, 0, 1.0])).tolist() == [0, 1, 0]
    p = np.random.default_rng(1).normal(size=(4, 17, 3))
    assert np.allclose(blender_to_camera(camera_to_blender(p)), p)
    assert np.linalg.det(np.stack([camera_to_blender(e) for e in np.eye(3)])) == pytest.approx(1.0)


def test_root_from_projection_recovers_translation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 17, 3)) * 0.4
    x -= x[:, :1]
    t = np.array([0.3, -0.2, 4.0]) + rng.normal(size=(6, 3)) * 0.1
    f = default_focal((640, 480))
    p = x + t[:, None]
    uv = f * p[..., :2] / p[..., 2:] + np.array([320, 240])
    est = estimate_root(x, uv, np.ones((6, 17)), (640, 480))
    assert np.allclose(est, t, atol=1e-4)


def test_smoothing_presets():
    fps = 30.0
    t = np.arange(300) / fps
    clean = np.sin(2 * np.pi * 1.0 * t)[:, None]
    noisy = clean + np.random.default_rng(0).normal(scale=0.05, size=clean.shape)
    presets = ("none", "light", "medium", "strong")
    err = {p: np.abs(smooth_series(noisy, fps, PRESETS[p]) - clean).mean() for p in presets}
    assert err["none"] > err["light"] > err["medium"] > err["strong"]
    assert np.allclose(smooth_series(noisy[:5], fps, PRESETS["strong"]), noisy[:5])  # too short: unchanged
    with pytest.raises(ValueError):
        smooth_series(noisy, fps, 5.0, method="extreme")


def test_constant_bone_lengths_keeps_directions_and_fixes_lengths():
    from core.filters import constant_bone_lengths
    from core.skeleton import bone_lengths

    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 17, 3)) * 0.3
    j = np.repeat(base, 50, 0) + rng.normal(scale=0.01, size=(50, 17, 3))
    j -= j[:, :1]
    fixed = constant_bone_lengths(j, symmetric=False)  # a random skeleton: its twins differ
    lengths = bone_lengths(fixed)
    assert np.allclose(lengths, lengths[:1], atol=1e-5)  # one length per bone
    assert np.allclose(np.median(bone_lengths(j), 0), lengths[0], rtol=0.05)
    d_in = j[:, 2] - j[:, 1]
    d_out = fixed[:, 2] - fixed[:, 1]
    cos = (d_in * d_out).sum(-1) / np.linalg.norm(d_in, axis=-1) / np.linalg.norm(d_out, axis=-1)
    assert cos.min() > 0.9999
    assert np.array_equal(fixed[:, 0], j[:, 0].astype(np.float32))


def test_constant_bone_lengths_gives_twins_the_longer_length():
    """A thigh held towards the camera comes out short: both thighs take the longer one (symmetric=False: not)."""
    from core.filters import constant_bone_lengths
    from core.skeleton import JOINT_NAMES, bone_lengths

    rng = np.random.default_rng(1)
    j = rng.normal(size=(20, 17, 3)) * 0.3
    j -= j[:, :1]
    r_hip, r_knee, l_hip, l_knee = (JOINT_NAMES.index(n) for n in ("r_hip", "r_knee", "l_hip", "l_knee"))
    for hip, knee, length in ((r_hip, r_knee, 0.28), (l_hip, l_knee, 0.43)):
        d = j[:, knee] - j[:, hip]
        shift = j[:, knee] - (j[:, hip] + length * d / np.linalg.norm(d, axis=-1, keepdims=True))
        j[:, knee:knee + 2] -= shift[:, None]  # the knee and the ankle below it move with the thigh's new length
    thighs = lambda x: bone_lengths(x)[:, [r_knee - 1, l_knee - 1]]  # noqa: E731  (bone index = child - 1)
    assert np.allclose(thighs(j), [0.28, 0.43], atol=1e-6)
    assert np.allclose(thighs(constant_bone_lengths(j)), 0.43, atol=1e-5)
    assert np.allclose(thighs(constant_bone_lengths(j, symmetric=False)), [0.28, 0.43], atol=1e-5)
    lengths = bone_lengths(constant_bone_lengths(j))[0]
    assert np.allclose(lengths[r_hip - 1], lengths[l_hip - 1])  # every twin pair, not only the thighs


def test_constant_bone_lengths_can_be_given_the_lengths():
    """One body for every shot of an edited clip: the lengths given, each frame's bone directions kept."""
    from core.filters import constant_bone_lengths, median_bone_lengths
    from core.skeleton import bone_lengths

    rng = np.random.default_rng(2)
    j = rng.normal(size=(10, 17, 3)) * 0.3
    j -= j[:, :1]
    want = np.linspace(0.1, 0.4, 17)
    fixed = constant_bone_lengths(j, lengths=want)
    assert np.allclose(bone_lengths(fixed), want[1:], atol=1e-5)
    d_in, d_out = j[:, 5] - j[:, 4], fixed[:, 5] - fixed[:, 4]
    assert np.allclose(d_out / np.linalg.norm(d_out, axis=-1, keepdims=True),
                       d_in / np.linalg.norm(d_in, axis=-1, keepdims=True), atol=1e-5)
    assert np.allclose(median_bone_lengths(constant_bone_lengths(j))[1:], bone_lengths(constant_bone_lengths(j))[0],
                       atol=1e-5)


def test_free_edges_let_a_bad_first_sample_follow_the_track():
    """The root's first frame is its least sure: with free edges the filter does not hold it where it was read."""
    from core.smoothing import smooth_series

    fps, t = 30.0, np.arange(60) / 30.0
    truth = 5.0 - 1.5 * t  # walking towards the camera at 1.5 m/s
    read = truth.copy()
    read[0] += 0.25  # the first detection reads the body 25 cm too far
    held = smooth_series(read, fps, 2.5)
    free = smooth_series(read, fps, 2.5, free_edges=True)
    assert np.isclose(held[0], read[0])  # odd reflection keeps the end sample exactly
    assert abs(free[0] - truth[0]) < 0.5 * abs(held[0] - truth[0])
    assert np.abs(free[10:-10] - truth[10:-10]).max() < 0.01  # the middle as before
    assert np.allclose(smooth_series(truth, fps, 2.5, free_edges=True), truth, atol=1e-3)  # a straight track kept
