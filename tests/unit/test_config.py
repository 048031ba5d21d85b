"""Config dataclasses: defaults, unknown keys rejected, TOML round trip."""

import re

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


@pytest.mark.parametrize("text, needle", [
    ('lr = "fast"', "TrainConfig.lr must be a finite number, got 'fast'"),
    ("batch_size = 1e9", "TrainConfig.batch_size must be a whole number"),
    ("lr = -1", "TrainConfig.lr must be within"),
    ("fps_choices = []", "at least one frame rate"),
    ('val_subjects = "02"', "TrainConfig.val_subjects must be a list"),
    ("seed = -4", "TrainConfig.seed must be within"),
    ("[augment]\ngap_scale = -3", "AugmentConfig.gap_scale must be within"),
    ("[augment]\nfocal_range = [1.5, 0.5]", "0 < low <= high"),
    ("[augment]\ndistance_range = [2.0]", "AugmentConfig.distance_range must be a list of 2"),
    ("[augment]\nflip_prob = true", "AugmentConfig.flip_prob must be a finite number"),
    ("[model]\ndropout = 1.5", "ModelConfig.dropout must be within"),
    ("[model]\nnum_joints = 33", "must be 17"),
    ("[model]\nrouter = 1", "ModelConfig.router must be true or false"),
    ("[loss]\nvelocity = -2", "LossConfig.velocity must be within"),
])  # fmt: skip
def test_values_of_the_wrong_type_or_range_are_one_line_errors(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=re.escape(needle)) as e:
        load_train_config(path)
    assert str(path) in str(e.value)


def test_a_binary_file_and_a_byte_order_mark(tmp_path):
    binary = tmp_path / "bin.toml"
    binary.write_bytes(bytes(range(200, 256)) * 4)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_train_config(binary)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbfsteps = 5\n")
    assert load_train_config(bom).steps == 5


def test_every_shipped_config_loads():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[2] / "configs").rglob("*.toml"))
    assert len(configs) > 10
    for path in configs:
        load_train_config(path)
