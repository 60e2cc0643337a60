"""kubeflow.org/v1 PyTorchJob: Master (+ Workers). Composed by `arena.kinds.pytorchjob` (and embedded
in an AppWrapper by `arena.kinds.appwrapperjob`).

The training operator injects MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK itself (SEMANTICS E.7);
Arena adds only what the operator does not: upstream's `workers`/`gpus` env and PET_NPROC_PER_NODE (and,
with --rdma, upstream's MASTER_ADDR). `--nproc-per-node` is torchrun's, through PET_NPROC_PER_NODE only, as
upstream: `spec.nprocPerNode` would make the operator count WORLD_SIZE as nodes × nproc, which breaks a
program that is not started by torchrun.
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.render import kubeflow, pod
from arena.engines.kubernetes.render.context import Ctx
from arena.spec.job import JobSpec

API_VERSION = "kubeflow.org/v1"
KIND = "PyTorchJob"
ROLES = {"master": "Master", "worker": "Worker"}
CONTAINER = "pytorch"
PORT_NAME = "pytorchjob-port"
DEFAULT_PORT = 23456


def master_port(spec: JobSpec, option_port: int = 0) -> int:
    master = spec.task("master")
    return option_port or (master.port if master else 0) or DEFAULT_PORT


def job(ctx: Ctx, *, nproc_per_node: str | None, port: int, embedded: bool = False,
        rdma_master: bool = False) -> dict[str, Any]:
    """The PyTorchJob object; also embedded in an AppWrapper (embedded=True). `rdma_master`: upstream's
    pytorchjob gives --rdma jobs MASTER_ADDR=<job>-master-0 (the master Service) itself."""
    kubeflow.check_job_names(ctx)
    kind_env = [pod.env_value("PET_NPROC_PER_NODE", nproc_per_node)] if nproc_per_node else []
    if rdma_master and ctx.spec.rdma:
        kind_env.append(pod.env_value("MASTER_ADDR", f"{ctx.name}-master-0"))
    ports = [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    replicas: dict[str, Any] = {}
    for rtype, task in kubeflow.replica_types(ctx, ROLES):
        extra = {"master-pod-name": f"{ctx.name}-master-0"} if rtype == "Master" else None
        template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports, kind_env=kind_env, labels=extra,
                                    scheduler_name=ctx.spec.scheduling.scheduler_name)
        replicas[rtype] = kubeflow.replica_spec(task, template)
    spec: dict[str, Any] = {"runPolicy": kubeflow.run_policy(ctx)}
    spec["pytorchReplicaSpecs"] = replicas
    meta = kubeflow.metadata(ctx, embedded=embedded)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec}


def chief_selector(ctx: Ctx) -> dict[str, str]:
    role = "Master" if ctx.spec.task("master") else "Worker"
    return kubeflow.chief_selector(ctx.name, role)
