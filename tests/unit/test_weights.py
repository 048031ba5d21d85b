"""Weights files: save/load round trip, checksum and strict-load failures raise ModelError."""

import json

import pytest
import torch

from core.config import ModelConfig
from core.errors import ModelError
from core.model import build_model
from core.weights import DEFAULT_WEIGHTS, json_path, load_lifter, save_weights

CFG = ModelConfig(window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(CFG).eval()
    path = save_weights(model, CFG, tmp_path / "m.safetensors", {"data_id": "test", "val_subjects": ["02"]})
    return model, path


def test_round_trip(saved):
    model, path = saved
    loaded, cfg, meta = load_lifter(path)
    assert cfg == CFG and meta["data_id"] == "test" and not loaded.training
    x = torch.randn(1, 9, 17, 2)
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded(x))


def test_checksum_mismatch(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_lifter(path)


def test_missing_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(ModelError, match="missing"):
        load_lifter(tmp_path / "nope.safetensors")
    json_path(path).unlink()
    with pytest.raises(ModelError, match="JSON missing"):
        load_lifter(path)


def test_strict_load_rejects_config_mismatch(saved):
    _, path = saved
    meta = json.loads(json_path(path).read_text())
    meta["model"]["channels"] = 64
    json_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit"):
        load_lifter(path)


def test_default_weights_path_is_in_the_package():
    assert DEFAULT_WEIGHTS.name == "temporal_mlp_v8.safetensors" and DEFAULT_WEIGHTS.parent.name == "assets"
    assert DEFAULT_WEIGHTS.is_absolute()


def test_shipped_weights_load_and_keep_the_contract():
    if not DEFAULT_WEIGHTS.exists():
        pytest.skip(f"{DEFAULT_WEIGHTS} not shipped in this checkout")
    model, cfg, meta = load_lifter()
    assert cfg.arch == "temporal_mlp" and meta["val_subjects"] and "evaluation" in meta
    with torch.inference_mode():
        y = model(torch.zeros(1, cfg.window, 17, 2))
    assert y.shape == (1, cfg.window, 17, 3) and torch.all(y[:, :, 0] == 0)
