"""Invariants every scheduler state and every Decisions must satisfy (SEMANTICS B.14 + the issue)."""
from __future__ import annotations

from collections import Counter

from arena.engines.local.scheduler import Amount, Decisions, Job, Node, Queue, Snapshot
from arena.engines.local.wording import text


def held(jobs: list[Job], queue: str | None = None) -> Amount:
    out = Amount()
    for j in jobs:
        if queue is None or j.queue == queue:
            for r in j.replicas:
                if r.bound and not r.finished:
                    out = out + r.request
    return out


def check_state(node: Node, queues: dict[str, Queue], jobs: list[Job]) -> None:
    """What is bound right now is a state the scheduler may produce."""
    # node capacity, and GPU indices: concrete, on the node, never shared
    assert held(jobs).fits_in(node.allocatable), "node over-allocated"
    indices = Counter(i for j in jobs for r in j.replicas if r.bound and not r.finished for i in r.gpu_indices)
    assert all(c == 1 for c in indices.values()), f"GPU held twice: {indices}"
    assert set(indices) <= set(node.gpu_indices)
    for j in jobs:
        for r in j.replicas:
            if r.bound and not r.finished:
                assert len(r.gpu_indices) == r.request.gpus
        # no gang partially running
        ready = sum(1 for r in j.replicas if r.bound or r.finished)
        assert ready == 0 or ready >= j.gang_size, f"{j.uid}: gang {ready}/{j.gang_size} partially running"
    # capability is a hard cap
    for q in queues.values():
        if q.capability is not None:
            h, c = held(jobs, q.name), q.capability
            assert not c.cpu_milli or h.cpu_milli <= c.cpu_milli
            assert not c.memory or h.memory <= c.memory
            assert not c.gpus or h.gpus <= c.gpus, f"queue {q.name} over capability: {h.gpus}/{c.gpus}"


def check_decisions(s: Snapshot, d: Decisions) -> None:
    by_uid = {j.uid: j for j in s.jobs}
    evicted = [e.job_uid for e in d.evictions]
    assert len(evicted) == len(set(evicted))
    for e in d.evictions:
        v = by_uid[e.job_uid]
        assert v.preemptable and not v.releasing and v.bound_count > 0
        p = by_uid[e.preemptor]
        assert e.preemptor in d.waiting, "evicted for a job that is not waiting"
        if e.action == "reclaim":
            assert s.queues[v.queue].reclaimable, "reclaimed from a reclaimable=false queue"
            assert v.queue != p.queue
        else:
            assert e.action == "preempt" and v.queue == p.queue and v.priority < p.priority
    bound = {b.job_uid for b in d.binds}
    assert not bound & set(evicted)
    for uid in bound:
        j = by_uid[uid]
        assert not j.releasing
        q = s.queues.get(j.queue)
        assert q is not None and (q.state == "Open" or j.admitted or uid in d.admit and q.state == "Open")
    for uid in d.admit:
        assert s.queues[by_uid[uid].queue].state == "Open", "admitted into a queue that is not Open"
    # positions are 1..n per queue among waiting jobs
    per_queue: dict[str, list[int]] = {}
    for uid, w in d.waiting.items():
        if w.position:
            per_queue.setdefault(by_uid[uid].queue, []).append(w.position)
        assert w.reason.code and "\n" not in text(w.reason)
    for ps in per_queue.values():
        assert sorted(ps) == list(range(1, len(ps) + 1))


def runnable_on_empty_machine(node: Node, queues: dict[str, Queue], j: Job) -> bool:
    """The job's gang fits the machine, less other queues' guarantees, under its capability."""
    q = queues.get(j.queue)
    if q is None or (q.state != "Open" and not j.admitted):
        return False
    need = Amount()
    for r in j.replicas[: j.gang_size]:
        need = need + r.request
    room = node.allocatable
    for other in queues.values():
        if other.name != q.name and other.guarantee is not None and other.state == "Open":
            room = room - other.guarantee
    if not need.fits_in(room):
        return False
    c = q.capability
    return c is None or ((not c.gpus or need.gpus <= c.gpus) and (not c.cpu_milli or need.cpu_milli <= c.cpu_milli)
                         and (not c.memory or need.memory <= c.memory))
