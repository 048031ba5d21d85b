"""Retargeting round trips (pure numpy) and rig-preset detection / mapping files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import retarget as rt
from core import rigs
from core.errors import RigError
from core.skeleton import JOINT_INDEX as J
from core.skeleton import JOINT_NAMES, PARENTS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CHARACTERS = ("human_mixamo", "human_ue", "human_rigify", "human_cmu", "human_small")
EXPECTED_PRESET = {"human_mixamo": "mixamo", "human_ue": "ue", "human_rigify": "rigify", "human_cmu": "cmu",
                   "human_small": "mixamo"}
EXACT = [(a, b) for a, b in [("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
                             ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"),
                             ("r_elbow", "r_wrist"), ("r_hip", "l_hip"), ("r_shoulder", "l_shoulder"),
                             ("pelvis", "thorax"), ("neck", "head")]]


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(rt.normalize(a) * rt.normalize(b), -1), -1.0, 1.0)))


def _default_rest(height: float = 1.75, arm_drop_deg: float = 0.0) -> rt.RestPose:
    """Return the default armature's rest pose, arms optionally lowered into an A-pose."""
    bones = rigs.default_armature_bones(height)
    drop = rt.axis_angle_matrix(np.array([0.0, 1.0, 0.0]), np.radians(arm_drop_deg))
    pivots = {b[0]: np.array(b[2]) for b in bones if b[0] in ("LeftArm", "RightArm")}
    out = []
    for name, parent, head, tail in bones:
        head, tail = np.array(head), np.array(tail)
        if name.endswith(("Arm", "Hand")):
            side = "Left" if name.startswith("Left") else "Right"
            rot = drop if side == "Left" else drop.T
            pivot = pivots[side + "Arm"]
            head, tail = pivot + rot @ (head - pivot), pivot + rot @ (tail - pivot)
        out.append((name, parent, tuple(head), tuple(tail), 0.0))
    return rt.make_rest_pose(out, rigs.resolve_mapping([b[0] for b in bones]))


def _random_pose(rest: rt.RestPose, frames: int, seed: int, spine_deg: float = 15.0) -> np.ndarray:
    """Return (T, B, 4) random local rotations on the bones retargeting drives (others at rest)."""
    rng = np.random.default_rng(seed)
    plan = rt.plan_bones(rest)
    q = np.zeros((frames, len(rest.bone_names), 4))
    q[..., 0] = 1.0
    driven = {plan.pelvis, plan.head, *plan.spine, *plan.neck, *(x for limb in plan.limbs for x in limb[:2])}
    for b in driven:
        axis = rt.normalize(rng.normal(size=(frames, 3)))
        angle = rng.uniform(0, np.radians(spine_deg if b in plan.spine or b in plan.neck else 70.0), frames)
        q[:, b] = np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * axis], -1)
    return q


def _round_trip(rest: rt.RestPose, frames: int = 64, seed: int = 0) -> dict[tuple[str, str], float]:
    """Return {segment: max angle error in degrees} after FK(random) -> retarget -> FK."""
    heads, deltas = rt.forward_kinematics(rest, _random_pose(rest, frames, seed))
    joints = rt.joints_from_pose(rest, heads, deltas)
    res = rt.retarget(joints, rest, root_motion=False, nose_neck=False)
    heads2, deltas2 = rt.forward_kinematics(rest, res.rotations)
    back = rt.joints_from_pose(rest, heads2, deltas2)
    segs = EXACT + [(JOINT_NAMES[p], JOINT_NAMES[c]) for c, p in enumerate(PARENTS) if p >= 0]
    return {(a, b): float(_angles(joints[:, J[b]] - joints[:, J[a]], back[:, J[b]] - back[:, J[a]]).max())
            for a, b in segs}


def _json_rest(name: str) -> rt.RestPose:
    """Return a rig built from a shared character's JSON: bones at its rest H36M joints, H36M hierarchy."""
    meta = json.loads((SHARED / "characters" / f"{name}.json").read_text())
    heads, mapping = meta["rest_bone_heads_m"], meta["h36m_to_bone"]
    bones: dict[str, tuple] = {}
    for j, joint in enumerate(JOINT_NAMES):
        bone = mapping[joint]
        if bone in bones:
            continue
        children = [c for c, p in enumerate(PARENTS) if p == j and mapping[JOINT_NAMES[c]] != bone]
        head = np.array(heads[joint])
        tail = np.array(heads[JOINT_NAMES[children[0]]]) if children else head + [0.0, -0.05, 0.1]
        if joint == "neck" and mapping["head"] == bone:
            tail = head + [0.0, 0.0, 0.2]
        parent = PARENTS[j]
        while parent >= 0 and mapping[JOINT_NAMES[parent]] == bone:
            parent = PARENTS[parent]
        bones[bone] = (bone, None if parent < 0 else mapping[JOINT_NAMES[parent]], tuple(head), tuple(tail), 0.3)
    return rt.make_rest_pose(list(bones.values()), mapping)


@pytest.mark.parametrize("arm_drop", [0.0, 45.0], ids=["T-pose", "A-pose"])
def test_round_trip_synthetic_rig(arm_drop: float) -> None:
    errors = _round_trip(_default_rest(arm_drop_deg=arm_drop))
    exact = {k: v for k, v in errors.items() if k in EXACT}
    assert max(exact.values()) < 1.0, exact
    assert max(errors.values()) < 45.0, errors  # spine joint / nose: spread evenly, not recoverable exactly


@pytest.mark.parametrize("name", CHARACTERS)
def test_round_trip_shared_character_rest(name: str) -> None:
    if not (SHARED / "characters" / f"{name}.json").is_file():
        pytest.skip(f"shared data absent: {SHARED / 'characters'}")
    errors = _round_trip(_json_rest(name), seed=1)
    assert max(v for k, v in errors.items() if k in EXACT) < 1.0, errors


def _chain_rig(head_tail: tuple = (0, 0, 1.8)) -> rt.RestPose:
    """Return a rig with five spine bones, two neck bones and a head bone (no head-top bone) whose tail is
    ``head_tail``."""
    bones = [("hips", None, (0, 0, 1.0), (0, 0, 1.1), 0.0)]
    for i in range(5):
        bones.append((f"spine{i}", "hips" if i == 0 else f"spine{i - 1}", (0, 0, 1.1 + 0.08 * i),
                      (0, 0, 1.18 + 0.08 * i), 0.1 * i))
    bones += [("neck0", "spine4", (0, 0, 1.5), (0, 0, 1.55), 0.0), ("neck1", "neck0", (0, 0, 1.55), (0, 0, 1.6), 0.0),
              ("head", "neck1", (0, 0, 1.6), head_tail, 0.0)]
    for s, x in (("l", 1), ("r", -1)):
        bones += [(f"thigh_{s}", "hips", (0.1 * x, 0, 0.95), (0.1 * x, 0, 0.5), 0.0),
                  (f"shin_{s}", f"thigh_{s}", (0.1 * x, 0, 0.5), (0.1 * x, 0, 0.07), 0.0),
                  (f"foot_{s}", f"shin_{s}", (0.1 * x, 0, 0.07), (0.1 * x, -0.1, 0.0), 0.0),
                  (f"clav_{s}", "spine4", (0.03 * x, 0, 1.45), (0.18 * x, 0, 1.45), 0.0),
                  (f"arm_{s}", f"clav_{s}", (0.18 * x, 0, 1.45), (0.45 * x, 0, 1.45), 0.0),
                  (f"fore_{s}", f"arm_{s}", (0.45 * x, 0, 1.45), (0.7 * x, 0, 1.45), 0.0),
                  (f"hand_{s}", f"fore_{s}", (0.7 * x, 0, 1.45), (0.8 * x, 0, 1.45), 0.0)]
    names = {"pelvis": "hips", "spine": "spine2", "thorax": "neck0", "neck": "head", "head": "head"}
    for s in "lr":
        names.update({f"{s}_hip": f"thigh_{s}", f"{s}_knee": f"shin_{s}", f"{s}_ankle": f"foot_{s}",
                      f"{s}_shoulder": f"arm_{s}", f"{s}_elbow": f"fore_{s}", f"{s}_wrist": f"hand_{s}"})
    return rt.make_rest_pose(bones, names)


def test_multi_bone_spine_and_neck_chain() -> None:
    rest = _chain_rig()
    plan = rt.plan_bones(rest)
    assert [rest.bone_names[b] for b in plan.spine] == [f"spine{i}" for i in range(5)]
    assert [rest.bone_names[b] for b in plan.neck] == ["neck0", "neck1"]
    errors = _round_trip(rest, seed=2)
    assert max(v for k, v in errors.items() if k in EXACT) < 1.0, errors
    # A pure 50-degree chest twist is spread evenly: 10 degrees per spine bone.
    joints = rest.joint_positions()[None].repeat(2, 0)
    twist = rt.axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.radians(50.0))
    upper = [J[n] for n in ("thorax", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder",
                            "r_elbow", "r_wrist")]
    joints[1, upper] = joints[1, upper] @ twist.T
    res = rt.retarget(joints, rest, root_motion=False, nose_neck=False)
    spine_angles = [np.degrees(2 * np.arccos(min(1.0, abs(res.rotations[1, b, 0])))) for b in plan.spine]
    assert np.allclose(spine_angles, 10.0, atol=0.5), spine_angles


def test_a_head_bone_pointing_forwards_is_not_tipped_back() -> None:
    """No head-top bone, and the head bone's tail points forwards (an FBX imported without bone orientation): the
    head top is taken straight up the rest body, so a person standing as at rest keeps the head at rest (it used to
    be tipped back 90 degrees, looking at the sky), and a nod is a nod."""
    upright, forwards = _chain_rig(), _chain_rig(head_tail=(0, -0.2, 1.6))
    standing = upright.joint_positions()[None].repeat(2, 0)
    nod = rt.axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(30.0))
    neck = standing[1, J["neck"]].copy()
    standing[1, J["head"]] = neck + nod @ (standing[1, J["head"]] - neck)
    for rest in (upright, forwards):
        res = rt.retarget(standing, rest, root_motion=False, nose_neck=False)
        head = rest.index("head")
        angles = np.degrees(2 * np.arccos(np.minimum(1.0, np.abs(res.rotations[:, head, 0]))))
        spread = [np.degrees(2 * np.arccos(min(1.0, abs(res.rotations[1, b, 0])))) for b in rt.plan_bones(rest).neck]
        assert angles[0] < 1.0 and 10.0 < angles[1] + sum(spread) < 31.0, (rest.tails[head], angles, spread)


def test_nose_convention_head_level_and_yaw() -> None:
    """Lifter joints put the neck joint on the nose: a level head must stay level; head yaw is recovered."""
    rest = _default_rest()
    joints = rest.joint_positions()[None].repeat(2, 0)
    skull, fwd, up = joints[0, J["neck"]].copy(), np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    joints[:, J["neck"]] = skull + 0.045 * up + 0.105 * fwd  # core.datasets virtual nose / head top
    joints[:, J["head"]] = skull + 0.184 * up + 0.064 * fwd
    yaw = rt.axis_angle_matrix(up, np.radians(30.0))
    joints[1, [J["neck"], J["head"]]] = (joints[1, [J["neck"], J["head"]]] - skull) @ yaw.T + skull
    res = rt.retarget(joints, rest, root_motion=False)
    plan = rt.plan_bones(rest)
    heads, deltas = rt.forward_kinematics(rest, res.rotations)
    facing = rt._mv(deltas[:, plan.head], fwd)
    assert _angles(facing[0], fwd) < 2.0
    assert abs(_angles(facing[1], fwd) - 30.0) < 2.0 and _angles(facing[1], yaw @ fwd) < 2.0


def test_feet_stay_level_in_a_squat() -> None:
    rest = _default_rest()
    joints = rest.joint_positions()[None].repeat(1, 0)
    bend, turn = np.radians(50.0), rt.axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.radians(20.0))
    for s in "lr":  # knees bent forward and turned 20 degrees about the vertical
        hip, knee, ankle = J[s + "_hip"], J[s + "_knee"], J[s + "_ankle"]
        thigh, shin = (np.linalg.norm(joints[0, b] - joints[0, a]) for a, b in ((hip, knee), (knee, ankle)))
        joints[:, knee] = joints[:, hip] + turn @ (thigh * np.array([0.0, -np.sin(bend), -np.cos(bend)]))
        joints[:, ankle] = joints[:, knee] + turn @ (shin * np.array([0.0, np.sin(bend), -np.cos(bend)]))
    plan = rt.plan_bones(rest)
    for level in (True, False):
        res = rt.retarget(joints, rest, root_motion=False, nose_neck=False, level_feet=level)
        foot = rt.forward_kinematics(rest, res.rotations)[1][0, plan.feet[0]]
        tilt = _angles(foot @ np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]))
        assert (tilt < 0.5) if level else (tilt > 20.0)
        if level:
            assert abs(_angles(foot @ np.array([0.0, -1.0, 0.0]), np.array([0.0, -1.0, 0.0])) - 20.0) < 1.0


def test_a_foot_follows_its_shin_once_the_shin_is_far_from_upright() -> None:
    """Upside down (a cartwheel) or with the feet up, a foot held level would bend 125-179 degrees at the ankle;
    past 100 degrees from straight down it keeps its rest relation to the shin."""
    rest = _default_rest()
    plan = rt.plan_bones(rest)
    j0 = rest.joint_positions()
    flip = rt.axis_angle_matrix(np.array([0.0, 1.0, 0.0]), np.radians(180.0))  # a handstand
    back = rt.axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(110.0))  # feet up, leaning back
    for turn in (flip, back):
        joints = (j0 - j0[J["pelvis"]]) @ turn.T
        res = rt.retarget(joints[None], rest, root_motion=False, nose_neck=False)
        g = rt.forward_kinematics(rest, res.rotations)[1][0]
        for foot in plan.feet:
            shin = plan.anchor[foot]
            assert _angles(g[foot] @ np.array([0.0, -1.0, 0.0]), g[shin] @ np.array([0.0, -1.0, 0.0])) < 1.0


def test_a_rig_lying_in_the_scene_gets_level_feet_too() -> None:
    """The bake stands a rig lying in the scene up; its feet are stood up with it, then levelled (they kept the
    rest orientation, and so pointed their toes at the sky)."""
    bones = rigs.default_armature_bones(1.75)
    mapping = rigs.resolve_mapping([b[0] for b in bones])
    lying = rt.axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(-90.0))  # on its back, head towards +Y
    standing = rt.make_rest_pose([(*b, 0.0) for b in bones], mapping)
    flat = rt.make_rest_pose([(n, p, tuple(lying @ h), tuple(lying @ t), 0.0) for n, p, h, t in bones], mapping)
    joints = standing.joint_positions()[None]
    toes = []
    for rest in (standing, flat):
        plan = rt.plan_bones(rest)
        g = rt.forward_kinematics(rest, rt.retarget(joints, rest, root_motion=False, nose_neck=False).rotations)[1]
        for foot in plan.feet:
            toe = next(i for i, p in enumerate(rest.parents) if p == foot)
            toes.append(g[0, foot] @ (rest.heads[toe] - rest.heads[foot]))
    assert toes[0][1] < -0.1 and np.allclose(toes[:2], toes[2:], atol=1e-6), toes  # forwards (-Y), not up


def test_a_rig_lying_in_the_scene_stands_on_the_floor() -> None:
    """Its rest ankles lie at the floor's height: the standing ankle height comes from its stature instead, and its
    hips are lifted to stand on it (they were left at lying height, and the foot locks bent the legs to reach)."""
    bones = rigs.default_armature_bones(1.75)
    mapping = rigs.resolve_mapping([b[0] for b in bones])
    lying = rt.axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(-90.0))
    flat = rt.make_rest_pose([(n, p, tuple(lying @ h + [0.0, 0.0, 0.1]), tuple(lying @ t + [0.0, 0.0, 0.1]), 0.0)
                              for n, p, h, t in bones], mapping)
    standing = rt.make_rest_pose([(*b, 0.0) for b in bones], mapping)
    ankles = rt.standing_ankle_heights(flat)
    assert np.allclose(ankles, 0.0414 / (1 - 0.0414) * (1.75 - standing.joint_positions()[J["l_ankle"], 2]), atol=0.01)
    joints = standing.joint_positions()[None].repeat(3, 0)
    root = 0.5 * (joints[:, J["l_hip"]] + joints[:, J["r_hip"]])  # H36M's pelvis: between the hips
    for rest in (standing, flat):
        ground_ankle = float(joints[0, J["l_ankle"], 2])
        res = rt.retarget(joints, rest, root=root, ankle_height=ground_ankle)
        heads = rt.forward_kinematics(rest, res.rotations, res.root_location)[0]
        z = heads[:, [rest.index("l_ankle"), rest.index("r_ankle")], 2]
        assert np.allclose(z, rt.standing_ankle_heights(rest), atol=0.01), (z, rest is flat)
        assert np.allclose(rt.retarget(joints, rest).translation[:, 2], 0.0 if rest is standing else
                           res.translation[:, 2], atol=0.01)


def test_rest_pose_gives_identity_and_continuity() -> None:
    rest = _default_rest()
    frames = 400
    joints = rest.joint_positions()[None].repeat(frames, 0)
    res = rt.retarget(joints, rest, root_motion=False, nose_neck=False)
    assert np.allclose(np.abs(res.rotations[..., 0]), 1.0, atol=1e-6)
    # Spin the whole body 3 turns about Z: quaternions must never flip sign between frames.
    spin = rt.axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.linspace(0, 6 * np.pi, frames))
    res = rt.retarget(np.einsum("tij,tkj->tki", spin, joints), rest, root_motion=False)
    dots = np.sum(res.rotations[1:] * res.rotations[:-1], -1)
    assert dots.min() > 0.9


def test_root_translation_scaling_nan_and_in_place() -> None:
    rest = _default_rest(height=1.75)
    small = _default_rest(height=0.875)  # source skeleton half the size: translation doubles
    frames = 10
    joints = small.joint_positions()[None].repeat(frames, 0)
    root = np.zeros((frames, 3))
    root[:, 1] = np.linspace(0, -0.9, frames)
    root[3:6] = np.nan
    res = rt.retarget(joints, rest, root=root, nose_neck=False)
    assert np.allclose(res.translation[:, 1], np.linspace(0, -1.8, frames), atol=1e-6)
    assert np.allclose(res.translation[:, 0], 0.0, atol=1e-6)
    assert np.allclose(res.translation[:, 2], 0.0, atol=0.01)  # standing: hips about one leg length up
    assert np.allclose(res.rotations[..., 0], 1.0)
    assert np.allclose(rt.forward_kinematics(rest, res.rotations, res.root_location)[0][:, res.root_bone]
                       - rest.heads[res.root_bone], res.translation, atol=1e-6)
    assert np.allclose(rt.retarget(joints, rest, root=root, in_place=True).translation[:, :2], 0.0, atol=1e-6)
    crouch = joints.copy()  # knees bent 80 degrees: the hips drop by (1 - cos 40) of the leg length
    bend = np.radians(40.0)
    for s in "lr":
        hip, knee, ankle = J[s + "_hip"], J[s + "_knee"], J[s + "_ankle"]
        thigh, shin = (np.linalg.norm(joints[0, b] - joints[0, a]) for a, b in ((hip, knee), (knee, ankle)))
        crouch[:, knee] = crouch[:, hip] + thigh * np.array([0.0, -np.sin(bend), -np.cos(bend)])
        crouch[:, ankle] = crouch[:, knee] + shin * np.array([0.0, np.sin(bend), -np.cos(bend)])
    no_root = rt.retarget(crouch, rest, root=np.full((frames, 3), np.nan)).translation
    drop = (1 - np.cos(bend)) * rt.leg_length(rest.joint_positions())
    assert np.allclose(no_root[:, :2], 0.0) and np.allclose(no_root[:, 2], -drop, atol=0.01)


@pytest.mark.parametrize("name", CHARACTERS)
def test_detect_shared_characters(name: str) -> None:
    path = SHARED / "characters" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path.parent}")
    bones = json.loads(path.read_text())["bones"]
    preset, missing = rigs.detect_rig(bones)
    assert (preset, missing) == (EXPECTED_PRESET[name], [])
    mapping = rigs.resolve_mapping(bones)
    assert all(b in bones for b in mapping.values())


def test_detect_variants_and_errors(tmp_path: Path) -> None:
    plain = [b[0] for b in rigs.default_armature_bones()]
    assert rigs.detect_rig(plain) == ("mixamo_plain", [])
    prefixed = ["mixamorig1:" + b for b in plain]
    assert rigs.resolve_mapping(prefixed, "mixamo")["l_wrist"] == "mixamorig1:LeftHand"
    generated = [*rigs.PRESETS["rigify_fk"].values(), *rigs.PRESETS["rigify"].values(), "root", "chest", "hips",
                 "DEF-spine.001", "DEF-shoulder.L", "ORG-spine"]
    assert rigs.resolve_rig(generated) == ("rigify_fk", rigs.PRESETS["rigify_fk"])
    no_top = [b for b in plain if b != "HeadTop_End"]
    assert rigs.resolve_mapping(no_top)["head"] == "Head"
    with pytest.raises(RigError, match="LeftForeArm"):
        rigs.resolve_mapping([b for b in plain if b != "LeftForeArm"], "mixamo_plain")
    with pytest.raises(RigError, match="unknown rig preset"):
        rigs.resolve_mapping(plain, "nope")
    path = rigs.save_mapping(tmp_path / "map.json", rigs.PRESETS["ue"])
    assert rigs.load_mapping(path) == rigs.PRESETS["ue"]
    ue_bones = list(rigs.PRESETS["ue"].values())
    assert rigs.resolve_rig(ue_bones, "unreal") == ("ue", rigs.PRESETS["ue"])
    assert rigs.resolve_rig(ue_bones, str(path)) == (None, rigs.PRESETS["ue"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({k: v for k, v in rigs.PRESETS["ue"].items() if k != "l_knee"}))
    with pytest.raises(RigError, match=r"bad\.json.*l_knee"):
        rigs.load_mapping(bad)


def test_blender_safe_imports() -> None:
    code = ("import sys\nfor m in ('torch', 'cv2', 'mediapipe', 'scipy', 'bpy', 'mathutils'): sys.modules[m] = None\n"
            "import core.retarget, core.rigs\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_four_legged_body_with_humanoid_names_is_refused() -> None:
    """Names alone can call a quadruped's bones thigh and spine; its spine runs across its legs. Standing rigs (T- or
    A-pose, crouched a little, lying in the scene or with Y-up bone data) pass."""
    bones = rigs.default_armature_bones(1.75)
    mapping = rigs.resolve_mapping([b[0] for b in bones])
    lying = rt.axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.radians(90.0))
    for turn in (np.eye(3), lying):
        rt.check_upright(rt.make_rest_pose([(n, p, tuple(turn @ h), tuple(turn @ t), 0.0)
                                            for n, p, h, t in bones], mapping))
    rt.check_upright(_default_rest(arm_drop_deg=45.0))
    top = {"Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End"}
    pelvis = np.array(next(h for n, _, h, _ in bones if n == "Hips"))

    def on_all_fours(p: tuple) -> tuple:  # the torso laid forwards from the hips, the legs left standing
        v = np.array(p) - pelvis
        return tuple(pelvis + np.array([v[0], -v[2], v[1]]))

    quad = [(n, p, on_all_fours(h), on_all_fours(t), 0.0) if n in top or "Shoulder" in n or "Arm" in n or "Hand" in n
            else (n, p, h, t, 0.0) for n, p, h, t in bones]
    with pytest.raises(RigError, match="not a standing humanoid"):
        rt.check_upright(rt.make_rest_pose(quad, mapping), "dog")


def test_an_arm_passing_straight_does_not_spin() -> None:
    """The elbow bends, nearly straightens with its bend plane flipping (the lifted 3D a little over-straight), and
    bends again: the upper arm keeps its twist instead of turning half round and back (a candy-wrapper pop)."""
    rest = _default_rest()
    frames = 40
    joints = rest.joint_positions()[None].repeat(frames, 0)
    shoulder, elbow = joints[0, J["l_shoulder"]], joints[0, J["l_elbow"]]
    along = rt.normalize(elbow - shoulder)
    forearm = float(np.linalg.norm(joints[0, J["l_wrist"]] - elbow))
    bend = np.radians(np.r_[np.linspace(40, 12, 15), [10, 12, 9, 11, 13, 10, 9, 12, 10, 11], np.linspace(12, 40, 15)])
    side = np.r_[np.ones(15), [-1, 1, -1, -1, 1, -1, -1, 1, -1, 1], np.ones(15)]  # the slight bend's plane flips
    down = np.array([0.0, 0.0, -1.0])
    joints[:, J["l_wrist"]] = elbow + forearm * (np.cos(bend)[:, None] * along + (side * np.sin(bend))[:, None] * down)
    res = rt.retarget(joints, rest, root_motion=False, nose_neck=False)
    q = res.rotations[:, rest.index("l_shoulder")]
    step = np.degrees(2 * np.arccos(np.minimum(1.0, np.abs(np.sum(q[1:] * q[:-1], -1)))))
    assert step.max() < 20.0, step.round(1)
    heads, deltas = rt.forward_kinematics(rest, res.rotations)
    back = rt.joints_from_pose(rest, heads, deltas)
    assert _angles(back[:, J["l_wrist"]] - back[:, J["l_elbow"]], joints[:, J["l_wrist"]] - elbow).max() < 1.0


def test_a_pelvis_mapped_to_a_bone_at_the_floor_is_refused() -> None:
    """A root or centre bone at the floor mapped as the pelvis (an MMD rig's centre bone made low): root motion
    would put it where the hips go, the feet under the floor; an MMD centre bone at its usual height passes."""
    for height, refused in ((0.0, True), (0.43 * 1.75, False)):
        bones = [("centre", None, (0.0, 0.0, height), (0.0, 0.1, height), 0.0)]
        bones += [(n, p or "centre", h, t, 0.0) for n, p, h, t in rigs.default_armature_bones(1.75)]
        rest = rt.make_rest_pose(bones, {**rigs.resolve_mapping([b[0] for b in bones[1:]]), "pelvis": "centre"})
        if refused:
            with pytest.raises(RigError, match=r"the bone mapped to the pelvis, 'centre', sits at -?\d+ % of the"):
                rt.check_mapping_shape(rest, "rig")
        else:
            rt.check_mapping_shape(rest, "rig")
    rt.check_mapping_shape(_default_rest())


def test_thighs_on_a_spine_bone_leave_it_with_the_pelvis() -> None:
    """3ds Max Biped's thighs often hang from ``Bip01 Spine`` above the pelvis: that bone is not driven as spine,
    so it turns with the pelvis and the hip line is where the motion has it."""
    bones = [(n, "Spine" if n in ("LeftUpLeg", "RightUpLeg") else p, h, t, 0.0)
             for n, p, h, t in rigs.default_armature_bones(1.75)]
    rest = rt.make_rest_pose(bones, rigs.resolve_mapping([b[0] for b in bones]))
    plan = rt.plan_bones(rest)
    assert rest.bone_names.index("Spine") not in plan.spine and plan.spine
    errors = _round_trip(rest, seed=5)
    assert max(v for k, v in errors.items() if k in EXACT) < 1.0, errors


def test_bones_that_do_not_inherit_rotation_are_posed_in_armature_axes() -> None:
    """Inherit Rotation off (on an upper arm, a forearm and a thigh): the keys are made for how Blender poses such
    bones, so the posed joints still match the motion. (Off on a collar bone, which the bake does not drive, the
    upper arm below it is keyed in armature axes too.)"""
    from dataclasses import replace

    rest = _default_rest()
    off = frozenset(rest.bone_names.index(n) for n in ("LeftArm", "LeftForeArm", "RightUpLeg"))
    loose = replace(rest, no_inherit=off)
    errors = _round_trip(loose, seed=3)
    assert max(v for k, v in errors.items() if k in EXACT) < 1.0, errors
    collar = replace(rest, no_inherit=frozenset({rest.bone_names.index("RightShoulder")}))
    assert not collar.turns_with(rest.bone_names.index("RightArm"), rest.index("thorax"))
    assert collar.turns_with(rest.bone_names.index("LeftArm"), rest.index("thorax"))
    heads, deltas = rt.forward_kinematics(loose, _random_pose(loose, 8, 4))
    res = rt.retarget(rt.joints_from_pose(loose, heads, deltas), rest, root_motion=False, nose_neck=False)
    wrong = rt.joints_from_pose(loose, *rt.forward_kinematics(loose, res.rotations))  # keys made as if inherited
    moved = rt.joints_from_pose(loose, heads, deltas)
    assert _angles(wrong[:, J["l_elbow"]] - wrong[:, J["l_shoulder"]],
                   moved[:, J["l_elbow"]] - moved[:, J["l_shoulder"]]).max() > 5.0


def _rooted_rig() -> rt.RestPose:
    """Return :func:`_chain_rig` under an Unreal-style ``root`` bone at the floor, pointing forwards and rolled, so
    its rest axes are not the world's."""
    chain = _chain_rig()
    bones = [("root", None, (0.0, 0.0, 0.0), (0.0, -0.3, 0.0), 0.7)]
    for i, name in enumerate(chain.bone_names):
        parent = chain.parents[i]
        head, tail = chain.heads[i], chain.tails[i]
        bones.append((name, "root" if parent < 0 else chain.bone_names[parent], tuple(head), tuple(tail), 0.1 * i))
    return rt.make_rest_pose(bones, chain.mapping)


def test_travel_on_root_moves_the_travel_to_the_root_bone_and_poses_nothing_else() -> None:
    """The top bone above the pelvis takes the travel over the ground, the pelvis keeps the height: every other
    bone's posed head is where it was, and the root bone moves only horizontally, by the pelvis's horizontal travel."""
    rest = _rooted_rig()
    assert rest.bone_names[rt.travel_bone(rest)] == "root"
    frames = 24
    heads, deltas = rt.forward_kinematics(rest, _random_pose(rest, frames, seed=4))
    joints = rt.joints_from_pose(rest, heads, deltas)
    root = np.stack([np.linspace(0, 1.5, frames), np.linspace(0, -2.0, frames), 0.1 * np.sin(np.arange(frames))], -1)
    res = rt.retarget(joints, rest, root=root, nose_neck=False)
    moved = rt.move_travel_to_root(rest, res)
    before, _ = rt.forward_kinematics(rest, res.rotations, res.root_location)
    after, _ = rt.forward_kinematics(rest, moved.rotations, moved.root_location,
                                     (moved.travel_bone, moved.travel_location))
    top = moved.travel_bone
    others = [b for b in range(len(rest.bone_names)) if b != top]
    np.testing.assert_allclose(after[:, others], before[:, others], atol=1e-9)
    np.testing.assert_allclose(after[:, top, :2] - rest.heads[top, :2], res.translation[:, :2], atol=1e-9)
    np.testing.assert_allclose(after[:, top, 2], rest.heads[top, 2], atol=1e-9)
    assert np.ptp(after[:, top, 0]) > 1.0 and np.abs(moved.travel_location).max() > 1.0
    carried = after[:, res.root_bone] - after[:, top] - (rest.heads[res.root_bone] - rest.heads[top])
    np.testing.assert_allclose(carried[:, :2], 0.0, atol=1e-9)  # what the pelvis still carries: its height only
    assert np.ptp(carried[:, 2]) > 0.1


def _yaw(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    z = np.zeros_like(angle)
    return np.stack([c, -s, z, s, c, z, z, z, z + 1], -1).reshape(-1, 3, 3)


def test_turn_on_root_takes_the_smoothed_heading_and_poses_nothing_else() -> None:
    """With ``turn`` the root bone also takes the body's heading, a turn about the vertical without the stride's
    swing (kept by the pelvis); every other bone is posed as before, also with Inherit Rotation off on the pelvis."""
    from dataclasses import replace

    fps, frames = 30.0, 120
    t = np.arange(frames) / fps
    heading = np.linspace(0.0, np.pi / 2, frames)
    swing = np.radians(10.0) * np.sin(2 * np.pi * 0.9 * t)
    for no_inherit in (False, True):
        rest = _rooted_rig()
        if no_inherit:
            rest = replace(rest, no_inherit=frozenset({rest.index("pelvis")}))
        joints = rest.joint_positions()[None].repeat(frames, 0)
        joints[:, J["l_wrist"], 1] -= 0.3 * np.sin(2 * np.pi * 0.9 * t)  # an arm swings: not a turn
        pelvis = joints[:, :1]
        joints = np.einsum("tij,tkj->tki", _yaw(heading + swing), joints - pelvis) + pelvis
        root = np.stack([np.linspace(0, 2.0, frames), np.zeros(frames), 0.05 * np.sin(4 * t)], -1)
        res = rt.retarget(joints, rest, root=root, nose_neck=False)
        moved = rt.move_travel_to_root(rest, res, turn=True, fps=fps)
        top = moved.travel_bone
        assert top in moved.driven and top not in res.driven
        before, g_before = rt.forward_kinematics(rest, res.rotations, res.root_location)
        after, g_after = rt.forward_kinematics(rest, moved.rotations, moved.root_location,
                                               (top, moved.travel_location))
        others = [b for b in range(len(rest.bone_names)) if b != top]
        np.testing.assert_allclose(after[:, others], before[:, others], atol=1e-9)
        np.testing.assert_allclose(g_after[:, others], g_before[:, others], atol=1e-9)
        np.testing.assert_allclose(after[:, top, :2] - rest.heads[top, :2], res.translation[:, :2], atol=1e-9)
        turn = g_after[:, top]
        np.testing.assert_allclose(turn[:, 2], [[0, 0, 1]] * frames, atol=1e-9)  # about the vertical only
        yaw = np.unwrap(np.arctan2(turn[:, 1, 0], turn[:, 0, 0]))
        inner = slice(int(2 * rt.ROOT_TURN_SMOOTH_S * fps), -int(2 * rt.ROOT_TURN_SMOOTH_S * fps))
        np.testing.assert_allclose(yaw[inner], heading[inner], atol=np.radians(1.5))  # 8 % of the 10-degree swing
        assert np.ptp(yaw - heading - swing) > np.radians(15.0)  # the swing is not on the root


def test_a_gaussian_keeps_a_ramp_to_its_ends() -> None:
    """Centred windows, narrower towards the ends: a clip that ends mid-turn keeps its whole turn."""
    ramp = np.stack([np.linspace(0, 3, 50), np.full(50, 2.0)], -1)
    np.testing.assert_allclose(rt.gaussian_smooth(ramp, 3.0), ramp, atol=1e-9)
    wobble = np.sin(np.arange(50) * 2.0)
    assert np.abs(rt.gaussian_smooth(wobble, 3.0)[12:-12]).max() < 0.01  # the middle is smoothed
    step = rt.gaussian_smooth(np.repeat([0.0, 1.0], 20), 2.0)
    assert step[0] == 0.0 and step[-1] == 1.0 and 0.4 < step[19] < 0.6
    np.testing.assert_array_equal(rt.gaussian_smooth(ramp, 0.0), ramp)


def test_the_root_turn_goes_the_short_way_past_frames_without_a_heading() -> None:
    """Frames whose hip and shoulder lines stand on end have no heading: the turn is carried across them from the
    frames around, not through a heading of 0 (which would spin the root the long way round)."""
    rest = _chain_rig()
    frames = 5
    joints = rest.joint_positions()[None].repeat(frames, 0)
    angles = np.radians([150.0, 170.0, 0.0, 190.0, 200.0])
    joints = np.einsum("tij,tkj->tki", _yaw(angles), joints - joints[:, :1]) + joints[:, :1]
    for j in ("r_hip", "l_hip", "r_shoulder", "l_shoulder"):  # frame 2: both lines vertical
        joints[2, J[j], :2] = joints[2, 0, :2]
    joints[2, J["r_hip"], 2] += 0.1
    joints[2, J["r_shoulder"], 2] += 0.1
    turn = np.degrees(rt.root_turn(rest, joints, 0.0))
    np.testing.assert_allclose(turn, [150.0, 170.0, 180.0, 190.0, 200.0], atol=1e-6)


def test_travel_stays_on_a_pelvis_that_is_the_top_bone() -> None:
    rest = _chain_rig()
    assert rt.travel_bone(rest) == -1
    joints = rest.joint_positions()[None].repeat(3, 0)
    res = rt.retarget(joints, rest, root=np.zeros((3, 3)), nose_neck=False)
    assert rt.move_travel_to_root(rest, res) is res and res.travel_bone == -1 and res.travel_location is None


def _mmd_rig(spine_start: float = 0.0, top: bool = False) -> rt.RestPose:
    """Return the default armature laid out as MikuMikuDance models are: the legs on a lower-body bone pointing down
    from the waist, the spine beside it (``spine_start`` metres higher), both under a centre bone at 0.43 of the
    height, optionally under a top bone at the floor."""
    bones = [("centre", "top" if top else None, (0.0, 0.0, 0.75), (0.0, 0.0, 0.65), 0.0)]
    if top:
        bones.append(("top", None, (0.0, 0.0, 0.0), (0.0, 0.2, 0.0), 0.0))
    for name, parent, head, tail in rigs.default_armature_bones(1.75):
        if name == "Hips":
            bones.append(("lower", "centre", head, (head[0], head[1], head[2] - 0.1), 0.0))
            continue
        if name == "Spine":
            head = (head[0], head[1], rigs.default_armature_bones(1.75)[0][2][2] + spine_start)
        bones.append((name, "centre" if name == "Spine" else "lower" if parent == "Hips" else parent, head, tail, 0.0))
    mapping = {**rigs.resolve_mapping([b[0] for b in rigs.default_armature_bones(1.75)]), "pelvis": "lower"}
    return rt.make_rest_pose(bones, mapping)


def test_a_pelvis_bone_beside_the_spine_turns_the_hips_and_its_parent_moves_the_body() -> None:
    """MMD: the legs hang from the lower body, the spine from its sibling the upper body, both under a centre bone.
    The lower body turns as the pelvis, the centre bone takes the root motion's location (so the upper body comes
    along), and every joint lands where the motion has it; the travel moves to a top bone above the centre, turn
    included, posing nothing else."""
    rest = _mmd_rig()
    rt.check_mapping_shape(rest, "mmd")
    assert rest.bone_names[rt.hub_bone(rest)] == "centre"
    frames = 32
    heads, deltas = rt.forward_kinematics(rest, _random_pose(rest, frames, seed=7))
    joints = rt.joints_from_pose(rest, heads, deltas)
    root = np.stack([np.linspace(0, 1.0, frames), np.zeros(frames), 0.05 * np.sin(np.arange(frames))], -1)
    res = rt.retarget(joints, rest, root=root, nose_neck=False)
    assert rest.bone_names[res.root_bone] == "centre" and rest.index("pelvis") in res.driven
    back = rt.joints_from_pose(rest, *rt.forward_kinematics(rest, res.rotations, res.root_location))
    for a, b in EXACT:
        assert _angles(joints[:, J[b]] - joints[:, J[a]], back[:, J[b]] - back[:, J[a]]).max() < 1.0, (a, b)
    np.testing.assert_allclose(back[:, J["pelvis"]] - back[0, J["pelvis"]], res.translation - res.translation[0],
                               atol=1e-9)
    rooted = _mmd_rig(top=True)
    res = rt.retarget(joints, rooted, root=root, nose_neck=False)
    moved = rt.move_travel_to_root(rooted, res, turn=True, fps=30.0)
    assert rooted.bone_names[moved.travel_bone] == "top" and res.root_bone in moved.driven
    before, _ = rt.forward_kinematics(rooted, res.rotations, res.root_location)
    after, _ = rt.forward_kinematics(rooted, moved.rotations, moved.root_location,
                                     (moved.travel_bone, moved.travel_location))
    others = [b for b in range(len(rooted.bone_names)) if b != moved.travel_bone]
    np.testing.assert_allclose(after[:, others], before[:, others], atol=1e-9)


def test_a_pelvis_bone_beside_the_spine_must_start_where_the_spine_does() -> None:
    """A pelvis mapped to a bone off the spine's line far from where the spine starts is a wrong mapping."""
    rt.check_mapping_shape(_mmd_rig(spine_start=0.15), "mmd")
    with pytest.raises(RigError, match="'lower', is not above the spine and starts 4\\d % of the legs' length"):
        rt.check_mapping_shape(_mmd_rig(spine_start=0.4), "mmd")


def test_a_rig_with_no_bone_between_hips_and_chest_keeps_its_torso_upright() -> None:
    """``Root`` (at the hips, the legs on it) -> ``Chest`` -> ``Head``: the spine joint is the hips' own bone, at the
    hips' middle. The torso's frames then span the hips' middle to the thorax; before, the pelvis frame's up was a
    zero vector and the baked torso came out upside down."""
    std = {n: (p, h, t) for n, p, h, t in rigs.default_armature_bones(1.75)}
    hips = std["Hips"][1]
    bones = [("Root", None, (0.0, 0.0, hips[2] - 0.05), hips, 0.0), ("Chest", "Root", hips, std["Neck"][1], 0.0),
             ("Head", "Chest", std["Neck"][1], std["Head"][2], 0.0)]
    for side in ("Left", "Right"):
        for name, parent in (("UpLeg", "Root"), ("Leg", f"{side}UpLeg"), ("Foot", f"{side}Leg"), ("Arm", "Chest"),
                             ("ForeArm", f"{side}Arm"), ("Hand", f"{side}ForeArm")):
            _, head, tail = std[side + name]
            if name == "UpLeg":
                head = (head[0], head[1], hips[2] - 0.05)
            bones.append((side + name, parent, head, tail, 0.0))
    mapping = {"pelvis": "Root", "spine": "Root", "thorax": "Chest", "neck": "Head", "head": "Head",
               **{f"{s[0].lower()}_{j}": s + b for s in ("Left", "Right") for j, b in
                  (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("shoulder", "Arm"), ("elbow", "ForeArm"),
                   ("wrist", "Hand"))}}
    rest = rt.make_rest_pose(bones, mapping)
    assert not rt.spine_joint_usable(rest.joint_positions())
    assert rt.spine_joint_usable(_default_rest().joint_positions())
    errors = _round_trip(rest, seed=2)
    assert max(errors[k] for k in EXACT) < 1.0, errors  # pelvis -> thorax was 58.6 degrees off on this rig


def test_hands_under_the_floor_are_measured_beyond_a_hand_on_it() -> None:
    """``under_floor``: by how much the rig's lowest hand (its tail: the hand reaches on past the wrist) or head top
    is under the rest pose's floor, beyond UNDER_FLOOR_M; 0 where a hand only touches the floor."""
    rest = _default_rest()
    frames = 3
    q = np.zeros((frames, len(rest.bone_names), 4))
    q[..., 0] = 1.0
    for drop, expected in ((1.2, 0.0), (1.6, None)):
        location = np.zeros((frames, 3))
        location[:, 1] = -drop  # the hips bone points up: its -Y lowers the whole T-posed body
        res = rt.RetargetResult(rest.bone_names, q, (), rest.index("pelvis"), location, np.zeros((frames, 3)))
        depth = rt.under_floor(rest, res)
        hand = rest.tails[rest.index("l_wrist"), 2] - drop  # T-pose: the hands level with the shoulders
        floor = min(rest.heads[:, 2].min(), rest.tails[:, 2].min())  # the toes' tips
        if expected is None:
            np.testing.assert_allclose(depth, floor - hand - rt.UNDER_FLOOR_M, atol=1e-6)
            assert depth.min() > 0.05
        else:
            assert not depth.any()


def test_unmirror_makes_a_mirroring_transform_proper_and_keeps_heights() -> None:
    assert rt.unmirror(np.eye(3)) is None and rt.unmirror(0.01 * np.eye(3)) is None
    turned = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # a Y-up rig stood up (FBX import)
    flip_x, flip_z = np.diag([-1.0, 1.0, 1.0]), np.diag([1.0, 1.0, -1.0])
    for lin in (flip_x, 0.01 * turned @ flip_x, turned @ flip_z, np.diag([1.0, -1.0, 1.0])):
        r = rt.unmirror(lin)
        assert r is not None and np.linalg.det(r @ lin) > 0
        np.testing.assert_allclose(r @ r, np.eye(3), atol=1e-12)  # a reflection
        np.testing.assert_allclose(r[2], [0.0, 0.0, 1.0], atol=1e-12)  # across a vertical plane: heights kept


def test_mirror_motion_reflects_and_swaps_sides() -> None:
    rng = np.random.default_rng(3)
    joints, root = rng.normal(size=(5, 17, 3)), rng.normal(size=(5, 3))
    contacts = np.zeros((5, 2), bool)
    contacts[:2, 0] = True
    r = rt.unmirror(np.diag([-1.0, 1.0, 1.0]))
    j2, root2, c2 = rt.mirror_motion(joints, root, contacts, r)
    np.testing.assert_allclose(j2[:, J["r_wrist"]], joints[:, J["l_wrist"]] * [-1.0, 1.0, 1.0])
    np.testing.assert_allclose(j2[:, J["pelvis"]], joints[:, J["pelvis"]] * [-1.0, 1.0, 1.0])
    np.testing.assert_allclose(root2, root * [-1.0, 1.0, 1.0])
    assert c2[:2, 1].all() and not c2[:, 0].any()
    back, root3, c3 = rt.mirror_motion(j2, root2, c2, r)
    np.testing.assert_allclose(back, joints)
    np.testing.assert_array_equal(c3, contacts)
    assert rt.mirror_motion(joints, None, None, r)[1:] == (None, None)
