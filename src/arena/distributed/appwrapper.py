"""The AppWrapper fork's env contract for its Volcano inner job (chart appwrapperjob 0.3.2, ARENA.md §3.3).

Meant for `torchrun --nnodes=$NNODES --node_rank=$RANK --nproc_per_node=$NPROC_PER_NODE
--master_addr=$MASTER_ADDR --master_port=$MASTER_PORT`, so RANK is the *node* index while WORLD_SIZE
counts processes:

    MASTER_ADDR      host of replica 0 of the task (`<job>-<task>-0.<job>` on a cluster)
    MASTER_PORT      --master-port (on one machine: the port the engine allocated for replica 0)
    NNODES           replicas
    NPROC_PER_NODE   n, only when --nproc-per-node is a number
    WORLD_SIZE       replicas × n when numeric, else replicas
    RANK, NODE_RANK  the pod's index in the task
    LOCAL_WORLD_SIZE n, only when numeric

The chart emits this block only when replicas > 1 (or with --rdma, which this project does not model).
`PET_NPROC_PER_NODE` comes from Arena's own env (both inner types) when --nproc-per-node is set. The
PyTorch inner type gets the Training Operator's env instead (distributed/torch_env.py, not here).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from arena.distributed import volcano
from arena.distributed.tf_config import Endpoints, check_endpoints, check_index, host_of, port_text, task_of
from arena.spec.job import AppWrapperOptions, JobSpec, TaskSpec


def options_of(spec: JobSpec) -> AppWrapperOptions:
    return spec.options_as(AppWrapperOptions)


def numeric_nproc(spec: JobSpec) -> int | None:
    """The chart's `^[0-9]+$` test: auto/cpu/gpu (or unset) do not count as numbers.

    ASCII digits only, as Go's `[0-9]`; `str.isdigit` alone would also accept other scripts' digits.
    """
    value = options_of(spec).nproc_per_node
    return int(value) if value and value.isascii() and value.isdigit() else None


def inner_task(spec: JobSpec) -> TaskSpec:
    """The single Volcano task (named --task-name)."""
    task = spec.task(options_of(spec).task_name) or (spec.tasks[0] if spec.tasks else None)
    if task is None:
        raise ValueError(f"job {spec.name} has no task")
    return task


def volcano_env(spec: JobSpec, index: int, endpoints: Endpoints) -> dict[str, str]:
    """The fork's torchrun env for replica `index` of the Volcano inner job ({} for one replica)."""
    opts = options_of(spec)
    if opts.inner_type != "volcano":
        return {}
    task = inner_task(spec)
    check_index(task, index)
    if task.replicas <= 1:
        return {}
    check_endpoints(spec, endpoints, [task.name])
    master = endpoints[task.name][0]
    n = numeric_nproc(spec)
    env = {"MASTER_ADDR": host_of(master), "MASTER_PORT": port_text(master), "NNODES": str(task.replicas)}
    if n is not None:
        env["NPROC_PER_NODE"] = str(n)
    env["WORLD_SIZE"] = str(task.replicas * n if n is not None else task.replicas)
    env["RANK"] = str(index)
    env["NODE_RANK"] = str(index)
    if n is not None:
        env["LOCAL_WORLD_SIZE"] = str(n)
    return env


def replica_env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints,
                hosts: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """All the env this module owns for one replica: PET_NPROC_PER_NODE, and for the Volcano inner type
    the svc plugin's VC_<TASK>_HOSTS/NUM (unless --use-svc-plugin=false) and the torchrun block."""
    opts = options_of(spec)
    t = task_of(spec, task)
    check_index(t, index)
    env: dict[str, str] = {}
    if opts.nproc_per_node:
        env["PET_NPROC_PER_NODE"] = opts.nproc_per_node
    if opts.inner_type == "volcano":
        if opts.use_svc_plugin:
            env.update(volcano.svc_env(spec, hosts if hosts is not None else endpoints))
        env.update(volcano_env(spec, index, endpoints))
    return env


def cluster_endpoints(spec: JobSpec) -> dict[str, list[str]]:
    """On a cluster: `<job>-<task>-<i>.<job>:<master-port>` (the svc plugin's or the manual headless Service)."""
    port = options_of(spec).master_port
    return {name: [f"{h}:{port}" for h in hosts] for name, hosts in volcano.cluster_hosts(spec).items()}
