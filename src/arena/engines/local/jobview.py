"""The read models the local engine answers with (`arena.views`), built from the repository's rows.

This is the edge where the scheduler's structured reasons become English (`wording.text`): the store
keeps the `Reason`; `JobView.reason` shows its text. A replica's state is shown in kubectl's words
(`status_word`), as upstream shows a pod's, so scripts written against `arena get` read the same words on
both engines.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import msgspec

from arena import kinds
from arena.engines.local import cpuset, wording
from arena.engines.local.schedulable import decode_reason
from arena.engines.local.controllers.base import master_task
from arena.engines.local.node import Capacity, GPUInfo
from arena.engines.local.plan import LOOPBACK, Bindings, LocalPlan
from arena.engines.local.rows import JobRow, QueueRow, ReplicaRow, VolumeRow
from arena.engines.local.scheduler import QueueReport
from arena.spec import quantity
from arena.spec.job import JobSpec
from arena.views import DataView, Event, Instance, JobView, NodeView, QueueView, Transition


ENDED = ("Completed", "Error")  # the words of a replica whose process has ended


def status_word(r: ReplicaRow, job_finished: bool) -> str:
    """What `kubectl get pods` would print in STATUS for this replica (upstream's DefinePodPhaseStatus):
    Pending until bound, ContainerCreating until its process runs, CrashLoopBackOff while it waits out a
    restart back-off, then the runtime's terminated reason: Completed for exit 0, else Error (a signal too:
    the runtime reports 128 + N as an Error)."""
    if r.restart_at is not None and r.restart_at > (r.finished or 0) and not job_finished:
        return "CrashLoopBackOff"
    if r.state in ("Pending", "Running", "Terminating"):
        return r.state
    if r.state == "Starting":
        return "ContainerCreating"
    return "Completed" if r.exit_code == 0 else "Error"


def _threads(env: dict[str, str], name: str, bindings: Bindings) -> int | None:
    value = bindings.text(env.get(name, ""))
    return int(value) if value.isdigit() else None


def job(row: JobRow, spec: JobSpec | None = None, reps: list[ReplicaRow] | None = None,
        events: list[Event] | None = None, transitions: list[Transition] | None = None, alloc: int | None = None,
        with_spec: bool = False, plan: LocalPlan | None = None) -> JobView:
    """The job's view; with its `plan`, each instance also shows the thread counts it was started with."""
    instances: list[Instance] = []
    # Why it waits (structured, and rendered as its reason), else what ended or re-queued it.
    waiting = decode_reason(row.waiting)
    master = master_task(spec) if spec else ""
    chief = ""
    bound_gpus = 0  # as list's: GPUs of bound replicas that are starting or running
    planned = {f"{r.task}-{r.index}": r.env for r in plan.replicas} if plan is not None else {}
    share = Bindings({}, len(cpuset.usable())) if planned else None
    for r in reps or []:
        name = f"{row.name}-{r.key}"
        is_chief = r.task == master and r.idx == 0
        if is_chief:
            chief = name
        task = spec.task(r.task) if spec else None
        if r.bound and r.state in ("Starting", "Running"):
            bound_gpus += len(r.gpus)
        env = planned.get(r.key, {})
        instances.append(Instance(
            name=name, task=r.task, index=r.idx, status=status_word(r, row.finished is not None), chief=is_chief,
            requestGPUs=task.resources.gpus if task else 0, gpuIndices=r.gpus, port=r.port, restarts=r.restarts,
            exitCode=r.exit_code, pid=r.pid, startTime=r.started, finishTime=r.finished,
            logPath=str(Path(row.job_dir) / "logs" / f"{r.key}.log"), reason=r.reason, cpuAffinity=r.cpus,
            ompNumThreads=_threads(env, "OMP_NUM_THREADS", share) if share else None,
            mklNumThreads=_threads(env, "MKL_NUM_THREADS", share) if share else None))
    return JobView(
        uuid=row.uid, name=row.name, namespace=row.namespace, kind=row.kind, trainer=kinds.get(row.kind, "kind").trainer,
        status=row.status, phase=row.phase, creationTimestamp=row.created, startTime=row.started,
        finishTime=row.finished, queue=row.queue, priority=row.priority_class or "N/A", requestGPUs=row.requested_gpus,
        allocatedGPUs=bound_gpus if alloc is None else alloc, chiefName=chief, reason=wording.text(waiting) if waiting is not None else row.reason,
        position=row.position, restarts=row.restarts, retries=row.retries, jobDir=row.job_dir, instances=instances,
        tensorboard=f"http://{LOOPBACK}:{row.tb_port}" if row.tb_port else "",
        events=events or [], transitions=transitions or [],
        spec=msgspec.to_builtins(spec) if (with_spec and spec) else None,
        waiting=msgspec.to_builtins(waiting) if waiting is not None else None)


def node(capacity: Capacity, bound: list[tuple[ReplicaRow, JobSpec]], live: dict[int, GPUInfo]) -> NodeView:
    """This machine: capacity, what bound replicas hold, and each GPU (NVML's figures when detected)."""
    cpu = mem = 0
    gpu_alloc: dict[int, str] = {}
    for r, spec in bound:
        t = spec.task(r.task)
        if t:
            cpu += quantity.cpu_milli(t.resources.cpu)
            mem += quantity.memory_bytes(t.resources.memory)
        for g in r.gpus:
            gpu_alloc[g] = r.job_uid
    gpus = [{"index": i, "allocated": i in gpu_alloc, "name": live[i].name if i in live else "",
             "memory_total": live[i].memory_total if i in live else None,
             "memory_used": live[i].memory_used if i in live else None,
             "utilization": live[i].utilization if i in live else None} for i in capacity.gpus]
    return NodeView(name=socket.gethostname(), ip=LOOPBACK, role="<none>", status="Ready",
                    cpu_milli=capacity.cpu_milli, memory=capacity.memory, gpu_total=len(capacity.gpus),
                    gpu_allocated=len(gpu_alloc), cpu_allocated=cpu, memory_allocated=mem, gpus=gpus,
                    capacity_source=capacity.source)


def queue(row: QueueRow, report: QueueReport | None = None) -> QueueView:
    """A queue with the scheduler's figures (deserved/allocated) when a report is given."""
    def amount(a: Any) -> dict[str, str]:
        if a is None:
            return {}
        out = {"cpu": quantity.format_cpu(a.cpu_milli), "memory": quantity.format_memory(a.memory),
               "nvidia.com/gpu": str(a.gpus)}
        out.update({k: str(v) for k, v in a.extended.items()})
        return out

    return QueueView(name=row.name, weight=row.weight, state=row.state, reclaimable=row.reclaimable,
                     capability=row.capability, guarantee=row.guarantee,
                     deserved=amount(report.deserved if report else None),
                     allocated=amount(report.allocated if report else None),
                     pending=report.pending if report else 0, running=report.running if report else 0,
                     created=row.created)


def data(row: VolumeRow) -> DataView:
    return DataView(name=row.name, path=row.path, description=row.description, created=row.created)
