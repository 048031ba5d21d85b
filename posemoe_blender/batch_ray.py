"""``posemoe batch --backend ray``: the same per-clip work as Ray tasks, on a local instance or a cluster.

Each clip is one task running ``posemoe capture`` + ``posemoe bake`` subprocesses on the node Ray
picks (:meth:`posemoe_blender.batch.BatchRunner.run_one`), with the same outputs, summary and
resumability as the local backend. Lifting is per clip there (not batched across clips as by the
local backend's lifter process).
"""

from __future__ import annotations

import os
import sys

from posemoe_blender.batch import BatchRunner, ClipJob, sweep_temps


def _ray_run_one(job: ClipJob, settings: dict) -> ClipJob:
    """Ray task body: the same per-clip work as the local runner, on whichever node Ray picks."""
    return BatchRunner(**settings).run_one(job)


def run_on_ray(jobs: list[ClipJob], settings: dict, address: str | None = None, on_done=None) -> list[ClipJob]:
    """Run the jobs as Ray tasks (local instance, or the cluster at ``address``); return them updated.

    Each clip asks for a quarter GPU when the cluster has GPUs, so lifting is scheduled on GPU
    nodes there (the worker then picks CUDA); otherwise one CPU. Outputs must be on storage
    every node sees (the same ``--out`` path).
    """
    try:
        import ray
    except ImportError:
        from core.errors import WorkerEnvError

        raise WorkerEnvError("--backend ray needs the ray package; run `make setup` (ray is pinned)") from None
    sweep_temps(settings["out_dir"], jobs)  # a killed run's leftovers
    started = not ray.is_initialized()
    if started:
        local = address is None
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 num_cpus=settings.get("jobs") if local else None,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}} if local else None)
    try:
        gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_run_one)
        refs = {task.remote(j, settings): i for i, j in enumerate(jobs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = refs[done[0]]
                jobs[i] = ray.get(done[0])
                if on_done is not None:
                    on_done(jobs[i], None)
        except KeyboardInterrupt:
            for r in pending:
                ray.cancel(r, force=True)
            raise
    finally:
        if started:
            ray.shutdown()
        sweep_temps(settings["out_dir"], jobs)
    return jobs
