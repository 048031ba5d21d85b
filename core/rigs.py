"""Bone-name presets mapping H36M-17 joints to armature bones, auto-detection, custom mapping JSON.

Blender-safe: stdlib only. A mapping is ``{h36m joint name: bone name}`` (the bone whose HEAD sits at
that joint; for the ``head`` joint, a head-top leaf bone or else the skull-base bone again).
Presets: ``mixamo`` (``mixamorig:`` or any ``<namespace>:`` prefix), ``mixamo_plain`` (no prefix; also
the default armature), ``ue`` (Unreal UE4/UE5 mannequin), ``cmu`` (MakeHuman / CMU BVH), ``rigify``
(DEF- deform bones of a deform-only skeleton) and ``rigify_fk`` (the FK controls of a generated Rigify
rig; its ORG-/DEF- bones follow constraints, so keys on them would be overridden). A generated rig
needs effective parents (its controls hang off MCH helper bones) and FK mode: see PARENT_OVERRIDES and
RIG_SETTINGS, applied by posemoe_blender.bake.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from core.errors import InputNotFoundError, OutputError, RigError
from core.file_checks import not_a_file
from core.skeleton import JOINT_NAMES

log = logging.getLogger(__name__)

OPTIONAL = ("head",)
"""Joints that may be left out: ``head`` then falls back to the ``neck`` bone (no head-top bone)."""


def _sided(pelvis: str, spine: str, thorax: str, neck: str, head: str, left: dict, side: tuple) -> dict:
    """Return a full mapping from torso bones and the left-side names (``side`` = (left tag, right tag))."""
    out = {"pelvis": pelvis, "spine": spine, "thorax": thorax, "neck": neck, "head": head}
    for joint, bone in left.items():
        out["l_" + joint] = bone
        out["r_" + joint] = bone.replace(side[0], side[1])
    return out


_MIXAMO_LEFT = {"hip": "LeftUpLeg", "knee": "LeftLeg", "ankle": "LeftFoot",
                "shoulder": "LeftArm", "elbow": "LeftForeArm", "wrist": "LeftHand"}
_MIXAMO = _sided("Hips", "Spine1", "Neck", "Head", "HeadTop_End", _MIXAMO_LEFT, ("Left", "Right"))

PRESETS: dict[str, dict[str, str]] = {
    "mixamo": {j: "mixamorig:" + b for j, b in _MIXAMO.items()},
    "mixamo_plain": dict(_MIXAMO),
    "ue": _sided("pelvis", "spine_02", "neck_01", "head", "head",
                 {"hip": "thigh_l", "knee": "calf_l", "ankle": "foot_l",
                  "shoulder": "upperarm_l", "elbow": "lowerarm_l", "wrist": "hand_l"}, ("_l", "_r")),
    "cmu": _sided("Hips", "Spine", "Neck", "Head", "Head", _MIXAMO_LEFT, ("Left", "Right")),
    "rigify": _sided("DEF-spine", "DEF-spine.002", "DEF-spine.004", "DEF-spine.006", "DEF-spine.006",
                     {"hip": "DEF-thigh.L", "knee": "DEF-shin.L", "ankle": "DEF-foot.L",
                      "shoulder": "DEF-upper_arm.L", "elbow": "DEF-forearm.L", "wrist": "DEF-hand.L"}, (".L", ".R")),
    "rigify_fk": _sided("torso", "spine_fk.002", "neck", "head", "head",
                        {"hip": "thigh_fk.L", "knee": "shin_fk.L", "ankle": "foot_fk.L",
                         "shoulder": "upper_arm_fk.L", "elbow": "forearm_fk.L", "wrist": "hand_fk.L"}, (".L", ".R")),
}

ALIASES: dict[str, str] = {"unreal": "ue", "ue4": "ue", "ue5": "ue", "mannequin": "ue", "makehuman": "cmu",
                          "mixamorig": "mixamo", "rigify_def": "rigify", "default": "mixamo_plain"}
"""Other names accepted for presets (the CLI documents ``unreal``)."""

SIGNATURES: dict[str, tuple[str, ...]] = {
    "mixamo": ("mixamorig:Spine2", "mixamorig:HeadTop_End"),
    "mixamo_plain": ("Spine2", "HeadTop_End"),
    "ue": ("root", "spine_01", "clavicle_l", "ball_l"),
    "cmu": ("LowerBack", "LHipJoint", "Neck1"),
    "rigify": ("DEF-spine.001", "DEF-shoulder.L"),
    "rigify_fk": ("torso", "chest", "root"),
}
"""Bones that only a given convention has; they break ties between presets (Mixamo vs CMU names)."""


def _both_sides(d: dict[str, str]) -> dict[str, str]:
    """Return ``d`` plus its .L -> .R mirror (keys and values)."""
    return {**d, **{k.replace(".L", ".R"): v.replace(".L", ".R") for k, v in d.items()}}


PARENT_OVERRIDES: dict[str, dict[str, str]] = {
    "rigify_fk": _both_sides({"hips": "torso", "chest": "torso", "neck": "chest", "head": "neck",
                              "thigh_fk.L": "hips", "upper_arm_fk.L": "chest", "foot_fk.L": "shin_fk.L"}),
}
"""Per preset, bone -> the bone whose motion it effectively follows (through MCH helpers and constraints)."""

RIG_SETTINGS: dict[str, dict[str, dict[str, float]]] = {
    "rigify_fk": {"thigh_parent.L": {"IK_FK": 1.0, "FK_limb_follow": 0.0},
                  "thigh_parent.R": {"IK_FK": 1.0, "FK_limb_follow": 0.0},
                  "upper_arm_parent.L": {"IK_FK": 1.0, "FK_limb_follow": 0.0},
                  "upper_arm_parent.R": {"IK_FK": 1.0, "FK_limb_follow": 0.0},
                  "torso": {"neck_follow": 1.0, "head_follow": 1.0}},
}
"""Per preset, pose-bone custom properties the baked motion needs (Rigify: limbs in FK, head follows neck)."""


def _mixamo_prefixes(bone_names: set[str]) -> list[str]:
    """Return namespace prefixes (``mixamorig1:``, ...) that precede a ``Hips`` bone."""
    return sorted(n[: -len("Hips")] for n in bone_names if n.endswith(":Hips"))


def preset_mapping(name: str, bone_names: list[str] | None = None) -> dict[str, str]:
    """Return a copy of preset ``name``'s mapping (Mixamo: namespace prefix taken from ``bone_names``)."""
    if name not in PRESETS:
        import difflib

        names = ["auto", *PRESETS, *ALIASES]
        near = difflib.get_close_matches(name.lower(), names, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise RigError(f"unknown rig preset {name!r}; {hint}choose auto, {', '.join(PRESETS)} (unreal and makehuman "
                       "name ue and cmu), or give a mapping JSON file")
    mapping = dict(PRESETS[name])
    if name == "mixamo" and bone_names is not None:
        prefixes = _mixamo_prefixes(set(bone_names))
        if prefixes and "mixamorig:" not in prefixes:
            mapping = {j: prefixes[0] + b.split(":", 1)[1] for j, b in mapping.items()}
    return mapping


def missing_bones(mapping: dict[str, str], bone_names: list[str]) -> list[str]:
    """Return the mapped bone names (required joints) that ``bone_names`` lacks, in H36M order."""
    names = set(bone_names)
    return [mapping[j] for j in JOINT_NAMES if j in mapping and j not in OPTIONAL and mapping[j] not in names]


def detect_rig(bone_names: list[str]) -> tuple[str, list[str]]:
    """Return (best preset name, its missing bone names) for an armature with ``bone_names``."""
    names = set(bone_names)
    best: tuple[tuple[int, int], str, list[str]] | None = None
    for name in PRESETS:
        mapping = preset_mapping(name, bone_names)
        miss = missing_bones(mapping, bone_names)
        sig = SIGNATURES[name]
        if name == "mixamo" and mapping["pelvis"] != PRESETS["mixamo"]["pelvis"]:
            sig = tuple(mapping["pelvis"].replace("Hips", s.split(":")[1]) for s in sig)
        score = (-len(miss), sum(s in names for s in sig))
        if best is None or score > best[0]:
            best = (score, name, miss)
    assert best is not None
    log.debug("rig auto-detect: %s (missing %s)", best[1], best[2])
    return best[1], best[2]


def _few(names: list[str], n: int = 3) -> str:
    """Return the first ``n`` of ``names`` for a message, and how many more."""
    return ", ".join(repr(x) for x in names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def complete_mapping(mapping: dict[str, str], bone_names: list[str], source: str) -> dict[str, str]:
    """Return ``mapping`` checked against ``bone_names`` with optional joints filled; RigError names what is missing.

    ``source`` says where the mapping came from (preset name or JSON path) for the error message.
    """
    unknown = sorted(set(mapping) - set(JOINT_NAMES))
    if unknown:
        raise RigError(f"{source}: unknown H36M joint names {unknown}; valid names are {list(JOINT_NAMES)}")
    absent = [j for j in JOINT_NAMES if j not in mapping and j not in OPTIONAL]
    if absent:
        raise RigError(f"{source}: no bone given for {len(absent)} H36M joints ({_few(absent)}); add them to the "
                       "mapping (the add-on's Fill from Rig fills what it recognises)")
    miss = missing_bones(mapping, bone_names)
    if miss:  # the advice first: the add-on's panel shows a message's first 200 characters
        raise RigError(f"{source}: choose another rig preset or a custom bone mapping (--rig, or the add-on's Custom "
                       f"Mapping), or rename the bones; the armature lacks {len(miss)}: {_few(miss)}")
    limbs = [j for j in JOINT_NAMES if j[:2] in ("l_", "r_")] + ["pelvis"]
    seen: dict[str, str] = {}
    for joint in limbs:
        if (other := seen.setdefault(mapping[joint], joint)) != joint:
            raise RigError(f"{source}: maps both {other} and {joint} to bone {mapping[joint]!r}; each limb joint "
                           "needs its own bone")
    out = dict(mapping)
    if out.get("head") not in set(bone_names):
        out["head"] = out["neck"]
    return out


def resolve_rig(bone_names: list[str], rig: str = "auto", mapping: dict[str, str] | None = None,
                parents: dict[str, str | None] | None = None) -> tuple[str | None, dict[str, str]]:
    """Return (preset name or None for a custom mapping, validated mapping) for an armature's ``bone_names``.

    An explicit ``mapping`` wins; else ``rig``: a preset name or alias (``unreal``, ``makehuman``, ...),
    a mapping JSON file (``*.json``), or ``"auto"``: the preset that fits, else, given the hierarchy
    (``parents``: bone -> parent bone or None), the mapping read off the bone names (core.rig_names).
    """
    if mapping is not None:
        return None, complete_mapping(mapping, bone_names, "custom mapping")
    if rig.lower().endswith(".json"):
        return None, complete_mapping(load_mapping(Path(rig)), bone_names, rig)
    rig = ALIASES.get(rig.lower(), rig.lower())
    if rig == "auto":
        rig, miss = detect_rig(bone_names)
        if miss:
            from core.rig_names import guess_mapping, torso_not_found

            guessed = guess_mapping(parents) if parents else None
            why = torso_not_found(parents) if parents and guessed is None else None
            if why is not None:  # the limbs were read off their names: the preset's missing bones would mislead
                raise RigError(f"could not recognise the armature's rig: most of its limbs were found by their "
                               f"bone names, but {why}; give a custom bone mapping (--rig with a mapping JSON on the "
                               "command line; the add-on's Custom Mapping saves one)")
            if guessed is None:
                raise RigError("could not recognise the armature's rig from its bone names: choose a rig preset or "
                               "a custom bone mapping (--rig PRESET or a mapping JSON on the command line; the "
                               f"add-on's Custom Mapping saves one); the nearest preset, {rig!r}, lacks {len(miss)} "
                               f"bones: {_few(miss)}")
            log.info("rig recognised by its bone names: %s", guessed)
            return None, complete_mapping(guessed, bone_names, "the mapping read off the bone names")
    return rig, complete_mapping(preset_mapping(rig, bone_names), bone_names, f"rig preset {rig!r}")


def check_rig_option(rig: str) -> None:
    """Raise RigError unless ``rig`` (as :func:`resolve_rig` takes it) can name a rig for some armature: "auto",
    a preset or alias, or a readable mapping file; whether the armature has the bones is for baking to say."""
    if rig.lower().endswith(".json"):
        load_mapping(Path(rig))
    elif (name := ALIASES.get(rig.lower(), rig.lower())) != "auto":
        preset_mapping(name)


def resolve_mapping(bone_names: list[str], rig: str = "auto", mapping: dict[str, str] | None = None) -> dict[str, str]:
    """Return the validated mapping for an armature (see :func:`resolve_rig`)."""
    return resolve_rig(bone_names, rig, mapping)[1]


def load_mapping(path: Path) -> dict[str, str]:
    """Return the mapping stored in JSON file ``path`` (``{"h36m_to_bone": {...}}`` or a flat object)."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: rig mapping file not found; check the path, or save one with the add-on's "
                                 "Custom Mapping")
    if (kind := not_a_file(path)) is not None:
        raise RigError(f"{path}: is {kind}, not a rig mapping JSON file; give the file itself")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: Windows Notepad starts files with a BOM
    except OSError as e:
        raise RigError(f"{path}: cannot read rig mapping ({e.strerror})") from None
    except ValueError as e:
        raise RigError(f"{path}: rig mapping is not valid JSON ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("h36m_to_bone"), dict):
        data = data["h36m_to_bone"]
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise RigError(f"{path}: rig mapping must be a JSON object of joint name -> bone name strings")
    unknown = sorted(set(data) - set(JOINT_NAMES))
    absent = [j for j in JOINT_NAMES if j not in data and j not in OPTIONAL]
    if unknown or absent:
        raise RigError(f"{path}: rig mapping has unknown joints {unknown} and lacks joints {absent}; "
                       f"keys must be H36M names {list(JOINT_NAMES)}")
    return data


def save_mapping(path: Path, mapping: dict[str, str]) -> Path:
    """Write ``mapping`` as ``{"h36m_to_bone": {...}}`` JSON to ``path`` and return the path."""
    path = Path(path)
    complete_mapping(mapping, list(mapping.values()), str(path))
    try:
        path.write_text(json.dumps({"h36m_to_bone": {j: mapping[j] for j in JOINT_NAMES if j in mapping}},
                                   indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise OutputError(f"{path}: cannot write rig mapping ({e.strerror}); choose a writable folder") from None
    return path


# (name, parent, head, tail) at a 1.8 m height, T-pose, Blender axes (Z up, facing -Y); left side at +X.
_DEFAULT_CENTRE = (
    ("Hips", None, (0.0, 0.0, 1.016), (0.0, 0.0, 1.10)),
    ("Spine", "Hips", (0.0, 0.0, 1.10), (0.0, 0.0, 1.212)),
    ("Spine1", "Spine", (0.0, 0.0, 1.212), (0.0, 0.0, 1.38)),
    ("Spine2", "Spine1", (0.0, 0.0, 1.38), (0.0, 0.0, 1.55)),
    ("Neck", "Spine2", (0.0, 0.0, 1.55), (0.0, -0.01, 1.625)),
    ("Head", "Neck", (0.0, -0.01, 1.625), (0.0, -0.01, 1.80)),
    ("HeadTop_End", "Head", (0.0, -0.01, 1.80), (0.0, -0.01, 1.90)),
)
_DEFAULT_LEFT = (
    ("LeftUpLeg", "Hips", (0.112, 0.0, 0.965), (0.156, -0.01, 0.518)),
    ("LeftLeg", "LeftUpLeg", (0.156, -0.01, 0.518), (0.20, 0.0, 0.075)),
    ("LeftFoot", "LeftLeg", (0.20, 0.0, 0.075), (0.20, -0.12, 0.02)),
    ("LeftToeBase", "LeftFoot", (0.20, -0.12, 0.02), (0.20, -0.20, 0.02)),
    ("LeftShoulder", "Spine2", (0.04, 0.0, 1.46), (0.19, 0.0, 1.444)),
    ("LeftArm", "LeftShoulder", (0.19, 0.0, 1.444), (0.455, 0.0, 1.444)),
    ("LeftForeArm", "LeftArm", (0.455, 0.0, 1.444), (0.72, 0.0, 1.444)),
    ("LeftHand", "LeftForeArm", (0.72, 0.0, 1.444), (0.82, 0.0, 1.444)),
)


def default_armature_bones(height: float = 1.75) -> list[tuple[str, str | None, tuple, tuple]]:
    """Return (name, parent, head, tail) tuples, metres, of the default Mixamo-like T-pose armature of ``height``."""
    k = height / 1.8
    bones = list(_DEFAULT_CENTRE) + list(_DEFAULT_LEFT)
    for name, parent, head, tail in _DEFAULT_LEFT:
        mirror = tuple((n.replace("Left", "Right") if n else n) for n in (name, parent))
        bones.append((mirror[0], mirror[1], (-head[0], *head[1:]), (-tail[0], *tail[1:])))
    return [(n, p, tuple(k * v for v in h), tuple(k * v for v in t)) for n, p, h, t in bones]
