"""Render the demo clip: a CC0 character driven by held-out CMU motion, with its true 3D.

Usage (from the repository root, with ../shared/data present):
    python scripts/make_demo_clip.py --bvh ../shared/data/mocap/cmu/<S>/<S>_<TT>.bvh.gz \
        --character ../shared/data/characters/human_mixamo.blend --seconds 4 --out ~/.cache/posemoe/demo

Steps: BVH -> H36M-17 joints (core.datasets) -> resampled to 30 fps -> retargeted onto the
character's armature (posemoe_blender.bake) -> Workbench render at 640x480 -> MP4 (OpenCV,
MPEG-4 part 2). The ground truth is read back from the posed character itself (bone heads,
plus nose tip and crown carried by the head bone), in the render camera's OpenCV frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.frames import blender_to_camera  # noqa: E402
from core.motion_file import MotionClip  # noqa: E402
from core.skeleton import JOINT_NAMES  # noqa: E402

FPS = 30.0
SIZE = (640, 480)
_CV_FROM_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])  # Blender camera looks down -Z with +Y up


def bvh_h36m(path: Path) -> tuple[np.ndarray, float]:
    """Return (F,17,3) metres in Blender world axes (Z up, facing -Y) and the BVH fps."""
    from core.bvh import read_bvh
    from core.datasets import bone_directions, build_bone_graph, node_positions, to_h36m

    bvh = read_bvh(path)
    graph, _fam, scale, up_m = build_bone_graph(bvh)
    root, dirs = bone_directions(bvh, graph, scale, up_m)
    j = to_h36m(graph, node_positions(graph, root, dirs, graph.lengths))  # Y-up, faces +Z
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1), bvh.fps


def resample(j: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Return ``j`` (F, ...) linearly resampled in time from ``fps_in`` to ``fps_out``."""
    t_in = np.arange(len(j)) / fps_in
    t_out = np.arange(0.0, t_in[-1], 1.0 / fps_out)
    flat = j.reshape(len(j), -1)
    return np.stack([np.interp(t_out, t_in, flat[:, c]) for c in range(flat.shape[1])], 1).reshape(
        (len(t_out),) + j.shape[1:])


def head_points(mesh, arm, head_bone: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (nose tip, crown) in the head bone's rest-local frame, from the rest mesh."""
    from mathutils import Vector

    v = np.array([mesh.matrix_world @ p.co for p in mesh.data.vertices])
    head_rest = arm.matrix_world @ arm.data.bones[head_bone].head_local
    near = v[np.linalg.norm(v - np.array(head_rest), axis=1) < 0.25]
    crown = near[np.argmax(near[:, 2])]
    face = near[near[:, 2] > head_rest.z]
    nose = face[np.argmin(face[:, 1])]  # the character faces -Y
    inv = (arm.matrix_world @ arm.data.bones[head_bone].matrix_local).inverted()
    return np.array(inv @ Vector(nose)), np.array(inv @ Vector(crown))


def posed_joints(arm, bone_map: dict[str, str], nose_local, top_local) -> np.ndarray:
    """Return the evaluated (17,3) H36M joints of ``arm`` in Blender world metres."""
    from mathutils import Vector

    mw = arm.matrix_world
    pb = arm.pose.bones
    head = lambda role: np.array(mw @ pb[bone_map[role]].head)  # noqa: E731
    j = np.zeros((17, 3))
    for i, name in enumerate(JOINT_NAMES):
        if name in ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_shoulder", "r_shoulder",
                    "l_elbow", "r_elbow", "l_wrist", "r_wrist"):
            j[i] = head(name)
    hb = mw @ pb[bone_map["neck"]].matrix
    j[9] = np.array(hb @ Vector(nose_local))
    j[10] = np.array(hb @ Vector(top_local))
    j[0] = 0.5 * (j[1] + j[4])
    j[8] = 0.5 * (j[11] + j[14])
    j[7] = 0.5 * (j[0] + j[8])
    return j


def setup_scene(world_joints: np.ndarray, yaw_deg: float, ankle_height: float, size: tuple[int, int] = SIZE,
                raise_m: float = 0.0, look: int = 0, tiles: bool = False, lens: float = 35.0,
                min_distance: float = 3.5):
    """Add a floor under the soles, light and a camera framing every joint of every frame; return the camera.

    lens: focal length in mm on a 36 mm wide sensor (35: f = 0.97 x image width; 13: a phone's ultra-wide);
    the camera stands where the frame holds every joint, at least ``min_distance`` metres from the centre.

    raise_m lifts the camera above its default height (0.2 m above the subject's centre) and aims it
    back at the centre (positive: high, looking down; negative: low, looking up). look > 0 picks a
    seeded variation of background clutter, colours and studio light (0 = the demo clip's plain look).
    tiles lays the floor as 0.5 m tiles of four shades (paving, a tiled hall): a floor with corners to follow,
    as most real floors have (grass, tarmac, boards), for the travelling-camera clips.
    """
    import bpy
    from mathutils import Vector

    scene = bpy.context.scene
    rng = np.random.default_rng(look)
    floor_z = float(world_joints[:, [3, 6], 2].min()) - ankle_height
    if tiles:
        bpy.ops.mesh.primitive_grid_add(x_subdivisions=80, y_subdivisions=80, size=40, location=(0, 0, floor_z))
    else:
        bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, floor_z))
    floor = bpy.context.active_object
    mat = bpy.data.materials.new("floor")
    mat.diffuse_color = (0.45, 0.5, 0.42, 1.0) if look == 0 else (*rng.uniform(0.15, 0.8, 3), 1.0)
    floor.data.materials.append(mat)
    if tiles:
        base = np.array(mat.diffuse_color[:3])
        for i in range(3):
            shade = bpy.data.materials.new(f"floor{i}")
            shade.diffuse_color = (*np.clip(base * rng.uniform(0.6, 1.4) + rng.normal(0, 0.04, 3), 0, 1), 1.0)
            floor.data.materials.append(shade)
        floor.data.polygons.foreach_set("material_index", rng.integers(0, 4, len(floor.data.polygons)))
    lo, hi = world_joints.reshape(-1, 3).min(0), world_joints.reshape(-1, 3).max(0)
    centre = 0.5 * (lo + hi)
    extent = float(np.max(hi - lo)) + 0.6
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens, cam_data.sensor_width = lens, 36.0
    cam_data.sensor_fit = "HORIZONTAL"
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    fov = 2 * np.arctan(cam_data.sensor_width / 2 / cam_data.lens) * min(size) / size[0]
    dist = max(min_distance, extent / (2 * np.tan(fov / 2)) * 1.15)
    yaw = np.radians(yaw_deg)
    cam.location = Vector(centre + np.array([np.sin(yaw) * dist, -np.cos(yaw) * dist, 0.2 + raise_m]))
    cam.rotation_euler = (Vector(centre) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    if look:
        _clutter(rng, centre, floor_z, yaw, dist)
    bpy.context.view_layer.update()  # matrix_world is stale until the depsgraph updates
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    if look:
        shading.studio_light = str(rng.choice(["basic.sl", "outdoor.sl", "rim.sl", "studio.sl"]))
    shading.show_shadows, shading.show_cavity = True, True
    scene.world = bpy.data.worlds.new("w") if scene.world is None else scene.world
    scene.world.color = (0.55, 0.62, 0.7) if look == 0 else tuple(rng.uniform(0.1, 0.9, 3))
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.fps = int(FPS)
    return cam


def _clutter(rng: np.random.Generator, centre: np.ndarray, floor_z: float, yaw: float, dist: float) -> None:
    """Add boxes and pillars of random colours behind and beside the subject (a non-trivial background)."""
    import bpy

    back = np.array([-np.sin(yaw), np.cos(yaw), 0.0])  # away from the camera
    side = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    for i in range(int(rng.integers(5, 10))):
        h = float(rng.uniform(0.3, 2.5))
        pos = centre + back * rng.uniform(1.5, 6.0) + side * rng.uniform(-0.9, 0.9) * dist
        pos[2] = floor_z + h / 2
        if rng.random() < 0.5:
            bpy.ops.mesh.primitive_cube_add(size=1.0, location=tuple(pos))
        else:
            bpy.ops.mesh.primitive_cylinder_add(radius=0.3, depth=1.0, location=tuple(pos))
        ob = bpy.context.active_object
        ob.scale = (float(rng.uniform(0.3, 1.5)), float(rng.uniform(0.3, 1.5)), h)
        m = bpy.data.materials.new(f"clutter{i}")
        m.diffuse_color = (*rng.uniform(0.05, 0.95, 3), 1.0)
        ob.data.materials.append(m)


def orbit_camera(cam, centre: np.ndarray, degrees: float, frames: int) -> None:
    """Key the camera to circle ``degrees`` around ``centre`` over the clip (a moving camera)."""
    import bpy
    from mathutils import Matrix, Vector

    start = cam.matrix_world.copy()
    for f in range(1, frames + 1):
        a = np.radians(degrees) * (f - 1) / max(frames - 1, 1)
        rot = Matrix.Rotation(a, 4, "Z")
        cam.matrix_world = Matrix.Translation(Vector(centre)) @ rot @ Matrix.Translation(-Vector(centre)) @ start
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    bpy.context.scene.frame_set(1)


def pan_camera(cam, pelvis: np.ndarray, fps: float, seed: int) -> None:
    """Key the camera, moved in to 3.5 m from the path's middle along its own line of sight, to turn every frame
    towards the pelvis (``pelvis`` (T, 3), world) as an operator follows a person: 0.3 s behind, with a little
    hand shake (0.3 degrees, seeded). The camera does not move, it only turns (a tripod pan or a steady hand)."""
    import bpy
    from mathutils import Vector

    t = len(pelvis)
    centre = 0.5 * (pelvis.min(axis=0) + pelvis.max(axis=0))
    back = np.array(cam.location) - centre
    back[:2] *= 3.5 / max(np.linalg.norm(back[:2]), 1e-6)
    cam.location = Vector(centre + back)
    lag = max(1, int(round(0.3 * fps)))
    kernel = np.ones(lag) / lag
    aim = np.stack([np.convolve(np.pad(pelvis[:, i], (lag - 1, 0), mode="edge"), kernel, "valid") for i in range(3)], 1)
    rng = np.random.default_rng(seed)
    shake = np.cumsum(rng.normal(0.0, 0.002, (t, 3)), axis=0)
    shake -= np.linspace(0, 1, t)[:, None] * shake[-1]  # a wobble, not a drift
    for f in range(1, t + 1):
        target = aim[f - 1] + shake[f - 1] * np.linalg.norm(back)
        cam.rotation_euler = (Vector(target) - cam.location).to_track_quat("-Z", "Y").to_euler()
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    bpy.context.scene.frame_set(1)


def track_camera(cam, pelvis: np.ndarray, fps: float, seed: int) -> None:
    """Key the camera, moved in to 3.5 m from the path's start, to travel beside the person as a cameraman walking
    alongside (or a dolly) does: it keeps its height and its view's direction and moves with the pelvis's
    horizontal path (``pelvis`` (T, 3), world), 0.3 s behind, with a little hand shake (1 cm and 0.3 degrees,
    seeded). The camera moves and does not turn."""
    import bpy
    from mathutils import Euler, Vector

    t = len(pelvis)
    back = np.array(cam.location) - pelvis[0]
    back[:2] *= 3.5 / max(np.linalg.norm(back[:2]), 1e-6)
    lag = max(1, int(round(0.3 * fps)))
    kernel = np.ones(lag) / lag
    follow = np.stack([np.convolve(np.pad(pelvis[:, i], (lag - 1, 0), mode="edge"), kernel, "valid")
                       for i in range(2)], 1)
    rng = np.random.default_rng(seed)
    shake = np.cumsum(rng.normal(0.0, 0.002, (t, 6)), axis=0)
    shake -= np.linspace(0, 1, t)[:, None] * shake[-1]
    cam.location = Vector(pelvis[0] + back)
    cam.rotation_euler = (Vector(pelvis[0]) - cam.location).to_track_quat("-Z", "Y").to_euler()
    base = np.array(cam.rotation_euler)
    for f in range(1, t + 1):
        pos = np.array([*follow[f - 1], pelvis[0][2]]) + back + shake[f - 1, :3] * 5.0
        cam.location = Vector(pos)
        cam.rotation_euler = Euler(base + np.radians(shake[f - 1, 3:] * 2.5))
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    bpy.context.scene.frame_set(1)


def follow_camera(cam, pelvis: np.ndarray, fps: float, seed: int, share: float = 0.5) -> None:
    """Key the camera, moved in to 3.5 m from the path's start, to travel ``share`` of the pelvis's horizontal
    path (``pelvis`` (T, 3), world) and turn to keep it in view, 0.3 s behind, with a little hand shake (1 cm and
    0.3 degrees, seeded): a cameraman who walks along more slowly than the person and turns to follow them. The
    camera moves and turns."""
    import bpy
    from mathutils import Vector

    t = len(pelvis)
    back = np.array(cam.location) - pelvis[0]
    back[:2] *= 3.5 / max(np.linalg.norm(back[:2]), 1e-6)
    lag = max(1, int(round(0.3 * fps)))
    kernel = np.ones(lag) / lag
    aim = np.stack([np.convolve(np.pad(pelvis[:, i], (lag - 1, 0), mode="edge"), kernel, "valid") for i in range(3)], 1)
    rng = np.random.default_rng(seed)
    shake = np.cumsum(rng.normal(0.0, 0.002, (t, 6)), axis=0)
    shake -= np.linspace(0, 1, t)[:, None] * shake[-1]
    for f in range(1, t + 1):
        along = aim[f - 1] - aim[0]
        pos = pelvis[0] + back + share * np.array([along[0], along[1], 0.0]) + shake[f - 1, :3] * 5.0
        cam.location = Vector(pos)
        target = aim[f - 1] + shake[f - 1, 3:] * np.linalg.norm(back)
        cam.rotation_euler = (Vector(target) - cam.location).to_track_quat("-Z", "Y").to_euler()
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    bpy.context.scene.frame_set(1)


def camera_intrinsics(cam, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Return the 3x3 pinhole matrix of ``cam`` at the render size (square pixels, centred, horizontal fit)."""
    f = cam.data.lens / cam.data.sensor_width * size[0]
    return np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]])


def to_camera(cam, world: np.ndarray) -> np.ndarray:
    """Return world points (...,3) in the camera's OpenCV frame (x right, y down, z forward)."""
    m = np.array(cam.matrix_world)
    r, c = m[:3, :3], m[:3, 3]
    return ((world - c) @ r) @ _CV_FROM_BLENDER_CAM.T


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bvh", type=Path, required=True)
    ap.add_argument("--character", type=Path, required=True)
    ap.add_argument("--start", type=float, default=0.0, help="start time in the BVH, seconds")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--yaw", type=float, default=30.0, help="camera yaw around the subject, degrees")
    ap.add_argument("--out", type=Path, required=True, help="folder for <name>.mp4 and <name>_truth.npz")
    ap.add_argument("--name", default="demo_clip")
    ap.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="WIDTHxHEIGHT, e.g. 480x640 for portrait")
    ap.add_argument("--raise", dest="raise_m", type=float, default=0.0,
                    help="camera height above the default, metres (negative: a low camera looking up)")
    ap.add_argument("--orbit", type=float, default=0.0, help="camera circles this many degrees over the clip")
    ap.add_argument("--pan", action="store_true",
                    help="the camera stands 3.5 m from the path and turns to follow the pelvis (a panning camera)")
    ap.add_argument("--track", action="store_true",
                    help="the camera travels beside the person, 3.5 m away, without turning (a tracking shot)")
    ap.add_argument("--follow", action="store_true",
                    help="the camera travels half the person's way beside them and turns to keep them in view")
    ap.add_argument("--tiles", action="store_true", help="a tiled floor (0.5 m tiles of four shades)")
    ap.add_argument("--look", type=int, default=0, help="background/light variation seed (0 = plain)")
    ap.add_argument("--meta", default="{}", help="JSON stored in the truth file as meta (category, view)")
    ap.add_argument("--fps", type=float, default=FPS, help="frame rate of the video (slow motion: 120)")
    ap.add_argument("--lens", type=float, default=35.0, help="focal length, mm on a 36 mm sensor (13: ultra-wide)")
    ap.add_argument("--min-distance", type=float, default=3.5, help="nearest the camera stands, metres")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))

    import bpy
    import cv2

    from posemoe_blender.bake import bake_clip

    j_world, fps = bvh_h36m(args.bvh)
    j_world = resample(j_world, fps, args.fps)
    j_world = j_world[int(args.start * args.fps): int((args.start + args.seconds) * args.fps)]
    root = j_world[:, 0].copy()
    root[:, :2] -= root[0, :2]
    t = len(j_world)
    clip = MotionClip(np.zeros((t, 17, 2), np.float32), np.ones((t, 17), np.float32), np.ones(t, bool), args.fps,
                      size, joints_3d=blender_to_camera(j_world - j_world[:, :1]).astype(np.float32),
                      root=blender_to_camera(root).astype(np.float32), meta={"source": args.bvh.name})

    bpy.ops.wm.open_mainfile(filepath=str(args.character))
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    mesh = next(o for o in bpy.data.objects if o.type == "MESH")
    info = json.loads(args.character.with_suffix(".json").read_text())
    bone_map = info["h36m_to_bone"]
    nose_l, top_l = head_points(mesh, arm, bone_map["neck"])
    bake_clip(clip, arm, rig="auto", frame_start=1, root_motion=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, t
    truth_world = []
    for f in range(1, t + 1):
        scene.frame_set(f)
        truth_world.append(posed_joints(arm, bone_map, nose_l, top_l))
    truth_world = np.array(truth_world)
    cam = setup_scene(truth_world, args.yaw, float(info["rest_bone_heads_m"]["l_ankle"][2]), size, args.raise_m,
                      args.look, args.tiles, args.lens, args.min_distance)
    scene.render.fps = int(round(args.fps))
    k = camera_intrinsics(cam, size)
    if args.orbit:
        lo, hi = truth_world.reshape(-1, 3).min(0), truth_world.reshape(-1, 3).max(0)
        orbit_camera(cam, 0.5 * (lo + hi), args.orbit, t)
    if args.pan:
        pan_camera(cam, truth_world[:, 0], args.fps, args.look)
    if args.track:
        track_camera(cam, truth_world[:, 0], args.fps, args.look)
    if args.follow:
        follow_camera(cam, truth_world[:, 0], args.fps, args.look)
    cams, joints_cam = [], []
    for f in range(1, t + 1):  # per frame: the camera may move
        scene.frame_set(f)
        cams.append(np.array(cam.matrix_world))
        joints_cam.append(to_camera(cam, truth_world[f - 1]))
    joints_cam = np.array(joints_cam)
    uv = joints_cam[..., :2] / joints_cam[..., 2:] * k[0, 0] + k[:2, 2]

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        scene.render.filepath = str(Path(tmp) / "f_")
        scene.render.image_settings.file_format = "PNG"
        bpy.ops.render.render(animation=True)
        video = args.out / f"{args.name}.mp4"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), args.fps, size)
        for f in range(1, t + 1):
            writer.write(cv2.imread(str(Path(tmp) / f"f_{f:04d}.png")))
        writer.release()
    np.savez(args.out / f"{args.name}_truth.npz", joints_3d=joints_cam.astype(np.float32),
             joints_2d=uv.astype(np.float32), intrinsics=k,
             # (T,4,4) for a camera that moves or turns
             camera_to_world=np.array(cams) if args.orbit or args.pan or args.track or args.follow else cams[0],
             fps=np.float64(args.fps), image_size=np.array(size), joint_names=np.array(JOINT_NAMES),
             meta=np.array(args.meta),
             source=np.array(f"{args.bvh.name} from {args.start:.2f}s, {args.seconds:.2f}s; {args.character.name}"))
    print(f"wrote {video} ({t} frames) and its ground truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
