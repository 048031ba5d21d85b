"""The device sampler (core.synthetic_device) against the numpy one it stands in for (core.synthetic)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_datasets import daz_bvh

from core.bodies import DEFAULT_BODIES
from core.config import AugmentConfig
from core.datasets import load_motion_set, node_positions, to_h36m
from core.synthetic import WindowSampler, _interp
from core.synthetic_device import DeviceWindowSampler

QUIET = AugmentConfig(gap_prob=0.0, jitter_max=0.0, dropout_prob=0.0, swap_prob=0.0, flip_prob=0.0)


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    for subject in ("01", "02"):
        (root / "data" / subject).mkdir(parents=True)
        for trial in (1, 2, 3):
            (root / "data" / subject / f"{subject}_0{trial}.bvh").write_text(daz_bvh(90, seed=trial))
    return load_motion_set(root / "data", root / "cache")


def samplers(motion, aug, seed=3, window=9):
    args = (motion, np.arange(len(motion.clips)), window, (25.0, 60.0), aug, list(DEFAULT_BODIES))
    return WindowSampler(*args, seed=seed, body_bank=16), DeviceWindowSampler(*args, seed=seed, body_bank=16)


def test_world_joints_match_the_numpy_path(motion):
    """Resampling, re-posing and forward kinematics give the numpy sampler's joints (same clips, frames,
    bodies), including positions between source frames and past a clip's end (clamped)."""
    cpu, dev = samplers(motion, QUIET)
    clip, start, step = np.array([0, 3, 5, 1]), np.array([0.0, 10.4, 70.0, 33.3]), np.array([1.0, 0.7, 2.5, 0.45])
    pick = np.array([0, 5, 9, 15])
    root, dirs = _interp(motion, clip, start, step, cpu.window)
    want = to_h36m(motion.graph, node_positions(motion.graph, root * cpu.body_root_scale[pick][:, None, None], dirs,
                                                cpu.body_lengths[pick][:, None]))  # fmt: skip
    got = dev.world(clip, start, step, pick).numpy()
    assert got.shape == want.shape == (4, 9, 17, 3)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_noise_free_batch_matches_the_numpy_sampler(motion):
    """With no detector offsets, jitter, drops, swaps or flips, the same per-clip draws give the same batch:
    the cameras, projection, root-relative targets and normalisation are the numpy sampler's."""
    cpu, dev = samplers(motion, QUIET)
    clip, start, step = np.array([0, 2, 4]), np.array([1.0, 5.5, 20.0]), np.array([1.0, 0.5, 2.0])
    want = cpu.render(clip, start, step, np.random.default_rng(11))
    got = dev.render(clip, start, step, np.random.default_rng(11))
    for a, b in ((got.x, want.x), (got.y, want.y), (got.clean_2d, want.clean_2d)):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-4)
    np.testing.assert_array_equal(got.x.numpy(), got.clean_2d.numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the TF32 check needs a GPU")
def test_batches_on_cuda_are_full_float32_with_tf32_on(motion):
    """Training turns TF32 on for the network; the sampler's projections must not round with it (a 10-bit
    mantissa on coordinates metres from the lens shakes the targets by millimetres)."""
    cpu, _ = samplers(motion, QUIET)
    dev = DeviceWindowSampler(motion, np.arange(len(motion.clips)), 9, (25.0, 60.0), QUIET, list(DEFAULT_BODIES),
                              seed=3, body_bank=16, device="cuda")  # fmt: skip
    clip, start, step = np.array([0, 2, 4]), np.array([1.0, 5.5, 20.0]), np.array([1.0, 0.5, 2.0])
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        got = dev.render(clip, start, step, np.random.default_rng(11))
        assert torch.backends.cuda.matmul.allow_tf32  # restored
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    want = cpu.render(clip, start, step, np.random.default_rng(11))
    np.testing.assert_allclose(got.y.cpu().numpy(), want.y, atol=1e-4)
    np.testing.assert_allclose(got.x.cpu().numpy(), want.x, atol=1e-4)


def test_flips_mirror_input_and_target_together(motion):
    """A flipped window is the unflipped one mirrored (x negated) with left and right swapped, in the 2D input,
    the clean 2D and the 3D target alike."""
    from core.skeleton import FLIP_PERM

    clip, start, step = np.array([0, 2, 4, 5]), np.array([1.0, 5.5, 20.0, 3.0]), np.array([1.0, 0.5, 2.0, 1.2])
    noisy = dict(gap_prob=1.0, jitter_max=0.01, dropout_prob=1.0, dropout_rate=0.05, swap_prob=1.0, swap_rate=0.05)
    batches = []
    for flip_prob in (0.0, 1.0):
        _, dev = samplers(motion, AugmentConfig(flip_prob=flip_prob, **noisy))
        dev.reseed(3)
        batches.append(dev.render(clip, start, step, np.random.default_rng(11)))
    plain, flipped = batches
    for a, b in ((plain.x, flipped.x), (plain.clean_2d, flipped.clean_2d), (plain.y, flipped.y)):
        mirrored = a[:, :, FLIP_PERM].clone()
        mirrored[..., 0] *= -1
        torch.testing.assert_close(b, mirrored)


def test_noisy_batches_have_the_numpy_samplers_statistics(motion):
    """With every corruption on (and stronger, so each shows), the device sampler's 2D errors and targets
    follow the numpy sampler's distribution (other seeds, so other clips, bodies and cameras); batches are
    reproducible from the seed."""
    aug = AugmentConfig(gap_prob=1.0, jitter_max=0.02, dropout_prob=1.0, dropout_rate=0.05, swap_prob=1.0,
                        swap_rate=0.05, flip_prob=0.5)  # fmt: skip
    cpu, _ = samplers(motion, aug, seed=5, window=27)
    _, dev = samplers(motion, aug, seed=6, window=27)
    a, b = cpu.sample(512), dev.sample(512)
    assert isinstance(b.x, torch.Tensor) and b.x.dtype == b.y.dtype == torch.float32
    assert b.x.shape == a.x.shape and b.y.shape == a.y.shape
    err_a = np.linalg.norm(a.x - a.clean_2d, axis=-1)
    err_b = np.linalg.norm((b.x - b.clean_2d).numpy(), axis=-1)
    for q in (0.5, 0.9, 0.99):
        qa, qb = np.quantile(err_a, q), np.quantile(err_b, q)
        assert abs(qa - qb) < 0.15 * qa, (q, qa, qb)
    assert abs(np.abs(a.y).mean() - np.abs(b.y.numpy()).mean()) < 0.1 * np.abs(a.y).mean()
    assert np.all(b.y[:, :, 0].numpy() == 0)
    again = DeviceWindowSampler(motion, np.arange(len(motion.clips)), 27, (25.0, 60.0), aug, list(DEFAULT_BODIES),
                                seed=6, body_bank=16).sample(512)  # fmt: skip
    assert torch.equal(again.x, b.x) and torch.equal(again.y, b.y)
    dev.reseed(6, 1)
    assert not torch.equal(dev.sample(512).x, b.x)


def test_drift_kernel_keeps_unit_variance_and_matches_on_both_backends():
    """Each row of the smoothing matrix has unit norm (white noise through it keeps its variance) and numpy and
    torch build the same matrix; a wider std spreads the weights over more frames."""
    from core.synthetic import drift_kernel

    sig = np.array([0.5, 2.5, 6.0], np.float32)
    k = drift_kernel(sig, 27)
    np.testing.assert_allclose((k**2).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(drift_kernel(torch.from_numpy(sig), 27).numpy(), k, atol=1e-6)
    centre = k[:, 13]
    assert centre[0, 13] > centre[1, 13] > centre[2, 13]  # narrower: more weight on the frame itself
    assert centre[2, 13 + 6] > 0.5 * centre[2, 13] and centre[0, 13 + 6] < 1e-6


@pytest.mark.parametrize("sampler", [0, 1])
def test_drift_is_slow_sized_per_joint_and_alike_on_both_samplers(motion, sampler):
    """Drift alone moves the 2D off the true joints smoothly (neighbouring frames' errors nearly equal), by about
    drift_max x height x the joint's profile (wrists more than the spine), and the numpy and device samplers draw
    the same sizes; white jitter of the same size is not correlated from frame to frame."""
    from core.synthetic import DRIFT_PROFILE

    def errors(aug, which, seed):
        s = samplers(motion, aug, seed=seed, window=27)[which]
        b = s.sample(256)
        e = np.asarray(b.x - b.clean_2d)
        return e - e.mean(axis=1, keepdims=True)  # a window's own mean is an offset, not drift

    drift = errors(replace(QUIET, drift_max=0.03, drift_s=0.1), sampler, 5)
    white = errors(replace(QUIET, jitter_max=0.03), sampler, 5)
    lag1 = [np.corrcoef(e[:, :-1].ravel(), e[:, 1:].ravel())[0, 1] for e in (drift, white)]
    assert lag1[0] > 0.8 and abs(lag1[1]) < 0.1, lag1
    rms = np.sqrt((drift**2).mean(axis=(0, 1, 3)))
    assert rms[13] > 2 * rms[7] and rms[16] > 2 * rms[7]  # wrists wander, the spine least (DRIFT_PROFILE)
    assert np.corrcoef(rms, DRIFT_PROFILE)[0, 1] > 0.9
    other = errors(replace(QUIET, drift_max=0.03, drift_s=0.1), 1 - sampler, 6)
    assert abs(np.sqrt((other**2).mean()) - np.sqrt((drift**2).mean())) < 0.15 * np.sqrt((drift**2).mean())
