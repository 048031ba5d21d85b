"""Sliding-window inference: window placement, short clips, overlap averaging, flip TTA."""

import numpy as np
import pytest
import torch

from core.config import InferenceConfig, ModelConfig
from core.inference import _flip_2d, _flip_3d, lift_input, lift_sequence, resolve_device, window_starts, window_weights
from core.keypoints import normalize_2d
from core.model import build_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = ModelConfig(arch="posemoe", window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)
    return build_model(cfg).eval(), cfg


def _kp(t, seed=0):
    """Random 2D keypoints (T, 17, 2) whose thorax is above the pelvis (upright: lifted as they are)."""
    rng = np.random.default_rng(seed)
    kp = rng.uniform(100, 500, (t, 17, 2)).astype(np.float32)
    kp[:, 8] = kp[:, 0] + np.float32([0.0, -100.0])
    return kp


@pytest.mark.parametrize("n,w,s,expect", [(5, 9, 4, [0]), (9, 9, 4, [0]), (20, 9, 4, [0, 4, 8, 11]),
                                          (17, 9, 8, [0, 8])])
def test_window_starts_cover_the_clip(n, w, s, expect):
    starts = window_starts(n, w, s)
    assert starts == expect
    covered = np.zeros(max(n, w), bool)
    for st in starts:
        covered[st:st + w] = True
    assert covered[:n].all()


def test_one_window_equals_direct_forward(tiny):
    model, cfg = tiny
    kp = _kp(cfg.window)
    out = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(flip_tta=False, device="cpu"))
    with torch.inference_mode():
        direct = model(torch.from_numpy(normalize_2d(kp, 640, 480))[None])[0].numpy()
    assert np.allclose(out, direct - direct[:, :1], atol=1e-5)


def test_sliding_equals_whole_sequence_for_a_per_frame_model():
    torch.manual_seed(0)
    cfg = ModelConfig(arch="mlp", window=9, channels=32, heads=4)
    model = build_model(cfg).eval()
    kp = _kp(40, seed=1)
    slid = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(flip_tta=False, stride=3, batch_size=2,
                                                                           device="cpu"))
    with torch.inference_mode():
        whole = model(torch.from_numpy(normalize_2d(kp, 640, 480))[None])[0].numpy()
    assert np.allclose(slid, whole - whole[:, :1], atol=1e-5)


def test_short_clip_is_edge_padded_and_batching_does_not_matter(tiny):
    model, cfg = tiny
    short = lift_sequence(_kp(4), (640, 480), model, cfg.window, InferenceConfig(device="cpu"))
    assert short.shape == (4, 17, 3) and np.isfinite(short).all()
    kp = _kp(50, seed=2)
    a = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(batch_size=1, device="cpu"))
    b = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(batch_size=64, device="cpu"))
    assert a.shape == (50, 17, 3) and np.allclose(a, b, atol=1e-5)
    assert np.abs(a[:, 0]).max() == 0.0  # pelvis is the origin


def test_a_short_clip_is_lifted_whole_by_a_model_of_any_length():
    from core.inference import lift_many

    torch.manual_seed(0)
    cfg = ModelConfig(arch="temporal_mlp", window=27, channels=16, expert_layers=1, temporal_layers=3)
    model = build_model(cfg).eval()
    for block in model.temporal:  # zero-initialised projections would make the temporal blocks identities
        torch.nn.init.normal_(block.proj.weight, std=0.1)
    assert model.any_length
    kp = _kp(11, seed=3)
    out = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(flip_tta=False, device="cpu"))
    with torch.inference_mode():
        x = torch.from_numpy(normalize_2d(kp, 640, 480))
        whole = model(x[None])[0].numpy()
        padded = model(torch.cat([x[:1].repeat(8, 1, 1), x, x[-1:].repeat(8, 1, 1)])[None])[0, 8:19].numpy()
    assert np.allclose(out, whole - whole[:, :1], atol=1e-5)
    assert not np.allclose(out, padded - padded[:, :1], atol=1e-3)  # not what edge padding gives
    # clips of several lengths, short and long, share batches by length and match lifting each alone
    clips = [normalize_2d(_kp(t, seed=t), 640, 480) for t in (11, 5, 60, 11, 1)]
    icfg = InferenceConfig(device="cpu", batch_size=2)
    ref = [lift_many(model, [c], cfg.window, icfg)[0] for c in clips]
    calls = []
    many = lift_many(model, clips, cfg.window, icfg, on_progress=lambda d, t: calls.append((d, t)))
    assert all(m.shape == r.shape and np.allclose(m, r, atol=1e-5) for m, r in zip(many, ref, strict=True))
    assert calls[-1] == (8, 8) and [d for d, _ in calls] == sorted(d for d, _ in calls)  # 4 windows of 60 + 4 clips


def test_flip_is_an_involution():
    x = torch.randn(2, 5, 17, 2)
    y = torch.randn(2, 5, 17, 3)
    assert torch.equal(_flip_2d(_flip_2d(x)), x) and torch.equal(_flip_3d(_flip_3d(y)), y)


def test_flip_tta_of_a_symmetric_model_is_unchanged(tiny):
    model, cfg = tiny
    kp = _kp(12, seed=3)
    on = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(flip_tta=True, device="cpu"))
    off = lift_sequence(kp, (640, 480), model, cfg.window, InferenceConfig(flip_tta=False, device="cpu"))
    assert on.shape == off.shape and not np.allclose(on, off)  # TTA really averages a second pass


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    from core.errors import WorkerEnvError

    for name in ("cuda", "cuda:0"):
        with pytest.raises(WorkerEnvError, match="CUDA"):
            resolve_device(name)
    for name in ("cuda:x", "tpu"):
        with pytest.raises(WorkerEnvError, match="unknown device"):
            resolve_device(name)
    assert resolve_device("auto").type == "cpu"


def test_lift_many_equals_lift_sequence_per_clip(tiny):
    from core.inference import lift_many

    model, cfg = tiny
    clips = [(_kp(t, seed=t), size) for t, size in ((4, (640, 480)), (9, (320, 240)), (26, (1920, 1080)),
                                                     (1, (100, 100)))]
    calls = []
    for icfg in (InferenceConfig(device="cpu", batch_size=3), InferenceConfig(device="cpu", flip_tta=False,
                                                                              stride=3, batch_size=64)):
        ref = [lift_sequence(kp, size, model, cfg.window, icfg) for kp, size in clips]
        calls.clear()
        many = lift_many(model, [normalize_2d(kp, *size) for kp, size in clips], cfg.window, icfg,
                         on_progress=lambda d, t: calls.append((d, t)))
        assert [m.shape for m in many] == [r.shape for r in ref]
        assert all(m.dtype == np.float32 and np.allclose(m, r, atol=1e-5) for m, r in zip(many, ref, strict=True))
        total = calls[-1][1]
        assert calls[-1][0] == total and len(calls) == -(-total // icfg.batch_size)  # clips share batches
    with pytest.raises(ValueError, match="no frames"):
        lift_many(model, [np.zeros((0, 17, 2), np.float32)], cfg.window)


def test_automatic_batch_size_on_cpu(tiny):
    from core.inference import AUTO_BATCH, lift_many

    model, cfg = tiny
    calls = []
    lift_many(model, [normalize_2d(_kp(200), 640, 480)], cfg.window, InferenceConfig(device="cpu"),
              on_progress=lambda d, t: calls.append((d, t)))
    assert calls[0][0] == AUTO_BATCH["cpu"] and len(calls) == -(-calls[-1][1] // AUTO_BATCH["cpu"])


def test_window_weights_favour_the_centre_and_never_vanish():
    w = window_weights(27)
    assert w.shape == (27,) and np.all(w > 0) and np.allclose(w, w[::-1])
    assert w.argmax() == 13 and w[0] < 0.01 * w[13]
    assert np.all(window_weights(27, "mean") == 1) and np.all(window_weights(2) == 1)


class _WindowMean(torch.nn.Module):
    """Every frame of a window gets the window's mean input: the stitched output shows the window seams."""

    def forward(self, x):
        y = torch.cat([x, x[..., :1]], dim=-1).mean(dim=1, keepdim=True).expand(-1, x.shape[1], -1, -1)
        return y * torch.arange(17.0).view(1, 1, 17, 1)  # joints differ, so pelvis-relative output is not 0


def test_hann_blending_removes_window_seams():
    """A ramp lifted by a window-global model: uniform averaging steps at every window edge, Hann does not."""
    kp = np.repeat(np.linspace(100, 500, 120, dtype=np.float32)[:, None, None], 17, 1).repeat(2, 2)
    steps = {}
    for blend in ("mean", "hann"):
        cfg = InferenceConfig(flip_tta=False, stride=4, device="cpu", blend=blend)
        y = lift_sequence(kp, (640, 480), _WindowMean(), 9, cfg)
        steps[blend] = np.abs(np.diff(y[:, 16, 0], 2)).max()
    assert steps["hann"] < 0.5 * steps["mean"]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_turning_the_image_is_rolling_the_camera(k):
    # core.keypoints.turn_points and turn_camera_points agree with a centred pinhole: points turned in 3D
    # project to the turned pixels in the turned image.
    from core.keypoints import turn_camera_points, turn_points

    rng = np.random.default_rng(k)
    pts = np.c_[rng.uniform(-1, 1, (50, 2)), rng.uniform(2, 6, 50)]
    size, f = (640, 480), 500.0

    def project(p, wh):
        return f * p[:, :2] / p[:, 2:] + np.array(wh) / 2.0

    turned, turned_size = turn_points(project(pts, size), size, k)
    assert turned_size == (size if k % 2 == 0 else size[::-1])
    assert np.allclose(project(turn_camera_points(pts, k), turned_size), turned, atol=1e-3)
    assert np.allclose(turn_camera_points(turn_camera_points(pts, k), -k), pts)


def test_a_person_on_their_side_or_upside_down_is_lifted_upright(tiny):
    # A video turned on its side or upside down (no rotation metadata): the lifter, trained on cameras rolled
    # by a few degrees, is given the person upright, and its output is turned back: the same 3D as the
    # upright video's, in the turned camera.
    from core.keypoints import turn_camera_points, turn_points, upright_turns

    model, cfg = tiny
    kp = _kp(30, seed=5)
    icfg = InferenceConfig(device="cpu")
    upright = lift_sequence(kp, (640, 480), model, cfg.window, icfg)
    for k in (1, 2, 3):
        xy, size = turn_points(kp, (640, 480), k)
        assert upright_turns(xy) == (4 - k) % 4
        out = lift_sequence(xy, size, model, cfg.window, icfg)
        assert np.allclose(turn_camera_points(out, -k), upright, atol=1e-5)
    assert upright_turns(kp, np.zeros(30, bool)) == 0  # no valid frame: as it is
    # told the video is upright (the person lies down), the turned clip is lifted as filmed
    xy, size = turn_points(kp, (640, 480), 1)
    assert lift_input(xy, size, upright=False)[1] == 0 and lift_input(xy, size)[1] == 3
    assert not np.allclose(lift_sequence(xy, size, model, cfg.window, icfg, upright=False),
                           lift_sequence(xy, size, model, cfg.window, icfg), atol=1e-3)


@pytest.mark.parametrize("fps,frames,plan", [
    (None, 100, (1, 1)), (float("nan"), 100, (1, 1)), (20.0, 100, (1, 1)), (30.0, 100, (1, 1)), (50.0, 100, (1, 1)),
    (15.0, 100, (2, 1)), (10.0, 100, (3, 1)), (5.0, 100, (5, 1)), (0.5, 100, (8, 1)), (60.0, 100, (1, 2)),
    (90.0, 100, (1, 3)), (120.0, 100, (1, 3)), (240.0, 100, (1, 6)), (960.0, 100, (1, 8)), (120.0, 5, (1, 1)),
])  # fmt: skip
def test_rate_plan_lifts_at_rates_the_lifter_learnt(fps, frames, plan):
    from core.inference import rate_plan

    assert rate_plan(fps, frames) == plan


class _Step(torch.nn.Module):
    """Each frame's output: its 2D step from the previous frame of the window (the first: the next's), joint-scaled."""

    def forward(self, x):
        step = x[:, 1:] - x[:, :-1]
        step = torch.cat([step[:, :1], step], dim=1)
        return torch.cat([step, step[..., :1]], dim=-1) * torch.arange(17.0).view(1, 1, 17, 1)


def test_slow_clips_are_lifted_upsampled_and_fast_ones_as_streams():
    """A person moving steadily: at 5 fps the lifter sees the steps of 25 fps (one fifth as long), at 240 fps the
    steps of 40 fps (6x as long); a clip at a rate it learnt is lifted as it is. One pose per video frame."""
    cfg = InferenceConfig(flip_tta=False, device="cpu")
    kp = _kp(1)[[0] * 60] + np.arange(60, dtype=np.float32)[:, None, None] * np.float32([2.0, 0.0])
    step = {fps: lift_sequence(kp, (640, 480), _Step(), 9, cfg, fps=fps) for fps in (5.0, 30.0, 240.0)}
    assert all(len(y) == 60 for y in step.values())
    inner = slice(2, 58)  # the clip's last frames: the streams' ends are not interleaved evenly
    x30 = step[30.0][inner, 16, 0]
    assert np.allclose(x30, x30.mean()) and x30.mean() > 0
    assert np.allclose(step[5.0][inner, 16, 0], x30 / 5, rtol=1e-4)
    assert np.allclose(step[240.0][inner, 16, 0], x30 * 6, rtol=1e-4)


def test_streams_are_joined_without_alternation():
    """Interleaved streams lifted apart, each with its own offset: the joined clip does not alternate."""
    from core.inference import _rate_join

    a, b = np.zeros((50, 17, 3), np.float32), np.ones((50, 17, 3), np.float32)
    y = _rate_join([a, b], 100, 1, 2)
    assert y.shape == (100, 17, 3) and np.allclose(y[1:-1], 0.5)
    ramp = np.arange(100, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    assert np.allclose(_rate_join([ramp[0::2], ramp[1::2]], 100, 1, 2)[1:-1], ramp[1:-1])


def test_a_known_focal_length_zooms_the_lifters_view_about_the_image_centre():
    """Zooming is what a longer lens does from the same place: the 2D scales about the image centre to the focal
    length the lifter knows best (LIFT_FOCAL image widths); unknown, the 2D is left as filmed."""
    from core.inference import LIFT_FOCAL
    from core.world import focal_from_lens_mm

    kp = _kp(5)
    plain, _ = lift_input(kp, (640, 480))
    wide, _ = lift_input(kp, (640, 480), focal=0.4 * 640)
    assert np.allclose(wide, plain * LIFT_FOCAL / 0.4, atol=1e-5)
    centre, _ = lift_input(np.full((5, 17, 2), [320.0, 240.0], np.float32), (640, 480), focal=900.0)
    assert np.allclose(centre, 0.0)
    # a phone's main camera (26 mm equivalent) filming 1920x1080: about a 71 degree horizontal view
    f = focal_from_lens_mm(26.0, (1920, 1080))
    assert 2 * np.degrees(np.arctan(960 / f)) == pytest.approx(71.0, abs=1.0)


@pytest.mark.parametrize("fps", [-30.0, -5.0, 0.0, 5e-324, float("inf")])
def test_rate_plan_never_fails_on_an_odd_rate(fps):
    from core.inference import MAX_RATE_FACTOR, rate_plan

    up, streams = rate_plan(fps, 100)
    assert 1 <= up <= MAX_RATE_FACTOR and streams == 1


def test_lift_many_takes_rates_as_an_array(tiny):
    from core.inference import lift_many

    model, cfg = tiny
    seqs = [normalize_2d(_kp(30, seed), 640, 480) for seed in (1, 2)]
    out = lift_many(model, seqs, cfg.window, InferenceConfig(device="cpu"), fps=np.array([30.0, 120.0]))
    assert [len(y) for y in out] == [30, 30]


def test_a_person_who_is_upright_part_of_the_time_is_lifted_as_filmed():
    """Lying (or crouched across the picture) most of the clip but upright in a tenth of it or more: the video is
    upright, not turned (a person getting up from the floor, a sprint start). Upright in fewer frames, or never (a
    video on its side of a standing person), the median decides as before."""
    from core.keypoints import UPRIGHT_SHARE, upright_turns

    def clip(upright_frames: int, frames: int = 60) -> np.ndarray:
        xy = np.zeros((frames, 17, 2))
        xy[:, 8] = (100.0, 0.0)  # thorax to the right of the pelvis: lying across the picture
        xy[:upright_frames, 8] = (10.0, -100.0)  # sitting up
        return xy

    enough = int(np.ceil(UPRIGHT_SHARE * 60))
    assert upright_turns(clip(enough)) == 0
    assert upright_turns(clip(enough - 1)) == 3 and upright_turns(clip(0)) == 3
    assert upright_turns(clip(4, frames=20)) == 3  # 20 % of a short clip, but under 5 frames: not enough to say


@pytest.mark.parametrize("valid,span", [
    (None, (0, 10)),
    ([False] * 10, (0, 10)),  # nobody found: lifted as it is
    ([False, False] + [True] * 6 + [False, False], (2, 8)),  # the held ends are not lifted
    ([True] * 3 + [False] * 4 + [True] * 3, (0, 10)),  # a gap inside is lifted through
])
def test_seen_span_runs_from_the_first_person_to_the_last(valid, span):
    from core.inference import seen_span

    assert seen_span(None if valid is None else np.array(valid), 10) == span
    with pytest.raises(ValueError, match="9 valid flags for 10 frames"):
        seen_span(np.ones(9, bool), 10)


def test_a_clip_is_lifted_from_its_first_frame_with_a_person_to_its_last():
    from core.inference import lift_many

    torch.manual_seed(0)
    cfg = ModelConfig(arch="temporal_mlp", window=27, channels=16, expert_layers=1, temporal_layers=3)
    model = build_model(cfg).eval()
    for block in model.temporal:
        torch.nn.init.normal_(block.proj.weight, std=0.1)
    kp = _kp(100, seed=4)
    valid = np.ones(100, bool)
    valid[:5] = valid[40:75] = valid[90:] = False  # walks in late, is hidden a while, leaves early
    icfg = InferenceConfig(flip_tta=False, device="cpu")
    out = lift_sequence(kp, (640, 480), model, cfg.window, icfg, valid=valid, fps=30.0)
    (alone,) = lift_many(model, [normalize_2d(kp, 640, 480)[5:90]], cfg.window, icfg)
    assert out.dtype == np.float32 and out.shape == (100, 17, 3) and np.allclose(out[5:90], alone, atol=1e-5)
    assert np.allclose(out[:5], alone[0]) and np.allclose(out[90:], alone[-1])  # the ends hold, as their 2D does
