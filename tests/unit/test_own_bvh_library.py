"""`posemoe train --bvh DIR` on a user's own library: other skeletons' joint names, a joint mapping file, broken
files left out, the validation split where the library holds no CMU subject, and the damaged files BVH tools write."""

import gzip
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from test_datasets import DAZ, daz_bvh

from core.bvh import parse_bvh
from core.config import TrainConfig
from core.datasets import ROLES, build_bone_graph, load_motion_set, read_index, skeleton_roles
from core.errors import ConfigError, InputFileError
from core.training import evaluate, joint_mapping, validation_subjects

# The Daz skeleton's joints under other conventions' names (the End Site follows its joint as "<name>_end").
BIPED = {"hip": "Bip01_Pelvis", "abdomen": "Bip01_Spine", "chest": "Bip01_Spine1", "neck": "Bip01_Neck",
         "head": "Bip01_Head", "rCollar": "Bip01_R_Clavicle", "rShldr": "Bip01_R_UpperArm",
         "rForeArm": "Bip01_R_Forearm", "rHand": "Bip01_R_Hand", "lCollar": "Bip01_L_Clavicle",
         "lShldr": "Bip01_L_UpperArm", "lForeArm": "Bip01_L_Forearm", "lHand": "Bip01_L_Hand",
         "rButtock": "Bip01_R_Buttock", "rThigh": "Bip01_R_Thigh", "rShin": "Bip01_R_Calf", "rFoot": "Bip01_R_Foot",
         "lButtock": "Bip01_L_Buttock", "lThigh": "Bip01_L_Thigh", "lShin": "Bip01_L_Calf", "lFoot": "Bip01_L_Foot"}
UNREAL = {"hip": "pelvis", "abdomen": "spine_01", "chest": "spine_02", "neck": "neck_01", "head": "head",
          "rCollar": "clavicle_r", "rShldr": "upperarm_r", "rForeArm": "lowerarm_r", "rHand": "hand_r",
          "lCollar": "clavicle_l", "lShldr": "upperarm_l", "lForeArm": "lowerarm_l", "lHand": "hand_l",
          "rButtock": "buttock_r", "rThigh": "thigh_r", "rShin": "calf_r", "rFoot": "foot_r",
          "lButtock": "buttock_l", "lThigh": "thigh_l", "lShin": "calf_l", "lFoot": "foot_l"}
SMPL = {"hip": "Pelvis", "abdomen": "Spine1", "chest": "Spine3", "neck": "Neck", "head": "Head",
        "rCollar": "R_Collar", "rShldr": "R_Shoulder", "rForeArm": "R_Elbow", "rHand": "R_Wrist",
        "lCollar": "L_Collar", "lShldr": "L_Shoulder", "lForeArm": "L_Elbow", "lHand": "L_Wrist",
        "rButtock": "R_Butt", "rThigh": "R_Hip", "rShin": "R_Knee", "rFoot": "R_Ankle",
        "lButtock": "L_Butt", "lThigh": "L_Hip", "lShin": "L_Knee", "lFoot": "L_Ankle"}
MIXAMO_OTHER_PREFIX = {k: f"mixamorig7:{v}" for k, v in {
    "hip": "Hips", "abdomen": "Spine", "chest": "Spine1", "neck": "Neck", "head": "Head", "rCollar": "RightShoulder",
    "rShldr": "RightArm", "rForeArm": "RightForeArm", "rHand": "RightHand", "lCollar": "LeftShoulder",
    "lShldr": "LeftArm", "lForeArm": "LeftForeArm", "lHand": "LeftHand", "rButtock": "RightHip",
    "rThigh": "RightUpLeg", "rShin": "RightLeg", "rFoot": "RightFoot", "lButtock": "LeftHip", "lThigh": "LeftUpLeg",
    "lShin": "LeftLeg", "lFoot": "LeftFoot"}.items()}  # fmt: skip
DAZ_ROLE_JOINT = {"r_hip": "rThigh", "r_knee": "rShin", "r_ankle": "rFoot", "l_hip": "lThigh", "l_knee": "lShin",
                  "l_ankle": "lFoot", "r_shoulder": "rShldr", "r_elbow": "rForeArm", "r_wrist": "rHand",
                  "l_shoulder": "lShldr", "l_elbow": "lForeArm", "l_wrist": "lHand", "head": "head"}


def renamed(names: dict[str, str], frames: int = 40, seed: int = 0) -> str:
    """Return the Daz test skeleton's BVH text with its joints renamed."""
    return re.sub(r"(ROOT|JOINT) (\S+)", lambda m: f"{m[1]} {names.get(m[2], m[2])}", daz_bvh(frames, seed))


@pytest.mark.parametrize("names, family", [(BIPED, "guessed"), (UNREAL, "guessed"), (SMPL, "smpl"),
                                           (MIXAMO_OTHER_PREFIX, "mixamo")])
def test_other_conventions_name_the_same_joints(names, family):
    """3ds Max Biped and Unreal names are read as armatures' are (core.rig_names); SMPL's and Mixamo's under
    another namespace by their tables: each role lands on the joint the Daz names give it, so the motion is the same."""
    bvh = parse_bvh(renamed(names), "x.bvh")
    fam, roles = skeleton_roles(bvh)
    assert fam == family and set(roles) == set(ROLES)
    assert {r: bvh.names[k] for r, k in roles.items()} == {r: names[j] for r, j in DAZ_ROLE_JOINT.items()}
    ref = build_bone_graph(parse_bvh(daz_bvh(), "daz.bvh"))[0]
    graph = build_bone_graph(bvh)[0]
    body = np.arange(len(ref.rest)) != ref.role_node["eyes"]  # only Daz's head End Site is its eyes (EYE_END_SITE)
    assert np.allclose(graph.rest[body], ref.rest[body]) and np.array_equal(graph.parent, ref.parent)
    assert np.linalg.norm(graph.rest[~body] - ref.rest[~body]) < 0.01


def test_unknown_names_need_a_mapping_file_which_then_works(tmp_path):
    odd = {**SMPL, "rThigh": "RHJ", "lThigh": "LHJ"}  # hips no table or rule knows
    bvh = parse_bvh(renamed(odd), "odd.bvh")
    with pytest.raises(InputFileError, match="--bvh-map"):
        skeleton_roles(bvh)
    mapping = {"pelvis": "Pelvis", "spine": "Spine1", "thorax": "Spine3", "neck": "Head", **{
        r: odd[j] for r, j in DAZ_ROLE_JOINT.items() if r != "head"}}  # fmt: skip
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"h36m_to_bone": mapping}))
    loaded = joint_mapping(TrainConfig(bvh_map=str(path)))
    fam, roles = skeleton_roles(bvh, loaded)
    assert fam == "mapping" and bvh.names[roles["l_hip"]] == "LHJ" and bvh.names[roles["head"]] == "Head"
    with pytest.raises(InputFileError, match=r"lacks \(.*'LHJ'"):  # the mapping of another skeleton: named
        skeleton_roles(parse_bvh(daz_bvh(), "daz.bvh"), loaded)


def _library(root, files: dict[str, str]):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".gz"):
            (root / rel).write_bytes(gzip.compress(text.encode()))
        else:
            (root / rel).write_text(text)
    return root


def test_broken_and_other_skeleton_files_are_left_out_with_a_warning(tmp_path, caplog):
    lib = _library(tmp_path / "lib", {
        "a/walk.bvh": daz_bvh(50, 1), "a/RUN.BVH": daz_bvh(50, 2), "b/jump.bvh.gz": daz_bvh(50, 3),
        "b/broken.bvh": "HIERARCHY\nROOT hip\n{", "b/biped.bvh": renamed(BIPED, 50)})  # fmt: skip
    motion = load_motion_set(lib, tmp_path / "cache")
    assert sorted(motion.clips.tolist()) == ["RUN", "jump", "walk"]
    assert "2 BVH file(s) left out" in caplog.text and "broken.bvh" in caplog.text and "biped.bvh" in caplog.text
    caplog.clear()
    load_motion_set(lib, tmp_path / "cache")  # from the cache: still said
    assert "left out" in caplog.text


def test_a_library_of_mostly_another_skeleton_is_refused(tmp_path):
    lib = _library(tmp_path / "lib", {"a.bvh": daz_bvh(30), "b.bvh": renamed(UNREAL, 30), "c.bvh": renamed(UNREAL, 30)})
    with pytest.raises(InputFileError, match="more than one skeleton"):
        load_motion_set(lib, tmp_path / "cache")


def test_nothing_usable_is_one_error_naming_the_first_fault(tmp_path):
    lib = _library(tmp_path / "lib", {"x.bvh": "not a bvh", "y.bvh": "neither"})
    with pytest.raises(InputFileError, match=r"none of its 2 BVH files.*x\.bvh: not a BVH file.*1 more file fails"):
        load_motion_set(lib, tmp_path / "cache")


def test_a_file_edited_in_place_makes_a_new_cache(tmp_path):
    lib = _library(tmp_path / "lib", {"s1/a.bvh": daz_bvh(40, 1), "s2/b.bvh": daz_bvh(40, 2)})
    first = load_motion_set(lib, tmp_path / "cache")
    (lib / "s1" / "a.bvh").write_text(daz_bvh(70, 1))
    second = load_motion_set(lib, tmp_path / "cache")
    assert first.data_id != second.data_id and second.clip_len.sum() == 110


def test_validation_split_of_a_users_library(tmp_path):
    flat = load_motion_set(_library(tmp_path / "flat", {f"take{i}.bvh": daz_bvh(30, i) for i in range(12)}),
                           tmp_path / "cache")  # fmt: skip
    assert sorted(set(flat.subjects.tolist())) == sorted(flat.clips.tolist())  # one folder: each clip a subject
    held = validation_subjects((), flat, "flat")
    assert len(held) == 1 and held == validation_subjects((), flat, "flat")  # a tenth, seeded
    folders = load_motion_set(_library(tmp_path / "nested", {f"{s}/{s}_{i}.bvh": daz_bvh(30, i)
                                                             for s in ("ann", "bob") for i in range(2)}),
                              tmp_path / "cache")  # fmt: skip
    assert set(folders.subjects.tolist()) == {"ann", "bob"} and len(validation_subjects((), folders, "n")) == 1
    assert validation_subjects(("bob",), folders, "n") == ("bob",)
    with pytest.raises(ConfigError, match="val_subjects"):
        validation_subjects(("carl",), folders, "n")
    with pytest.raises(ConfigError, match="val_subjects"):
        validation_subjects(("ann", "bob"), folders, "n")
    one = load_motion_set(_library(tmp_path / "one", {"only.bvh": daz_bvh(30)}), tmp_path / "cache")
    with pytest.raises(ConfigError, match="one clip"):
        validation_subjects((), one, "one")
    assert [r["subject"] for r in read_index(tmp_path / "one")] == ["only"]


def test_shipped_weights_evaluate_another_library_whole(tmp_path):
    lib = _library(tmp_path / "lib", {f"{s}/{s}.bvh": renamed(UNREAL, 90, i) for i, s in enumerate(("x", "y"))})
    from core.weights import DEFAULT_WEIGHTS

    r = evaluate(DEFAULT_WEIGHTS, TrainConfig(data_dir=str(lib), cache_dir=str(tmp_path / "cache")),
                 max_windows=4)
    assert r["val_subjects"] == ["x", "y"] and r["windows"] >= 2 and 0 < r["overall"]["p_mpjpe_mm"] < 400


def test_damaged_motion_blocks(tmp_path, caplog):
    text = daz_bvh(10)
    head, rows = text.split("Frame Time: 0.0416667\n")
    lines = rows.split("\n")
    cut = head + "Frame Time: 0.0416667\n" + "\n".join([*lines[:-1], lines[-1][: len(lines[-1]) // 2]])
    assert parse_bvh(cut, "cut.bvh").motion.shape[0] == 9  # a copy stopped part way: the whole frames
    assert "says 10 frames and holds 9" in caplog.text
    miscounted = text.replace("Frames: 10", "Frames: 12")
    assert parse_bvh(miscounted, "n.bvh").motion.shape[0] == 10
    dropped = head + "Frame Time: 0.0416667\n" + "\n".join([lines[0], lines[1].rsplit(" ", 1)[0], *lines[2:]])
    with pytest.raises(InputFileError, match="damaged"):  # a value missing mid-file would shift every channel
        parse_bvh(dropped, "d.bvh")
    windows = tmp_path / "win.bvh"
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())  # Notepad's BOM and line ends
    from core.bvh import read_bvh

    assert read_bvh(windows).motion.shape == (10, 6 + 3 * (len(DAZ) - 2))


def test_cli_trains_on_a_flat_folder_of_another_skeleton_and_says_what_is_wrong(tmp_path, capsys):
    from posemoe_blender.cli import main

    lib = _library(tmp_path / "my mocap", {f"take{i}.bvh": renamed(UNREAL, 40, i) for i in range(3)})
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('minutes = 0.0\nsteps = 2\nbatch_size = 4\nval_every = 2\nval_windows = 4\nwarmup_steps = 1\n'
                   f'cache_dir = "{(tmp_path / "cache").as_posix()}"\n'
                   '[model]\narch = "mlp"\nwindow = 9\nchannels = 8\n')
    args = ["train", "--config", str(cfg), "--bvh", str(lib), "--progress", "none", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert "holds out 1 of the library's 3 clips" in capsys.readouterr().err
    from core.weights import read_meta

    assert read_meta(tmp_path / "run" / "last.safetensors")["val_subjects"] == ["take1"]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.bvh").write_text(renamed(UNREAL, 40))
    assert main([*args[:4], str(tmp_path / "one"), *args[5:], "--out", str(tmp_path / "run1")]) == 2
    err = capsys.readouterr().err
    assert "one clip cannot be split" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--bvh-map", str(tmp_path / "nope.json"), "--out", str(tmp_path / "run2")]) == 9
    assert "nope.json" in capsys.readouterr().err


def test_joint_names_with_spaces_and_a_second_skeleton():
    """3ds Max writes Biped's names with spaces ("JOINT Bip01 L Thigh"): one name, as Blender reads them. A file of
    two characters (a second ROOT) is refused by name rather than read as one with shifted channels."""
    spaced = {k: v.replace("_", " ") for k, v in BIPED.items()}
    bvh = parse_bvh(renamed(spaced).replace("JOINT Bip01 L Thigh", "JOINT   Bip01 L Thigh  "), "spaced.bvh")
    assert "Bip01 L Thigh" in bvh.names and "Bip01 R Foot_end" not in bvh.names
    fam, roles = skeleton_roles(bvh)
    assert fam == "guessed" and bvh.names[roles["l_hip"]] == "Bip01 L Thigh"
    text = daz_bvh(5)
    head, motion = text.split("MOTION")
    second = head.replace("ROOT hip", "ROOT hip2", 1)[len("HIERARCHY"):]
    with pytest.raises(InputFileError, match="more than one skeleton"):
        parse_bvh(head + second + "MOTION" + motion, "two.bvh")


def test_subjects_are_the_top_folders(tmp_path):
    lib = _library(tmp_path / "lib", {"ann/day1/a.bvh": "x", "ann/day2/b.bvh": "x", "bob/c.bvh.gz": "x",
                                      "loose.BVH": "x", "notes.txt": "x"})  # fmt: skip
    assert {r["clip"]: r["subject"] for r in read_index(lib)} == {"a": "ann", "b": "ann", "c": "bob",
                                                                  "loose": "loose"}  # fmt: skip


def test_train_output_and_resume_mistakes_are_one_line(tmp_path, capsys):
    from posemoe_blender.cli import main

    lib = _library(tmp_path / "lib", {f"take{i}.bvh": renamed(UNREAL, 40, i) for i in range(3)})
    cfg = tmp_path / "tiny.toml"
    body = ('minutes = 0.0\nsteps = 2\nbatch_size = 4\nval_every = 2\nval_windows = 4\nwarmup_steps = 1\n'
            f'cache_dir = "{(tmp_path / "cache").as_posix()}"\n[model]\narch = "mlp"\nwindow = 9\nchannels = ')
    cfg.write_text(body + "8\n")
    args = ["train", "--config", str(cfg), "--bvh", str(lib), "--progress", "none", "--device", "cpu"]
    (tmp_path / "a file").write_text("x")
    assert main([*args, "--out", str(tmp_path / "a file")]) == 8
    assert "cannot be the output folder" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main([*args, "--out", str(run)]) == 0
    recorded = (run / "config.json").read_text()
    cfg.write_text(body + "16\n")  # another width: the checkpoint does not fit
    assert main([*args, "--out", str(run), "--resume"]) == 5
    assert "another model than the config's" in capsys.readouterr().err
    assert (run / "config.json").read_text() == recorded  # the record of what trained it is kept


def test_a_resumed_run_keeps_its_held_out_clips_when_clips_are_added(tmp_path):
    from core.config import load_train_config
    from core.training import train
    from core.weights import read_meta

    lib = _library(tmp_path / "lib", {f"take{i}.bvh": renamed(UNREAL, 40, i) for i in range(6)})
    path = tmp_path / "tiny.toml"
    path.write_text('minutes = 0.0\nsteps = 2\nbatch_size = 4\nval_every = 2\nval_windows = 4\nwarmup_steps = 1\n'
                    f'data_dir = "{lib.as_posix()}"\ncache_dir = "{(tmp_path / "cache").as_posix()}"\n'
                    '[model]\narch = "mlp"\nwindow = 9\nchannels = 8\n')
    train(load_train_config(path), tmp_path / "run")
    held = read_meta(tmp_path / "run" / "last.safetensors")["val_subjects"]
    for i in range(6, 30):
        (lib / f"take{i}.bvh").write_text(renamed(UNREAL, 40, i))
    train(replace(load_train_config(path), steps=4), tmp_path / "run", resume=True)
    assert read_meta(tmp_path / "run" / "last.safetensors")["val_subjects"] == held


def test_a_file_given_for_the_library_says_to_give_the_folder(tmp_path):
    (tmp_path / "mocap.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "walk.bvh").write_text(daz_bvh(10))
    with pytest.raises(InputFileError, match="archive: unpack it"):
        read_index(tmp_path / "mocap.zip")
    with pytest.raises(InputFileError, match="give the folder"):
        read_index(tmp_path / "walk.bvh")


def test_a_users_index_names_subjects_categories_and_paths(tmp_path):
    lib = _library(tmp_path / "lib", {"ann/walk1.bvh": daz_bvh(40, 1), "ann/run1.bvh": daz_bvh(40, 2),
                                      "takes/bob_jump.bvh": daz_bvh(40, 3)})  # fmt: skip
    (lib / "index.csv").write_text("clip,subject,category,path\nwalk1,ann,walk,\nrun1,ann,run,\n"
                                   "bob_jump,bob,jump,takes/bob_jump.bvh\n")
    motion = load_motion_set(lib, tmp_path / "cache")
    assert dict(zip(motion.clips.tolist(), motion.categories.tolist(), strict=True)) == {
        "walk1": "walk", "run1": "run", "bob_jump": "jump"}  # fmt: skip
    assert validation_subjects(("bob",), motion, "lib") == ("bob",)
    (lib / "index.csv").write_text("name,who\nwalk1,ann\n")
    with pytest.raises(InputFileError, match="clip column"):
        read_index(lib)


def test_clips_shorter_than_the_window_are_a_one_line_error(tmp_path):
    lib = _library(tmp_path / "lib", {f"t{i}.bvh": renamed(UNREAL, 5, i) for i in range(3)})
    from core.weights import DEFAULT_WEIGHTS

    with pytest.raises(ConfigError, match=r"none of the 3 validation clips is longer than the model's window of 81"):
        evaluate(DEFAULT_WEIGHTS, TrainConfig(data_dir=str(lib), cache_dir=str(tmp_path / "cache")))
    assert evaluate(DEFAULT_WEIGHTS, TrainConfig(data_dir=str(lib), cache_dir=str(tmp_path / "cache")),
                    window=3)["windows"] >= 3  # the temporal MLP lifts any length
