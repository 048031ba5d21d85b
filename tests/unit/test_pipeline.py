"""Pipeline glue: lifting a keypoints file with a tiny model, CUDA out-of-memory fallback."""

import logging

import numpy as np
import pytest
import torch

import core.inference
import core.weights
from core.config import InferenceConfig, ModelConfig
from core.model import build_model
from core.motion_file import Keypoints2D
from core.protocol import Message, Progress
from core.skeleton import bone_lengths
from posemoe_blender import pipeline


def _tiny(monkeypatch):
    cfg = ModelConfig(arch="posemoe", window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)
    model = build_model(cfg).eval()
    monkeypatch.setattr(core.weights, "load_lifter", lambda path, device="cpu": (model, cfg, {"sha256": "x" * 64}))
    return model


def _kp(t=30):
    rng = np.random.default_rng(0)
    return Keypoints2D(rng.uniform(100, 400, (t, 17, 2)).astype(np.float32), np.ones((t, 17), np.float32),
                       np.ones(t, bool), 30.0, (640, 480))


def test_lift_produces_a_contract_clip(monkeypatch):
    _tiny(monkeypatch)
    events = []
    clip = pipeline.lift(_kp(), cfg=InferenceConfig(device="cpu"), emit=events.append, source="k.npz")
    assert clip.joints_3d.shape == (30, 17, 3) and clip.root.shape == (30, 3)
    assert np.abs(clip.joints_3d[:, 0]).max() == 0
    assert clip.meta["source"] == "k.npz" and clip.meta["smoothing"] == "medium"
    assert len(clip.meta["world_from_camera"]) == 4 and "contacts" in clip.meta
    assert {e.stage for e in events if isinstance(e, Progress)} == {"lift", "filter"}


def test_cuda_out_of_memory_falls_back_to_cpu(monkeypatch):
    _tiny(monkeypatch)
    real = core.inference.lift_sequence
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args[4].device if len(args) > 4 else kwargs["cfg"].device)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(core.inference, "lift_sequence", flaky)
    events = []
    clip = pipeline.lift(_kp(), cfg=InferenceConfig(device="cpu"), emit=events.append)
    assert len(calls) == 2 and calls[1] == "cpu"
    assert any(isinstance(e, Message) and e.level == "warning" for e in events)
    assert clip.meta["device"] == "cpu" and np.isfinite(clip.joints_3d).all()


def test_the_measured_camera_turn_reaches_the_clean_up_unless_the_camera_is_static(monkeypatch):
    import core.motion_cleanup

    _tiny(monkeypatch)
    seen = []
    real = core.motion_cleanup.clean_motion

    def spy(*args, camera_rotation=None, **kwargs):
        seen.append(camera_rotation)
        return real(*args, camera_rotation=camera_rotation, **kwargs)

    monkeypatch.setattr(core.motion_cleanup, "clean_motion", spy)
    kp = _kp()
    kp.extras["camera_rotation"] = np.broadcast_to(np.eye(3, dtype=np.float32), (30, 3, 3)).copy()
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"))
    pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), static_camera=True)
    assert seen[0] is kp.extras["camera_rotation"] and seen[1] is None
    assert clip.meta["camera_turn_deg"] == 0.0 and clip.extras["camera_rotation"].shape == (30, 3, 3)


def test_engine_warnings_reach_the_protocol(monkeypatch):
    _tiny(monkeypatch)
    events = []
    kp = _kp()
    kp.scores[:, [3, 6]] = 0.1  # ankles unseen: the clean-up warns that the feet are out of view
    pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), emit=events.append)
    notes = [e for e in events if isinstance(e, Message)]
    assert any(m.level == "warning" and "feet are out of view" in m.message for m in notes)
    events.clear()
    kp.scores[:, [2, 5]] = 0.1  # the knees unseen too (a crop at the thighs): the legs are guessed, and said so
    pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), emit=events.append)
    notes = [e.message for e in events if isinstance(e, Message) and e.level == "warning"]
    assert any("the legs (knees and feet) are out of view" in m for m in notes), notes
    assert not any("feet are out of view" in m for m in notes)  # one warning, not two
    before = len(logging.getLogger("core").handlers)
    pipeline.lift(_kp(), cfg=InferenceConfig(device="cpu"))
    assert len(logging.getLogger("core").handlers) == before  # the forwarder is removed after each call


def test_known_focal_prefers_the_options_then_the_lens_the_video_states():
    from core.world import focal_from_lens_mm

    kp = _kp()
    kp.extras["lens_mm"] = np.asarray(13.0)
    assert pipeline.known_focal(kp, focal=900.0) == (900.0, "--focal")
    assert pipeline.known_focal(kp, lens_mm=77.0) == (focal_from_lens_mm(77.0, (640, 480)), "--lens-mm")
    assert pipeline.known_focal(kp) == (focal_from_lens_mm(13.0, (640, 480)), "video metadata")
    assert pipeline.known_focal(kp, lens_metadata=False) == (None, "")
    assert pipeline.known_focal(_kp()) == (None, "")


@pytest.mark.parametrize("stated", [np.asarray(-13.0), np.asarray(1e4), np.asarray(np.nan), np.asarray([13.0, 26.0]),
                                    np.asarray("wide")])
def test_a_lens_no_camera_has_is_ignored_with_a_warning(stated):
    kp = _kp()
    kp.extras["lens_mm"] = stated
    events = []
    assert pipeline.known_focal(kp, emit=events.append) == (None, "")
    assert any(isinstance(e, Message) and e.level == "warning" and "--lens-mm" in e.message for e in events)


def test_the_lens_the_video_states_reaches_the_lifter_and_the_clean_up(monkeypatch):
    """Both see the focal length (the lifter zooms its 2D, core.inference.lift_input), and the motion file says
    where it came from; --ignore-lens-metadata lifts as with an unknown lens."""
    from core.world import focal_from_lens_mm

    _tiny(monkeypatch)
    seen = []
    real = core.inference.lift_sequence
    monkeypatch.setattr(core.inference, "lift_sequence",
                        lambda *a, focal=None, **k: seen.append(focal) or real(*a, focal=focal, **k))
    kp = _kp()
    kp.extras["lens_mm"] = np.asarray(13.0)
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"))
    f = focal_from_lens_mm(13.0, (640, 480))
    assert seen[-1] == pytest.approx(f) and clip.meta["cleanup"]["focal_px"] == pytest.approx(f, abs=1e-3)
    assert clip.meta["focal_from"] == "video metadata"
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), lens_metadata=False)
    assert seen[-1] is None and clip.meta["focal_from"] == ""
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), lens_mm=26.0)
    assert seen[-1] == pytest.approx(focal_from_lens_mm(26.0, (640, 480))) and clip.meta["focal_from"] == "--lens-mm"


def test_clips_lifted_together_each_get_their_own_lens(monkeypatch):
    """posemoe batch: the lifter process takes each clip's stated lens (batch_lifter.lift_group)."""
    from core.world import focal_from_lens_mm
    from posemoe_blender.batch_lifter import lift_group

    _tiny(monkeypatch)
    lifter = pipeline.load_model(None, InferenceConfig(device="cpu"))
    seen = []
    real = core.inference.lift_input
    monkeypatch.setattr(core.inference, "lift_input", lambda *a: seen.append(a[3]) or real(*a))
    kps = {1: _kp(), 2: _kp()}
    kps[2].extras["lens_mm"] = np.asarray(77.0)
    monkeypatch.setattr("core.motion_file.read_keypoints", lambda path: kps[int(path.name)])
    written = {}
    monkeypatch.setattr("core.motion_file.write_motion", lambda p, clip: written.setdefault(p.name, clip) and p)
    answers = list(lift_group([{"id": i, "keypoints": str(i), "output": f"{i}.npz"} for i in kps], lifter,
                              InferenceConfig(device="cpu")))
    assert [a["id"] for a in answers] == [1, 2] and all("result" in a for a in answers)
    assert seen == [None, pytest.approx(focal_from_lens_mm(77.0, (640, 480)))]
    assert written["1.npz"].meta["focal_from"] == "" and written["2.npz"].meta["focal_from"] == "video metadata"


def test_keypoints_from_before_the_fitted_points_are_lifted_with_them(tmp_path, caplog):
    from core.keypoints import OLD_RULES, blazepose_to_h36m, blazepose_to_h36m_by_rule
    from core.motion_file import read_keypoints, write_keypoints

    rng = np.random.default_rng(1)
    lm = np.concatenate([rng.uniform(200, 400, (8, 33, 2)), np.zeros((8, 33, 1)), np.ones((8, 33, 1))], -1)
    rule = "the rule before the fitted head points"
    joints, scores = blazepose_to_h36m_by_rule(lm[..., :2], lm[..., 3], *OLD_RULES[rule])
    path = tmp_path / "old_kp.npz"
    write_keypoints(path, Keypoints2D(joints, scores, np.ones(8, bool), 30.0, (640, 480),
                                      extras={"mp_landmarks": lm.astype(np.float32)}))
    with caplog.at_level(logging.INFO):
        kp = pipeline.read_keypoints_for_lifting(path)
    assert np.allclose(kp.joints_2d, blazepose_to_h36m(lm[..., :2])[0], atol=1e-3)
    assert f"written by {rule}; its joints were remade" in caplog.text
    assert np.allclose(read_keypoints(path).joints_2d, joints)  # the file itself is not rewritten


def test_only_our_extractors_joint_centres_get_the_lifters_ankles(monkeypatch):
    """Keypoints with MediaPipe landmarks (our extractor's joint centres) reach the lifter with raised ankles; the
    clean-up keeps the joint centres; another detector's keypoints reach the lifter as they are."""
    from core.keypoints import lifter_ankles

    _tiny(monkeypatch)
    seen = []
    real = core.inference.lift_sequence
    monkeypatch.setattr(core.inference, "lift_sequence", lambda x, *a, **k: seen.append(x) or real(x, *a, **k))
    other = _kp()
    pipeline.lift(other, cfg=InferenceConfig(device="cpu"))
    assert np.array_equal(seen[-1], other.joints_2d)
    ours = _kp()
    ours.extras["mp_landmarks"] = np.zeros((30, 33, 4), np.float32)
    clip = pipeline.lift(ours, cfg=InferenceConfig(device="cpu"))
    assert np.allclose(seen[-1], lifter_ankles(ours.joints_2d)) and not np.allclose(seen[-1], ours.joints_2d)
    assert np.array_equal(clip.joints_2d, ours.joints_2d)


def test_a_motion_file_lifted_from_our_keypoints_is_lifted_again_with_the_same_ankles(monkeypatch, tmp_path):
    """A motion file drops MediaPipe's landmarks but keeps a flag, so `posemoe lift motion.npz` raises the ankles as
    the first lift did; a motion file from another detector's keypoints gets no flag; a malformed flag counts as
    none."""
    from core.keypoints import lifter_ankles
    from core.motion_file import JOINT_CENTRES_KEY, read_keypoints, write_motion

    _tiny(monkeypatch)
    seen = []
    real = core.inference.lift_sequence
    monkeypatch.setattr(core.inference, "lift_sequence", lambda x, *a, **k: seen.append(x) or real(x, *a, **k))
    ours = _kp()
    ours.extras["mp_landmarks"] = np.zeros((30, 33, 4), np.float32)
    write_motion(tmp_path / "ours.npz", pipeline.lift(ours, cfg=InferenceConfig(device="cpu")))
    again = read_keypoints(tmp_path / "ours.npz")
    assert "mp_landmarks" not in again.extras and pipeline.made_by_our_extractor(again)
    pipeline.lift(again, cfg=InferenceConfig(device="cpu"))
    assert np.allclose(seen[-1], lifter_ankles(ours.joints_2d), atol=1e-4)
    write_motion(tmp_path / "other.npz", pipeline.lift(_kp(), cfg=InferenceConfig(device="cpu")))
    assert JOINT_CENTRES_KEY not in read_keypoints(tmp_path / "other.npz").extras
    for bad in (np.asarray("1"), np.zeros(0), np.asarray(0), np.ones(3)):
        odd = _kp()
        odd.extras[JOINT_CENTRES_KEY] = bad
        assert not pipeline.made_by_our_extractor(odd)
        assert JOINT_CENTRES_KEY not in pipeline.lift(odd, cfg=InferenceConfig(device="cpu")).extras  # not copied on


def test_the_ankle_raise_follows_the_weights_training_recipe(monkeypatch):
    """Weights trained without the detector-gap offsets get the joint centres as they are."""
    cfg = ModelConfig(arch="posemoe", window=9, channels=32, heads=4, expert_layers=1, decoder_layers=1)
    model = build_model(cfg).eval()
    meta = {"sha256": "x" * 64, "train_config": {"augment": {"gap_prob": 0.0}}}
    monkeypatch.setattr(core.weights, "load_lifter", lambda path, device="cpu": (model, cfg, meta))
    seen = []
    real = core.inference.lift_sequence
    monkeypatch.setattr(core.inference, "lift_sequence", lambda x, *a, **k: seen.append(x) or real(x, *a, **k))
    kp = _kp()
    kp.extras["mp_landmarks"] = np.zeros((30, 33, 4), np.float32)
    pipeline.lift(kp, cfg=InferenceConfig(device="cpu"))
    assert np.allclose(seen[-1], kp.joints_2d)


def _lengths_lifted(monkeypatch) -> list[list[int]]:
    """Install the tiny lifter and return the list that collects the lengths of the sequences each lift_many call
    lifts."""
    _tiny(monkeypatch)
    seen: list[list[int]] = []
    real_many = core.inference.lift_many
    monkeypatch.setattr(core.inference, "lift_many",
                        lambda m, seqs, *a, **k: seen.append([len(x) for x in seqs]) or real_many(m, seqs, *a, **k))
    return seen


def test_each_shot_of_an_edited_clip_is_lifted_on_its_own_in_both_paths(monkeypatch):
    """capture / lift (lift_sequence per shot) and batch (lift_clips: every shot a sequence of its own)."""
    seen = _lengths_lifted(monkeypatch)
    kp = _kp(60)
    kp.extras["shot_cuts"] = np.array([25], np.int32)
    lifter = pipeline.load_model(None, InferenceConfig(device="cpu"))
    joints, _ = pipeline.lift_clips([kp, _kp(40)], lifter, InferenceConfig(device="cpu"))
    assert seen[-1] == [25, 35, 40] and [len(j) for j in joints] == [60, 40]
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"))
    assert seen[-2:] == [[25], [35]] and clip.meta["shots"] == [[0, 24], [25, 59]]
    assert clip.joints_3d.shape == (60, 17, 3) and np.isfinite(clip.root).all()
    lengths = bone_lengths(clip.joints_3d)  # one body in every shot: each bone keeps its length across the cut
    assert np.allclose(lengths, lengths[0], atol=1e-4)


def test_both_paths_lift_a_clip_from_its_first_person_to_its_last(monkeypatch):
    """batch (lift_clips) trims the frames before the first person and after the last, as lift_sequence (capture)."""
    seen = _lengths_lifted(monkeypatch)
    kp = _kp(100)
    kp.valid[:5] = kp.valid[40:75] = kp.valid[95:] = False  # walks in late, is hidden a while, leaves early
    lifter = pipeline.load_model(None, InferenceConfig(device="cpu"))
    joints, _ = pipeline.lift_clips([kp, _kp(40)], lifter, InferenceConfig(device="cpu"))
    assert seen[-1] == [90, 40] and [len(j) for j in joints] == [100, 40]
    alone = core.inference.lift_sequence(pipeline.lifter_joints(kp, lifter.ankle_raise), kp.image_size, lifter.model,
                                         lifter.window, InferenceConfig(device="cpu"), valid=kp.valid, fps=kp.fps)
    assert seen[-1] == [90] and np.allclose(joints[0], alone, atol=1e-5)


def _turns_lifted(monkeypatch) -> list[int]:
    """Install the tiny lifter and return the list that collects the quarter turns each lift_input call chose."""
    _tiny(monkeypatch)
    seen: list[int] = []
    real = core.inference.lift_input
    monkeypatch.setattr(core.inference, "lift_input", lambda *a, **k: seen.append(real(*a, **k)[1]) or real(*a, **k))
    return seen


def test_a_person_across_the_picture_is_said_and_lifted_as_filmed_when_lying_down(monkeypatch):
    """By default a person lying across the picture is taken for a video on its side (turned upright to lift) and
    the user is told how to get the other reading; --lying-down lifts as filmed (in lift and in lift_clips, the
    batch path) and says nothing. In an edited clip each shot is turned on its own, and the note names its frames."""
    seen = _turns_lifted(monkeypatch)
    kp = _kp()
    kp.joints_2d[:, 8] = kp.joints_2d[:, 0] + np.array([-150.0, 0.0], np.float32)  # thorax beside the pelvis
    messages = []
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), emit=messages.append)
    notes = [m.message for m in messages if isinstance(m, Message) and m.level == "warning"]
    assert seen == [1] and clip.meta["upright_quarter_turns"] == 1 and any("--lying-down" in n for n in notes)
    messages.clear()
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), emit=messages.append, lying_down=True)
    assert seen[-1] == 0 and clip.meta["upright_quarter_turns"] == 0 and clip.meta["cleanup"]["lying_down"] is True
    assert not [m for m in messages if isinstance(m, Message) and "--lying-down" in m.message]
    lifter = pipeline.load_model(None, InferenceConfig(device="cpu"))
    pipeline.lift_clips([kp], lifter, InferenceConfig(device="cpu"))
    assert seen[-1] == 1
    pipeline.lift_clips([kp], lifter, InferenceConfig(device="cpu"), lying_down=True)
    assert seen[-1] == 0
    edited = _kp(60)  # lying in its second shot only
    edited.extras["shot_cuts"] = np.array([25], np.int32)
    edited.joints_2d[25:, 8] = edited.joints_2d[25:, 0] + np.array([-150.0, 0.0], np.float32)
    edited.joints_2d[:25, 8] = edited.joints_2d[:25, 0] + np.array([0.0, -150.0], np.float32)
    messages.clear()
    clip = pipeline.lift(edited, cfg=InferenceConfig(device="cpu"), emit=messages.append, source="e.mp4")
    notes = [m.message for m in messages if isinstance(m, Message) and "--lying-down" in m.message]
    assert seen[-2:] == [0, 1] and clip.meta["upright_quarter_turns"] == 1 and "(frames 25-59)" in notes[0]


def test_a_person_upright_part_of_the_clip_is_lifted_as_filmed_and_cleaned_as_lying(monkeypatch):
    """Across the picture most of the clip but upright in a tenth of it or more (getting up, a sprint start): the
    video is upright. Lifted as filmed, cleaned with the ground under the body, and said so (no turned reading)."""
    seen = _turns_lifted(monkeypatch)
    kp = _kp()
    kp.joints_2d[:, 8] = kp.joints_2d[:, 0] + np.array([-150.0, 0.0], np.float32)  # lying across the picture
    kp.joints_2d[:6, 8] = kp.joints_2d[:6, 0] + np.array([0.0, -150.0], np.float32)  # sitting up for 6 frames
    messages = []
    clip = pipeline.lift(kp, cfg=InferenceConfig(device="cpu"), emit=messages.append, source="up.mp4")
    notes = [m.message for m in messages if isinstance(m, Message) and m.level == "warning"]
    assert seen == [0] and clip.meta["upright_quarter_turns"] == 0 and clip.meta["cleanup"]["lying_down"] is True
    assert any("up.mp4: the person lies or crouches across the picture" in n for n in notes)
    assert not any("turned on its side" in n for n in notes)


def test_what_the_clean_up_says_of_one_shot_names_its_frames(caplog):
    """Each shot of an edited clip is cleaned on its own; the same warning from two shots read as a repeat."""
    import logging

    from posemoe_blender.pipeline import _said_of_frames

    cleanup = logging.getLogger("core.motion_cleanup")
    with caplog.at_level("WARNING"):
        with _said_of_frames(373, 603, shots=2):
            cleanup.warning("the feet float in %d %% of frames", 44)
        with _said_of_frames(0, 99, shots=1):
            cleanup.warning("one shot")
        cleanup.warning("after")
    assert [r.getMessage() for r in caplog.records] == ["frames 373-603: the feet float in 44 % of frames",
                                                        "one shot", "after"]


def test_another_detectors_coco_keypoints_are_read_in_h36m_order(tmp_path, caplog):
    """A COCO-17 file (most detectors) was lifted as if H36M-17: 282 mm P-MPJPE on the held-out renders against 38
    converted (benchmarks/coco_keypoints.py). Now it is told apart by the body's shape, or by --layout."""
    from core.keypoints import coco_to_h36m
    from core.motion_file import write_keypoints

    rng = np.random.default_rng(2)
    coco = np.array([[320, 100], [328, 92], [312, 92], [338, 96], [302, 96], [360, 140], [280, 140], [370, 200],
                     [270, 200], [375, 255], [265, 255], [345, 250], [295, 250], [348, 340], [292, 340], [350, 430],
                     [290, 430]], np.float32)[None] + rng.normal(0, 1, (20, 17, 2)).astype(np.float32)
    path = tmp_path / "coco.npz"
    write_keypoints(path, Keypoints2D(coco, np.ones((20, 17), np.float32), np.ones(20, bool), 30.0, (640, 480)))
    converted = coco_to_h36m(coco, np.ones((20, 17)))[0]
    with caplog.at_level(logging.WARNING):
        assert np.allclose(pipeline.read_keypoints_for_lifting(path).joints_2d, converted)
    assert "in COCO-17 order" in caplog.text and "--layout h36m" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert np.allclose(pipeline.read_keypoints_for_lifting(path, "coco").joints_2d, converted)
        assert np.allclose(pipeline.read_keypoints_for_lifting(path, "h36m").joints_2d, coco)
    assert not caplog.text
    shuffled = tmp_path / "shuffled.npz"
    write_keypoints(shuffled, Keypoints2D(converted[:, rng.permutation(17)], np.ones((20, 17), np.float32),
                                          np.ones(20, bool), 30.0, (640, 480)))
    with caplog.at_level(logging.WARNING):
        pipeline.read_keypoints_for_lifting(shuffled)
    assert "do not sit as H36M-17 or COCO-17 joints do" in caplog.text
