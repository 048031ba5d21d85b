"""BVH -> H36M-17 mapping, re-posing on other bodies, the motion cache and synthetic windows."""

from pathlib import Path

import numpy as np
import pytest

from core.bodies import DEFAULT_BODIES, class_scales, measure
from core.bvh import parse_bvh
from core.config import AugmentConfig
from core.datasets import build_bone_graph, load_motion_set, node_positions, to_h36m
from core.skeleton import bone_lengths
from core.synthetic import WindowSampler

SHARED = Path(__file__).parents[2] / "../shared/data"

# Daz/CMU skeleton of the shared set (name, parent, offset cm); "<x>_end" are End Sites.
DAZ = [("hip", None, (0, 0, 0)), ("abdomen", "hip", (0, 20.69, -0.73)), ("chest", "abdomen", (0, 11.7, -0.49)),
       ("neck", "chest", (0, 22.19, -2.19)), ("head", "neck", (-0.24, 7.07, 1.22)),
       ("head_end", "head", (0.24, 8.05, 8.05)),
       ("rCollar", "chest", (-2.68, 19.26, -4.88)), ("rShldr", "rCollar", (-8.78, -1.95, 1.46)),
       ("rForeArm", "rShldr", (-28.17, -1.71, 0.49)), ("rHand", "rForeArm", (-22.59, 0.77, 7.07)),
       ("lCollar", "chest", (2.68, 19.26, -4.88)), ("lShldr", "lCollar", (8.78, -1.95, 1.46)),
       ("lForeArm", "lShldr", (28.17, -1.71, 0.49)), ("lHand", "lForeArm", (22.59, 0.77, 7.07)),
       ("rButtock", "hip", (-8.78, 4.35, 1.22)), ("rThigh", "rButtock", (0, -1.71, -2.19)),
       ("rShin", "rThigh", (0, -36.82, 0.73)), ("rFoot", "rShin", (0.73, -45.11, -5.12)),
       ("lButtock", "hip", (8.78, 4.35, 1.22)), ("lThigh", "lButtock", (0, -1.71, -2.19)),
       ("lShin", "lThigh", (0, -36.82, 0.73)), ("lFoot", "lShin", (-0.73, -45.11, -5.12))]  # fmt: skip


def daz_bvh(frames: int = 40, seed: int = 0) -> str:
    """Return BVH text of the Daz skeleton with small random rotations, root walking along +Z."""
    def block(name: str, depth: int) -> list[str]:
        pad = "  " * depth
        _, parent, off = next(j for j in DAZ if j[0] == name)
        if name.endswith("_end"):
            return [f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {off[0]} {off[1]} {off[2]}", f"{pad}}}"]
        kind = "ROOT" if parent is None else "JOINT"
        ch = "CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation" if parent is None else \
            "CHANNELS 3 Zrotation Yrotation Xrotation"
        lines = [f"{pad}{kind} {name}", f"{pad}{{", f"{pad}  OFFSET {off[0]} {off[1]} {off[2]}", f"{pad}  {ch}"]
        for child, par, _ in DAZ:
            if par == name:
                lines += block(child, depth + 1)
        return lines + [f"{pad}}}"]

    n_ch = 6 + 3 * sum(1 for n, p, _ in DAZ if p is not None and not n.endswith("_end"))
    rng = np.random.default_rng(seed)
    motion = rng.normal(0, 10, (frames, n_ch))
    motion[:, :3] = [0, 90, 0]
    motion[:, 2] = np.linspace(0, 100, frames)
    rows = [" ".join(f"{v:.2f}" for v in r) for r in motion]
    return "\n".join(["HIERARCHY", *block("hip", 0), "MOTION", f"Frames: {frames}", "Frame Time: 0.0416667", *rows])


@pytest.fixture(scope="module")
def daz():
    bvh = parse_bvh(daz_bvh(), "daz.bvh")
    return bvh, *build_bone_graph(bvh)


def test_mapping_gives_17_joints_with_sane_bones(daz):
    bvh, graph, fam, scale, up = daz
    assert fam == "daz_cmu" and scale == 0.01 and np.allclose(up, np.eye(3))
    from core.datasets import bone_directions

    root, dirs = bone_directions(bvh, graph, scale, up)
    joints = to_h36m(graph, node_positions(graph, root, dirs, graph.lengths))
    assert joints.shape == (40, 17, 3)
    bl = bone_lengths(joints)
    assert np.all(bl > 0.05) and np.all(bl < 0.6)
    rigid = [1, 2, 4, 5, 9, 11, 12, 14, 15]  # limbs; pelvis/thorax/spine bones move with buttocks/collars
    assert np.allclose(bl[:, rigid], bl[0, rigid], atol=1e-4)
    assert np.allclose(np.linalg.norm(joints[:, 10] - joints[:, 9], axis=-1), 0.145, atol=0.005)  # nose -> top
    rest = to_h36m(graph, node_positions(graph, np.zeros(3), graph.rest / np.maximum(graph.lengths, 1e-9)[:, None],
                                         graph.lengths))  # fmt: skip
    assert rest[10, 1] - rest[9, 1] > 0.13 and rest[9, 2] > rest[10, 2]  # top above, nose ahead (+Z faces forward)


def test_reposing_hits_target_measurements(daz):
    _, graph, *_ = daz
    target = DEFAULT_BODIES[1]
    lengths = class_scales(graph, target)
    unit = graph.rest / np.maximum(graph.lengths, 1e-9)[:, None]
    got = measure(to_h36m(graph, node_positions(graph, np.zeros(3), unit, lengths)))
    for k in ("hip_hw", "thigh", "shin", "shoulder_hw", "uarm", "farm", "torso"):
        assert got[k] == pytest.approx(target[k], rel=0.03), k


def test_cache_split_and_windows(tmp_path):
    for subject in ("01", "02"):
        (tmp_path / "data" / subject).mkdir(parents=True)
        for trial in (1, 2):
            (tmp_path / "data" / subject / f"{subject}_0{trial}.bvh").write_text(daz_bvh(60, seed=trial))
    motion = load_motion_set(tmp_path / "data", tmp_path / "cache")
    assert len(motion.clips) == 4 and list(tmp_path.joinpath("cache").glob("*.npz"))
    val = motion.clip_indices(["02"], include=True)
    assert set(motion.subjects[val]) == {"02"}
    sampler = WindowSampler(motion, motion.clip_indices(["02"], False), 9, (25.0, 60.0), AugmentConfig(),
                            list(DEFAULT_BODIES), seed=3, body_bank=8)  # fmt: skip
    batch = sampler.sample(4)
    assert batch.x.shape == (4, 9, 17, 2) and batch.y.shape == (4, 9, 17, 3)
    assert np.all(batch.y[:, :, 0] == 0) and np.isfinite(batch.x).all()
    again = WindowSampler(motion, motion.clip_indices(["02"], False), 9, (25.0, 60.0), AugmentConfig(),
                          list(DEFAULT_BODIES), seed=3, body_bank=8).sample(4)  # fmt: skip
    assert np.array_equal(batch.x, again.x)  # seeded


def test_shared_cmu_clip_maps_to_plausible_body():
    path = SHARED / "mocap" / "cmu" / "01" / "01_01.bvh.gz"
    if not path.exists():
        pytest.skip(f"shared data absent: {SHARED} (the CMU mocap check needs it)")
    from core.bvh import read_bvh
    from core.datasets import bone_directions

    bvh = read_bvh(path)
    graph, fam, scale, up = build_bone_graph(bvh)
    root, dirs = bone_directions(bvh, graph, scale, up)
    joints = to_h36m(graph, node_positions(graph, root, dirs, class_scales(graph, DEFAULT_BODIES[1])))
    m = measure(joints[0])
    assert 0.18 < m["shoulder_hw"] < 0.21 and m["thigh"] > 0.4
    assert np.all(joints[..., 1].min(axis=1) > -0.15)  # feet roughly on or above the floor


def test_projection_is_a_pinhole_camera():
    """core.synthetic.project: camera frame = R (world - C); pixels = f x/z + c, per batch item."""
    from scipy.spatial.transform import Rotation

    from core.synthetic import project as _project

    rng = np.random.default_rng(3)
    rot = Rotation.random(4, random_state=1).as_matrix().astype(np.float32)
    cam = rng.normal(size=(4, 3)).astype(np.float32)
    intr = np.array([[800, 320, 240], [500, 640, 360], [1000, 0, 0], [300, 100, 50]], dtype=np.float32)
    pc_true = rng.uniform(-1, 1, size=(4, 5, 17, 3)).astype(np.float32)
    pc_true[..., 2] += 4.0  # in front of the camera
    world = np.einsum("bji,btkj->btki", rot, pc_true) + cam[:, None, None]  # R^T pc + C
    pc, px = _project(world, rot, cam, intr)
    assert np.allclose(pc, pc_true, atol=1e-5)
    expect = pc_true[..., :2] / pc_true[..., 2:] * intr[:, None, None, :1] + intr[:, None, None, 1:]
    assert np.allclose(px, expect, atol=1e-3)


def test_high_cameras_are_a_share_of_clips_and_leave_the_default_draws_alone():
    """AugmentConfig.high_camera_prob: that share of cameras from high_height_range, the rest as before; at 0 (the
    default) nothing more is drawn, so seeded validation cameras are the ones every earlier figure was measured on."""
    from dataclasses import replace

    from core.synthetic import cameras

    centre = np.zeros((4000, 3), np.float32)
    centre[:, 1] = 0.9
    plain = cameras(np.random.default_rng(5), centre, AugmentConfig())
    again = cameras(np.random.default_rng(5), centre, replace(AugmentConfig(), high_height_range=(9.0, 9.5)))
    assert all(np.array_equal(a, b) for a, b in zip(plain, again, strict=True))
    h = plain[1][:, 1]
    assert h.min() >= 0.5 and h.max() <= 2.0
    aug = replace(AugmentConfig(), high_camera_prob=0.25, high_height_range=(3.0, 5.0))
    rot, cam, _, _ = cameras(np.random.default_rng(5), centre, aug)
    high = cam[:, 1] >= 3.0
    assert 0.2 < high.mean() < 0.3 and np.all(cam[~high, 1] <= 2.0) and np.all(cam[high, 1] <= 5.0)
    # each still looks at the body (the centre ahead, near the optical axis), a high one looking down more steeply
    ahead = np.einsum("bij,bj->bi", rot, centre - cam)
    assert np.all(ahead[:, 2] > 0) and np.median(np.abs(ahead[:, :2] / ahead[:, 2:])) < 0.15
    down = -rot[:, 2, 1]  # the optical axis's downward part (world Y up)
    assert np.median(down[high]) > np.median(down[~high]) + 0.2


def test_node_positions_walk_the_tree():
    """Every node = its parent + length x direction, for batched, broadcast inputs."""
    from types import SimpleNamespace

    parent = np.array([-1, 0, 1, 2, 0, 4, 1])
    graph = SimpleNamespace(parent=parent)
    rng = np.random.default_rng(5)
    root = rng.normal(size=(2, 3, 3))
    dirs = rng.normal(size=(2, 3, 7, 3))
    lengths = rng.uniform(0.1, 0.5, size=(2, 1, 7))
    out = node_positions(graph, root, dirs, lengths)
    assert out.shape == (2, 3, 7, 3)
    assert np.allclose(out[..., 0, :], root)
    for k in range(1, 7):
        assert np.allclose(out[..., k, :], out[..., parent[k], :] + lengths[..., k, None] * dirs[..., k, :])
