"""Recognise a humanoid rig no preset names, from its bone names and hierarchy.

core.rigs' presets cover the common conventions exactly; characters come from many more (Character
Creator ``CC_Base_L_Thigh``, 3ds Max Biped ``Bip01 L Thigh``, VRoid ``J_Bip_L_UpperLeg``, DAZ
``lThighBend``, Blender's ``thigh.L``, Mixamo names under other prefixes, ...). Names are split into
words (separators and camelCase), the side words (``L``/``Left``/``R``/``Right``) taken out, and the
rest matched against each limb bone's usual names; the torso comes from the hierarchy (the pelvis is
where both legs and the neck meet, the spine bone the middle one below the neck; where no bone is named
head or neck, as in Blender's metarig, the numbered bones continuing above the arms are the neck and
head; with the head straight on the chest, as low-poly game rigs have it, the chest is the neck's base).
A guess is kept only when every joint has a bone and each limb is one chain (thigh above shin above
foot, ...), so a wrong guess fails loudly instead of baking a tangle.

Blender-safe: stdlib only. Hand-written: no library maps arbitrary rig names (the retargeting add-ons
ship fixed per-convention tables, as core.rigs does).
"""

from __future__ import annotations

import re
import unicodedata

SIDE_WORDS = {"l": "l", "left": "l", "r": "r", "right": "r"}
LIMB_NAMES: dict[str, tuple[str, ...]] = {
    "hip": ("thigh", "upleg", "upperleg", "legupper", "thighbend", "femur"),
    "knee": ("shin", "calf", "leg", "lowerleg", "leglower", "knee", "tibia"),
    "ankle": ("foot", "ankle"),
    "shoulder": ("upperarm", "arm", "armupper", "shldr", "shldrbend", "shoulderbend", "humerus"),
    "elbow": ("forearm", "lowerarm", "armlower", "elbow", "forearmbend", "radius"),
    "wrist": ("hand", "wrist"),
}
"""Per H36M limb joint, the words (joined, side taken out) of the bone whose head sits at it."""
_ALL_LIMB_WORDS = {n for names in LIMB_NAMES.values() for n in names}
HELPER_WORDS = {"twist", "roll", "ik", "pole", "target", "mch", "ctrl", "ctl", "con", "helper", "nub", "end",
                "share", "corrective", "jiggle", "offset", "tweak", "fk", "org"}
"""Words of bones that are not the deform chain itself (twist and roll bones, IK/FK controls, end markers)."""
PART_WORDS = {"stretch"}
"""Words that name which part of a limb bone a rig splits it into, dropped before matching: Auto-Rig Pro deforms the
thigh with ``thigh_stretch.l`` (its ``thigh_twist.l`` is a twist helper)."""
PREFIX_WORDS = {"mixamorig", "j", "bip", "bip01", "bip001", "cc", "base", "def", "b", "bn", "bone", "jnt", "sk",
                "character", "char", "rig", "armature", "valve", "biped"}
"""Namespace words dropped before matching (``mixamorig_``, ``J_Bip_``, ``CC_Base_``, ``DEF-``, the Source
engine's ``ValveBiped.Bip01_``, ...)."""


MMD_NAMES = {"足": "leg", "ひざ": "knee", "足首": "ankle", "つま先": "toe", "肩": "shoulder", "腕": "arm",
             "ひじ": "elbow", "手首": "wrist", "首": "neck", "頭": "head", "頭先": "head top", "上半身": "upper body",
             "上半身2": "upper body 2", "上半身3": "upper body 3", "下半身": "lower body", "センター": "center",
             "グルーブ": "groove", "腰": "waist"}
"""MikuMikuDance's standard Japanese bone names (after the side, 左 left / 右 right) in the English that PMX files'
own English names use; MMD calls the thigh the leg, the shin the knee, the foot the ankle and the upper arm the arm.
Names not listed (``足IK``, ``足D``, ``腕捩``, fingers) are not limb bones."""


def _from_mmd(name: str) -> str:
    """Return an MMD bone name in English words (``左足首`` -> "left ankle"), or ``name`` when it is not one."""
    name = unicodedata.normalize("NFKC", name)  # PMX names mix full-width letters and digits in (足ＩＫ, 上半身２)
    side = {"左": "left ", "右": "right "}.get(name[:1], "")
    english = MMD_NAMES.get(name[1:] if side else name)
    return name if english is None else side + english


def words(name: str) -> list[str]:
    """Return the lower-case words of a bone name: the part after any ``:`` or ``|`` namespace, split at
    separators, case changes and digit runs (``mixamorig1:LeftUpLeg`` -> left, up, leg); MMD's Japanese names
    in English (:data:`MMD_NAMES`)."""
    name = _from_mmd(re.split(r"[:|]", name)[-1])
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", name) if w]


def _role(name: str, leg_is_thigh: bool = False) -> tuple[str | None, str | None]:
    """Return (limb joint or None, side "l"/"r"/None) that a bone's name says; ``leg_is_thigh``: the rig names its
    shins "knee", so its "leg" is the thigh (MMD; the Cats add-on's "Left leg", "Left knee", "Left ankle")."""
    ws = [w for w in words(name) if w not in PREFIX_WORDS and not w.isdigit()]
    side = next((SIDE_WORDS[w] for w in ws if w in SIDE_WORDS), None)
    if side is None and ws and len(ws[0]) > 1 and ws[0][0] in "lr" and ws[0][1:] in _ALL_LIMB_WORDS:
        side, ws = ws[0][0], [ws[0][1:], *ws[1:]]  # DAZ: lThighBend reads as "lthigh bend"
    rest = [w for w in ws if w not in SIDE_WORDS and w not in PART_WORDS]
    if not rest or HELPER_WORDS.intersection(rest):
        return None, side
    joined = "".join(rest)
    if leg_is_thigh and joined == "leg":
        return "hip", side
    return next((j for j, names in LIMB_NAMES.items() if joined in names), None), side



def _ancestors(bone: str, parents: dict[str, str | None]) -> list[str]:
    """Return ``bone``'s ancestors, nearest first."""
    out, seen = [], {bone}
    while (bone := parents.get(bone)) is not None and bone not in seen:
        out.append(bone)
        seen.add(bone)
    return out


def _chain(bones: list[str], parents: dict[str, str | None]) -> bool:
    """True when each bone is an ancestor of the next (a limb read top down)."""
    return all(a in _ancestors(b, parents) for a, b in zip(bones, bones[1:], strict=False))


def _torso_bone(parents: dict[str, str | None], word: str, above: str | None = None) -> str | None:
    """Return the bone named ``word`` (one of its words) nearest the root, optionally among ``above``'s
    ancestors and ``above`` itself; bones without a helper word first (Character Creator's neck bones are
    all "NeckTwist")."""
    pool = list(parents) if above is None else [above, *_ancestors(above, parents)]
    named = [b for b in pool if word in words(b)]
    found = [b for b in named if not HELPER_WORDS.intersection(words(b))] or named
    return min(found, key=lambda b: len(_ancestors(b, parents)), default=None)


def _stem(bone: str) -> tuple[str, ...]:
    """Return a bone name's words without numbers, namespace and side (``DEF-spine.004`` -> ("spine",))."""
    return tuple(w for w in words(bone) if not w.isdigit() and w not in PREFIX_WORDS and w not in SIDE_WORDS)


def _chest(parents: dict[str, str | None], mapping: dict[str, str]) -> str | None:
    """Return the bone both arms hang from (their nearest common ancestor), or None."""
    right = {mapping["r_shoulder"], *_ancestors(mapping["r_shoulder"], parents)}
    return next((b for b in _ancestors(mapping["l_shoulder"], parents) if b in right), None)


MAX_NECK_BONES = 3
"""Bones from the chest up to the head at most in a numbered chain (Blender's metarig: spine.004-006); a longer one
is more likely to run on into a hat or ponytail bone than to be a neck, so it is not guessed."""


def _neck_above_chest(parents: dict[str, str | None], mapping: dict[str, str], head: str | None
                      ) -> tuple[str, str] | None:  # fmt: skip
    """Return (head, neck base) of a rig with no bone named neck, read off the chest (the bone both arms hang
    from): with a bone named head above it, the chest's child towards it (``spine.004`` under ``head``); else the
    bones of the chest's own name continuing above it one child at a time, as Blender's metarig numbers its
    torso (``spine.004`` the neck base, ``spine.006`` the head)."""
    arms = [{mapping[f"{s}_shoulder"], *_ancestors(mapping[f"{s}_shoulder"], parents)} for s in "lr"]
    chest = _chest(parents, mapping)
    if chest is None:
        return None
    if not _stem(chest):
        return None
    if head is not None:
        path = _ancestors(head, parents)
        between = path[: path.index(chest)] if chest in path else []
        if not 1 <= len(between) < MAX_NECK_BONES or any(_stem(b) != _stem(chest) for b in between):
            return None  # no numbered neck (an upper chest, say) between the chest and the head: not guessed
        return head, between[-1]
    chain, bone = [], chest
    while len(chain) <= MAX_NECK_BONES:
        above = [c for c, p in parents.items() if p == bone and _stem(c) == _stem(chest) and c not in arms[0] | arms[1]]
        if len(above) != 1:
            break
        bone = above[0]
        chain.append(bone)
    return (chain[-1], chain[0]) if 2 <= len(chain) <= MAX_NECK_BONES else None


PELVIS_WORDS = {"pelvis", "hips", "hip"}
"""Words of a bone that is the pelvis whatever the legs hang from (a side word makes it a thigh instead)."""


def _named_pelvis(meet: str, parents: dict[str, str | None]) -> str:
    """Return the pelvis bone of a rig whose legs and spine meet at bone ``meet``: ``meet`` itself, unless it is not
    named as a pelvis and a bone up to two above it is. 3ds Max Biped's thighs often hang from ``Bip01 Spine``
    under ``Bip01 Pelvis``: driven as the pelvis, the spine bone would leave ``Bip01 Pelvis``, which the mesh's hips
    follow, at rest, and a connected spine bone takes no root motion."""

    if _pelvis_named(meet):
        return meet
    return next((b for b in _ancestors(meet, parents)[:2] if _pelvis_named(b)), meet)


def _pelvis_named(bone: str) -> bool:
    """True when a bone's name calls it the pelvis (:data:`PELVIS_WORDS`, no side or helper word)."""
    ws = set(words(bone))
    return bool(ws & PELVIS_WORDS) and not ws & (HELPER_WORDS | set(SIDE_WORDS))


def guess_mapping(parents: dict[str, str | None]) -> dict[str, str] | None:
    """Return ``{H36M joint: bone}`` for an armature given as ``{bone: parent bone or None}``, or None when
    the names and hierarchy do not make one humanoid skeleton."""
    return _guess(parents)[0]


def torso_not_found(parents: dict[str, str | None]) -> str | None:
    """Return why :func:`guess_mapping` gives no mapping for a rig whose arms and legs it did find by name (the
    head or the pelvis missing, ...), or None (a mapping, or limbs not found either): what a refusal should name
    rather than the nearest preset's missing bones."""
    return _guess(parents)[1]


def _guess(parents: dict[str, str | None]) -> tuple[dict[str, str] | None, str | None]:
    """Return (:func:`guess_mapping`'s mapping or None, :func:`torso_not_found`'s reason or None): limbs named as
    most rigs name them, else with "leg" for the thigh where the shins are named "knee" (:func:`_role`)."""
    found = _guess_limbs_named(parents, leg_is_thigh=False)
    if found[0] is None:
        other = _guess_limbs_named(parents, leg_is_thigh=True)
        limbs_read = other[1] is not None and not other[1].startswith(("no left ", "no right "))
        if other[0] is not None or found[1] is None or limbs_read:  # the reading that found every limb says why
            found = other
    return found


LIMB_WORDS = {"hip": "thigh", "knee": "shin", "ankle": "foot", "shoulder": "upper arm", "elbow": "forearm",
              "wrist": "hand"}
"""What a user calls the bone of each limb joint, for messages."""


def _missing_limb(limbs: dict[tuple[str, str], list[str]], parents: dict[str, str | None]) -> str | None:
    """Return why no limb chain was found where the names give nearly all of them (10 of the 12 limb joints): the
    first missing bone and what hangs below the bone above it (an arm that ends in ``LTipIK``, no hand); None
    where too little was found to call the rig a humanoid's."""
    if sum(bool(limbs.get((j, side))) for j in LIMB_NAMES for side in "lr") < 10:
        return None
    for side in ("l", "r"):
        for chain in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist")):
            for above, joint in zip((None, *chain), chain, strict=False):
                if limbs.get((joint, side)):
                    continue
                where = ""
                if above is not None and limbs.get((above, side)):
                    bone = limbs[(above, side)][0]
                    below = [c for c, par in parents.items() if par == bone]
                    where = f" below {bone!r}" + (f" (what hangs there: {', '.join(map(repr, below[:3]))})"
                                                   if below else " (nothing hangs there)")
                return f"no {'left' if side == 'l' else 'right'} {LIMB_WORDS[joint]} bone was found{where}"
    return None


def _guess_limbs_named(parents: dict[str, str | None], leg_is_thigh: bool
                       ) -> tuple[dict[str, str] | None, str | None]:  # fmt: skip
    """Return :func:`_guess`'s answer with the limbs' names read one way (``leg_is_thigh``, :func:`_role`)."""
    limbs: dict[tuple[str, str], list[str]] = {}
    for bone in parents:
        joint, side = _role(bone, leg_is_thigh)
        if joint is not None and side is not None:
            limbs.setdefault((joint, side), []).append(bone)
    mapping: dict[str, str] = {}
    for side in ("l", "r"):
        for chain in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist")):
            options = [limbs.get((j, side), []) for j in chain]
            picked = next(([a, b, c] for a in options[0] for b in options[1] for c in options[2]
                           if _chain([a, b, c], parents)), None)
            if picked is None:
                return None, _missing_limb(limbs, parents)
            mapping.update({f"{side}_{j}": bone for j, bone in zip(chain, picked, strict=True)})
    head = _torso_bone(parents, "head")
    thorax = _torso_bone(parents, "neck", above=head) if head else None
    if head is None or thorax is None or thorax == head:
        named_head = head
        head, thorax = _neck_above_chest(parents, mapping, head) or (None, None)
        if head is None and named_head is not None and parents.get(named_head) == _chest(parents, mapping):
            head, thorax = named_head, parents[named_head]  # no neck bone (low-poly game rigs): on the chest
        if head is None:
            return None, ("no bone named head" if named_head is None else
                          f"no neck between the head bone {named_head!r} and the bone the arms hang from")
    ups = [set(_ancestors(mapping[j], parents)) | {mapping[j]} for j in ("l_hip", "r_hip")]
    pelvis = next((b for b in _ancestors(thorax, parents) if all(b in up for up in ups)), None)
    if pelvis is None:
        return None, f"the legs and the neck bone {thorax!r} share no parent bone (a pelvis)"
    hub, pelvis = pelvis, _named_pelvis(pelvis, parents)
    legs = next((b for b in _ancestors(mapping["l_hip"], parents) if b in ups[1]), pelvis)
    if legs not in _ancestors(thorax, parents) and not _pelvis_named(pelvis):
        pelvis = legs  # legs beside the spine (MMD's lower and upper body under a centre bone): the bone they hang
        # from is the pelvis, and the common parent takes the location keys (core.retarget.hub_bone); a common
        # parent named as the pelvis (DAZ's hip over its pelvis bone) stays the pelvis
    limbs = list(mapping.values())
    shared = next((b for b in (pelvis, thorax, head) if b in limbs), None) or next(
        (b for i, b in enumerate(limbs) if b in limbs[:i]), None)
    if shared is not None:  # not a body
        return None, f"bone {shared!r} would stand for two joints"
    below = _ancestors(thorax, parents)
    top = pelvis if pelvis in below else hub
    between = below[: below.index(top)][::-1]  # pelvis or hub (excluded) up to the neck
    tops = [b for b, p in parents.items() if p == head and {"top", "end", "nub"} & set(words(b))]
    mapping.update(pelvis=pelvis, spine=between[len(between) // 2] if between else pelvis, thorax=thorax,
                   neck=head, head=tops[0] if tops else head)
    return mapping, None
