"""Config dataclasses: defaults, unknown keys rejected, TOML round trip."""

import pytest

from core.config import InferenceConfig, ModelConfig, TrainConfig, load_train_config, to_toml
from core.errors import ConfigError


def test_unknown_keys_are_rejected_at_every_level():
    with pytest.raises(ConfigError, match="windw"):
        ModelConfig.from_dict({"windw": 27})
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"model": {"arch": "posemoe", "bogus": 1}})
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"augment": {"nope": 1}})
    with pytest.raises(ConfigError):
        InferenceConfig.from_dict({"strid": 3})


def test_bad_values_are_rejected():
    with pytest.raises(ConfigError):
        ModelConfig(arch="resnet")
    with pytest.raises(ConfigError):
        ModelConfig(channels=50, heads=4)
    with pytest.raises(ConfigError):
        InferenceConfig(device="tpu")
    with pytest.raises(ConfigError, match="workers"):
        TrainConfig(workers=-1)
    with pytest.raises(ConfigError, match="device"):
        TrainConfig.from_dict({"device": "gpu"})
    assert TrainConfig(device="cuda:1", workers=7).workers == 7
    with pytest.raises(ConfigError, match="sampler"):
        TrainConfig(sampler="gpu")
    with pytest.raises(ConfigError, match="workers = 0"):
        TrainConfig(sampler="device", workers=2)
    assert TrainConfig.from_dict({"sampler": "device", "device": "cuda"}).sampler == "device"


def test_inference_defaults():
    cfg = InferenceConfig()
    assert cfg.stride is None and cfg.flip_tta and cfg.device == "auto" and cfg.batch_size == 0


def test_toml_round_trip(tmp_path):
    cfg = TrainConfig.from_dict({"minutes": 3.0, "val_subjects": ["02", "05"],
                                 "model": {"arch": "entangled", "channels": 68, "router": False}})  # fmt: skip
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg.to_dict()))
    back = load_train_config(path)
    assert back == cfg
    assert back.model.channels == 68 and back.val_subjects == ("02", "05")


def test_repo_configs_load(repo_root):
    for name in ("posemoe_cpu", "entangled_cpu"):
        cfg = load_train_config(repo_root / "configs" / f"{name}.toml")
        assert cfg.model.arch in ("posemoe", "entangled")
    # every config the docs and scripts name must load, and start from weights that are shipped or under runs/
    paths = sorted((repo_root / "configs").glob("*.toml"))
    assert len(paths) > 10
    for path in paths:
        init = load_train_config(path).init_weights
        assert not init or init.startswith("runs/") or (repo_root / init).is_file(), path


def test_bad_toml_names_the_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("model = [")
    with pytest.raises(ConfigError, match="x.toml"):
        load_train_config(p)
