"""The whole capture of a tracking shot: a camera travelling beside a walker over a tiled floor, rendered once
from ../shared/data (CMU 02_01 on the CC0 Mixamo character, scripts/make_demo_clip.py --track --tiles) into the
user cache; the walker must walk across the world, not on the spot."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = [pytest.mark.mediapipe, pytest.mark.data]

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("POSEMOE_CACHE", Path.home() / ".cache" / "posemoe")) / "test_clips"


@pytest.fixture(scope="module")
def tracking_shot(shared_data: Path) -> tuple[Path, Path]:
    """Return (video, truth) of a 2.4 s tracking shot of a walk (about a minute to render, once)."""
    video, truth = CACHE / "walk_track.mp4", CACHE / "walk_track_truth.npz"
    if video.is_file() and truth.is_file():
        return video, truth
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_demo_clip.py"),
                        "--bvh", str(shared_data / "mocap" / "cmu" / "02" / "02_01.bvh.gz"),
                        "--character", str(shared_data / "characters" / "human_mixamo.blend"),
                        "--start", "0.3", "--seconds", "2.4", "--yaw", "90", "--raise", "0.3", "--look", "10",
                        "--track", "--tiles", "--out", tmp, "--name", "walk_track"],
                       check=True, capture_output=True, cwd=REPO)
        shutil.move(str(Path(tmp) / "walk_track_truth.npz"), truth)
        shutil.move(str(Path(tmp) / "walk_track.mp4"), video)
    return video, truth


def test_a_walker_filmed_by_a_travelling_camera_walks_across_the_world(tracking_shot, tmp_path):
    from core.metrics import root_trajectory_error
    from core.motion_file import read_motion
    from posemoe_blender.pipeline import capture, extract, lift

    video, truth_path = tracking_shot
    truth = np.load(truth_path)
    cams = truth["camera_to_world"].astype(np.float64)
    cv = np.diag([1.0, -1.0, -1.0, 1.0])
    to_first = cv @ np.linalg.inv(cams[0])[None] @ cams @ cv  # camera t -> camera 0, OpenCV axes
    true_root = np.einsum("tij,tj->ti", to_first[:, :3, :3], truth["joints_3d"][:, 0]) + to_first[:, :3, 3]
    travelled = float(np.linalg.norm(np.diff(cams[:, :3, 3], axis=0), axis=1).sum())

    clip = read_motion(capture(video, tmp_path / "walk.npz"))
    assert clip.meta["camera_travel_m"] == pytest.approx(travelled, rel=0.2)
    assert "camera_flow" not in clip.extras  # the corners stay in keypoints files
    moved = root_trajectory_error(clip.root.astype(np.float64), true_root)
    assert moved["percent"] < 10, moved
    kp = extract(video)
    assert len(kp.extras["camera_flow_frames"]) > 10
    on_the_spot = lift(kp, static_camera=True)
    assert root_trajectory_error(on_the_spot.root.astype(np.float64), true_root)["percent"] > 2 * moved["percent"]
