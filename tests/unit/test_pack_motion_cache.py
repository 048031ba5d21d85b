"""scripts/pack_motion_cache.py: the packed motion cache unpacks to the same arrays, directions within 6.2e-5 and
the root within 0.005 mm."""

import importlib.util
import io
import lzma

import numpy as np


def _script(repo_root):
    spec = importlib.util.spec_from_file_location("pack_motion_cache", repo_root / "scripts" / "pack_motion_cache.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_round_trip(tmp_path, repo_root):
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(500, 24, 3)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    dirs[:, 0] = 0.0  # a bone with no length
    cache = tmp_path / "motion_abc.npz"
    np.savez(cache, dirs=dirs, root=(5 * rng.normal(size=(500, 3))).astype(np.float32), clip_len=np.array([200, 300]),
             data_id=np.array("abc"), g_names=np.array(["Hips"] * 24))
    mod = _script(repo_root)
    mod.pack(cache, tmp_path / "packed.npz")
    raw = (tmp_path / "packed.npz").read_bytes()
    assert raw.startswith(b"\xfd7zXZ")  # xz
    with np.load(io.BytesIO(lzma.decompress(raw))) as packed:  # the root travels as int32 differences
        assert packed["root_delta"].dtype == np.int32 and "root" not in packed.files
    out = mod.unpack(tmp_path / "packed.npz", tmp_path / "cache")
    assert out.name == "motion_abc.npz"
    with np.load(cache) as a, np.load(out) as b:
        assert set(a.files) == set(b.files)
        assert b["dirs"].dtype == np.float32 and b["dirs"].shape == dirs.shape
        assert np.abs(b["dirs"] - a["dirs"]).max() <= 0.5 / mod.SCALE + 1e-7
        assert b["root"].dtype == np.float32 and np.abs(b["root"] - a["root"]).max() <= 0.5 * mod.ROOT_STEP_M + 2e-6
        assert all(np.array_equal(a[k], b[k]) for k in a.files if k not in ("dirs", "root"))


def test_a_pack_made_before_the_root_was_quantised_unpacks(tmp_path, repo_root):
    """Packs of 2026-11-26/27 (a plain compressed .npz, the root as float32 metres) still unpack, the root exactly."""
    mod = _script(repo_root)
    root = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    lo = hi = np.zeros((50, 24, 3), np.uint8)
    np.savez_compressed(tmp_path / "old.npz", dirs_lo=lo, dirs_hi=hi, root=root, data_id=np.array("old"))
    with np.load(mod.unpack(tmp_path / "old.npz", tmp_path / "cache")) as b:
        assert np.array_equal(b["root"], root) and b["dirs"].shape == (50, 24, 3)
