"""``posemoe demo``: the whole pipeline on the demo clip, scored against its known motion.

The clip is rendered by the project itself (scripts/make_demo_clip.py) from the CC0
character of ../shared/data driven by held-out CMU motion, so its true 3D joints are known
exactly. It is rendered once, on first use, into ~/.cache/posemoe/demo (``POSEMOE_CACHE``
overrides the cache); no media or mocap file is kept in the repository (docs/demo_clip.md).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.config import InferenceConfig
from core.errors import InputFileError, InputNotFoundError, WorkerEnvError
from core.keypoints import blazepose_to_h36m
from core.motion_file import read_keypoints, read_motion
from core.native_logs import stdout_to_stderr
from core.protocol import Progress
from posemoe_blender.pipeline import Emit, _noop, capture

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEMO_DIR = Path(os.environ.get("POSEMOE_CACHE", Path.home() / ".cache" / "posemoe")) / "demo"
DEMO_VIDEO = DEMO_DIR / "demo_clip.mp4"
DEMO_TRUTH = DEMO_DIR / "demo_clip_truth.npz"
# CMU 05_02 (a validation subject), seconds 0.5-6.5, on the CC0 human_mixamo character, camera 30 degrees left
DEMO_RENDER_ARGS = ("--bvh", "mocap/cmu/05/05_02.bvh.gz", "--character", "characters/human_mixamo.blend",
                    "--start", "0.5", "--seconds", "6", "--yaw", "30")


def ensure_demo_clip(emit: Emit = _noop) -> tuple[Path, Path]:
    """Return (video, truth) of the demo clip, rendering it once from ../shared/data (a few minutes)."""
    if DEMO_VIDEO.is_file() and DEMO_TRUTH.is_file():
        return DEMO_VIDEO, DEMO_TRUTH
    script = REPO / "scripts" / "make_demo_clip.py"
    if not SHARED_DATA.is_dir() or not script.is_file():
        raise InputNotFoundError(f"{SHARED_DATA}: not found; the demo clip is rendered from its CMU motion and CC0 "
                                 "character, so run posemoe demo from a clone with ../shared beside it")
    folder = DEMO_VIDEO.parent
    log.warning("rendering the demo clip once into %s (a few minutes on a CPU)", folder)
    emit(Progress("render", 0, 1))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:  # moved into place whole, never half-written
        argv = [a if not a.endswith((".gz", ".blend")) else str(SHARED_DATA / a) for a in DEMO_RENDER_ARGS]
        r = subprocess.run([sys.executable, str(script), *argv, "--out", tmp, "--name", "demo_clip"],
                           capture_output=True, text=True, cwd=REPO)
        if r.returncode != 0:
            tail = [ln for ln in r.stderr.splitlines() if ln.strip()][-1:] or [f"exit code {r.returncode}"]
            raise WorkerEnvError(f"{script}: rendering the demo clip failed ({tail[0]}); check ../shared/data")
        shutil.move(str(Path(tmp) / "demo_clip_truth.npz"), DEMO_TRUTH)
        shutil.move(str(Path(tmp) / "demo_clip.mp4"), DEMO_VIDEO)  # last: its presence means both are there
    emit(Progress("render", 1, 1))
    return DEMO_VIDEO, DEMO_TRUTH


def load_truth(path: Path = DEMO_TRUTH) -> dict[str, np.ndarray]:
    """Return the demo clip's ground truth: joints_3d (T,17,3) metres camera frame, joints_2d px, ..."""
    if not Path(path).exists():
        raise InputNotFoundError(f"{path}: demo ground truth missing; run posemoe demo to render it")
    with np.load(path, allow_pickle=False) as z:
        truth = {k: z[k] for k in z.files}
    if truth.get("joints_3d", np.zeros(0)).ndim != 3:
        raise InputFileError(f"{path}: demo ground truth has no (T,17,3) joints_3d")
    return truth


def score(pred_rel: np.ndarray, truth_abs: np.ndarray, mp_world: np.ndarray | None = None) -> dict[str, float]:
    """Return MPJPE / P-MPJPE in mm of our root-relative prediction (and of MediaPipe's world landmarks)."""
    from core.metrics import mpjpe, p_mpjpe

    truth_rel = truth_abs - truth_abs[:, :1]
    n = min(len(pred_rel), len(truth_rel))
    out = {"frames": n, "mpjpe_mm": 1000 * float(mpjpe(pred_rel[:n], truth_rel[:n])),
           "p_mpjpe_mm": 1000 * float(p_mpjpe(pred_rel[:n], truth_rel[:n]))}
    if mp_world is not None:
        mp17, _ = blazepose_to_h36m(mp_world[:n])
        out["mediapipe_world_p_mpjpe_mm"] = 1000 * float(p_mpjpe(mp17 - mp17[:, :1], truth_rel[:n]))
    return out


def run_demo(out_dir: Path, cfg: InferenceConfig | None = None, emit: Emit = _noop,
             weights: Path | None = None) -> dict:
    """Run capture + bake on the demo clip; return paths, error figures and a printable summary."""
    from posemoe_blender.export import bake_to_file

    ensure_demo_clip(emit)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    motion_path, kp_path = out_dir / "demo_motion.npz", out_dir / "demo_keypoints.npz"
    capture(DEMO_VIDEO, motion_path, weights, cfg, emit=emit, keypoints_out=kp_path)
    clip = read_motion(motion_path)
    kp = read_keypoints(kp_path)
    truth = load_truth()
    figures = score(clip.joints_3d, truth["joints_3d"], kp.extras.get("mp_world"))
    with stdout_to_stderr(keep=log.getEffectiveLevel() <= logging.INFO):  # Blender's exporters chatter
        blend = bake_to_file(clip, out_dir / "demo.blend")
        fbx = bake_to_file(clip, out_dir / "demo.fbx")
    summary = {"blend": str(blend), "fbx": str(fbx), "motion": str(motion_path), **figures}
    (out_dir / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"PoseMoE demo: {figures['frames']} frames of {DEMO_VIDEO.name}",
        f"  3D error vs the clip's known motion: MPJPE {figures['mpjpe_mm']:.1f} mm, "
        f"P-MPJPE {figures['p_mpjpe_mm']:.1f} mm",
    ]
    if "mediapipe_world_p_mpjpe_mm" in figures:
        lines.append(f"  MediaPipe's own 3D (world landmarks) on the same frames: "
                     f"P-MPJPE {figures['mediapipe_world_p_mpjpe_mm']:.1f} mm")
    lines += [f"  wrote {blend}", f"  wrote {fbx}", f"  motion file {motion_path}"]
    summary["text"] = "\n".join(lines)
    return summary
