"""`posemoe train --bvh DIR` on a user's own (tiny) BVH library, then `posemoe eval` on the result."""

import json
import shutil

import pytest
import torch

pytestmark = [pytest.mark.data]

from core.weights import load_lifter  # noqa: E402
from posemoe_blender.cli import main  # noqa: E402


def _tiny_library(tmp_path, shared_data, workers=0):
    """Return (BVH library with two "subjects", folders 02 and 16; a 3-step config TOML)."""
    lib = tmp_path / "my library"
    for clip in ("02/02_01", "02/02_02", "16/16_08"):
        (lib / clip.split("/")[0]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / "mocap" / "cmu" / f"{clip}.bvh.gz", lib / f"{clip}.bvh.gz")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        'minutes = 0.0\nsteps = 3\nbatch_size = 4\nval_every = 2\nval_windows = 4\nwarmup_steps = 1\n'
        f'val_subjects = ["16"]\nthreads = 1\nworkers = {workers}\n'
        f'cache_dir = "{(tmp_path / "cache").as_posix()}"\n'
        '[model]\narch = "posemoe"\nwindow = 9\nchannels = 16\nheads = 2\nexpert_layers = 1\ndecoder_layers = 1\n'
    )
    return lib, cfg


def test_train_and_eval_on_own_bvh(tmp_path, shared_data, capsys):
    lib, cfg = _tiny_library(tmp_path, shared_data)
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--bvh", str(lib), "--out", str(out), "--progress", "none",
                 "--device", "cpu"]) == 0
    weights = sorted(out.glob("*.safetensors"))
    assert weights, list(out.iterdir())
    model, mcfg, meta = load_lifter(weights[0])
    assert mcfg.window == 9 and meta["sha256"]
    capsys.readouterr()
    report = tmp_path / "eval.json"
    assert main(["eval", "--weights", str(weights[0]), "--data", str(lib), "--max-windows", "8",
                 "--json-out", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["overall"]["mpjpe_mm"] > 0 and "p_mpjpe_mm" in r["overall"]
    capsys.readouterr()
    # a transformer cannot be evaluated on windows longer than its own: a one-line error, not a traceback
    assert main(["eval", "--weights", str(weights[0]), "--data", str(lib), "--max-windows", "8",
                 "--window", "12"]) != 0
    assert "accepts 1..9 frames" in capsys.readouterr().err


def test_batch_making_processes_are_seeded(tmp_path, shared_data):
    """With workers (what feeds a GPU), two runs of one config give the same weights; another seed does not."""
    from safetensors.torch import load_file

    lib, cfg = _tiny_library(tmp_path, shared_data, workers=2)
    runs = []
    for name, extra in (("a", []), ("b", []), ("c", ["--workers", "1"])):
        out = tmp_path / name
        assert main(["train", "--config", str(cfg), "--bvh", str(lib), "--out", str(out), "--progress", "none",
                     "--device", "cpu", *extra]) == 0
        runs.append(load_file(str(out / "last.safetensors")))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])  # one worker draws other batches


def test_batches_made_on_the_device_train_reproducibly(tmp_path, shared_data):
    """``--sampler device`` (core.synthetic_device; here on the CPU, the code a GPU runs): training works, two
    runs of one seed give the same weights, and a resumed run goes on from its checkpoint."""
    from safetensors.torch import load_file

    lib, cfg = _tiny_library(tmp_path, shared_data)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", "--config", str(cfg), "--bvh", str(lib), "--out", str(out), "--progress", "none",
                     "--device", "cpu", "--sampler", "device"]) == 0
        runs.append(load_file(str(out / "last.safetensors")))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    state = json.loads((tmp_path / "a" / "last.state.json").read_text())["train_state"]
    assert state["step"] == 3
    cfg.write_text(cfg.read_text().replace("steps = 3", "steps = 5"))
    assert main(["train", "--config", str(cfg), "--bvh", str(lib), "--out", str(tmp_path / "a"), "--progress", "none",
                 "--device", "cpu", "--sampler", "device", "--resume"]) == 0
    assert json.loads((tmp_path / "a" / "last.state.json").read_text())["train_state"]["step"] == 5
    # batches made on the device cannot also come from worker processes: a one-line error
    assert main(["train", "--config", str(cfg), "--bvh", str(lib), "--out", str(tmp_path / "c"), "--progress", "none",
                 "--device", "cpu", "--sampler", "device", "--workers", "2"]) != 0
