"""Body proportions for re-posing mocap: measurements, the shared MakeHuman characters, per-bone lengths.

The shared CMU mocap has one unusual body (narrow shoulders, short thighs); training re-poses it on bodies
measured from the MakeHuman characters (``rest_bone_heads_m``) with random variation (data/README.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from core.datasets import BoneGraph, derive_virtual, node_positions, to_h36m

log = logging.getLogger(__name__)

MEASURES = ("hip_hw", "thigh", "shin", "shoulder_hw", "uarm", "farm", "torso", "head")
"""Body measurements in metres: half widths between hips / shoulders, limb lengths, pelvis->thorax, head scale."""


def measure(joints: np.ndarray) -> dict[str, float]:
    """Return MEASURES of one H36M pose (17, 3) in metres ('head' = nose-to-top distance)."""
    d = lambda a, b: float(np.linalg.norm(joints[a] - joints[b]))  # noqa: E731
    return {"hip_hw": d(1, 4) / 2, "thigh": (d(1, 2) + d(4, 5)) / 2, "shin": (d(2, 3) + d(5, 6)) / 2,
            "shoulder_hw": d(11, 14) / 2, "uarm": (d(11, 12) + d(14, 15)) / 2, "farm": (d(12, 13) + d(15, 16)) / 2,
            "torso": d(0, 8), "head": d(9, 10)}  # fmt: skip


def character_measures(chars_dir: Path) -> list[dict[str, float]]:
    """Return MEASURES of each MakeHuman character JSON (``rest_bone_heads_m``) in ``chars_dir``."""
    from core.skeleton import JOINT_NAMES

    out = []
    for path in sorted(Path(chars_dir).glob("*.json")):
        heads = json.loads(path.read_text()).get("rest_bone_heads_m")
        if not heads:
            continue
        j = derive_virtual(np.array([heads[n] for n in JOINT_NAMES], dtype=np.float64))
        m = measure(j)
        m["head"] = float(json.loads(path.read_text())["height_m"]) / 1.75 * 0.14  # nose->top ~14 cm at 1.75 m
        out.append(m)
    return out


DEFAULT_BODIES: tuple[dict[str, float], ...] = (  # MakeHuman characters (shared data), in case it is absent
    {"hip_hw": 0.098, "thigh": 0.382, "shin": 0.396, "shoulder_hw": 0.162, "uarm": 0.236, "farm": 0.228,
     "torso": 0.45, "head": 0.13},
    {"hip_hw": 0.112, "thigh": 0.45, "shin": 0.446, "shoulder_hw": 0.192, "uarm": 0.264, "farm": 0.269,
     "torso": 0.53, "head": 0.144},
)  # fmt: skip


def class_scales(graph: BoneGraph, target: dict[str, float]) -> np.ndarray:
    """Return (K,) bone lengths in metres that give the rest skeleton the ``target`` measurements.

    Limb classes are scaled by ratio; torso/neck/head by the torso/head ratio; the most lateral bones of the
    hip and shoulder classes are then solved so the half widths match (other bones of those classes scale
    with the torso, so shoulders are widened sideways, not lifted).
    """
    zero = np.zeros(3)
    unit = graph.rest / np.maximum(graph.lengths, 1e-9)[:, None]

    def joints_for(lengths: np.ndarray) -> np.ndarray:
        return to_h36m(graph, node_positions(graph, zero, unit, lengths))

    base = graph.lengths.copy()
    cur = measure(joints_for(base))
    cls = np.array(graph.classes)
    lengths = base.copy()
    for c, m in (("thigh", "thigh"), ("shin", "shin"), ("uarm", "uarm"), ("farm", "farm"), ("head", "head")):
        lengths[cls == c] *= target[m] / max(cur[m], 1e-6)
    lat = np.abs(unit[:, 0]) > 0.7
    for c in ("torso", "neck"):
        lengths[cls == c] *= target["torso"] / cur["torso"]
    for c, m in (("hip", "hip_hw"), ("shoulder", "shoulder_hw")):
        lengths[(cls == c) & ~lat] *= target["torso"] / cur["torso"]
        sel = (cls == c) & lat
        if not sel.any():
            continue
        w1 = measure(joints_for(lengths))[m]
        trial = lengths.copy()
        trial[sel] = 0.0
        w0 = measure(joints_for(trial))[m]
        s = (target[m] - w0) / max(w1 - w0, 1e-6)
        lengths[sel] *= float(np.clip(s, 0.2, 5.0))
    for _ in range(3):  # lateral/hip bones shift the thorax a little: settle the torso length
        lengths[cls == "torso"] *= target["torso"] / measure(joints_for(lengths))["torso"]
    return lengths


def sample_bodies(graph: BoneGraph, bodies: list[dict[str, float]], n: int, rng: np.random.Generator,
                  jitter: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lengths, root_scale)``: (n, K) bone lengths in metres and (n,) root-translation scales of n
    random bodies: a base body, global scale U(0.92, 1.08), each measurement x N(1, jitter) clipped at +-15%."""
    base_legs = measure(to_h36m(graph, node_positions(graph, np.zeros(3), graph.rest / np.maximum(
        graph.lengths, 1e-9)[:, None], graph.lengths)))
    cache: dict[int, np.ndarray] = {}
    out = np.empty((n, len(graph.parent)), np.float32)
    root_scale = np.empty(n, np.float32)
    for i in range(n):
        b = int(rng.integers(len(bodies)))
        g = rng.uniform(0.92, 1.08)
        f = np.clip(rng.normal(1.0, jitter, len(MEASURES)), 0.85, 1.15)
        target = {m: bodies[b][m] * g * fi for m, fi in zip(MEASURES, f, strict=False)}
        key = hash(tuple(np.round(list(target.values()), 3)))
        if key not in cache:
            cache[key] = class_scales(graph, target)
        out[i] = cache[key]
        root_scale[i] = (target["thigh"] + target["shin"]) / (base_legs["thigh"] + base_legs["shin"])
    return out, root_scale
