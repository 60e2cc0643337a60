"""Small builders for scheduler tests, and `apply`/`settle`: what the daemon does with Decisions."""
from __future__ import annotations

from typing import TypeVar

import msgspec

from arena.engines.local.scheduler import Amount, Decisions, Job, Node, Queue, Replica, Snapshot
from arena.engines.local.wording import text

GI = 1024**3
T = TypeVar("T", Job, Replica)


def node(gpus: int = 0, cpu: int = 64, mem_gi: int = 256, **ext: int) -> Node:
    return Node(Amount(cpu * 1000, mem_gi * GI, gpus, dict(ext)), tuple(range(gpus)))


def amount(gpus: int = 0, cpu: float = 1, mem_gi: float = 1, **ext: int) -> Amount:
    return Amount(int(cpu * 1000), int(mem_gi * GI), gpus, dict(ext))


def job(uid: str, queue: str = "default", replicas: int = 1, gpus: int = 0, cpu: float = 1, mem_gi: float = 1,
        priority: int = 0, created: float = 0.0, min_available: int = 0, **kw: object) -> Job:
    req = amount(gpus, cpu, mem_gi)
    reps = tuple(Replica(f"worker-{i}", req) for i in range(replicas))
    return Job(uid, uid, "default", queue, priority, created, min_available, reps, **kw)  # type: ignore[arg-type]


def snap(n: Node, queues: list[Queue] | None, jobs: list[Job]) -> Snapshot:
    qs = queues if queues is not None else [Queue("default")]
    return Snapshot(n, {q.name: q for q in qs}, tuple(jobs))


def with_(obj: T, **changes: object) -> T:
    return msgspec.structs.replace(obj, **changes)


def apply(jobs: list[Job], d: Decisions) -> list[Job]:
    """Binds take effect; admitted jobs are marked; evicted jobs start releasing (being killed)."""
    binds: dict[str, dict[str, tuple[int, ...]]] = {}
    for b in d.binds:
        binds.setdefault(b.job_uid, {})[b.replica] = b.gpu_indices
    evicted = {e.job_uid for e in d.evictions}
    admitted = set(d.admit)
    out = []
    for j in jobs:
        mine = binds.get(j.uid)
        if mine:
            j = with_(j, replicas=tuple(with_(r, bound=True, gpu_indices=mine[r.key]) if r.key in mine else r
                                        for r in j.replicas))
        w = d.waiting.get(j.uid)
        out.append(with_(j, admitted=j.admitted or j.uid in admitted, releasing=j.releasing or j.uid in evicted,
                         waiting_reason=w.reason if w else None))
    return out


def events(d: Decisions) -> list[tuple[str, str, str]]:
    """The cycle's events as the daemon records them (messages rendered at the edge)."""
    return [(uid, reason, text(what)) for uid, reason, what in d.events]


def settle(jobs: list[Job]) -> list[Job]:
    """Evicted processes have exited: RestartJob puts the job back in its queue, not admitted."""
    return [with_(j, releasing=False, admitted=False,
                  replicas=tuple(with_(r, bound=False, gpu_indices=()) for r in j.replicas)) if j.releasing else j
            for j in jobs]


def running(jobs: list[Job]) -> set[str]:
    return {j.uid for j in jobs if any(r.bound for r in j.replicas) and not j.releasing}
