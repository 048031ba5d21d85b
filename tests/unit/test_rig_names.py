"""core.rig_names: humanoid rigs no preset names, recognised from bone names and hierarchy."""

import pytest

from core import rigs
from core.errors import RigError
from core.rig_names import guess_mapping, torso_not_found, words


def _rig(torso: list[str], head_top: str | None, limb: dict[str, str], side: tuple[str, str],
         hips_parent_of_legs: str | None = None, extra: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """Return {bone: parent} of a skeleton: the ``torso`` chain (pelvis first, head last), each limb's three
    bones (names with ``{s}`` for the side), legs under ``hips_parent_of_legs`` (default the first torso bone),
    arms under a clavicle under the bone below the neck, plus ``extra`` bones."""
    parents: dict[str, str | None] = {torso[0]: None}
    for parent, bone in zip(torso, torso[1:], strict=False):
        parents[bone] = parent
    if head_top:
        parents[head_top] = torso[-1]
    for s in side:
        up = hips_parent_of_legs or torso[0]
        for j in ("thigh", "shin", "foot"):
            parents[limb[j].format(s=s)] = up
            up = limb[j].format(s=s)
        up = parents.setdefault(f"clavicle_{s}", torso[-3])
        up = f"clavicle_{s}"
        for j in ("upper", "fore", "hand"):
            parents[limb[j].format(s=s)] = up
            up = limb[j].format(s=s)
    return {**parents, **(extra or {})}


CONVENTIONS = {
    "Character Creator": (_rig(["CC_Base_Hip", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
                                "CC_Base_NeckTwist01", "CC_Base_NeckTwist02", "CC_Base_Head"], None,
                               {"thigh": "CC_Base_{s}_Thigh", "shin": "CC_Base_{s}_Calf", "foot": "CC_Base_{s}_Foot",
                                "upper": "CC_Base_{s}_Upperarm", "fore": "CC_Base_{s}_Forearm",
                                "hand": "CC_Base_{s}_Hand"}, ("L", "R"),
                               extra={"CC_Base_L_UpperarmTwist01": "CC_Base_L_Upperarm",
                                      "CC_Base_L_ThighTwist01": "CC_Base_L_Thigh"}),
                          {"pelvis": "CC_Base_Hip", "spine": "CC_Base_Spine01", "thorax": "CC_Base_NeckTwist01",
                           "neck": "CC_Base_Head", "head": "CC_Base_Head", "l_hip": "CC_Base_L_Thigh",
                           "r_elbow": "CC_Base_R_Forearm"}),
    "3ds Max Biped": (_rig(["Bip01 Pelvis", "Bip01 Spine", "Bip01 Spine1", "Bip01 Neck", "Bip01 Head"],
                           "Bip01 HeadNub", {"thigh": "Bip01 {s} Thigh", "shin": "Bip01 {s} Calf",
                                             "foot": "Bip01 {s} Foot", "upper": "Bip01 {s} UpperArm",
                                             "fore": "Bip01 {s} Forearm", "hand": "Bip01 {s} Hand"}, ("L", "R")),
                      {"pelvis": "Bip01 Pelvis", "spine": "Bip01 Spine1", "head": "Bip01 HeadNub",
                       "l_shoulder": "Bip01 L UpperArm"}),
    "3ds Max Biped, thighs on the spine": (
        _rig(["Bip01 Pelvis", "Bip01 Spine", "Bip01 Spine1", "Bip01 Spine2", "Bip01 Neck", "Bip01 Head"], None,
             {"thigh": "Bip01 {s} Thigh", "shin": "Bip01 {s} Calf", "foot": "Bip01 {s} Foot",
              "upper": "Bip01 {s} UpperArm", "fore": "Bip01 {s} Forearm", "hand": "Bip01 {s} Hand"}, ("L", "R"),
             hips_parent_of_legs="Bip01 Spine", extra={"Bip01": None, "Bip01 Pelvis": "Bip01"}),
        {"pelvis": "Bip01 Pelvis", "spine": "Bip01 Spine1", "l_hip": "Bip01 L Thigh"}),
    "Source engine (ValveBiped)": (
        _rig(["ValveBiped.Bip01_Pelvis", "ValveBiped.Bip01_Spine", "ValveBiped.Bip01_Spine1",
              "ValveBiped.Bip01_Spine2", "ValveBiped.Bip01_Spine4", "ValveBiped.Bip01_Neck1",
              "ValveBiped.Bip01_Head1"], None,
             {"thigh": "ValveBiped.Bip01_{s}_Thigh", "shin": "ValveBiped.Bip01_{s}_Calf",
              "foot": "ValveBiped.Bip01_{s}_Foot", "upper": "ValveBiped.Bip01_{s}_UpperArm",
              "fore": "ValveBiped.Bip01_{s}_Forearm", "hand": "ValveBiped.Bip01_{s}_Hand"}, ("L", "R")),
        {"pelvis": "ValveBiped.Bip01_Pelvis", "thorax": "ValveBiped.Bip01_Neck1", "neck": "ValveBiped.Bip01_Head1",
         "r_knee": "ValveBiped.Bip01_R_Calf"}),
    "VRoid": (_rig(["J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest", "J_Bip_C_Neck",
                    "J_Bip_C_Head"], None,
                   {"thigh": "J_Bip_{s}_UpperLeg", "shin": "J_Bip_{s}_LowerLeg", "foot": "J_Bip_{s}_Foot",
                    "upper": "J_Bip_{s}_UpperArm", "fore": "J_Bip_{s}_LowerArm", "hand": "J_Bip_{s}_Hand"},
                   ("L", "R")),
              {"pelvis": "J_Bip_C_Hips", "spine": "J_Bip_C_Chest", "thorax": "J_Bip_C_Neck",
               "r_knee": "J_Bip_R_LowerLeg"}),
    "DAZ Genesis": (_rig(["hip", "abdomenLower", "abdomenUpper", "chestLower", "chestUpper", "neckLower",
                          "neckUpper", "head"], None,
                         {"thigh": "{s}ThighBend", "shin": "{s}Shin", "foot": "{s}Foot", "upper": "{s}ShldrBend",
                          "fore": "{s}ForearmBend", "hand": "{s}Hand"}, ("l", "r"), hips_parent_of_legs="pelvis",
                         extra={"pelvis": "hip", "lThighTwist": "lThighBend", "lForearmTwist": "lForearmBend"}),
                    {"pelvis": "hip", "thorax": "neckLower", "neck": "head", "l_hip": "lThighBend",
                     "l_elbow": "lForearmBend"}),
    "Blender .L/.R": (_rig(["hips", "spine", "chest", "neck", "head"], None,
                           {"thigh": "thigh.{s}", "shin": "shin.{s}", "foot": "foot.{s}", "upper": "upper_arm.{s}",
                            "fore": "forearm.{s}", "hand": "hand.{s}"}, ("L", "R")),
                      {"pelvis": "hips", "spine": "chest", "r_shoulder": "upper_arm.R", "l_wrist": "hand.L"}),
    "Blender metarig (numbered spine, face under the head)": (
        {"spine": None, **{f"spine.00{i}": ("spine" if i == 1 else f"spine.00{i - 1}") for i in range(1, 7)},
         **{f"{b}.{s}": p.format(s=s) for s in "LR" for b, p in (
             ("shoulder", "spine.003"), ("upper_arm", "shoulder.{s}"), ("forearm", "upper_arm.{s}"),
             ("hand", "forearm.{s}"), ("breast", "spine.003"), ("pelvis", "spine"), ("thigh", "spine"),
             ("shin", "thigh.{s}"), ("foot", "shin.{s}"), ("toe", "foot.{s}"), ("heel.02", "foot.{s}"))},
         "face": "spine.006", "nose": "face", "nose.001": "nose", "jaw": "face", "ear.L": "face"},
        {"pelvis": "spine", "spine": "spine.002", "thorax": "spine.004", "neck": "spine.006", "head": "spine.006",
         "l_shoulder": "upper_arm.L", "r_ankle": "foot.R"}),
    "CMU BVH (Daz names, as the shared mocap)": (
        {"hip": None, "abdomen": "hip", "chest": "abdomen", "neck": "chest", "head": "neck",
         **{f"{s}{b}": p.format(s=s) for s in "lr" for b, p in (
             ("Collar", "chest"), ("Shldr", "{s}Collar"), ("ForeArm", "{s}Shldr"), ("Hand", "{s}ForeArm"),
             ("Buttock", "hip"), ("Thigh", "{s}Buttock"), ("Shin", "{s}Thigh"), ("Foot", "{s}Shin"))}},
        {"pelvis": "hip", "thorax": "neck", "neck": "head", "l_shoulder": "lShldr", "r_hip": "rThigh",
         "r_wrist": "rHand"}),
    "Mixamo, underscore prefix": (_rig(["mixamorig_Hips", "mixamorig_Spine", "mixamorig_Spine1", "mixamorig_Spine2",
                                        "mixamorig_Neck", "mixamorig_Head"], "mixamorig_HeadTop_End",
                                       {"thigh": "mixamorig_{s}UpLeg", "shin": "mixamorig_{s}Leg",
                                        "foot": "mixamorig_{s}Foot", "upper": "mixamorig_{s}Arm",
                                        "fore": "mixamorig_{s}ForeArm", "hand": "mixamorig_{s}Hand"},
                                       ("Left", "Right")),
                                  {"spine": "mixamorig_Spine1", "head": "mixamorig_HeadTop_End",
                                   "l_knee": "mixamorig_LeftLeg", "r_shoulder": "mixamorig_RightArm"}),
    "MikuMikuDance (Japanese names; lower and upper body side by side under the centre)": (
        {"全ての親": None, "センター": "全ての親", "グルーブ": "センター", "腰": "グルーブ", "下半身": "腰",
         "上半身": "腰", "上半身２": "上半身", "首": "上半身２", "頭": "首", "両目": "頭",
         **{f"{s}{b}": p.format(s=s) for s in "左右" for b, p in (
             ("足", "下半身"), ("ひざ", "{s}足"), ("足首", "{s}ひざ"), ("つま先", "{s}足首"), ("足ＩＫ", "全ての親"),
             ("足D", "下半身"), ("ひざD", "{s}足D"), ("足首D", "{s}ひざD"), ("肩", "上半身２"), ("腕", "{s}肩"),
             ("腕捩", "{s}腕"), ("ひじ", "{s}腕"), ("手首", "{s}ひじ"))}},
        {"pelvis": "下半身", "spine": "上半身２", "thorax": "首", "neck": "頭", "l_hip": "左足", "l_knee": "左ひざ",
         "l_ankle": "左足首", "r_shoulder": "右腕", "r_elbow": "右ひじ", "r_wrist": "右手首"}),
    "MikuMikuDance, English names": (
        {"center": None, "lower body": "center", "upper body": "center", "upper body2": "upper body",
         "neck": "upper body2", "head": "neck",
         **{f"{b}_{s}": p.format(s=s) for s in "LR" for b, p in (
             ("leg", "lower body"), ("knee", "leg_{s}"), ("ankle", "knee_{s}"), ("leg IK", "center"),
             ("shoulder", "upper body2"), ("arm", "shoulder_{s}"), ("elbow", "arm_{s}"), ("wrist", "elbow_{s}"))}},
        {"pelvis": "lower body", "spine": "upper body2", "l_hip": "leg_L", "l_knee": "knee_L", "r_ankle": "ankle_R",
         "l_shoulder": "arm_L"}),
    "Auto-Rig Pro deform bones": (
        _rig(["root.x", "spine_01.x", "spine_02.x", "spine_03.x", "neck.x", "head.x"], None,
             {"thigh": "thigh_stretch.{s}", "shin": "leg_stretch.{s}", "foot": "foot.{s}", "upper": "arm_stretch.{s}",
              "fore": "forearm_stretch.{s}", "hand": "hand.{s}"}, ("l", "r"),
             extra={"thigh_twist.l": "thigh_stretch.l", "arm_twist.l": "arm_stretch.l",
                    "c_thigh_fk.l": "root.x", "c_leg_fk.l": "c_thigh_fk.l"}),
        {"pelvis": "root.x", "thorax": "neck.x", "neck": "head.x", "l_hip": "thigh_stretch.l",
         "l_knee": "leg_stretch.l", "r_shoulder": "arm_stretch.r", "r_elbow": "forearm_stretch.r"}),
    "Cats (VRChat) names": (_rig(["Hips", "Spine", "Chest", "Neck", "Head"], None,
                                 {"thigh": "{s} leg", "shin": "{s} knee", "foot": "{s} ankle", "upper": "{s} arm",
                                  "fore": "{s} elbow", "hand": "{s} wrist"}, ("Left", "Right")),
                            {"pelvis": "Hips", "l_hip": "Left leg", "l_knee": "Left knee", "r_ankle": "Right ankle",
                             "r_shoulder": "Right arm"}),
}


@pytest.mark.parametrize("name", CONVENTIONS)
def test_rigs_of_other_conventions_are_read_off_their_names(name):
    parents, expected = CONVENTIONS[name]
    mapping = guess_mapping(parents)
    assert mapping is not None
    assert {j: mapping[j] for j in expected} == expected
    assert set(mapping) == set(rigs.JOINT_NAMES)
    assert len({mapping[j] for j in mapping if j[:2] in ("l_", "r_")}) == 12  # every limb joint its own bone
    _, resolved = rigs.resolve_rig(list(parents), "auto", parents=parents)  # and the bake's path takes it
    assert resolved == mapping


METARIG = CONVENTIONS["Blender metarig (numbered spine, face under the head)"][0]


def test_metarig_like_rigs_find_their_head():
    """A bone named head above numbered neck bones is the head; a numbered chain running on past the head (a
    duplicated bone: a ponytail or hat) is refused rather than driven as the skull."""
    named = {("head" if b == "spine.006" else b): ("head" if p == "spine.006" else p) for b, p in METARIG.items()}
    m = guess_mapping(named)
    assert (m["thorax"], m["neck"]) == ("spine.004", "head")
    short = {b: p for b, p in METARIG.items() if b not in ("spine.005", "spine.006")}
    short.update({"head": "spine.004", "face": "head"})  # one neck bone, then the head
    m = guess_mapping(short)
    assert (m["thorax"], m["neck"], m["spine"]) == ("spine.004", "head", "spine.002")
    assert guess_mapping(dict(METARIG, **{"spine.007": "spine.006"})) is None  # spine.007: a ponytail
    no_neck = {b: p for b, p in METARIG.items() if b not in ("spine.004", "spine.005", "spine.006")}
    m = guess_mapping({**no_neck, "head": "spine.003"})  # the head hangs from the chest: no neck bone
    assert (m["thorax"], m["neck"]) == ("spine.003", "head")
    upper_chest = {**no_neck, "upper_chest": "spine.003", "head": "upper_chest"}  # not a numbered neck: not guessed
    assert guess_mapping(upper_chest) is None


def test_words_split_names_as_people_write_them():
    assert words("mixamorig1:LeftUpLeg") == ["left", "up", "leg"]
    assert words("CC_Base_L_UpperarmTwist01") == ["cc", "base", "l", "upperarm", "twist", "01"]
    assert words("lThighBend") == ["l", "thigh", "bend"]
    assert words("Bip01 R Forearm") == ["bip", "01", "r", "forearm"]
    assert words("DEF-upper_arm.L.001") == ["def", "upper", "arm", "l", "001"]


def test_what_is_not_one_humanoid_is_not_guessed():
    parents, _ = CONVENTIONS["Blender .L/.R"]
    one_armed = {b: p for b, p in parents.items() if not b.endswith(".R") or "arm" not in b and "hand" not in b}
    assert guess_mapping(one_armed) is None
    crossed = dict(parents, **{"shin.L": "hips", "thigh.L": "shin.L"})  # the thigh below the shin
    assert guess_mapping(crossed) is None
    fish = {"body": None, "fin.L": "body", "fin.R": "body", "tail": "body", "head": "body"}
    assert guess_mapping(fish) is None
    with pytest.raises(RigError, match="could not recognise the armature's rig from its bone names"):
        rigs.resolve_rig(list(fish), "auto", parents=fish)
    assert torso_not_found(one_armed) is None and torso_not_found(parents) is None


def test_a_rig_whose_limbs_are_found_is_refused_for_what_its_torso_lacks():
    """Arms and legs read off their names, no head bone: the refusal says so, not which bones of the nearest
    preset (whose leg names would send the user the wrong way) are missing."""
    parents, _ = CONVENTIONS["Blender .L/.R"]
    headless = {b: p for b, p in parents.items() if b != "head"}
    assert torso_not_found(headless) == "no bone named head"
    with pytest.raises(RigError, match="limbs were found by their bone names, but no bone named head; give"):
        rigs.resolve_rig(list(headless), "auto", parents=headless)
    apart = dict(parents, **{"thigh.L": None, "thigh.R": None})  # legs hanging from nothing of the torso's
    assert "share no parent bone" in torso_not_found(apart)


def test_presets_still_win_where_they_fit():
    """A Mixamo rig is the mixamo preset (its settings and tested mapping), not a guess."""
    bones = [b[0] for b in rigs.default_armature_bones()]
    parents = {b[0]: b[1] for b in rigs.default_armature_bones()}
    assert rigs.resolve_rig(bones, "auto", parents=parents)[0] == "mixamo_plain"


def test_a_mapping_that_gives_two_limb_joints_one_bone_is_refused():
    bones = [b[0] for b in rigs.default_armature_bones()]
    mapping = dict(rigs.PRESETS["mixamo_plain"], l_knee="LeftUpLeg")
    with pytest.raises(RigError, match="maps both l_hip and l_knee to bone 'LeftUpLeg'"):
        rigs.complete_mapping(mapping, bones, "m.json")


def test_a_rig_with_no_neck_bone_has_its_head_on_the_chest():
    """Low-poly game rigs (KayKit's) put the head straight on the chest; arms hang from the chest too."""
    parents = {"root": None, "hips": "root", "spine": "hips", "chest": "spine", "head": "chest"}
    for s in "lr":
        parents.update({f"upperleg.{s}": "hips", f"lowerleg.{s}": f"upperleg.{s}", f"foot.{s}": f"lowerleg.{s}",
                        f"toes.{s}": f"foot.{s}", f"upperarm.{s}": "chest", f"lowerarm.{s}": f"upperarm.{s}",
                        f"wrist.{s}": f"lowerarm.{s}", f"hand.{s}": f"wrist.{s}", f"kneeIK.{s}": "root"})
    m = guess_mapping(parents)
    assert m is not None
    assert (m["pelvis"], m["spine"], m["thorax"], m["neck"], m["head"]) == ("hips", "spine", "chest", "head", "head")
    assert (m["l_hip"], m["l_knee"], m["l_ankle"], m["r_wrist"]) == ("upperleg.l", "lowerleg.l", "foot.l", "wrist.r")
    parents["head"] = "root"  # a head on nothing of the body's is no body
    assert guess_mapping(parents) is None


def test_a_rig_whose_arms_end_without_a_hand_is_refused_naming_what_is_missing():
    """An arm that ends in an IK tip bone (a small game's player: ``LForearm`` -> ``LTipIK``) has no hand bone; the
    refusal says so, not that the nearest preset lacks fifteen bones. Too little found to be a humanoid: no reason."""
    parents = _rig(["Root", "Chest", "Neck", "Head"], None,
                   {"thigh": "{s}Thigh", "shin": "{s}Leg", "foot": "{s}Foot", "upper": "{s}Arm",
                    "fore": "{s}Forearm", "hand": "{s}TipIK"}, ("L", "R"))
    assert guess_mapping(parents) is None
    assert torso_not_found(parents) == "no left hand bone was found below 'LForearm' (what hangs there: 'LTipIK')"
    with pytest.raises(RigError, match="but no left hand bone was found below 'LForearm'"):
        rigs.resolve_rig(list(parents), "auto", parents=parents)
    assert torso_not_found({"a": None, "b": "a", "LeftUpLeg": "a"}) is None
