"""Lifter networks: output contract, pelvis at 0, parameter counts, matched baseline, ablation switches."""

import pytest
import torch

from core.config import LossConfig, ModelConfig, load_train_config
from core.model import build_model, count_parameters
from core.model.losses import lifter_loss
from core.weights import save_weights

TINY = dict(window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight a busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch", ["posemoe", "entangled", "mlp", "temporal_mlp"])
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


def test_acceleration_term_sees_only_second_differences():
    """A constant or uniformly moving offset has no acceleration error; a single-frame spike has 1, -2, 1 times
    its size; the term joins the total only when its weight is set."""
    from core.model.losses import acceleration_error

    y = torch.zeros(1, 7, 17, 3)
    ramp = torch.arange(7.0).view(1, 7, 1, 1) * torch.tensor([0.01, 0.0, 0.0])
    assert acceleration_error(y + 0.2, y).item() == 0.0
    assert abs(acceleration_error(y + ramp, y).item()) < 1e-7
    spike = y.clone()
    spike[:, 3, :, 0] = 0.03
    assert abs(acceleration_error(spike, y).item() - 0.03 * (1 + 2 + 1) / 5) < 1e-7
    assert acceleration_error(y[:, :2], y[:, :2]).item() == 0.0
    out = {"pose": spike}
    base, terms = lifter_loss(out, y, torch.zeros(1, 7, 17, 2), LossConfig())
    assert "accel" not in terms
    total, terms = lifter_loss(out, y, torch.zeros(1, 7, 17, 2), LossConfig(accel=2.0))
    assert abs((total - base).item() - 2.0 * terms["accel"].item()) < 1e-6


def test_temporal_mlp_starts_as_its_mlp_and_loads_its_weights(tmp_path):
    """The temporal blocks' zero-initialised projections make a fresh temporal MLP initialised from a trained
    MLP compute exactly that MLP, so fine-tuning starts from it (TrainConfig.init_weights)."""
    from core.training import init_from

    torch.manual_seed(0)
    mlp = build_model(ModelConfig(arch="mlp", **TINY)).eval()
    path = save_weights(mlp, ModelConfig(arch="mlp", **TINY), tmp_path / "mlp.safetensors")
    temporal = build_model(ModelConfig(arch="temporal_mlp", **TINY)).eval()
    init_from(temporal, path)
    x = torch.randn(2, 9, 17, 2)
    with torch.inference_mode():
        assert torch.allclose(temporal(x), mlp(x), atol=1e-6)
    with pytest.raises(Exception, match="no tensor matches"):
        init_from(build_model(ModelConfig(**TINY)), path)


def test_temporal_mlp_receptive_field():
    """Three blocks (dilations 1, 3, 9) see 13 frames each side: a change at frame 0 moves frame 13, not 14."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="temporal_mlp", **{**TINY, "window": 27}, temporal_layers=3)).eval()
    for block in model.temporal:
        torch.nn.init.normal_(block.proj.weight, std=0.1)
    x = torch.randn(1, 27, 17, 2)
    x2 = x.clone()
    x2[:, 0] += 0.5
    with torch.inference_mode():
        d = (model(x) - model(x2)).abs().amax(dim=(0, 2, 3))
    assert d[13] > 1e-6 and torch.all(d[14:] == 0)


def test_deeper_temporal_mlp_starts_from_a_trained_shallower_one(tmp_path):
    """Blocks added with a dilation cycle (1, 3, 9, 1, 3) start as the identity: initialised from a trained
    three-block model, the five-block model computes exactly what it did, then trains its new blocks."""
    from core.model.temporal_mlp import dilations
    from core.training import init_from

    torch.manual_seed(0)
    shallow_cfg = ModelConfig(arch="temporal_mlp", **{**TINY, "window": 27}, temporal_layers=3)
    shallow = build_model(shallow_cfg).eval()
    for block in shallow.temporal:  # as if trained: the projections no longer zero
        torch.nn.init.normal_(block.proj.weight, std=0.1)
    path = tmp_path / "shallow.safetensors"
    save_weights(shallow, shallow_cfg, path)
    deep_cfg = ModelConfig(arch="temporal_mlp", **{**TINY, "window": 27}, temporal_layers=5, dilation_cycle=3)
    assert dilations(deep_cfg) == [1, 3, 9, 1, 3] and dilations(shallow_cfg) == [1, 3, 9]
    deep = build_model(deep_cfg).eval()
    init_from(deep, path)
    x = torch.randn(2, 27, 17, 2)
    with torch.inference_mode():
        assert torch.allclose(deep(x), shallow(x), atol=1e-6)
    assert [b.conv.dilation[0] for b in deep.temporal] == [1, 3, 9, 1, 3]
