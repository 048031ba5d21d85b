"""End-to-end benchmark (issue 8): accuracy on the ground-truth video set, speed per stage, memory vs length.

``posemoe bench [--quick]`` runs this script. It writes benchmarks/results/bench.json, the tables
in benchmarks/results/bench.md and plots in docs/images/bench_*.png (docs/benchmarks.md quotes them).

Accuracy: every clip of the ground-truth set (benchmarks/render_gt_clips.py, cached outside the
repository; --quick: the demo clip plus the QUICK clips, rendered on first use when
../shared/data is present) with real MediaPipe 2D, three 3D sources against the truth:
  ours       the shipped pipeline: PoseMoE lifter + clean-up preset medium (what `capture` writes);
  mp_world   MediaPipe's own world landmarks as given (what add-ons built on MediaPipe key);
  mlp        our single-frame MLP lifter (core/assets/mlp_baseline) through the same clean-up.
Metrics per clip, per category and per camera view: MPJPE (root-relative, camera frame), P-MPJPE,
MPJVE, acceleration error, foot skate in the cleaned world (static cameras), and the extractor's
2D error. The subject height given to the clean-up is the character's (1.799 m).

Speed: benchmarks/pipeline_speed.py on the 640x480 demo clip and a 1080p copy of it, and
benchmarks/bake_keyframes.py (retarget + keyframing in bpy). Scale: `posemoe capture` on the demo
clip looped to 10 s, 1 min and 10 min (--quick: 30 s and 1 min), wall time and peak memory of the
process, extrapolated to one hour.

    python benchmarks/bench.py [--quick] [--gt-dir ~/.cache/posemoe/gt] [--skip accuracy,speed,scale]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from core.metrics import accel_error, foot_skate, mpjpe, mpjve, p_mpjpe  # noqa: E402

log = logging.getLogger("bench")
RESULTS = REPO / "benchmarks" / "results"
IMAGES = REPO / "docs" / "images"
COMPARISONS = {"posemoe": REPO / "core" / "assets" / "posemoe_v2.safetensors",
               "mlp": REPO / "core" / "assets" / "mlp_baseline.safetensors"}
"""Other bundled lifters run through the same pipeline for comparison (skipped when one is the default)."""
LABELS = {"ours": "shipped pipeline", "mp_world": "MediaPipe world", "posemoe": "PoseMoE v2 transformer",
          "mlp": "single-frame MLP"}
TRUTH_HEIGHT = 1.799  # the CC0 character of every render
SOURCES = ("ours", "mp_world", "posemoe", "mlp")
METRICS = ("mpjpe_mm", "p_mpjpe_mm", "mpjve_mm", "accel_mm", "skate_cm_s")


# ---------------------------------------------------------------- accuracy

def gt_clips(gt_dir: Path, quick: bool, render: bool = True) -> list[dict]:
    """Return the clips to measure: the demo clip, then the rendered set (or its QUICK part)."""
    import render_gt_clips as rg

    names = rg.QUICK if quick else tuple(rg.CLIPS)
    missing = [n for n in names if not (gt_dir / f"{n}_truth.npz").exists()]
    if missing and render and (rg.DATA / "mocap").is_dir():
        log.info("rendering %d ground-truth clip(s) into %s (once)", len(missing), gt_dir)
        rg.main(["--out", str(gt_dir), *sum((["--only", n] for n in missing), [])])
    from posemoe_blender.demo import ensure_demo_clip

    video, truth = ensure_demo_clip()
    clips = [{"name": "demo_05_02", "video": video, "truth": truth,
              "category": "dance", "view": "45deg"}]
    for n in names:
        truth = gt_dir / f"{n}_truth.npz"
        if truth.exists():
            meta = json.loads(str(np.load(truth)["meta"])) if "meta" in np.load(truth) else {}
            clips.append({"name": n, "video": gt_dir / f"{n}.mp4", "truth": truth,
                          "category": meta.get("category", rg.CLIPS[n][8]), "view": meta.get("view", rg.CLIPS[n][9])})
        else:
            log.warning("%s: not rendered (--no-render, or ../shared/data absent); skipped", n)
    return clips


def keypoints(video: Path, cache: Path):
    """Return the extractor's keypoints for ``video``, cached in ``cache`` (never in the repository).

    The H36M joints are made afresh from the cached MediaPipe landmarks, as extraction makes them
    (core.keypoints.blazepose_to_h36m), so a change to that mapping is measured without running MediaPipe again,
    and the detector's brief left/right flips are undone as every lifting path does
    (posemoe_blender.pipeline.sides_unflipped)."""
    from dataclasses import replace

    from core.keypoints import blazepose_to_h36m
    from core.motion_file import read_keypoints, write_keypoints

    out = cache / f"{video.stem}_kp.npz"
    if not out.exists():
        from core.extract import extract_keypoints

        write_keypoints(out, extract_keypoints(video))
    kp = read_keypoints(out)
    landmarks = kp.extras.get("mp_landmarks")
    if landmarks is None:
        return kp
    from posemoe_blender.pipeline import sides_unflipped

    joints, scores = blazepose_to_h36m(landmarks[..., :2], landmarks[..., 3])
    scores[~kp.valid] = 0.0
    return sides_unflipped(replace(kp, joints_2d=joints, scores=scores))


def _metrics(rel: np.ndarray, gt_rel: np.ndarray) -> dict:
    return {"mpjpe_mm": 1000 * mpjpe(rel, gt_rel), "p_mpjpe_mm": 1000 * p_mpjpe(rel, gt_rel),
            "mpjve_mm": 1000 * mpjve(rel, gt_rel), "accel_mm": 1000 * accel_error(rel, gt_rel)}


def _cleaned(joints: np.ndarray, kp, fps: float, static: bool, truth_path: Path) -> tuple[np.ndarray, float | None]:
    """Return (root-relative cleaned joints, foot skate cm/s in the cleaned world during its own contacts)."""
    from core.contact import FEET as LEGS
    from core.motion_cleanup import clean_motion
    from core.world import transform_points

    rel, root, info = clean_motion(joints, kp.joints_2d, kp.scores, kp.valid, fps, kp.image_size, "medium",
                                   subject_height=TRUTH_HEIGHT)
    if not static:
        return rel.astype(np.float64), None
    world = transform_points((rel + root[:, None]).astype(np.float64), np.array(info["world_from_camera"]))
    own = np.zeros((len(rel), 2), bool)
    for f, side in enumerate(("left", "right")):
        for s, e in info["contacts"][side]:
            own[s: e + 1, f] = True
    return rel.astype(np.float64), foot_skate(world[:, [leg[2] for leg in LEGS]], own, fps)


def accuracy(gt_dir: Path, quick: bool, render: bool = True, weights: Path | None = None) -> dict:
    """Return per-clip metrics of every source and the 2D error, plus per-category/per-view means."""
    import torch

    from core.config import InferenceConfig
    from core.inference import lift_sequence
    from core.keypoints import blazepose_to_h36m
    from core.weights import DEFAULT_WEIGHTS, ankle_raise, load_lifter
    from posemoe_blender.pipeline import lifter_joints

    torch.set_num_threads(2)
    main = Path(weights or DEFAULT_WEIGHTS)
    lifters = {"ours": load_lifter(main, device="cpu")}
    for name, path in COMPARISONS.items():
        if path.exists() and path.resolve() != main.resolve():
            lifters[name] = load_lifter(path, device="cpu")
    clips = {}
    for c in gt_clips(gt_dir, quick, render):
        truth = np.load(c["truth"])
        gt = truth["joints_3d"].astype(np.float64)
        gt_rel = gt - gt[:, :1]
        fps = float(truth["fps"])
        static = np.asarray(truth["camera_to_world"]).ndim == 2
        kp = keypoints(c["video"], gt_dir)
        row = {"category": c["category"], "view": c["view"], "frames": len(gt),
               "size": [int(v) for v in truth["image_size"]]}
        err2d = np.linalg.norm(kp.joints_2d - truth["joints_2d"], axis=-1)[kp.valid]
        height = np.ptp(truth["joints_2d"][..., 1], axis=1)[kp.valid]
        row["kp2d_px"] = float(err2d.mean())
        row["kp2d_pct_height"] = float(100 * (err2d.mean(1) / height).mean())
        for name, (model, cfg, meta) in lifters.items():
            x = lifter_joints(kp, ankle_raise(meta))  # as posemoe capture lifts
            y = lift_sequence(x, kp.image_size, model, cfg.window, InferenceConfig(device="cpu"), valid=kp.valid,
                              fps=kp.fps)
            rel, skate = _cleaned(y, kp, fps, static, c["truth"])
            row[name] = {**_metrics(rel, gt_rel), "skate_cm_s": skate}
        mw, _ = blazepose_to_h36m(np.asarray(kp.extras["mp_world"], np.float64))
        row["mp_world"] = {**_metrics(mw - mw[:, :1], gt_rel), "skate_cm_s": None}
        clips[c["name"]] = row
        log.info("%s: ours P-MPJPE %.1f, MediaPipe world %.1f", c["name"], row["ours"]["p_mpjpe_mm"],
                 row["mp_world"]["p_mpjpe_mm"])
    return {"clips": clips, "by_category": _group(clips, "category"), "by_view": _group(clips, "view"),
            "overall": _group(clips, None)["all"]}


def _group(clips: dict, key: str | None) -> dict:
    """Return frame-weighted means of every source's metrics per value of ``key`` (None: all clips)."""
    groups: dict = {}
    for row in clips.values():
        groups.setdefault("all" if key is None else row[key], []).append(row)
    out = {}
    for g, rows in sorted(groups.items()):
        w = np.array([r["frames"] for r in rows], np.float64)
        entry = {"clips": len(rows), "frames": int(w.sum()),
                 "kp2d_px": float(np.dot(w, [r["kp2d_px"] for r in rows]) / w.sum())}
        for s in SOURCES:
            have = [r for r in rows if s in r]
            for m in METRICS:
                vals = [(r["frames"], r[s][m]) for r in have if r[s].get(m) is not None]
                if vals:
                    ww, vv = np.array(vals).T
                    entry.setdefault(s, {})[m] = float(np.dot(ww, vv) / ww.sum())
        out[g] = entry
    return out


# ---------------------------------------------------------------- speed and scale

def _run_json(argv: list[str], out: Path) -> dict:
    subprocess.run([sys.executable, *argv, "--out", str(out)], check=True, cwd=REPO)
    return json.loads(out.read_text())


def _video_1080p(cache: Path) -> Path:
    """Return a 1920x1080 copy of the demo clip (upscaled; the detector sees the same content)."""
    import cv2

    from posemoe_blender.demo import ensure_demo_clip

    out = cache / "demo_clip_1080p.mp4"
    if not out.exists():
        cap = cv2.VideoCapture(str(ensure_demo_clip()[0]))
        w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS), (1920, 1080))
        ok, frame = cap.read()
        while ok:
            h, wid = frame.shape[:2]  # 4:3 into 16:9: pad the sides so the person keeps its shape
            pad = (int(h * 16 / 9) - wid) // 2
            w.write(cv2.resize(cv2.copyMakeBorder(frame, 0, 0, pad, pad, cv2.BORDER_REPLICATE), (1920, 1080)))
            ok, frame = cap.read()
        w.release()
    return out


def speed(cache: Path, quick: bool) -> dict:
    """Return per-stage speed at 640x480 and 1080p, and retarget + keyframing in bpy."""
    rep = ["--repeat", "1" if quick else "3"]
    from posemoe_blender.demo import ensure_demo_clip

    out = {"640x480": _run_json(["benchmarks/pipeline_speed.py", str(ensure_demo_clip()[0]), *rep],
                                cache / "speed_480.json"),
           "1920x1080": _run_json(["benchmarks/pipeline_speed.py", str(_video_1080p(cache)), *rep],
                                  cache / "speed_1080.json")}
    out["bake"] = _run_json(["benchmarks/bake_keyframes.py", "--frames", "2000" if quick else "10000"],
                            cache / "bake.json")
    return out


def _looped(cache: Path, seconds: int) -> Path:
    """Return the demo clip looped (forwards, backwards, ...) to ``seconds`` seconds, 640x480 30 fps."""
    import cv2

    out = cache / f"demo_loop_{seconds}s.mp4"
    if out.exists():
        return out
    from posemoe_blender.demo import ensure_demo_clip

    cap = cv2.VideoCapture(str(ensure_demo_clip()[0]))
    frames = []
    ok, f = cap.read()
    while ok:
        frames.append(f)
        ok, f = cap.read()
    fps = cap.get(cv2.CAP_PROP_FPS)
    cycle = frames + frames[::-1]  # no jump at the seam
    w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for i in range(int(seconds * fps)):
        w.write(cycle[i % len(cycle)])
    w.release()
    return out


def scale(cache: Path, quick: bool) -> dict:
    """Return wall time and peak RSS of `posemoe capture` against clip length, and the one-hour extrapolation."""
    rows = []
    # quick: both runs past 64 windows (~28 s), where the lifter batch is full, so the slope is per-frame growth
    for seconds in ((30, 60) if quick else (10, 60, 600)):
        video = _looped(cache, seconds)
        probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                 "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
                 "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        argv = [sys.executable, "-c", probe, sys.executable, "-m", "posemoe_blender.cli", "capture", str(video),
                "-o", str(cache / "scale.motion.npz"), "--progress", "none"]
        code, wall, rss_kb = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
        if int(code) != 0:
            raise RuntimeError(f"capture of {video} failed with exit code {code}")
        rows.append({"seconds": seconds, "wall_s": float(wall), "peak_rss_mb": int(rss_kb) / 1024,
                     "realtime_factor": seconds / float(wall)})
        log.info("scale %d s: %.1f s wall, %.0f MB peak", seconds, float(wall), int(rss_kb) / 1024)
    # extrapolate from the two longest runs: below ~64 windows the lifter's batch (and its activation
    # memory) is smaller, so the shortest clip would make a straight line through all points too steep
    (s1, t1, m1), (s2, t2, m2) = ((r["seconds"], r["wall_s"], r["peak_rss_mb"]) for r in rows[-2:])
    tk, mk = (t2 - t1) / (s2 - s1), (m2 - m1) / (s2 - s1)
    trust = s2 >= 300  # over a minute the peak's run-to-run noise (~20 MB) outweighs per-frame growth
    return {"rows": rows, "wall_s_per_clip_s": tk, "startup_s": t2 - tk * s2,
            "rss_mb_per_min": 60 * mk if trust else None,
            "one_hour_wall_s_extrapolated": t2 + tk * (3600 - s2),
            "one_hour_rss_mb_extrapolated": m2 + mk * (3600 - s2) if trust else None}


# ---------------------------------------------------------------- report

def tables(res: dict) -> str:
    """Return the markdown tables of the results."""
    lines = []
    acc = res.get("accuracy")
    if acc:
        lines += ["### Accuracy per clip (mm; skate cm/s)", "",
                  "| clip | category | view | size | frames | 2D err px | " + " | ".join(
                      f"P-MPJPE {s}" for s in SOURCES) + " | MPJPE ours | MPJPE mp_world | accel ours | "
                  "accel mp_world | skate ours |", "|" + "---|" * (11 + len(SOURCES))]
        for name, r in acc["clips"].items():
            def g(s, m, r=r):
                v = r.get(s, {}).get(m)
                return "-" if v is None else f"{v:.1f}"
            lines.append(f"| {name} | {r['category']} | {r['view']} | {r['size'][0]}x{r['size'][1]} | {r['frames']} | "
                         f"{r['kp2d_px']:.1f} | " + " | ".join(g(s, "p_mpjpe_mm") for s in SOURCES) +
                         f" | {g('ours', 'mpjpe_mm')} | {g('mp_world', 'mpjpe_mm')} | {g('ours', 'accel_mm')} | "
                         f"{g('mp_world', 'accel_mm')} | {g('ours', 'skate_cm_s')} |")
        for key, title in (("by_category", "category"), ("by_view", "camera view")):
            lines += ["", f"### Per {title} (frame-weighted, mm)", "",
                      f"| {title} | clips | frames | " + " | ".join(f"P-MPJPE {s}" for s in SOURCES) +
                      " | " + " | ".join(f"MPJPE {s}" for s in SOURCES) + " | MPJVE ours | MPJVE mp_world |",
                      "|" + "---|" * (5 + 2 * len(SOURCES))]
            for gname, e in acc[key].items():
                def g(s, m, e=e):
                    v = e.get(s, {}).get(m)
                    return "-" if v is None else f"{v:.1f}"
                lines.append(f"| {gname} | {e['clips']} | {e['frames']} | " +
                             " | ".join(g(s, "p_mpjpe_mm") for s in SOURCES) + " | " +
                             " | ".join(g(s, "mpjpe_mm") for s in SOURCES) +
                             f" | {g('ours', 'mpjve_mm')} | {g('mp_world', 'mpjve_mm')} |")
        o = acc["overall"]
        ours, mw = o["ours"], o["mp_world"]
        lower = 100 * (1 - ours["p_mpjpe_mm"] / mw["p_mpjpe_mm"])
        lines += ["", f"Overall ({o['clips']} clips, {o['frames']} frames): ours P-MPJPE {ours['p_mpjpe_mm']:.1f} "
                  f"mm vs MediaPipe world {mw['p_mpjpe_mm']:.1f} mm ({lower:.0f} % lower); acceleration error "
                  f"{ours['accel_mm']:.2f} vs {mw['accel_mm']:.2f} mm/frame² "
                  f"({ours['accel_mm'] / mw['accel_mm']:.2f}x)."]
    sp = res.get("speed")
    if sp:
        lines += ["", "### Speed per stage (frames/s)", "",
                  "| clip | decode | 2D extraction | lifting (flip) | clean-up | capture x real time | lifter share |",
                  "|---|---|---|---|---|---|---|"]
        for k in ("640x480", "1920x1080"):
            s = sp[k]
            lines.append(f"| {k} | {s['decode_fps']:,.0f} | {s['extract_fps']:.1f} | {s['lift_fps_flip']:,.0f} | "
                         f"{s['cleanup_fps']:,.0f} | {s['capture_realtime_factor']:.2f} | "
                         f"{100 * s['lift_share_of_capture']:.1f} % |")
        b = sp["bake"]
        lines.append(f"\nRetarget + keyframing in bpy (`bake_clip`, {b['frames']} frames, "
                     f"{b['bake_clip_bones']} bones): "
                     f"{b['bake_clip_s']:.2f} s ({b['frames'] / b['bake_clip_s']:,.0f} frames/s); keyframing alone "
                     f"{b['keys_per_s']:,} keys/s.")
    sc = res.get("scale")
    if sc:
        lines += ["", "### Scale (`posemoe capture`, demo clip looped)", "",
                  "| clip length | wall s | x real time | peak memory MB |", "|---|---|---|---|"]
        for r in sc["rows"]:
            lines.append(f"| {r['seconds']} s | {r['wall_s']:.1f} | {r['realtime_factor']:.2f} | "
                         f"{r['peak_rss_mb']:.0f} |")
        mem = sc["one_hour_rss_mb_extrapolated"]
        lines.append(f"| 1 h (extrapolated) | {sc['one_hour_wall_s_extrapolated']:.0f} | "
                     f"{3600 / sc['one_hour_wall_s_extrapolated']:.2f} | {'-' if mem is None else f'{mem:.0f}'} |")
        if mem is None:
            lines.append("\nMemory is not extrapolated from runs this short (the full run measures 10 minutes).")
        else:
            lines.append(f"\nBetween the two longest runs memory grows {sc['rss_mb_per_min']:.1f} MB per minute of "
                         "video (per-frame keypoints, MediaPipe landmarks and the clean-up's arrays); the 1 h row "
                         "extends that line.")
    return "\n".join(lines) + "\n"


def plots(res: dict, images: Path = IMAGES) -> list[Path]:
    """Write the PNG plots of docs/benchmarks.md into ``images``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images.mkdir(parents=True, exist_ok=True)
    paths = []
    acc = res.get("accuracy")
    if acc:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for ax, key in zip(axes, ("by_category", "by_view"), strict=True):
            groups = list(acc[key])
            x = np.arange(len(groups))
            width = 0.8 / len(SOURCES)
            for i, s in enumerate(SOURCES):
                vals = [acc[key][g].get(s, {}).get("p_mpjpe_mm", np.nan) for g in groups]
                ax.bar(x + (i - (len(SOURCES) - 1) / 2) * width, vals, width, label=LABELS[s])
            ax.set_xticks(x, groups, rotation=30)
            ax.set_ylabel("P-MPJPE mm (lower is better)")
            ax.set_title(f"per {key[3:]}")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        paths.append(images / "bench_accuracy.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    sp = res.get("speed")
    if sp:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        stages = ("decode_fps", "extract_fps", "lift_fps_flip", "cleanup_fps")
        x = np.arange(len(stages))
        for i, k in enumerate(("640x480", "1920x1080")):
            ax.bar(x + (i - 0.5) * 0.38, [sp[k][s] for s in stages], 0.38, label=k)
        ax.axhline(30, color="k", lw=0.8, ls="--", label="real time (30 fps)")
        ax.set_yscale("log")
        ax.set_xticks(x, ["decode", "2D extraction", "lifting", "clean-up"])
        ax.set_ylabel("frames/s (2 CPU cores)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(images / "bench_speed.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    sc = res.get("scale")
    if sc:
        fig, ax1 = plt.subplots(figsize=(6, 3.2))
        s = [r["seconds"] / 60 for r in sc["rows"]]
        ax1.plot(s, [r["peak_rss_mb"] for r in sc["rows"]], "o-", label="peak memory MB")
        ax1.set_xlabel("clip length, minutes")
        ax1.set_ylabel("peak memory MB")
        ax1.set_ylim(0, max(1600, 1.2 * max(r["peak_rss_mb"] for r in sc["rows"])))
        ax1.axhline(1536, color="r", lw=0.8, ls="--", label="1.5 GB target (1 h)")
        ax2 = ax1.twinx()
        ax2.plot(s, [r["wall_s"] for r in sc["rows"]], "s--", color="C1", label="wall s")
        ax2.set_ylabel("wall s")
        ax1.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        paths.append(images / "bench_scale.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="demo clip + 2 rendered clips, 30 s and 1 min scale runs")
    ap.add_argument("--gt-dir", type=Path, default=Path.home() / ".cache" / "posemoe" / "gt")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: accuracy, speed, scale")
    ap.add_argument("--no-render", action="store_true", help="measure only ground-truth clips already rendered")
    ap.add_argument("--weights", type=Path, default=None, help="lifter weights for 'ours' (default: the shipped ones)")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench.json",
                    help="JSON to write (tables beside it as .md; plots in docs/images, or beside a non-default JSON)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    a.gt_dir.mkdir(parents=True, exist_ok=True)
    res: dict = {"date": time.strftime("%Y-%m-%d"), "quick": a.quick,
                 "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
                 "command": "python benchmarks/bench.py" + (" --quick" if a.quick else "")}
    t0 = time.perf_counter()
    if "accuracy" not in skip:
        res["accuracy"] = accuracy(a.gt_dir, a.quick, not a.no_render, a.weights)
    if "speed" not in skip:
        res["speed"] = speed(a.gt_dir, a.quick)
    if "scale" not in skip:
        res["scale"] = scale(a.gt_dir, a.quick)
    res["bench_seconds"] = time.perf_counter() - t0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    md = tables(res)
    for path, text in ((a.out, json.dumps(res, indent=2) + "\n"), (a.out.with_suffix(".md"), md)):
        tmp = path.with_name(path.name + ".tmp")  # never a half-written report
        tmp.write_text(text)
        os.replace(tmp, path)
    for p in plots(res, IMAGES if a.out == RESULTS / "bench.json" else a.out.parent):
        log.info("plot %s", p)
    print(md)
    print(f"JSON: {a.out}  ({res['bench_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
