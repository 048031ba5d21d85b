"""Lifter networks: output contract, pelvis at 0, parameter counts, matched baseline, ablation switches."""

import pytest
import torch

from core.config import LossConfig, ModelConfig, load_train_config
from core.model import build_model, count_parameters
from core.model.losses import lifter_loss

TINY = dict(window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch", ["posemoe", "entangled", "mlp"])
@pytest.mark.parametrize("t", [1, 5, 9])
def test_forward_contract(arch, t):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, **TINY)).eval()
    with torch.inference_mode():
        y = model(torch.randn(2, t, 17, 2))
    assert y.shape == (2, t, 17, 3) and y.dtype == torch.float32
    assert torch.all(y[:, :, 0] == 0)


def test_longer_than_window_is_refused():
    model = build_model(ModelConfig(**TINY))
    with pytest.raises(ValueError, match="window"):
        model(torch.randn(1, 10, 17, 2))


@pytest.mark.parametrize("switch", ["depth_prior", "router", "cross_attention"])
def test_ablation_switches_build_and_run(switch):
    cfg = ModelConfig(**TINY, **{switch: False})
    model = build_model(cfg)
    out = model.forward_train(torch.randn(2, 9, 17, 2))
    assert out["pose"].shape == (2, 9, 17, 3)
    assert ("prior_mu" in out) == (switch != "depth_prior")


def test_shipped_configs_size_and_matched_baseline(repo_root):
    pm = load_train_config(repo_root / "configs" / "posemoe_cpu.toml").model
    ent = load_train_config(repo_root / "configs" / "entangled_cpu.toml").model
    n_pm, n_ent = count_parameters(build_model(pm)), count_parameters(build_model(ent))
    assert 100_000 < n_pm < 5_000_000  # well under the 20 MB weight budget
    assert abs(n_ent - n_pm) / n_pm < 0.10
    assert ent.window == pm.window


def test_loss_terms_and_backward():
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY))
    x, y = torch.randn(2, 9, 17, 2), torch.randn(2, 9, 17, 3) * 0.3
    y = y - y[:, :, :1]
    loss, terms = lifter_loss(model.forward_train(x), y, x, LossConfig())
    loss.backward()
    assert set(terms) == {"mpjpe", "velocity", "temporal", "aux_2d", "aux_depth", "prior"}
    assert torch.isfinite(loss)
    assert model.head_z.weight.grad is not None and model.depth_prior.mu.grad is not None
