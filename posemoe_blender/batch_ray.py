"""``posemoe batch --backend ray``: the same per-clip work as Ray tasks, on a local instance or a cluster.

Each clip is one task running ``posemoe capture`` + ``posemoe bake`` subprocesses on the node Ray
picks (:meth:`posemoe_blender.batch.BatchRunner.run_one`), with the same outputs, summary and
resumability as the local backend. Lifting is per clip there (not batched across clips as by the
local backend's lifter process).
"""

from __future__ import annotations

import os
import socket
import sys
import warnings

from core.errors import WorkerEnvError
from posemoe_blender.batch import BatchRunner, ClipJob, sweep_temps


def _ray_run_one(job: ClipJob, settings: dict) -> ClipJob:
    """Ray task body: the same per-clip work as the local runner, on whichever node Ray picks."""
    return BatchRunner(**settings).run_one(job)


CONNECT_TIMEOUT_S = 10.0
"""How long a cluster's head may take to accept a connection (Ray itself retries for minutes)."""


def check_address(address: str) -> None:
    """Raise WorkerEnvError unless something accepts connections at ``address`` ("host:port"; "auto" and Ray client
    ``ray://`` addresses are left to Ray): an unreachable head would keep Ray retrying for minutes."""
    if address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:6379
    if not host or not port.isdigit():
        raise WorkerEnvError(f"--address {address}: not a Ray address; give HOST:PORT of the head node, or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise WorkerEnvError(f"--address {address}: no Ray head answers there ({e.strerror or e}); start one "
                             "(ray start --head) or check the address") from None


def run_on_ray(jobs: list[ClipJob], settings: dict, address: str | None = None, on_done=None) -> list[ClipJob]:
    """Run the jobs as Ray tasks (local instance, or the cluster at ``address``); return them updated.

    Each clip asks for a quarter GPU when the cluster has GPUs, so lifting is scheduled on GPU
    nodes there (the worker then picks CUDA); otherwise one CPU. Outputs must be on storage
    every node sees (the same ``--out`` path).
    """
    try:
        with warnings.catch_warnings():  # ray's own FutureWarnings (with source lines) are not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            import ray
    except ImportError:
        raise WorkerEnvError("--backend ray needs the ray package; run `make setup` (ray is pinned)") from None
    sweep_temps(settings["out_dir"], jobs)  # a killed run's leftovers
    started = not ray.is_initialized()
    if started:
        local = address is None
        try:  # (an unreachable head was refused before any clip started: posemoe_blender.cli checks --address)
            warnings.filterwarnings("ignore", category=FutureWarning, module="ray")  # its tips, with source lines
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     num_cpus=settings.get("jobs") if local else None,
                     runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}} if local else None)
        except (ConnectionError, RuntimeError, ValueError) as e:  # no cluster there, or a client address
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WorkerEnvError(f"--address {address or '(local)'}: Ray could not start or connect ({first}); "
                                 "check the address, or leave --address out for a local Ray") from None
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
