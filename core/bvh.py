"""BVH motion capture reading and vectorised forward kinematics.

Reads plain ``.bvh`` or gzipped ``.bvh.gz`` files with any hierarchy and channel order.
Parsing is numeric in bulk (one ``np.array(text.split())`` for the MOTION block);
forward kinematics runs over all frames at once, joint by joint, with scipy's Rotation.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputFileError, InputNotFoundError
from core.file_checks import not_a_file

log = logging.getLogger(__name__)

_POS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROT = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}


@dataclass
class BvhJoint:
    """One joint of the hierarchy; End Sites are joints named ``<parent>_end`` with no channels."""

    name: str
    parent: int
    offset: np.ndarray  # (3,) float64, BVH units, parent frame at rest
    channels: list[str] = field(default_factory=list)
    channel_start: int = 0
    is_end_site: bool = False


@dataclass
class BvhMotion:
    """A parsed BVH: hierarchy, raw channel values (F, C) and the frame time in seconds."""

    joints: list[BvhJoint]
    motion: np.ndarray  # (F, C) float64, raw channel values (degrees, BVH units)
    frame_time: float
    source: str = ""

    @property
    def fps(self) -> float:
        """Return frames per second (1 / frame time)."""
        return 1.0 / self.frame_time

    @property
    def names(self) -> list[str]:
        """Return joint names in hierarchy order (End Sites as ``<parent>_end``)."""
        return [j.name for j in self.joints]

    @property
    def parents(self) -> np.ndarray:
        """Return (J,) parent indices, -1 for the root."""
        return np.array([j.parent for j in self.joints], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """Return (J, 3) rest offsets in BVH units, in each parent's frame."""
        return np.stack([j.offset for j in self.joints])

    def index(self, name: str) -> int:
        """Return the index of joint ``name``; KeyError if absent."""
        return self.names.index(name)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputNotFoundError(f"{path}: BVH file not found")
    if (kind := not_a_file(path)) is not None:
        raise InputFileError(f"{path}: is {kind}, not a BVH file; give the file itself")
    try:
        if path.suffix.lower() == ".gz":  # utf-8-sig: a byte-order mark (Windows tools write one) is not a token
            with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as f:
                return f.read()
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: a corrupt .gz stream
        raise InputFileError(f"{path}: cannot read BVH ({e})") from e


_SPACE = "\ue000"  # a space inside a joint's name while the hierarchy is split (str.split takes \x1c-\x1f for spaces)
_NAMED = re.compile(r"^([ \t]*(?:ROOT|JOINT)[ \t]+)(\S(?:[^\r\n]*\S)?)", re.MULTILINE)


def _parse_hierarchy(tokens: list[str], src: str) -> tuple[list[BvhJoint], int]:
    """Return (joints, index of the token after the hierarchy's closing brace)."""
    joints: list[BvhJoint] = []
    stack: list[int] = []
    n_channels = 0
    i = 1  # after "HIERARCHY"
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                parent = stack[-1] if stack else -1
                joints.append(BvhJoint(tokens[i + 1].replace(_SPACE, " "), parent, np.zeros(3)))
                i += 2
            elif tok == "End":
                parent = stack[-1]
                joints.append(BvhJoint(joints[parent].name + "_end", parent, np.zeros(3), is_end_site=True))
                i += 2
            elif tok == "{":
                stack.append(len(joints) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
                if not stack:
                    return joints, i
            elif tok == "OFFSET":
                offset = np.array(tokens[i + 1 : i + 4], dtype=np.float64)
                if offset.shape != (3,) or not np.isfinite(offset).all():
                    raise ValueError(f"OFFSET needs 3 finite numbers, got {tokens[i + 1 : i + 4]}")
                joints[stack[-1]].offset = offset
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                joint = joints[stack[-1]]
                names = [c.lower() for c in tokens[i + 2 : i + 2 + n]] if 0 <= n <= 6 else []
                if len(names) != n or len(set(names)) != n or joint.channels:
                    raise ValueError(f"joint {joint.name!r}: CHANNELS must list 0-6 distinct channels, once")
                joint.channels = names
                joint.channel_start = n_channels
                n_channels += n
                i += 2 + n
            else:
                raise ValueError(f"unexpected token {tok!r}")
    except (IndexError, ValueError) as e:
        raise InputFileError(f"{src}: malformed BVH HIERARCHY ({e})") from e
    raise InputFileError(f"{src}: BVH HIERARCHY is not closed")


def parse_bvh(text: str, source: str = "<string>") -> BvhMotion:
    """Return the :class:`BvhMotion` parsed from BVH ``text`` (InputFileError naming ``source`` if malformed)."""
    head, sep, tail = text.partition("MOTION")
    if not sep or not head.lstrip().startswith("HIERARCHY"):
        raise InputFileError(f"{source}: not a BVH file (needs HIERARCHY and MOTION sections)")
    # a name with spaces ("JOINT Bip01 L Thigh", as some exporters write Biped's) is one token, as Blender reads it
    head = _NAMED.sub(lambda m: m[1] + m[2].replace(" ", _SPACE), head)
    tokens = head.split()
    joints, end = _parse_hierarchy(tokens, source)
    if not joints:
        raise InputFileError(f"{source}: BVH has no joints")
    if "ROOT" in tokens[end:]:
        raise InputFileError(f"{source}: BVH holds more than one skeleton (a second ROOT); export one character a file")
    for j in joints:
        bad = [c for c in j.channels if c not in _POS and c not in _ROT]
        if bad:
            raise InputFileError(f"{source}: joint {j.name!r} has unknown channels {bad}")
    n_ch = sum(len(j.channels) for j in joints)
    tokens = tail.split(None, 5)  # Frames: N Frame Time: dt <numbers>
    try:
        if tokens[0] != "Frames:" or tokens[2] != "Frame" or tokens[3] != "Time:":
            raise ValueError("expected 'Frames: N' and 'Frame Time: dt'")
        n_frames, frame_time = int(tokens[1]), float(tokens[4])
        values = np.array(tokens[5].split(), dtype=np.float64) if len(tokens) > 5 else np.zeros(0)
    except (IndexError, ValueError) as e:
        raise InputFileError(f"{source}: malformed BVH MOTION header or values ({e})") from e
    if not (np.isfinite(frame_time) and frame_time > 0 and np.isfinite(1.0 / frame_time)) or n_frames <= 0:
        raise InputFileError(f"{source}: BVH has {n_frames} frames and frame time {frame_time}; "
                             "both must be positive (and the frame time finite)")
    if values.size != n_frames * n_ch:
        values, n_frames = _whole_frame_lines(tokens[5] if len(tokens) > 5 else "", n_frames, n_ch, source)
    motion = values.reshape(n_frames, n_ch)
    if not np.isfinite(motion).all():
        raise InputFileError(f"{source}: BVH MOTION contains NaN or infinite values")
    return BvhMotion(joints, motion, frame_time, source)


def _whole_frame_lines(block: str, declared: int, n_ch: int, source: str) -> tuple[np.ndarray, int]:
    """Return (values, frames) of a MOTION block whose value count does not match its ``Frames:`` line, where it
    is one frame a line: a wrong count, or a last line cut short (a copy or an export stopped part way), loses
    nothing else. InputFileError where a line other than the last lacks values (the channels would shift)."""
    lines = [ln.split() for ln in block.splitlines() if ln.strip()]
    if not lines or any(len(ln) != n_ch for ln in lines[:-1]) or len(lines[-1]) > n_ch:
        total = sum(len(ln) for ln in lines)
        raise InputFileError(f"{source}: BVH MOTION has {total} values, expected {declared} frames x {n_ch} "
                             "channels, one frame a line; the file is damaged: export it again")
    whole = lines if len(lines[-1]) == n_ch else lines[:-1]
    if not whole:
        raise InputFileError(f"{source}: BVH MOTION holds no whole frame of {n_ch} channels; export it again")
    log.warning("%s: the BVH says %d frames and holds %d whole ones; reading those", source, declared, len(whole))
    try:
        return np.array(whole, dtype=np.float64), len(whole)
    except ValueError as e:
        raise InputFileError(f"{source}: malformed BVH MOTION values ({e})") from e


def read_bvh(path: Path | str) -> BvhMotion:
    """Return the :class:`BvhMotion` read from a ``.bvh`` or ``.bvh.gz`` file."""
    path = Path(path)
    return parse_bvh(_read_text(path), source=str(path))


def local_rotations(bvh: BvhMotion) -> np.ndarray:
    """Return (F, J, 3, 3) float64 local rotation matrices (identity for joints without rotation channels)."""
    from scipy.spatial.transform import Rotation

    n = bvh.motion.shape[0]
    out = np.broadcast_to(np.eye(3), (n, len(bvh.joints), 3, 3)).copy()
    for k, j in enumerate(bvh.joints):
        rot = [(c, j.channel_start + i) for i, c in enumerate(j.channels) if c in _ROT]
        if not rot:
            continue
        order = "".join(_ROT[c] for c, _ in rot)  # uppercase = intrinsic, as BVH means it
        angles = bvh.motion[:, [i for _, i in rot]]
        out[:, k] = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    return out


def forward_kinematics(bvh: BvhMotion, offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(positions, rotations)``: (F, J, 3) world joint positions in BVH units and (F, J, 3, 3) global
    rotation matrices of every joint (End Sites included, in hierarchy order).

    offsets: optional (J, 3) bone offsets replacing the file's (re-posing on another body).
    Position channels of non-root joints replace the joint's offset, as BVH defines.
    """
    offsets = bvh.offsets if offsets is None else np.asarray(offsets, dtype=np.float64)
    local = local_rotations(bvh)
    n, n_j = local.shape[:2]
    pos = np.zeros((n, n_j, 3))
    glob = np.zeros_like(local)
    for k, j in enumerate(bvh.joints):
        trans = np.broadcast_to(offsets[k], (n, 3)).copy()
        for i, c in enumerate(j.channels):
            if c in _POS:
                trans[:, _POS[c]] = bvh.motion[:, j.channel_start + i] + (offsets[k][_POS[c]] if j.parent < 0 else 0)
        if j.parent < 0:
            pos[:, k] = trans
            glob[:, k] = local[:, k]
        else:
            p = j.parent
            pos[:, k] = pos[:, p] + np.einsum("fij,fj->fi", glob[:, p], trans)
            glob[:, k] = glob[:, p] @ local[:, k]
    return pos, glob


def chain_to_root(parents: np.ndarray, k: int) -> list[int]:
    """Return joint indices from the root down to ``k`` (inclusive)."""
    out = []
    while k >= 0:
        out.append(int(k))
        k = int(parents[k])
    return out[::-1]


_CHANNEL_NAMES = {"xposition": "Xposition", "yposition": "Yposition", "zposition": "Zposition",
                  "xrotation": "Xrotation", "yrotation": "Yrotation", "zrotation": "Zrotation"}


def to_text(bvh: BvhMotion) -> str:
    """Return ``bvh`` as BVH text (the inverse of :func:`parse_bvh`; End Sites written back as such)."""
    lines = ["HIERARCHY"]
    children: dict[int, list[int]] = {}
    for k, j in enumerate(bvh.joints):
        children.setdefault(j.parent, []).append(k)

    def write(k: int, depth: int) -> None:
        j, pad = bvh.joints[k], "\t" * depth
        lines.append(f"{pad}End Site" if j.is_end_site else f"{pad}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {j.offset[0]:.6f} {j.offset[1]:.6f} {j.offset[2]:.6f}")
        if not j.is_end_site:
            lines.append(f"{pad}\tCHANNELS {len(j.channels)} " + " ".join(_CHANNEL_NAMES[c] for c in j.channels))
        for c in children.get(k, []):
            write(c, depth + 1)
        lines.append(pad + "}")

    for root in children.get(-1, []):
        write(root, 0)
    lines += ["MOTION", f"Frames: {len(bvh.motion)}", f"Frame Time: {bvh.frame_time:.6f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in bvh.motion]
    return "\n".join(lines) + "\n"


def drop_still_positions(bvh: BvhMotion, tolerance: float = 1e-5) -> BvhMotion:
    """Return ``bvh`` without the position channels of non-root joints that only ever hold the joint at its offset
    (within ``tolerance``, BVH units): Blender's exporter gives every joint of a rig whose bones are not connected
    six channels, and tools that read BVH as motion capture writes it (position on the root, rotations below)
    misread those files. A joint that does move (a hips bone under a root bone that carries the travel) keeps them."""
    keep_cols, joints, start = [], [], 0
    for j in bvh.joints:
        cols = list(range(j.channel_start, j.channel_start + len(j.channels)))
        channels = list(j.channels)
        pos = [i for i, c in enumerate(j.channels) if c in _POS]
        if j.parent >= 0 and len(pos) == 3:
            values = bvh.motion[:, [j.channel_start + i for i in pos]]
            at = np.array([j.offset[_POS[j.channels[i]]] for i in pos])
            if len(values) == 0 or np.abs(values - at).max() <= tolerance:
                channels = [c for c in j.channels if c not in _POS]
                cols = [j.channel_start + i for i, c in enumerate(j.channels) if c not in _POS]
        joints.append(BvhJoint(j.name, j.parent, j.offset.copy(), channels, start, j.is_end_site))
        keep_cols += cols
        start += len(channels)
    return BvhMotion(joints, bvh.motion[:, keep_cols], bvh.frame_time, bvh.source)


def change_axes(bvh: BvhMotion, rotation: np.ndarray, scale: float = 1.0,
                shift: np.ndarray | None = None) -> BvhMotion:
    """Return ``bvh`` expressed in other axes: every point p becomes ``scale * rotation @ p + shift`` (``shift``:
    the root's only, offset and position channels alike), every joint's local rotation R becomes
    rotation @ R @ rotation.T (BVH rest frames are aligned with its axes), in each joint's own channel order.

    Why: Blender's BVH exporter writes the armature's own axes (Z up for a Blender-made rig, Y up in centimetres for
    an imported FBX); BVH tools and Blender's importer expect Y up."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(rotation, np.float64)
    shift = np.zeros(3) if shift is None else np.asarray(shift, np.float64)
    motion = bvh.motion.copy()
    joints, turned = [], []
    for j in bvh.joints:
        offset = scale * q @ j.offset + (shift if j.parent < 0 else 0.0)
        joints.append(BvhJoint(j.name, j.parent, offset, list(j.channels), j.channel_start, j.is_end_site))
        pos = [j.channel_start + i for i, c in enumerate(j.channels) if c in _POS]
        if len(pos) == 3:
            order = [_POS[j.channels[i - j.channel_start]] for i in pos]
            xyz = np.empty((len(motion), 3))
            xyz[:, order] = motion[:, pos]
            xyz = scale * xyz @ q.T + (shift if j.parent < 0 else 0.0)
            motion[:, pos] = xyz[:, order]
        rot = [j.channel_start + i for i, c in enumerate(j.channels) if c in _ROT]
        if rot and len(rot) != 3:
            raise ValueError(f"joint {j.name!r}: {len(rot)} rotation channels; turning the axes needs all three")
        if rot:
            order = "".join(_ROT[j.channels[i - j.channel_start]] for i in rot)
            r = Rotation.from_matrix(q @ Rotation.from_euler(order, motion[:, rot], degrees=True).as_matrix() @ q.T)
            turned.append((rot, r.as_euler(order)))
    if turned:
        angles = continuous_euler(np.stack([e for _, e in turned], axis=1))  # every joint at once, frame by frame
        for k, (rot, _) in enumerate(turned):
            motion[:, rot] = np.rad2deg(angles[:, k])
    return BvhMotion(joints, motion, bvh.frame_time, bvh.source)


def continuous_euler(angles: np.ndarray) -> np.ndarray:
    """Return (T, ..., 3) Tait-Bryan angles (radians) equal as rotations to ``angles``, each frame's the nearest to
    the frame before, of the two equivalent triples (a + pi, pi - b, c + pi) and their turns by 2 pi: what a BVH
    reader that interpolates channels needs (scipy returns the middle angle in [-90, 90] degrees, so a rotation
    passing 90 degrees there would jump by half a turn in the other two). A loop over frames: each frame's choice
    depends on the one before, and no library offers it."""
    a = np.asarray(angles, np.float64)
    other = np.stack([a[..., 0] + np.pi, np.pi - a[..., 1], a[..., 2] + np.pi], axis=-1)
    out = np.empty_like(a)
    if not len(a):
        return out
    prev = a[0]
    for t in range(len(a)):
        near = [c + 2 * np.pi * np.round((prev - c) / (2 * np.pi)) for c in (a[t], other[t])]
        keep_first = np.abs(near[0] - prev).sum(-1, keepdims=True) <= np.abs(near[1] - prev).sum(-1, keepdims=True)
        out[t] = prev = np.where(keep_first, near[0], near[1])
    return out
