"""Retargeting: H36M-17 joint positions + a target rig's rest pose -> per-bone local quaternions.

Blender-safe: stdlib + numpy only; the quaternion and rotation-matrix maths is in core/rotations.py
(hand-written: Blender's bundled Python has numpy but neither scipy nor, outside Blender, mathutils).
Quaternions are (..., 4) float arrays, w-x-y-z. Rotation matrices act on column vectors.

Everything is in one "character space": Blender world axes (Z up, the character faces -Y), metres.
Callers re-express the rig's rest data in that space (see posemoe_blender.bake); local rotations
are invariant to that choice, so the results key straight into ``pose.bones[...].rotation_quaternion``.

Method (swing + twist, directions only, the target keeps its own bone lengths):
* pelvis bone: full orientation from the hip line (primary) and mid-hip -> spine (secondary);
* spine chain (pelvis bone, chest bone], chest bone = lowest common ancestor of the upper arms:
  the chest orientation from the shoulder line and spine -> thorax is spread evenly over the chain,
  then the inner bones are swung so that pelvis -> neck base points along pelvis -> thorax;
* neck chain + head bone: head orientation from neck -> head-top (primary) and the shoulder line,
  spread evenly from the chest;
* limbs: the upper bone aims at the middle joint (minimal swing from its parent), then twists about
  itself so its rest hinge axis follows the bend plane (faded in from 5 to 20 degrees of bend); the
  lower bone aims at the end joint. Feet stay level (turning with the shin) while the shin points down,
  and follow the shin once it does not (feet up, upside down). Hands, clavicles and
  other unmapped bones keep their rest relation to their parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core.errors import RigError
from core.rotations import (  # noqa: F401 - re-exported for callers of the retarget API
    EPS,
    _inv,
    _mv,
    axis_angle_matrix,
    frame_from,
    make_continuous,
    matrix_to_quat,
    normalize,
    quat_to_matrix,
    rotation_between,
    rotation_fraction,
)
from core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS

LIMBS = (("l_hip", "l_knee", "l_ankle"), ("r_hip", "r_knee", "r_ankle"),
         ("l_shoulder", "l_elbow", "l_wrist"), ("r_shoulder", "r_elbow", "r_wrist"))
NOSE_TOP_TILT_DEG = 16.4
"""Backward lean of nose -> head-top in a level head: the virtual head points of the training data
(core.datasets: nose 4.5 cm up / 10.5 cm ahead of the skull base, top 18.4 cm up / 6.4 cm ahead)."""
HINGE_FADE = (np.sin(np.radians(5.0)), np.sin(np.radians(20.0)))
J = JOINT_INDEX


def bone_matrix(head: np.ndarray, tail: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Return the (3, 3) rest orientation of a bone as Blender builds it: Y along head->tail, then roll (radians)."""
    y = normalize(np.asarray(tail, float) - np.asarray(head, float))
    base = rotation_between(np.array([0.0, 1.0, 0.0]), y)
    return axis_angle_matrix(y, np.asarray(roll, float)) @ base


@dataclass(frozen=True)
class RestPose:
    """A target rig at rest, in character space (Blender world axes, metres).

    bone_names: (B,) names, parents before children; parents: (B,) int, -1 for roots;
    heads, tails: (B, 3) metres; matrices: (B, 3, 3) rest orientation (columns = bone x, y, z axes);
    mapping: H36M joint name -> bone name (the bone whose head sits at that joint; ``head`` may
    name the same bone as ``neck``, then that bone's tail stands in for the head top).
    """

    bone_names: tuple[str, ...]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    matrices: np.ndarray
    mapping: dict[str, str] = field(default_factory=dict)
    no_inherit: frozenset[int] = frozenset()
    """Bones that do not inherit their parent's rotation (Blender's Inherit Rotation off): posed in armature axes."""

    def __post_init__(self) -> None:
        b = len(self.bone_names)
        if self.parents.shape != (b,) or self.heads.shape != (b, 3) or self.matrices.shape != (b, 3, 3):
            raise RigError(f"rest pose arrays disagree with {b} bones")
        if any(p >= i for i, p in enumerate(self.parents)):
            raise RigError("rest pose bones must be ordered parents before children")
        missing = [f"{j} -> {n}" for j, n in self.mapping.items() if n not in self.bone_names]
        unmapped = [j for j in JOINT_NAMES if j not in self.mapping]
        if missing or unmapped:
            raise RigError(f"rig mapping incomplete: bones not in the armature {missing}, "
                           f"H36M joints without a bone {unmapped}; fix the mapping or pick another rig preset")

    def turns_with(self, b: int, ancestor: int) -> bool:
        """True when bone ``b`` turns with ``ancestor`` (-1: nothing), i.e. every bone from ``b`` up to it inherits
        its parent's rotation; else ``b`` is posed in armature axes as far as that chain is concerned."""
        while b != ancestor and b >= 0:
            if b in self.no_inherit:
                return False
            b = int(self.parents[b])
        return ancestor >= 0

    def index(self, joint: str) -> int:
        """Return the bone index mapped to H36M ``joint``."""
        return self.bone_names.index(self.mapping[joint])

    def joint_positions(self) -> np.ndarray:
        """Return the (17, 3) rest H36M joint positions, metres, character space."""
        return joints_from_pose(self, self.heads[None], np.broadcast_to(np.eye(3), (1, len(self.heads), 3, 3)))[0]


def make_rest_pose(bones: list[tuple[str, str | None, tuple, tuple, float]], mapping: dict[str, str]) -> RestPose:
    """Return a RestPose from (name, parent name or None, head xyz, tail xyz, roll radians) tuples in any order."""
    by_name = {b[0]: b for b in bones}
    order: list[str] = []
    for name in by_name:
        chain = [name]
        while (parent := by_name[chain[-1]][1]) is not None and parent not in order:
            if parent not in by_name or parent in chain:
                raise RigError(f"bone {chain[-1]!r}: parent {parent!r} is unknown or makes a cycle")
            chain.append(parent)
        order += [n for n in reversed(chain) if n not in order]
    parents = np.array([-1 if by_name[n][1] is None else order.index(by_name[n][1]) for n in order])
    heads = np.array([by_name[n][2] for n in order], float)
    tails = np.array([by_name[n][3] for n in order], float)
    mats = np.stack([bone_matrix(h, t, by_name[n][4]) for n, h, t in zip(order, heads, tails, strict=True)])
    return RestPose(tuple(order), parents, heads, tails, mats, dict(mapping))


def forward_kinematics(rest: RestPose, rotations: np.ndarray, root_location: np.ndarray | None = None,
                       travel: tuple[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return posed bone heads (T, B, 3) metres and world deltas G (T, B, 3, 3) (posed = G @ rest matrix).

    rotations: (T, B, 4) local w-x-y-z quaternions relative to rest (Blender ``rotation_quaternion``);
    root_location: (T, 3) location of the pelvis bone in its rest axes, metres (Blender ``location``);
    travel: (bone, (T, 3) location in its rest axes) of a bone above the pelvis that carries the travel
    (:func:`move_travel_to_root`).
    """
    t = rotations.shape[0]
    local = quat_to_matrix(rotations)
    deltas = np.empty((t, len(rest.bone_names), 3, 3))
    heads = np.empty((t, len(rest.bone_names), 3))
    located = {hub_bone(rest): root_location} | ({travel[0]: travel[1]} if travel is not None else {})
    for b, p in enumerate(rest.parents):
        r = rest.matrices[b]
        g_par = deltas[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        turn = g_par if b not in rest.no_inherit else np.broadcast_to(np.eye(3), (t, 3, 3))
        deltas[:, b] = np.matmul(turn, r @ local[:, b] @ r.T)
        base = heads[:, p] + _mv(g_par, rest.heads[b] - rest.heads[p]) if p >= 0 else rest.heads[b][None]
        if located.get(b) is not None:
            base = base + _mv(g_par, located[b] @ r.T)
        heads[:, b] = base
    return heads, deltas


def joints_from_pose(rest: RestPose, heads: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Return (T, 17, 3) H36M joint positions from posed bone ``heads`` (T, B, 3) and deltas (T, B, 3, 3)."""
    idx = [rest.index(j) for j in JOINT_NAMES]
    out = heads[:, idx].copy()
    if rest.mapping["head"] == rest.mapping["neck"]:
        b = rest.index("head")
        out[:, J["head"]] = heads[:, b] + _mv(deltas[:, b], head_top_offset(rest))
    return out


MAX_REST_BEND_DEG = 50.0
"""A humanoid rig's rest spine (pelvis -> thorax) and legs (ankles -> hips) point the same way within this."""


def check_upright(rest: RestPose, name: str = "the armature") -> None:
    """Raise RigError unless the rest pose has a standing body's shape: the spine going on from the legs, the way
    they point (whatever the axes: a rig lying in the scene, or Y-up bone data, still passes).

    Bone names alone can call a quadruped's bones thigh and spine (its spine runs across its legs); baked as a
    standing human it would be stood up silently. T-, A- and slightly crouched rest poses all pass."""
    j = rest.joint_positions()
    spine = j[J["thorax"]] - j[J["pelvis"]]
    legs = 0.5 * (j[J["l_hip"]] + j[J["r_hip"]]) - 0.5 * (j[J["l_ankle"]] + j[J["r_ankle"]])
    cos = float(spine @ legs) / max(float(np.linalg.norm(spine) * np.linalg.norm(legs)), EPS)
    bend = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    if bend > MAX_REST_BEND_DEG:
        raise RigError(f"{name}: its rest pose is not a standing humanoid (the spine turns {bend:.0f} degrees from "
                       "the legs, as a four-legged body's does); capture motion drives a standing person's skeleton: "
                       "use a humanoid rig")


MAX_TOES_TO_BACK_DEG = 135.0
"""Both feet's toes pointing more than this from the front the left/right bones make: the sides are swapped."""


def _toes(rest: RestPose, ankle: int) -> np.ndarray:
    """Return the point the foot bone ``ankle`` reaches for: its children's heads and tails (the toes), else its
    own tail (a foot imported without children)."""
    children = np.flatnonzero(rest.parents == ankle)
    if len(children):
        return np.concatenate([rest.heads[children], rest.tails[children]]).mean(axis=0)
    return rest.tails[ankle]


MIN_PELVIS_HEIGHT = 0.5
"""The pelvis bone's head at least this share of the hips' height above the ankles (rigs' pelvis bones sit at the
hips, 1.0; an MMD centre bone about 0.8); lower is a root or floor bone mapped as the pelvis."""


def check_mapping_shape(rest: RestPose, name: str = "the armature") -> None:
    """Raise RigError unless the mapped bones make one body: each limb one chain (thigh above shin above foot, upper
    arm above forearm above hand), the pelvis above both legs and the spine, the left legs and arms on one side, and
    the toes pointing to the front that left and right make.

    A preset or the name guesser only maps rigs whose names say so; a hand-made mapping (the add-on's Custom
    Mapping, a mapping JSON) can swap left and right, cross the knees or name an IK control outside the leg, and
    that baked with no error: the character turned round, or its shins 65-80 degrees off. A mirrored character's
    rest pose comes here without its mirror (:func:`unmirror`)."""
    idx = {j: rest.index(j) for j in JOINT_NAMES}
    above = {j: _ancestors(rest, b) for j, b in idx.items()}
    bad = [" above ".join(chain) for chain in LIMBS
           if idx[chain[0]] not in above[chain[1]] or idx[chain[1]] not in above[chain[2]]]
    bad += [f"pelvis above {j}" for j in ("l_hip", "r_hip") if idx["pelvis"] not in above[j]]
    hub = hub_bone(rest)
    if hub < 0:
        bad.append("pelvis and thorax under one bone")
    if bad:
        raise RigError(f"{name}: the mapping's bones do not make one body: fix the mapping so that each joint's "
                       f"bone is below the one before it in the hierarchy (not so: {', '.join(bad)})")
    j = rest.joint_positions()
    ankles, hip_line = 0.5 * (j[J["l_ankle"]] + j[J["r_ankle"]]), 0.5 * (j[J["l_hip"]] + j[J["r_hip"]])
    legs = hip_line - ankles
    height = float((j[J["pelvis"]] - ankles) @ legs) / max(float(legs @ legs), EPS)
    if height < MIN_PELVIS_HEIGHT:  # root motion keys put that bone's head where the hips go: feet under the floor
        raise RigError(f"{name}: the bone mapped to the pelvis, {rest.bone_names[idx['pelvis']]!r}, sits at "
                       f"{100 * height:.0f} % of the hips' height above the ankles (a root or centre bone); map the "
                       "bone at the hips that the legs and spine hang from")
    if hub != idx["pelvis"]:  # the spine beside the pelvis bone, not under it: both must start at the waist
        start = _path(rest, hub, idx["thorax"], "spine")[0]
        gap = float(np.linalg.norm(rest.heads[start] - rest.heads[idx["pelvis"]]))
        gap /= max(float(np.linalg.norm(legs)), EPS)
        if gap > MAX_HUB_GAP:
            raise RigError(f"{name}: the bone mapped to the pelvis, {rest.bone_names[idx['pelvis']]!r}, is not above "
                           f"the spine and starts {100 * gap:.0f} % of the legs' length from it; map the bone at the "
                           "hips that the legs and spine hang from")
    hips, shoulders = j[J["l_hip"]] - j[J["r_hip"]], j[J["l_shoulder"]] - j[J["r_shoulder"]]
    if float(hips @ shoulders) < 0:
        raise RigError(f"{name}: the mapping puts the left hip and the left shoulder on opposite sides; swap the "
                       "left and right bones of the legs or of the arms in the mapping")
    up = normalize(j[J["thorax"]] - j[J["pelvis"]])
    front = normalize(np.cross(normalize(hips) + normalize(shoulders), up))
    turned = []
    for ankle in (idx["l_ankle"], idx["r_ankle"]):
        toes = _toes(rest, ankle) - rest.heads[ankle]
        flat = toes - (toes @ up) * up
        if np.linalg.norm(flat) > 0.3 * np.linalg.norm(toes) > EPS:  # a foot that points somewhere level
            turned.append(float(np.degrees(np.arccos(np.clip(normalize(flat) @ front, -1.0, 1.0)))))
    if len(turned) == 2 and min(turned) > MAX_TOES_TO_BACK_DEG:
        raise RigError(f"{name}: the mapping's left and right look swapped (the toes point backwards from the front "
                       "they make); map the character's own left bones to the l_ joints")


def head_top_offset(rest: RestPose) -> np.ndarray:
    """Return the rest head top's offset from the head bone's head, for a rig with no head-top bone (head and neck
    mapped to one bone): the bone's length, straight up the rest body (pelvis -> thorax), not along the bone. The
    tail of a head bone imported from FBX without bone orientation points anywhere (often forwards); taken as the
    head top, it tipped the baked head back to look at the sky."""
    b = rest.index("head")
    up = rest.heads[rest.index("thorax")] - rest.heads[rest.index("pelvis")]
    length = float(np.linalg.norm(rest.tails[b] - rest.heads[b]))
    return length * up / max(float(np.linalg.norm(up)), EPS)


@dataclass
class RetargetResult:
    """Output of :func:`retarget`.

    rotations: (T, B, 4) local w-x-y-z quaternions per rest bone (identity where not driven);
    driven: indices of the bones to key; root_bone: the bone keyed in location (the pelvis, or :func:`hub_bone`);
    root_location: (T, 3) pelvis-bone ``location`` in its rest axes, metres (zeros without root motion);
    translation: (T, 3) the pelvis's whole displacement in character space, metres;
    travel_bone: the bone above the pelvis that carries the travel over the ground (:func:`move_travel_to_root`), or
    -1 (the pelvis carries it); travel_location: (T, 3) that bone's ``location`` in its rest axes, metres.
    """

    bone_names: tuple[str, ...]
    rotations: np.ndarray
    driven: tuple[int, ...]
    root_bone: int
    root_location: np.ndarray
    translation: np.ndarray
    travel_bone: int = -1
    travel_location: np.ndarray | None = None


def _ancestors(rest: RestPose, b: int) -> list[int]:
    """Return bone ``b`` and its ancestors, ``b`` first, the top bone last."""
    out = []
    while b >= 0:
        out.append(b)
        b = int(rest.parents[b])
    return out


def _path(rest: RestPose, top: int, bottom: int, what: str) -> list[int]:
    """Return bones strictly below ``top`` down to ``bottom`` inclusive, top to bottom."""
    chain = _ancestors(rest, bottom)
    if top not in chain:
        raise RigError(f"{what}: bone {rest.bone_names[bottom]!r} is not below {rest.bone_names[top]!r}; "
                       "the mapping does not fit this armature's hierarchy")
    return chain[: chain.index(top)][::-1]


MAX_HUB_GAP = 0.4
"""A pelvis bone beside the spine rather than under it (:func:`hub_bone`) must start within this share of the legs'
length (hips to ankles) of where the spine starts: MMD's lower and upper body bones both start at the waist, and a
game rig's pelvis bone beside its spine may start at the crotch, 25-30 % below a spine starting at the navel."""


def hub_bone(rest: RestPose) -> int:
    """Return the bone that takes the root motion's location keys: the pelvis bone, or, where the spine does not hang
    from it but beside it (MMD: the legs on ``下半身``, the spine on ``上半身``, both under ``センター``), the
    bones' nearest common parent, which moves the whole body. -1 where they share no parent.

    Why not key the common parent as the pelvis: MMD's centre bone sits well below the hips, so the hips would turn
    about the wrong point, and the lower-body bone, which the hips' mesh follows, would stay at rest."""
    pelvis = rest.index("pelvis")
    above = _ancestors(rest, rest.index("thorax"))
    return pelvis if pelvis in above else next((b for b in _ancestors(rest, pelvis) if b in above), -1)


@dataclass
class BonePlan:
    """Which rest bones retargeting drives: pelvis, spine chain (pelvis, chest], neck chain, head, limbs.

    limbs: (upper bone, lower bone, joint a, joint b, joint c); feet: the two ankle bones;
    anchor: nearest driven ancestor (or -1) of each driven bone.
    """

    pelvis: int
    chest: int
    spine: list[int]
    neck: list[int]
    head: int
    limbs: list[tuple[int, int, str, str, str]]
    feet: list[int]
    anchor: dict[int, int]


def plan_bones(rest: RestPose) -> BonePlan:
    """Return the BonePlan of ``rest``; RigError if the mapping does not fit its hierarchy."""
    pelvis, head = rest.index("pelvis"), rest.index("neck")
    la, ra = _ancestors(rest, rest.index("l_shoulder")), _ancestors(rest, rest.index("r_shoulder"))
    chest = next((b for b in la if b in ra), -1)
    if chest < 0:
        raise RigError("the two upper-arm bones share no parent bone; check the rig mapping")
    hub = hub_bone(rest)
    if hub < 0:
        raise RigError("the pelvis and the neck bones share no parent bone; check the rig mapping")
    spine = _path(rest, hub, chest, "spine") if chest != hub else []
    la, ra = _ancestors(rest, rest.index("l_hip")), _ancestors(rest, rest.index("r_hip"))
    legs = next((b for b in la if b in ra), -1)
    if legs in spine and legs != chest:  # thighs on a spine bone above the pelvis (3ds Max Biped): it and the
        spine = spine[spine.index(legs) + 1:]  # bones below it stay with the pelvis, so the hip line does too
    neck = _path(rest, chest, head, "neck")[:-1]
    limbs = [(rest.index(a), rest.index(b), a, b, c) for a, b, c in LIMBS]
    feet = [f for f in (rest.index("l_ankle"), rest.index("r_ankle")) if f not in (pelvis, head)]
    driven = {pelvis, head, *spine, *neck, *(x for lb in limbs for x in lb[:2]), *feet}
    anchor = {}
    for b in driven:
        p = int(rest.parents[b])
        while p >= 0 and p not in driven:
            p = int(rest.parents[p])
        anchor[b] = p
    return BonePlan(pelvis, chest, spine, neck, head, limbs, feet, anchor)


def _torso_frames(j: np.ndarray, through_spine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return pelvis and chest frames (..., 3, 3) of H36M joints ``j`` (..., 17, 3): the pelvis's up from the hips'
    middle to the spine joint, the chest's from the spine joint to the thorax; without ``through_spine`` both from
    the hips' middle to the thorax (:func:`spine_joint_usable`)."""
    mid_hip = 0.5 * (j[..., J["l_hip"], :] + j[..., J["r_hip"], :])
    waist = j[..., J["spine"], :] if through_spine else mid_hip  # where the pelvis's up ends and the chest's starts
    pelvis = frame_from(j[..., J["l_hip"], :] - j[..., J["r_hip"], :],
                        (waist if through_spine else j[..., J["thorax"], :]) - mid_hip)
    shoulders = j[..., J["l_shoulder"], :] - j[..., J["r_shoulder"], :]
    chest = frame_from(shoulders, j[..., J["thorax"], :] - waist)
    return pelvis, chest


MIN_SPINE_RISE = 0.05
"""The rest spine joint this share of the legs' length above the hips' middle, and the thorax as far above the spine
joint, at least, for the torso's frames to go through it; else they span the hips' middle to the thorax."""


def spine_joint_usable(j0: np.ndarray) -> bool:
    """True when a rig's rest joints (17, 3) have their spine joint clearly between the hips and the thorax. A rig
    with no bone between its hips and chest (a small game's ``Root`` -> ``Chest``) maps the spine to the hips' own
    bone, at the hips' middle: the pelvis frame's up was then a zero vector, and a baked torso came out upside down
    (177 degrees off)."""
    mid_hip = 0.5 * (j0[J["l_hip"]] + j0[J["r_hip"]])
    legs = mid_hip - 0.5 * (j0[J["l_ankle"]] + j0[J["r_ankle"]])
    reach = float(np.linalg.norm(legs))
    rise = legs / max(reach, EPS)
    return bool(float((j0[J["spine"]] - mid_hip) @ rise) > MIN_SPINE_RISE * reach
                and float((j0[J["thorax"]] - j0[J["spine"]]) @ rise) > MIN_SPINE_RISE * reach)


def _head_frame(j: np.ndarray, nose: bool) -> np.ndarray:
    """Return head frames (..., 3, 3): neck -> head-top, lateral from the shoulder line.

    With ``nose`` (the neck joint is the nose): the lateral axis comes from the thorax-nose-top plane
    where that is well defined (head yaw), and the up axis is leaned forward by NOSE_TOP_TILT_DEG.
    """
    up = j[..., J["head"], :] - j[..., J["neck"], :]
    lateral = normalize(j[..., J["l_shoulder"], :] - j[..., J["r_shoulder"], :])
    if nose:
        a, b = j[..., J["head"], :] - j[..., J["thorax"], :], j[..., J["neck"], :] - j[..., J["thorax"], :]
        plane = np.cross(a, b)
        sin = np.linalg.norm(plane, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), EPS)
        plane = normalize(plane)
        w = np.clip((sin - 0.1) / 0.1, 0, 1) * np.clip((np.sum(plane * lateral, -1) - 0.3) / 0.3, 0, 1)
        lateral = normalize(w[..., None] * plane + (1 - w[..., None]) * lateral)
        up = _mv(axis_angle_matrix(lateral, np.full(up.shape[:-1], np.radians(NOSE_TOP_TILT_DEG))), up)
    return frame_from(up, lateral)


def _fit_spine(rest: RestPose, plan: BonePlan, g: dict, j: np.ndarray, j0: np.ndarray) -> None:
    """Swing the inner spine bones so pelvis -> thorax (or neck base) follows the motion (ray-sphere solve)."""
    pts = [plan.pelvis] + plan.spine + [plan.neck[0] if plan.neck else plan.head]
    thorax = rest.index("thorax")
    end = pts.index(thorax, 1) if thorax in pts[1:] else len(pts) - 1
    free = [i for i in range(1, end) if pts[i] != plan.chest]
    if not free:
        return
    offs = [_mv(g[pts[i]], rest.heads[pts[i + 1]] - rest.heads[pts[i]]) for i in range(end)]
    if hub_bone(rest) != plan.pelvis:  # the spine beside the pelvis bone: it starts where the hub, unturned, holds it
        offs[0] = np.broadcast_to(rest.heads[pts[1]] - rest.heads[pts[0]], offs[0].shape)
    k = sum(o for i, o in enumerate(offs) if i not in free)
    p = sum(offs[i] for i in free)
    swing = rotation_between(j0[J["thorax"]] - j0[J["pelvis"]], j[:, J["thorax"]] - j[:, J["pelvis"]])
    c = normalize(_mv(swing, rest.heads[pts[end]] - rest.heads[plan.pelvis]))
    ck = np.sum(c * k, -1)
    lam = ck + np.sqrt(np.maximum(ck**2 - np.sum(k * k, -1) + np.sum(p * p, -1), 0.0))
    s = rotation_between(p, lam[:, None] * c - k)
    for i in free:
        g[pts[i]] = np.matmul(s, g[pts[i]])


def _limb(rest: RestPose, plan: BonePlan, g: dict, j: np.ndarray, j0: np.ndarray, fwd: np.ndarray,
          limb: tuple[int, int, str, str, str]) -> None:
    """Set world deltas of one limb's upper and lower bones in ``g``: aim, then hinge-plane twist."""
    upper, lower, a, b, c = limb
    t = j.shape[0]
    eye = np.broadcast_to(np.eye(3), (t, 3, 3))
    r1, r2 = j0[J[b]] - j0[J[a]], j0[J[c]] - j0[J[b]]
    v1, v2 = j[:, J[b]] - j[:, J[a]], j[:, J[c]] - j[:, J[b]]
    g_par = g.get(plan.anchor[upper], eye)
    g_up = np.matmul(rotation_between(_mv(g_par, r1), v1), g_par)
    hinge_rest = normalize(np.cross(r1, fwd if "shoulder" in a else -fwd))
    u1 = normalize(v1)
    bend = np.cross(u1, normalize(v2))
    sin_bend = np.linalg.norm(bend, axis=-1)
    h = _mv(g_up, hinge_rest)
    h = normalize(h - np.sum(h * u1, -1, keepdims=True) * u1)
    n = bend / np.maximum(sin_bend, EPS)[:, None]
    phi = np.arctan2(np.sum(u1 * np.cross(h, n), -1), np.sum(h * n, -1))
    g[upper] = np.matmul(axis_angle_matrix(u1, _held_twist(phi, sin_bend)), g_up)
    g_par = g[plan.anchor[lower]] if plan.anchor[lower] in g else g_par
    g[lower] = np.matmul(rotation_between(_mv(g_par, r2), v2), g_par)


def _held_twist(phi: np.ndarray, sin_bend: np.ndarray) -> np.ndarray:
    """Return (T,) twist angles about the upper bone: ``phi``, the twist that lines the hinge up with the bend,
    where the limb is clearly bent (HINGE_FADE's upper end); elsewhere the twist of the clearly bent frames on
    either side (interpolated, held at the ends; 0 throughout when no frame is clearly bent), drawn towards
    ``phi`` as much as the bend shows and as far as ``phi`` agrees with it. A slight bend is read either way of
    the hinge (the 3D a little over-straight, not the arm turned half round), whichever is nearer that twist.

    Why: a nearly straight elbow's bend plane is noise. On a real dance clip it swung 95 degrees in one frame, and
    the twist following it spun the upper arm 150 degrees out and back in 0.3 s (a candy-wrapper pop on a skinned
    arm); fading the twist to zero there, as before, still snapped it between frames. Every weight here changes
    continuously with the motion, so the twist does too."""
    w = np.clip((sin_bend - HINGE_FADE[0]) / (HINGE_FADE[1] - HINGE_FADE[0]), 0.0, 1.0)
    t = np.arange(len(phi))
    clear = w >= 1.0
    if not clear.any():
        return w * phi
    held = np.interp(t, t[clear], np.unwrap(phi[clear]))
    agree = np.cos(phi - held)
    p = np.where(agree < 0.0, phi + np.pi, phi)  # either way of the hinge: the nearer
    w = np.where(clear, 1.0, w * np.abs(agree))  # a reading across the held twist says nothing about its side
    return np.angle(w * np.exp(1j * p) + (1.0 - w) * np.exp(1j * held))


FOOT_LEVEL_TILT_DEG = (60.0, 100.0)
"""A shin up to the first angle from straight down keeps its foot level (a deep squat tilts it 50); from the second
on (feet up, a cartwheel, upside down) the foot keeps its rest relation to the shin, and in between (sitting with
the legs out, kneeling) it turns from the one to the other. Held level whatever the shin did, a foot over an
inverted shin was bent 125-179 degrees at the ankle."""
LYING_REST_DEG = 45.0
"""A rest body (pelvis -> thorax) further than this from straight up is a rig lying in the scene: its feet are
stood up with it before they are levelled."""


def _stand_up(j0: np.ndarray) -> np.ndarray:
    """Return the (3, 3) rotation that stands a rest body lying in the scene up (pelvis -> thorax onto +Z), or the
    identity for one standing (whose slight rest lean its feet keep)."""
    up = normalize(j0[J["thorax"]] - j0[J["pelvis"]])
    if up[2] >= np.cos(np.radians(LYING_REST_DEG)):
        return np.eye(3)
    return rotation_between(up, np.array([0.0, 0.0, 1.0]))


def standing_ankle_heights(rest: RestPose) -> np.ndarray:
    """Return the rig's (left, right) ankle heights, metres, above the floor (z = 0) it stands on: the rest ankles'
    heights, or, for a rig lying in the scene (:func:`_stand_up`), the usual ankle height for its stature stood up
    (core.world.ANKLE_HEIGHT_RATIO). Taken from the lying rest, the feet were pinned to the floor and the legs bent
    to reach it."""
    from core.world import ANKLE_HEIGHT_RATIO

    j0 = rest.joint_positions()
    stand = _stand_up(j0)
    if np.array_equal(stand, np.eye(3)):
        return j0[[J["l_ankle"], J["r_ankle"]], 2].copy()
    up = j0 @ stand.T
    above_ankles = up[J["head"], 2] - 0.5 * (up[J["l_ankle"], 2] + up[J["r_ankle"], 2])
    return np.full(2, ANKLE_HEIGHT_RATIO / (1.0 - ANKLE_HEIGHT_RATIO) * above_ankles)


def _level_foot(g_shin: np.ndarray, g_pelvis: np.ndarray, fwd: np.ndarray, stand: np.ndarray,
                shin_rest: np.ndarray) -> np.ndarray:
    """Return (T, 3, 3) foot world deltas: stood up with the rest body (``stand``, :func:`_stand_up`), then a turn
    about Z (up) only, towards where the shin (else pelvis) faces, while the shin (rest direction ``shin_rest``,
    knee -> ankle) points down; over a tilted shin it turns to follow the shin (:data:`FOOT_LEVEL_TILT_DEG`)."""
    up_fwd = stand @ fwd
    flat = np.array([up_fwd[0], up_fwd[1], 0.0]) / max(float(np.hypot(up_fwd[0], up_fwd[1])), EPS)
    shin, pelvis = _mv(g_shin, fwd)[:, :2], _mv(g_pelvis, fwd)[:, :2]
    w = np.clip((np.linalg.norm(shin, axis=-1) - 0.2) / 0.3, 0.0, 1.0)[:, None]
    f = w * normalize(shin) + (1 - w) * normalize(pelvis)
    yaw = np.arctan2(flat[0] * f[:, 1] - flat[1] * f[:, 0], flat[0] * f[:, 0] + flat[1] * f[:, 1])
    level = axis_angle_matrix(np.broadcast_to([0.0, 0.0, 1.0], f.shape[:-1] + (3,)), yaw) @ stand
    down = -normalize(_mv(g_shin, shin_rest))[:, 2]
    lo, hi = np.cos(np.radians(FOOT_LEVEL_TILT_DEG))
    v = np.clip((down - hi) / (lo - hi), 0.0, 1.0)
    return np.matmul(g_shin, rotation_fraction(np.matmul(_inv(g_shin), level), v))


def _world_deltas(rest: RestPose, plan: BonePlan, j: np.ndarray, nose: bool,
                  level_feet: bool) -> dict[int, np.ndarray]:
    """Return {bone index: (T, 3, 3) world delta} for every driven bone."""
    j0 = rest.joint_positions()
    through = spine_joint_usable(j0)  # the motion's frames built as the rig's are
    rest_p, rest_c = _torso_frames(j0, through)
    src_p, src_c = _torso_frames(j, through)
    g = {plan.pelvis: np.matmul(src_p, rest_p.T)}
    g_chest = np.matmul(src_c, rest_c.T)
    rel = np.matmul(_inv(g[plan.pelvis]), g_chest)
    for i, b in enumerate(plan.spine, 1):
        g[b] = np.matmul(g[plan.pelvis], rotation_fraction(rel, i / len(plan.spine)))
    _fit_spine(rest, plan, g, j, j0)
    g_top = g.get(plan.chest, g[plan.pelvis])
    g_head = np.matmul(_head_frame(j, nose), _head_frame(j0, False).T)
    rel = np.matmul(_inv(g_top), g_head)
    for i, b in enumerate(plan.neck, 1):
        g[b] = np.matmul(g_top, rotation_fraction(rel, i / (len(plan.neck) + 1)))
    g[plan.head] = g_head
    fwd = normalize(np.cross(j0[J["l_hip"]] - j0[J["r_hip"]], j0[J["thorax"]] - j0[J["pelvis"]]))
    for limb in plan.limbs:
        _limb(rest, plan, g, j, j0, fwd, limb)
    stand = _stand_up(j0)
    for foot in plan.feet:
        g_par = g.get(plan.anchor[foot], g[plan.pelvis])
        side = "l" if foot == rest.index("l_ankle") else "r"
        shin_rest = j0[J[f"{side}_ankle"]] - j0[J[f"{side}_knee"]]
        g[foot] = _level_foot(g_par, g[plan.pelvis], fwd, stand, shin_rest) if level_feet else g_par
    return g


def lock_rig_feet(rest: RestPose, res: RetargetResult, contacts: np.ndarray, blend_frames: int = 9,
                  on_rest_ground: bool = False, max_swing: int = 45) -> RetargetResult:
    """Return ``res`` with the rig's planted ankles pinned (two-bone leg IK on the rig's own bones).

    contacts: (T, 2) bool, left and right foot planted (motion meta ``contacts``). Directions-only
    retargeting moves a planted foot a little wherever the rig's proportions differ from the motion's;
    this holds each planted ankle at its mean horizontal position over the contact by turning the thigh
    and shin bones (the foot keeps its world orientation), with the motion's own lock rules
    (core.contact.lock_offsets: the heel may rise, offsets ease across swings up to ``max_swing``
    frames, ``blend_frames`` of fade elsewhere).
    ``on_rest_ground``: hold the ankle at the rest ankles' height (motions in a ground-aligned world),
    rising only by what the retargeted ankle rises above its median height in that contact, except on a
    raised level (a contact :data:`core.contact.RAISED_M` or more above it: held at its own median height);
    else its height is left as retargeted.
    """
    from core.contact import RAISED_M, lock_offsets, runs, two_bone_ik

    plan = plan_bones(rest)
    heads, deltas = forward_kinematics(rest, res.rotations, res.root_location)
    rotations = res.rotations.copy()
    floor_heights = standing_ankle_heights(rest)
    for (upper, lower, *_), ankle_name, f in zip(plan.limbs[:2], ("l_ankle", "r_ankle"), range(2), strict=True):
        ankle = rest.index(ankle_name)
        contact = np.asarray(contacts[:, f], bool)
        spans = runs(contact)
        if not spans or plan.anchor[upper] < 0 or plan.anchor[lower] != upper or ankle not in plan.feet:
            continue  # nothing planted, or a leg chain this simple IK does not cover
        z = heads[:, ankle, 2]
        floors = [float(np.median(z[s: e + 1])) if on_rest_ground else float(z[s: e + 1].min()) for s, e in spans]
        ground = floor_heights[f]  # a contact well above it is on a box or a step: held at its own height
        pins = [np.r_[heads[s: e + 1, ankle, :2].mean(axis=0),
                      ground if on_rest_ground and floor < ground + RAISED_M else floor]
                for (s, e), floor in zip(spans, floors, strict=True)]
        hip, knee, ank = heads[:, upper], heads[:, lower], heads[:, ankle]
        target = ank + lock_offsets(ank, contact, pins, blend_frames, max_swing, rise_from=floors)
        new_knee, new_ank = two_bone_ik(hip, knee, ank, target)  # the motion's IK; the rig needs its rotations
        r1 = rotation_between(knee - hip, new_knee - hip)
        r2 = rotation_between(_mv(r1, ank - knee), new_ank - new_knee)
        g_up, g_low = np.matmul(r1, deltas[:, upper]), np.matmul(r2, np.matmul(r1, deltas[:, lower]))
        for b, g_b, g_par in ((upper, g_up, deltas[:, plan.anchor[upper]]), (lower, g_low, g_up),
                              (ankle, deltas[:, ankle], g_low)):
            if not rest.turns_with(b, plan.anchor[b]):
                g_par = np.broadcast_to(np.eye(3), g_par.shape)
            r = rest.matrices[b]
            rotations[:, b] = make_continuous(matrix_to_quat(r.T @ np.matmul(_inv(g_par), g_b) @ r))
    return replace(res, rotations=rotations)


UNDER_FLOOR_M = 0.1
"""A rig's hand or head top further than this under its floor (its rest pose's lowest bone point) is said by the
bake: a hand on the floor is a few centimetres over it."""


def under_floor(rest: RestPose, res: RetargetResult, margin: float = UNDER_FLOOR_M) -> np.ndarray:
    """Return (T,) metres by which the rig's lowest hand or head top is under its floor (the rest pose's lowest bone
    point) beyond ``margin``, 0 where it is not. Directions are copied, not reach: a chibi's arms, long for its legs,
    go 35-46 cm under the floor where the captured person reaches down or crouches, while a person's do not."""
    travel = (res.travel_bone, res.travel_location) if res.travel_bone >= 0 and res.travel_location is not None \
        else None
    heads, deltas = forward_kinematics(rest, res.rotations, res.root_location, travel)
    j = joints_from_pose(rest, heads, deltas)
    floor = float(min(rest.heads[:, 2].min(), rest.tails[:, 2].min()))
    ends = [rest.index(name) for name in ("l_wrist", "r_wrist")]  # the hands reach on past the wrist: their tails
    tails = heads[:, ends] + np.einsum("tbij,bj->tbi", deltas[:, ends], rest.tails[ends] - rest.heads[ends])
    lowest = np.minimum(j[:, [J["l_wrist"], J["r_wrist"], J["head"]], 2].min(axis=1), tails[..., 2].min(axis=1))
    return np.maximum(floor - margin - lowest, 0.0)


def unmirror(linear: np.ndarray) -> np.ndarray | None:
    """Return the reflection (3x3) across a vertical plane that makes a mirroring object transform ``linear`` proper
    (``reflection @ linear`` has a positive determinant), or None where ``linear`` does not mirror.

    A character mirrored by a negative object scale (a left-handed copy) shows its ``.L`` bones on its right. Its
    rest pose taken through that transform has left-handed bone frames, on which rotations mean nothing: the bake
    turned its torso and feet round. The bake retargets onto the rig without the mirror instead, with the motion
    mirrored across the same plane (:func:`mirror_motion`), so the mirrored character shows the motion as filmed. The
    plane is the rig's own left-right axis, levelled, so heights and the floor stay as they are."""
    lin = np.asarray(linear, dtype=np.float64)
    if float(np.linalg.det(lin)) >= 0:
        return None
    for axis in (lin[:, 0], lin[:, 1], np.array([1.0, 0.0, 0.0])):  # a rig's left-right axis is its local X
        n = np.array([axis[0], axis[1], 0.0])
        if np.linalg.norm(n) > 1e-6 * max(float(np.linalg.norm(axis)), EPS):
            break
    n /= np.linalg.norm(n)
    return np.eye(3) - 2.0 * np.outer(n, n)


def mirror_motion(joints: np.ndarray, root: np.ndarray | None, contacts: np.ndarray | None,
                  reflection: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Return ``joints`` (T, 17, 3), ``root`` (T, 3) and per-foot ``contacts`` (T, 2: left, right) reflected by
    ``reflection`` (from :func:`unmirror`) with left and right swapped: the motion the un-mirrored rig makes so that
    its mirror image, the character as the scene shows it, makes the motion as filmed (the subject's left hand on
    the character's visual left, its ``.R`` bone there)."""
    from core.skeleton import FLIP_PERM

    joints = np.asarray(joints, dtype=np.float64)[:, FLIP_PERM] @ reflection.T
    root = None if root is None else np.asarray(root, dtype=np.float64) @ reflection.T
    contacts = None if contacts is None else np.asarray(contacts)[:, ::-1].copy()
    return joints, root, contacts


def motion_to_world(points: np.ndarray, world_from_camera: np.ndarray | list | None = None,
                    translate: bool = True) -> np.ndarray:
    """Return camera-frame ``points`` (..., 3) metres in character space (Blender axes, Z up), metres.

    With a motion file's ``meta["world_from_camera"]`` (4x4, docs/FORMATS.md) the points go to that Z-up
    world, whose ground is z = 0, so a pitched or rolled camera does not tilt the character (``translate``
    False for root-relative joints: rotation only); without it, the fixed camera -> Blender axes swap.
    """
    from core.frames import camera_to_blender

    if world_from_camera is None:
        return camera_to_blender(points)
    m = np.asarray(world_from_camera, dtype=np.float64)
    rot = m[:3, :3] if m.shape == (4, 4) else np.zeros((3, 3))
    if not np.all(np.isfinite(m)) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4):
        raise ValueError(f"world_from_camera must be a finite rigid 4x4 matrix, got shape {m.shape}")
    out = np.asarray(points, dtype=np.float64) @ rot.T
    return out + m[:3, 3] if translate else out


def leg_length(joints: np.ndarray) -> float:
    """Return the median hip-knee-ankle length, metres, of H36M ``joints`` (T, 17, 3) or (17, 3), both legs."""
    j = joints.reshape(-1, NUM_JOINTS, 3)
    total = [np.linalg.norm(j[:, J[f"{s}_knee"]] - j[:, J[f"{s}_hip"]], axis=-1)
             + np.linalg.norm(j[:, J[f"{s}_ankle"]] - j[:, J[f"{s}_knee"]], axis=-1) for s in "lr"]
    return float(np.median(0.5 * (total[0] + total[1])))


def root_translation(joints: np.ndarray, root: np.ndarray | None, rest: RestPose,
                     in_place: bool = False, ankle_height: float | None = None) -> np.ndarray:
    """Return (T, 3) pelvis displacement, metres, character space, scaled by target / source leg length.

    joints: (T, 17, 3) root-relative joints, metres, character space (Z up); root: (T, 3) pelvis
    positions in the same axes (NaN where unknown) or None. With a finite root the displacement
    follows it (relative to its first known frame, NaN frames interpolated); the vertical start and,
    without a root, the whole vertical track come from the hip height above the lower ankle
    compared with the leg length (0 when standing straight). ``ankle_height`` (metres, a planted
    ankle's height in a world whose ground is z = 0, motion meta ``ground.ankle_height_m``) makes the
    vertical track absolute instead: planted ankles land on the rig's rest ankle height even when the
    clip starts in mid-air. ``in_place`` zeroes the horizontal part.
    """
    t = joints.shape[0]
    src_leg = leg_length(joints)
    rest_j = rest.joint_positions()
    scale = leg_length(rest_j) / max(src_leg, EPS)
    # A rig lying in the scene is stood up about its pelvis bone: where its hips then sit, and how far that is
    # below where they stand on the floor (both zero for a standing rig).
    stand = _stand_up(rest_j)
    up = (rest_j - rest_j[J["pelvis"]]) @ stand.T
    mid = 0.5 * (up[J["l_hip"]] + up[J["r_hip"]])
    hip_rest = rest_j[J["pelvis"], 2] + mid[2]
    ankles = standing_ankle_heights(rest)
    lift = float(ankles.mean()) + mid[2] - 0.5 * (up[J["l_ankle"], 2] + up[J["r_ankle"], 2]) - hip_rest
    mid_hip = 0.5 * (joints[:, J["l_hip"], 2] + joints[:, J["r_hip"], 2])
    height = mid_hip - np.minimum(joints[:, J["l_ankle"], 2], joints[:, J["r_ankle"], 2])
    vertical = scale * (height - src_leg)
    out = np.zeros((t, 3))
    ok = np.zeros(t, bool) if root is None else np.all(np.isfinite(root), axis=-1)
    if ok.any():
        frames = np.arange(t)
        filled = np.stack([np.interp(frames, frames[ok], root[ok, k]) for k in range(3)], -1)
        out = scale * (filled - filled[np.argmax(ok)])
        out[:, 2] += vertical[0] + lift
        if ankle_height is not None:
            out[:, 2] = float(ankles.mean()) + scale * (filled[:, 2] - ankle_height) - hip_rest
    else:
        out[:, 2] = vertical + lift
    if in_place:
        out[:, :2] = 0.0
    return out


def retarget(joints: np.ndarray, rest: RestPose, root: np.ndarray | None = None, root_motion: bool = True,
             in_place: bool = False, nose_neck: bool = True, level_feet: bool = True,
             ankle_height: float | None = None) -> RetargetResult:
    """Return per-bone local rotations (and pelvis location) that pose ``rest`` like ``joints``.

    joints: (T, 17, 3) H36M positions, metres, character space (Blender world axes: Z up, the
    subject faces -Y), any origin; root: optional (T, 3) pelvis positions, same axes, NaN allowed.
    Only directions are matched; the rig keeps its bone lengths. Quaternions are sign-continuous in time.
    ``nose_neck``: the H36M neck joint is the nose (lifter output); False when it is the skull base
    (joints made by FK of a rig, as in tests). ``level_feet``: H36M has no toes, so feet keep their
    rest tilt (flat) and only turn with the shin; False makes them follow the shin rigidly.
    ``ankle_height``: see :func:`root_translation` (motions in a ground-aligned world).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or joints.shape[0] < 1:
        raise ValueError(f"joints must be (T, 17, 3), got {joints.shape}")
    rel = joints - joints[:, J["pelvis"]][:, None]
    plan = plan_bones(rest)
    g = _world_deltas(rest, plan, rel, nose_neck, level_feet)
    t, nb = joints.shape[0], len(rest.bone_names)
    rotations = np.zeros((t, nb, 4))
    rotations[..., 0] = 1.0
    eye = np.eye(3)
    for b, gb in g.items():
        r = rest.matrices[b]
        g_par = g.get(plan.anchor[b], eye) if rest.turns_with(b, plan.anchor[b]) else eye
        local = r.T @ np.matmul(_inv(g_par), gb) @ r
        rotations[:, b] = make_continuous(matrix_to_quat(local))
    translation = np.zeros((t, 3))
    if root_motion:
        translation = root_translation(rel, None if root is None else np.asarray(root, float), rest, in_place,
                                       ankle_height)
    hub = hub_bone(rest)
    anchor = next((b for b in _ancestors(rest, hub)[1:] if b in g), -1)
    g_par = g.get(anchor, eye) if rest.turns_with(hub, anchor) else eye
    location = _mv(_inv(np.matmul(g_par, rest.matrices[hub])), translation)
    return RetargetResult(rest.bone_names, rotations, tuple(sorted(g)), hub, location, translation)


def travel_bone(rest: RestPose) -> int:
    """Return the top bone above the pelvis bone (an Unreal-style ``root``), or -1 where the pelvis is a top bone."""
    chain = _ancestors(rest, hub_bone(rest))
    return chain[-1] if len(chain) > 1 else -1


ROOT_TURN_SMOOTH_S = 0.4
"""Std, seconds, of the Gaussian that smooths the heading the root bone takes with ``turn``
(:func:`move_travel_to_root`): the hips and shoulders swing to and fro once a stride; the root takes the body's
heading and the pelvis keeps the swing (at a walk's 0.9 strides a second 8 % of it reaches the root, at a run's 1.4
under 0.2 %); a quick turn on the spot is spread over about a second, which the pelvis makes up."""


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Return (T, ...) ``x`` smoothed along its first axis by a Gaussian of std ``sigma`` frames whose window stays
    centred on each frame, so it narrows towards the ends (the first and last frames are kept): a steady ramp is
    kept exactly to its ends, where holding the edge values would bend it (a clip that ends mid-turn would turn
    short). numpy only: this module runs inside Blender, whose Python has no scipy."""
    x = np.asarray(x, float)
    t = len(x)
    if sigma <= 0 or t < 3:
        return x.copy()
    r = min(int(np.ceil(4 * sigma)), (t - 1) // 2)
    total, weight = x.copy(), np.ones(t)
    for k in range(1, r + 1):
        w = np.exp(-0.5 * (k / sigma) ** 2)
        total[k:t - k] += w * (x[:t - 2 * k] + x[2 * k:])  # frame i takes i - k and i + k while both exist
        weight[k:t - k] += 2 * w
    return total / weight.reshape((t,) + (1,) * (x.ndim - 1))


def heading(joints: np.ndarray) -> np.ndarray:
    """Return (..., 2) the horizontal direction a body (H36M joints (..., 17, 3), Z up) faces, unnormalised: up x
    (the hip line + the shoulder line, left to right), as long as those lines lie level (near 0 for a body
    lying on its side)."""
    across = joints[..., J["r_hip"], :] - joints[..., J["l_hip"], :] + joints[..., J["r_shoulder"], :] \
        - joints[..., J["l_shoulder"], :]
    return np.stack([-across[..., 1], across[..., 0]], axis=-1)  # (0, 0, 1) x across


def root_turn(rest: RestPose, joints: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Return (T,) radians about Z: the heading of posed H36M ``joints`` (T, 17, 3) from the rest pose's, smoothed
    (the headings are averaged as vectors, so frames whose lines stand on end count little), continuous."""
    h = gaussian_smooth(heading(joints), sigma_frames)
    rest_h = heading(rest.joint_positions())
    ok = np.linalg.norm(h, axis=-1) > 1e-6
    if not ok.any():
        return np.zeros(len(h))
    angle = np.unwrap(np.arctan2(h[ok, 1], h[ok, 0])) - np.arctan2(rest_h[1], rest_h[0])
    return np.interp(np.arange(len(h)), np.flatnonzero(ok), angle)


def move_travel_to_root(rest: RestPose, res: RetargetResult, turn: bool = False, fps: float = 30.0
                        ) -> RetargetResult:
    """Return ``res`` with the travel over the ground (``translation``'s horizontal part, the hips' sway included)
    keyed on the top bone above the pelvis (:func:`travel_bone`) instead of on the pelvis, which keeps the height
    and every turn: game engines take root motion from that bone (Unreal's ``root``). With ``turn`` that bone also
    takes the body's heading about the vertical (:func:`root_turn`, smoothed over :data:`ROOT_TURN_SMOOTH_S` at
    ``fps``) and is keyed in rotation too; the pelvis keeps the rest of its turn. Every other bone stays where it
    was. ``res`` unchanged where the pelvis is a top bone. Run it last: :func:`lock_rig_feet` ignores the travel.

    The pelvis is re-posed to where it was: its rotation under the top bone's turn, then its location, the
    difference between where it was and where it lands with none, in its own posed axes (its parent's world delta
    times its rest matrix)."""
    top = travel_bone(rest)
    if top < 0:
        return res
    pelvis, parent = res.root_bone, int(rest.parents[res.root_bone])
    heads, deltas = forward_kinematics(rest, res.rotations, res.root_location)
    ground = res.translation.copy()
    ground[:, 2] = 0.0  # character space is Z up: the height stays on the pelvis
    travel = (top, ground @ rest.matrices[top])  # world -> the top bone's rest axes: R.T @ d
    rotations, driven = res.rotations, res.driven
    if turn:
        yaw = root_turn(rest, joints_from_pose(rest, heads, deltas), ROOT_TURN_SMOOTH_S * fps)
        c, s = np.cos(yaw), np.sin(yaw)
        z = np.zeros_like(yaw)
        turned = np.stack([c, -s, z, s, c, z, z, z, z + 1], axis=-1).reshape(-1, 3, 3)
        rotations = res.rotations.copy()
        r = rest.matrices[top]
        rotations[:, top] = make_continuous(matrix_to_quat(r.T @ turned @ r))
        _, turned_deltas = forward_kinematics(rest, rotations, None, travel)
        above = turned_deltas[:, parent] if pelvis not in rest.no_inherit else np.eye(3)
        r = rest.matrices[pelvis]
        rotations[:, pelvis] = make_continuous(matrix_to_quat(r.T @ np.matmul(_inv(above), deltas[:, pelvis]) @ r))
        driven = tuple(sorted({*res.driven, top, pelvis}))  # pelvis: the hub, which only had location keys
    landed, new_deltas = forward_kinematics(rest, rotations, None, travel)
    pelvis_axes = np.matmul(new_deltas[:, parent], rest.matrices[pelvis])
    root_location = _mv(_inv(pelvis_axes), heads[:, pelvis] - landed[:, pelvis])
    return replace(res, rotations=rotations, driven=driven, root_location=root_location, travel_bone=top,
                   travel_location=travel[1])
