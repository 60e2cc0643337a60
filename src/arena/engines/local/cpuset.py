"""The CPU contract of a replica on this machine: how many threads its math libraries start, and which
cores it is pinned to.

Why: a replica's OpenMP/MKL pool defaults to one thread per core of the machine, so two replicas on two
cores run four busy threads and slow each other down. torchrun avoids this by giving each worker
`OMP_NUM_THREADS=1` when it starts several; Arena applies the same idea to every kind:

- with a CPU request (`--cpu 1.5`), `OMP_NUM_THREADS` and `MKL_NUM_THREADS` are the request rounded down
  (at least 1), and the replica is pinned (`sched_setaffinity`) to the request rounded up, in whole cores,
  so that it never gets less than it asked for; cores go to one replica at a time while free ones last,
  then to the least used;
- without a request, they are the usable CPUs divided by the job's replicas that share them (at least 1).

A replica that starts several processes itself (torchrun's `--nproc-per-node`, announced by the env
contract as `PET_NPROC_PER_NODE`) divides its share among them. A value the user set (`-e`, the job file,
or the submitting shell's environment) is kept, as torchrun keeps one already set.

The thread count without a request and the cores are only known in the daemon, so the plan holds
placeholders (`plan.threads_share`, `plan.cpus`) that the bindings fill in.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable

from arena.engines.local.shim import AFFINITY
from arena.errors import InvalidSpec
from arena.spec import quantity
from arena.spec.job import JobSpec, TaskSpec

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
AFFINITY_ENV = AFFINITY  # the cores a replica is pinned to, "0,1"; its shim applies them before it starts
NPROC_ENV = "PET_NPROC_PER_NODE"  # processes a replica starts itself (torchrun), from the env contract


def usable() -> list[int]:
    """The cores this process may run on (its affinity, which a cgroup's cpuset narrows), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return list(range(os.cpu_count() or 1))


def requested_milli(task: TaskSpec) -> int:
    """The task's CPU request in millicores; 0 for none, and for a value that is not a quantity: planning
    stays total, and the daemon's door refuses that value naming its field."""
    try:
        return quantity.cpu_milli(task.resources.cpu)
    except InvalidSpec:
        return 0


def threads_of_request(milli: int, processes: int = 1) -> int:
    """Threads per process for a CPU request: whole CPUs, shared by the replica's processes, at least 1."""
    return max(1, milli // 1000 // max(processes, 1))


def threads_of_share(cpus: int, sharing: int) -> int:
    """Threads per process without a request: the usable CPUs over what shares them, at least 1."""
    return max(1, cpus // max(sharing, 1))


def cores_of_request(milli: int, available: int) -> int:
    """Cores to pin a replica to: its request in whole cores, rounded up, at most what the machine has."""
    return min(max(1, math.ceil(milli / 1000)), max(available, 1))


def sharing(spec: JobSpec) -> int:
    """Replicas of the job without a CPU request: they share the machine's CPUs."""
    return max(1, sum(t.replicas for t in spec.tasks if not requested_milli(t)))


def processes(env: dict[str, str]) -> int | None:
    """Processes the replica starts itself: 1, the number its env contract announces, or None when the
    launcher decides at run time (`--nproc-per-node auto|cpu|gpu`)."""
    value = env.get(NPROC_ENV, "")
    if not value:
        return 1
    return int(value) if value.isdigit() and int(value) > 0 else None


def contract(spec: JobSpec, task: TaskSpec, key: str, env: dict[str, str]) -> dict[str, str]:
    """The replica's CPU variables as planned, given its env so far (the user's layers and the framework's):
    the thread counts it does not set already, and the placeholder of its cores when it requests CPUs."""
    from arena.engines.local.plan import cpu_share, cpus

    milli = requested_milli(task)
    procs = processes(env)
    if procs is None:  # the launcher picks its process count: one thread each, as torchrun gives them
        threads = "1"
    elif milli:
        threads = str(threads_of_request(milli, procs))
    else:
        threads = cpu_share(sharing(spec) * procs)
    out = {name: threads for name in THREAD_VARS if name not in env}
    if milli:
        out[AFFINITY_ENV] = cpus(key)
    return out


def choose(count: int, cores: Iterable[int], held: Counter[int]) -> list[int]:
    """`count` cores for one replica: free ones first (lowest numbers), then the least used.

    `held` counts, per core, the pinned replicas on it; the caller adds the choice to it before the
    next replica, so that the replicas of one bind are spread as well."""
    ordered = sorted(cores, key=lambda c: (held.get(c, 0), c))
    return sorted(ordered[:count])


def parse(text: str) -> list[int]:
    """A core list as `ARENA_CPU_AFFINITY` holds it ("0,1"); ValueError when it is not one."""
    return [int(x) for x in text.split(",") if x.strip()]
