"""BVH libraries -> H36M-17 training motion: name mapping, re-posing on realistic bodies, the cached CMU set.

A BVH skeleton is reduced to a *bone graph*: nodes (the root, the BVH joints on the paths to the mapped
joints, and virtual eyes/nose/head-top points fixed in the head's frame), each reached from its parent node
by a bone whose world direction per frame is cached as a unit vector. Positions on *any* body are then
``root + sum(length_k * dir_k)`` along the chain, so the motion is re-posed on bodies of other proportions
(same bone directions as the BVH, realistic lengths) without re-running the rotation FK.
World frame of the cache: metres, Y up (the file's up axis is detected and rotated to +Y).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bvh import BvhMotion, forward_kinematics, read_bvh
from core.errors import InputFileError, InputNotFoundError

log = logging.getLogger(__name__)

VALIDATION_SUBJECTS: tuple[str, ...] = ("02", "05", "15", "16", "26", "113", "127", "135")
"""Whole CMU subjects held out for validation: walk, run, jump, dance, everyday, sit/stand, sports, other."""

ROLES = ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_shoulder", "r_elbow", "r_wrist",
         "l_shoulder", "l_elbow", "l_wrist", "head")  # fmt: skip

NAME_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "daz_cmu": {  # the shared CMU set (Daz/MotionBuilder names)
        "r_hip": ("rThigh",), "r_knee": ("rShin",), "r_ankle": ("rFoot",),
        "l_hip": ("lThigh",), "l_knee": ("lShin",), "l_ankle": ("lFoot",),
        "r_shoulder": ("rShldr",), "r_elbow": ("rForeArm",), "r_wrist": ("rHand",),
        "l_shoulder": ("lShldr",), "l_elbow": ("lForeArm",), "l_wrist": ("lHand",), "head": ("head",),
    },
    "cmu_bvh": {  # B. Hahne's CMU BVH conversion
        "r_hip": ("RightUpLeg",), "r_knee": ("RightLeg",), "r_ankle": ("RightFoot",),
        "l_hip": ("LeftUpLeg",), "l_knee": ("LeftLeg",), "l_ankle": ("LeftFoot",),
        "r_shoulder": ("RightArm",), "r_elbow": ("RightForeArm",), "r_wrist": ("RightHand",),
        "l_shoulder": ("LeftArm",), "l_elbow": ("LeftForeArm",), "l_wrist": ("LeftHand",), "head": ("Head",),
    },
    "smpl": {  # SMPL / SMPL-X joint names (AMASS and other research exports): joints named by the joint itself
        "r_hip": ("R_Hip", "right_hip"), "r_knee": ("R_Knee", "right_knee"), "r_ankle": ("R_Ankle", "right_ankle"),
        "l_hip": ("L_Hip", "left_hip"), "l_knee": ("L_Knee", "left_knee"), "l_ankle": ("L_Ankle", "left_ankle"),
        "r_shoulder": ("R_Shoulder", "right_shoulder"), "r_elbow": ("R_Elbow", "right_elbow"),
        "r_wrist": ("R_Wrist", "right_wrist"), "l_shoulder": ("L_Shoulder", "left_shoulder"),
        "l_elbow": ("L_Elbow", "left_elbow"), "l_wrist": ("L_Wrist", "left_wrist"), "head": ("Head", "head"),
    },
    "mixamo": {
        "r_hip": ("mixamorig:RightUpLeg",), "r_knee": ("mixamorig:RightLeg",), "r_ankle": ("mixamorig:RightFoot",),
        "l_hip": ("mixamorig:LeftUpLeg",), "l_knee": ("mixamorig:LeftLeg",), "l_ankle": ("mixamorig:LeftFoot",),
        "r_shoulder": ("mixamorig:RightArm",), "r_elbow": ("mixamorig:RightForeArm",),
        "r_wrist": ("mixamorig:RightHand",), "l_shoulder": ("mixamorig:LeftArm",),
        "l_elbow": ("mixamorig:LeftForeArm",), "l_wrist": ("mixamorig:LeftHand",), "head": ("mixamorig:Head",),
    },
}  # fmt: skip
EYE_END_SITE = {"daz_cmu": "head_end"}
"""Families whose head End Site is the eye midpoint; others get a default eye point in the head frame."""

# Virtual head points as (up, forward) metres in the head frame, for an adult (scaled with the head class).
EYES_FROM_HEAD = (0.08, 0.08)
NOSE_FROM_EYES = (-0.035, 0.025)
TOP_FROM_EYES = (0.104, -0.016)
# Run time makes these two points from MediaPipe's face landmarks by weights fitted to them on rendered clips
# (core.keypoints.HEAD_POINT_WEIGHTS, benchmarks/head_points.py).


def _named_family(names: list[str]) -> tuple[str, dict[str, int]] | None:
    """Return (NAME_TABLE family, {role: joint index}) where the family's names all occur in ``names`` (Mixamo's
    also under another namespace, ``mixamorig1:``), else None."""
    for fam, table in NAME_TABLE.items():
        if all(any(c in names for c in cands) for cands in table.values()):
            return fam, {r: next(names.index(c) for c in cands if c in names) for r, cands in table.items()}
    bare = [n.split(":")[-1] for n in names]
    table = NAME_TABLE["mixamo"]
    if all(any(c.split(":")[-1] in bare for c in cands) for cands in table.values()):
        return "mixamo", {r: bare.index(cands[0].split(":")[-1]) for r, cands in table.items()}
    return None


MAPPING_HINT = ("give a joint mapping file: --bvh-map FILE.json, {\"h36m_to_bone\": {\"l_hip\": \"<left thigh "
                "joint>\", ...}}, the format of --rig mapping files (docs/FORMATS.md, \"Training on your own BVH\")")


def skeleton_roles(bvh: BvhMotion, mapping: dict[str, str] | None = None) -> tuple[str, dict[str, int]]:
    """Return (family, {role: BVH joint index}) for :data:`ROLES`.

    ``mapping`` (H36M joint -> BVH joint name, as ``--rig`` mapping files hold; the role "head" is the mapping's
    ``neck``, the skull-base joint) wins; else the :data:`NAME_TABLE` family whose names all occur; else the
    roles read off the names and hierarchy as for armatures (core.rig_names: 3ds Max Biped, Unreal, Character
    Creator, ...), family "guessed". InputFileError, naming the way out, when none gives every role.
    """
    names = bvh.names
    if mapping is not None:
        wanted = {r: mapping.get("neck" if r == "head" else r, "") for r in ROLES}
        absent = sorted({n for n in wanted.values() if n not in names})
        if absent:
            own = ", ".join(n for n in names if not n.endswith("_end"))
            raise InputFileError(f"{bvh.source}: the joint mapping names joints this BVH lacks "
                                 f"({', '.join(map(repr, absent[:4]))}); its joints are {own[:300]}")
        return "mapping", {r: names.index(n) for r, n in wanted.items()}
    if (named := _named_family(names)) is not None:
        return named
    from core.rig_names import guess_mapping, torso_not_found

    parents = {j.name: bvh.joints[j.parent].name if j.parent >= 0 else None for j in bvh.joints}
    guessed = guess_mapping(parents)
    if guessed is None:
        own = [n for n in names if not n.endswith("_end")]
        why = torso_not_found(parents) or "the names are not those of a known skeleton"
        raise InputFileError(f"{bvh.source}: cannot tell the BVH's hips, knees, ankles, shoulders, elbows, wrists "
                             f"and head ({why}; joints: {', '.join(own[:8])}, ...); {MAPPING_HINT}")
    log.info("%s: joints recognised by name: %s", bvh.source, guessed)
    return "guessed", {r: names.index(guessed["neck" if r == "head" else r]) for r in ROLES}


@dataclass
class BoneGraph:
    """Nodes reached by bones: node 0 is the root; node k = node parent[k] + length[k] * dir_k.

    bvh_index: (K,) BVH joint index of each node, -1 for virtual head points.
    frame_of: (K,) BVH joint whose global rotation turns the bone's rest vector (-1 for the root).
    rest: (K, 3) rest vectors in metres in the Y-up world; classes: (K,) segment class per bone.
    role_node: node index of each role (+ "eyes", "nose", "top").
    """

    names: list[str]
    parent: np.ndarray
    bvh_index: np.ndarray
    frame_of: np.ndarray
    rest: np.ndarray
    classes: list[str]
    role_node: dict[str, int]

    @property
    def lengths(self) -> np.ndarray:
        """Return (K,) rest bone lengths in metres (0 for the root)."""
        return np.linalg.norm(self.rest, axis=-1)


def _unit_scale(bvh: BvhMotion, roles: dict[str, int]) -> float:
    """Return metres per BVH unit, guessed from the rest-pose leg length (hip to ankle, along the chain: a rig
    with twist or helper joints between them counts every bone)."""
    from core.bvh import chain_to_root

    off = bvh.offsets
    chain = chain_to_root(bvh.parents, roles["l_ankle"])
    if roles["l_hip"] not in chain:
        raise InputFileError(f"{bvh.source}: the left ankle's joint does not hang below the left hip's; check the "
                             "joint mapping (--bvh-map)")
    leg = sum(np.linalg.norm(off[k]) for k in chain[chain.index(roles["l_hip"]) + 1 :])
    for scale in (1.0, 0.01, 0.001, 0.0254):
        if 0.4 <= leg * scale <= 1.5:
            return scale
    raise InputFileError(f"{bvh.source}: cannot infer BVH units from a leg of {leg:.3g} units")


def _up_rotation(rest_pos: np.ndarray, roles: dict[str, int]) -> np.ndarray:
    """Return the (3, 3) axis permutation/sign matrix turning the rest pose's up axis into +Y."""
    up = rest_pos[roles["head"]] - 0.5 * (rest_pos[roles["l_ankle"]] + rest_pos[roles["r_ankle"]])
    axis = int(np.argmax(np.abs(up)))
    sign = np.sign(up[axis])
    target = np.array([0.0, 1.0, 0.0])
    src = np.zeros(3)
    src[axis] = sign
    if np.allclose(src, target):
        return np.eye(3)
    from scipy.spatial.transform import Rotation

    rot, _ = Rotation.align_vectors(target[None], src[None])
    return np.round(rot.as_matrix())


def build_bone_graph(bvh: BvhMotion, mapping: dict[str, str] | None = None
                     ) -> tuple[BoneGraph, str, float, np.ndarray]:  # fmt: skip
    """Return ``(graph, family, metres_per_unit, up_matrix)`` for a BVH skeleton (``mapping``: see
    :func:`skeleton_roles`)."""
    from core.bvh import chain_to_root

    fam, roles = skeleton_roles(bvh, mapping)
    names = bvh.names
    scale = _unit_scale(bvh, roles)
    rest_bvh = forward_kinematics(_rest_only(bvh))[0][0] * scale
    up_m = _up_rotation(rest_bvh, roles)
    parents = bvh.parents
    keep: list[int] = sorted({k for r in ROLES for k in chain_to_root(parents, roles[r])})
    node_of = {b: i for i, b in enumerate(keep)}
    g_parent = [node_of.get(int(parents[b]), -1) for b in keep]
    rest = [(up_m @ (bvh.offsets[b] * scale)) if parents[b] >= 0 else np.zeros(3) for b in keep]
    frame_of = [int(parents[b]) for b in keep]
    classes = _bone_classes(keep, parents, roles)
    role_node = {r: node_of[roles[r]] for r in ROLES}
    rest_world = rest_bvh @ up_m.T
    up, fwd = _rest_axes(rest_world, roles)
    head = roles["head"]
    eye_end = EYE_END_SITE.get(fam)
    if eye_end is not None and eye_end in names:
        eye_vec = up_m @ (bvh.offsets[names.index(eye_end)] * scale)
    else:
        eye_vec = EYES_FROM_HEAD[0] * up + EYES_FROM_HEAD[1] * fwd
    for name, base, vec in (("eyes", role_node["head"], eye_vec),
                            ("nose", None, NOSE_FROM_EYES[0] * up + NOSE_FROM_EYES[1] * fwd),
                            ("top", None, TOP_FROM_EYES[0] * up + TOP_FROM_EYES[1] * fwd)):  # fmt: skip
        keep.append(-1)
        g_parent.append(base if base is not None else role_node["eyes"])
        rest.append(np.asarray(vec, dtype=np.float64))
        frame_of.append(head)
        classes.append("head")
        role_node[name] = len(keep) - 1
    node_names = [names[b] for b in keep[:-3]] + ["eyes", "nose", "top"]
    graph = BoneGraph(node_names, np.array(g_parent), np.array(keep), np.array(frame_of), np.stack(rest), classes,
                      role_node)  # fmt: skip
    return graph, fam, scale, up_m


def _rest_only(bvh: BvhMotion) -> BvhMotion:
    return BvhMotion(bvh.joints, np.zeros((1, bvh.motion.shape[1])), bvh.frame_time, bvh.source)


def _rest_axes(rest: np.ndarray, roles: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return unit (up, forward) of the rest pose in the Y-up world."""
    lateral = rest[roles["l_hip"]] - rest[roles["r_hip"]] + rest[roles["l_shoulder"]] - rest[roles["r_shoulder"]]
    up = np.array([0.0, 1.0, 0.0])
    fwd = np.cross(lateral, up)
    return up, fwd / np.linalg.norm(fwd)


def _bone_classes(keep: list[int], parents: np.ndarray, roles: dict[str, int]) -> list[str]:
    """Return the segment class of each kept bone (the bone ending at that joint)."""
    from core.bvh import chain_to_root

    def path(a: str | None, b: str) -> set[int]:
        full = chain_to_root(parents, roles[b])
        if a is None:
            return set(full)
        return set(full[full.index(roles[a]) + 1 :])

    seg = {}
    head_path = path(None, "head")
    for side in "rl":
        for k in path(None, f"{side}_hip"):
            seg.setdefault(k, "hip")
        seg.update({k: "thigh" for k in path(f"{side}_hip", f"{side}_knee")})
        seg.update({k: "shin" for k in path(f"{side}_knee", f"{side}_ankle")})
        for k in path(None, f"{side}_shoulder") - head_path:
            seg[k] = "shoulder"
        seg.update({k: "uarm" for k in path(f"{side}_shoulder", f"{side}_elbow")})
        seg.update({k: "farm" for k in path(f"{side}_elbow", f"{side}_wrist")})
    sh_anc = set(chain_to_root(parents, roles["r_shoulder"])) & head_path
    for k in head_path:
        seg[k] = "torso" if k in sh_anc else "neck"
    return [seg.get(k, "torso") if parents[k] >= 0 else "root" for k in keep]


def bone_directions(bvh: BvhMotion, graph: BoneGraph, scale: float, up_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(root, dirs)``: (F, 3) root positions in metres and (F, K, 3) float32 unit bone directions,
    both in the Y-up world frame."""
    pos, rot = forward_kinematics(bvh)
    root = (pos[:, graph.bvh_index[0]] * scale) @ up_m.T
    # world rotation in the Y-up frame: up_m @ G @ up_m^T; rest vectors are already in the Y-up frame
    unit_rest = graph.rest / np.maximum(graph.lengths, 1e-9)[:, None]
    frames = np.where(graph.frame_of < 0, 0, graph.frame_of)
    g = np.einsum("ij,fkjl,ml->fkim", up_m, rot[:, frames], up_m)
    dirs = np.einsum("fkij,kj->fki", g, unit_rest).astype(np.float32)
    dirs[:, graph.frame_of < 0] = 0.0
    return root.astype(np.float32), dirs


# ---------------------------------------------------------------------------------------------- positions

def node_positions(graph: BoneGraph, root: np.ndarray, dirs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Return (..., K, 3) node positions: root (..., 3) metres, dirs (..., K, 3) unit, lengths (..., K) metres.

    Each node is the root plus the bones on its path from the root: one product with the (K, K) path matrix,
    ~3.5x faster on training batches than walking the tree bone by bone (strided writes per bone).
    """
    path = path_matrix(tuple(int(p) for p in graph.parent)).astype(dirs.dtype, copy=False)
    seg = np.array(np.broadcast_to(lengths[..., None] * dirs, np.broadcast_shapes(
        np.shape(lengths) + (1,), dirs.shape, np.shape(root)[:-1] + (1, 3))), dtype=dirs.dtype)
    seg[..., 0, :] = root
    return np.einsum("kj,...jc->...kc", path, seg, optimize=True)


@functools.lru_cache(maxsize=8)
def path_matrix(parent: tuple[int, ...]) -> np.ndarray:
    """Return (K, K): [k, j] = 1 where node j (the root included) is on node k's path from the root.

    Cached: node_positions runs on every training batch, the skeleton hardly ever changes."""
    path = np.zeros((len(parent), len(parent)))
    path[:, 0] = 1.0
    for k in range(1, len(parent)):
        j = k
        while j > 0:
            path[k, j] = 1.0
            j = parent[j]
    path.flags.writeable = False
    return path


H36M_ROLES = ("r_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_hip", "r_hip", "nose", "top",
              "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")  # fmt: skip
"""Graph role taken for each H36M joint (pelvis, spine and thorax are placeholders: derive_virtual sets them)."""


def to_h36m(graph: BoneGraph, nodes: np.ndarray) -> np.ndarray:
    """Return (..., 17, 3) H36M joints from graph node positions (..., K, 3) (virtual joints as in DESIGN.md 3)."""
    out = nodes[..., [graph.role_node[r] for r in H36M_ROLES], :].copy()
    return derive_virtual(out)


def derive_virtual(j: np.ndarray) -> np.ndarray:
    """Return ``j`` (..., 17, 3|2) with pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax)."""
    j[..., 0, :] = 0.5 * (j[..., 1, :] + j[..., 4, :])
    j[..., 8, :] = 0.5 * (j[..., 11, :] + j[..., 14, :])
    j[..., 7, :] = 0.5 * (j[..., 0, :] + j[..., 8, :])
    return j


# ---------------------------------------------------------------------------------------------- cache

CACHE_VERSION = 1


@dataclass
class MotionSet:
    """A cached BVH library: per-frame root (N, 3) metres and bone directions (N, K, 3), Y-up world, native fps.

    clip_start/clip_len: (C,) frame ranges into the arrays; clips/subjects/categories: (C,) str; fps: (C,).
    """

    graph: BoneGraph
    root: np.ndarray
    dirs: np.ndarray
    clip_start: np.ndarray
    clip_len: np.ndarray
    fps: np.ndarray
    clips: np.ndarray
    subjects: np.ndarray
    categories: np.ndarray
    data_id: str

    def clip_indices(self, subjects: tuple[str, ...] | list[str], include: bool) -> np.ndarray:
        """Return indices of clips whose subject is (include=True) or is not (False) in ``subjects``."""
        mask = np.isin(self.subjects, list(subjects))
        return np.flatnonzero(mask if include else ~mask)


def default_data_dir() -> Path:
    """Return the shared CMU BVH folder beside the repository (../shared/data/mocap/cmu)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "cmu"


def default_cache_dir() -> Path:
    """Return the cache folder: $POSEMOE_CACHE or ~/.cache/posemoe."""
    return Path(os.environ.get("POSEMOE_CACHE", Path.home() / ".cache" / "posemoe"))


def read_index(data_dir: Path) -> list[dict[str, str]]:
    """Return index.csv rows (clip, subject, category, ...) minus clips listed in excluded.txt.

    Without an index.csv, every ``*.bvh``/``*.bvh.gz`` below ``data_dir`` is a clip and the top folder it lies in
    below ``data_dir`` its subject (whole subjects are held out for validation); a clip lying in ``data_dir``
    itself, or in a library of one folder, is its own subject.
    """
    data_dir = Path(data_dir)
    if data_dir.is_file():
        archive = data_dir.suffix.lower() in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar")
        archive &= not data_dir.name.lower().endswith(".bvh.gz")
        what = "an archive: unpack it and give the folder" if archive else "a file: give the folder holding it"
        raise InputFileError(f"{data_dir}: is {what} (a BVH library is a folder)")
    if not data_dir.is_dir():
        raise InputNotFoundError(f"{data_dir}: BVH data folder not found")
    excl_path = data_dir / "excluded.txt"
    excluded = set()
    if excl_path.exists():
        excluded = {ln.split("\t")[0].strip() for ln in excl_path.read_text().splitlines() if ln and ln[0] != "#"}
    index = data_dir / "index.csv"
    if index.exists():
        return _index_rows(index, excluded)
    files = sorted(p for p in data_dir.rglob("*") if p.name.lower().endswith((".bvh", ".bvh.gz")) and p.is_file()
                   and _clip_name(p) not in excluded)  # fmt: skip
    one_folder = len({p.parent for p in files}) == 1
    rows = []
    for p in files:
        st = p.stat()  # size and time: a file edited in place makes a new cache
        top = p.relative_to(data_dir).parts  # actor/day1/x.bvh and actor/day2/y.bvh: one subject, the actor
        subject = top[0] if len(top) > 1 and not one_folder else _clip_name(p)
        rows.append({"clip": _clip_name(p), "subject": subject, "category": "other", "path": str(p),
                     "stamp": f"{st.st_size}-{st.st_mtime_ns}"})
    return rows


def _index_rows(index: Path, excluded: set[str]) -> list[dict[str, str]]:
    """Return the rows of a library's ``index.csv``: a ``clip`` column, optionally ``subject`` (default: the clip),
    ``category`` (default "other") and ``path`` (relative to the library; default ``subject/clip.bvh.gz``, else
    ``.bvh``), as the shared CMU set has them."""
    try:
        with index.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{index}: cannot read the library's index ({e}); fix it, or remove it and the folders "
                             "name the subjects") from None
    if not rows or "clip" not in rows[0]:
        raise InputFileError(f"{index}: needs a header row with a clip column (subject, category and path are "
                             "optional); fix it, or remove it and the folders name the subjects")
    out = []
    for r in rows:
        if not r.get("clip") or r["clip"] in excluded:
            continue
        r["subject"] = r.get("subject") or r["clip"]
        r["category"] = r.get("category") or "other"
        folder = index.parent
        options = [folder / r["path"]] if r.get("path") else [folder / r["subject"] / f"{r['clip']}{ext}"
                                                               for ext in (".bvh.gz", ".bvh")]
        r["path"] = str(next((o for o in options if o.exists()), options[0]))
        if not r.get("frames") and Path(r["path"]).is_file():  # no frame count to tell an edited file by
            st = Path(r["path"]).stat()
            r["stamp"] = f"{st.st_size}-{st.st_mtime_ns}"
        out.append(r)
    return out


def _clip_name(path: Path) -> str:
    """Return a BVH file's name without ``.bvh`` / ``.bvh.gz`` (any case)."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return name[:-4]


def _data_id(rows: list[dict[str, str]], mapping: dict[str, str] | None = None) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    if mapping is not None:
        h.update(json.dumps(mapping, sort_keys=True).encode())
    for r in rows:
        h.update(f"{r['clip']},{r['subject']},{r.get('frames') or r.get('stamp', '')};".encode())
    return h.hexdigest()[:16]


def _few(items: list[str], n: int = 3) -> str:
    return "; ".join(items[:n]) + (f"; and {len(items) - n} more" if len(items) > n else "")


def build_cache(data_dir: Path, out_path: Path, mapping: dict[str, str] | None = None) -> Path:
    """Return ``out_path`` after converting every clip of ``data_dir`` to bone directions (one-off, ~1-2 min).

    Files that cannot be read, or whose skeleton differs from the first one read, are left out with a warning
    (a library's few broken files should not stop its training); InputFileError when most or all are.
    """
    rows = read_index(data_dir)
    if not rows:
        raise InputFileError(f"{data_dir}: no BVH clips found (.bvh or .bvh.gz files, in the folder or below it)")
    graph, first = None, None
    roots, dirs, meta, skipped, other_skeleton = [], [], [], [], []
    for i, r in enumerate(rows):
        try:
            bvh = read_bvh(r["path"])
            if graph is None:
                graph, fam, scale, up_m = build_bone_graph(bvh, mapping)
                first = (r["path"], bvh.names)
                log.info("skeleton family %s, %.3g m per unit, %d bones", fam, scale, len(graph.parent))
            elif bvh.names != first[1]:
                other_skeleton.append(r["path"])
                continue
            root, d = bone_directions(bvh, graph, scale, up_m)
        except (InputFileError, InputNotFoundError) as e:
            skipped.append(str(e))
            continue
        roots.append(root)
        dirs.append(d)
        meta.append((r["clip"], r["subject"], r.get("category", "other"), bvh.fps))
        if i % 200 == 0:
            log.info("cache: %d/%d clips", i, len(rows))
    if not meta:
        n = len(skipped) - 1
        more = f" ({n} more file{' fails' if n == 1 else 's fail'} too)" if n else ""
        raise InputFileError(f"{data_dir}: none of its {len(rows)} BVH files can be used: {skipped[0]}{more}")
    if len(other_skeleton) >= len(meta):
        raise InputFileError(f"{data_dir}: holds BVH files of more than one skeleton ({len(meta)} like "
                             f"{first[0]}, {len(other_skeleton)} others such as {other_skeleton[0]}); train on one "
                             "skeleton at a time: move each skeleton's files to a folder of its own")
    if other_skeleton:
        skipped.append(f"{len(other_skeleton)} files whose skeleton differs from {first[0]}'s, such as "
                       f"{other_skeleton[0]} (one skeleton per library)")
    lens = np.array([len(x) for x in roots])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp.npz")
    np.savez(tmp, root=np.concatenate(roots), dirs=np.concatenate(dirs), clip_len=lens,
             clip_start=np.concatenate([[0], np.cumsum(lens)[:-1]]), fps=np.array([m[3] for m in meta]),
             clips=np.array([m[0] for m in meta]), subjects=np.array([m[1] for m in meta]),
             categories=np.array([m[2] for m in meta]), data_id=np.array(_data_id(rows, mapping)),
             skipped=np.array(skipped, dtype=str),
             g_names=np.array(graph.names), g_parent=graph.parent, g_bvh=graph.bvh_index,
             g_frame=graph.frame_of, g_rest=graph.rest, g_classes=np.array(graph.classes),
             g_roles=np.array(json.dumps(graph.role_node)))  # fmt: skip
    os.replace(tmp, out_path)
    return out_path


def load_motion_set(data_dir: Path | None = None, cache_dir: Path | None = None,
                    mapping: dict[str, str] | None = None) -> MotionSet:
    """Return the cached :class:`MotionSet` of ``data_dir`` (default: the shared CMU set), building it once;
    ``mapping``: the library's joint mapping (:func:`skeleton_roles`), None to recognise its joints by name."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    rows = read_index(data_dir)
    path = Path(cache_dir or default_cache_dir()) / f"motion_{_data_id(rows, mapping)}.npz"
    if not path.exists():
        log.info("building motion cache %s from %s", path, data_dir)
        build_cache(data_dir, path, mapping)
    with np.load(path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    if len(skipped := [str(x) for x in a.get("skipped", [])]):
        log.warning("%s: %d BVH file(s) left out: %s", data_dir, len(skipped), _few(skipped))
    graph = BoneGraph(list(a["g_names"]), a["g_parent"], a["g_bvh"], a["g_frame"], a["g_rest"],
                      list(a["g_classes"]), json.loads(str(a["g_roles"])))  # fmt: skip
    return MotionSet(graph, a["root"], a["dirs"], a["clip_start"], a["clip_len"], a["fps"], a["clips"],
                     a["subjects"], a["categories"], str(a["data_id"]))  # fmt: skip
