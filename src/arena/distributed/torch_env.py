"""The PyTorchJob env contract (Training Operator `envvar.go`), for one replica.

RANK is the node rank: master 0, workers index + 1. WORLD_SIZE follows the operator:
replicas × nproc-per-node when that is an integer, else the replica count.
"""
from __future__ import annotations

from arena.spec.job import JobSpec, PyTorchOptions


def rank(task: str, index: int) -> int:
    return index if task == "master" else index + 1


def env(spec: JobSpec, task: str, index: int, master_addr: str, master_port: int | str) -> dict[str, str]:
    nnodes = spec.total_replicas
    opts = spec.options_as(PyTorchOptions)
    nproc = opts.nproc_per_node
    world = nnodes * int(nproc) if nproc and nproc.isdigit() else nnodes
    r = rank(task, index)
    out = {
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(world),
        "RANK": str(r),
        "LOCAL_RANK": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if nproc:
        out.update({
            "PET_NPROC_PER_NODE": nproc,
            "PET_NNODES": str(nnodes),
            "PET_NODE_RANK": str(r),
            "PET_MASTER_ADDR": master_addr,
            "PET_MASTER_PORT": str(master_port),
        })
    return out
