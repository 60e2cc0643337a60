"""`arena top queue`: each queue's weight, deserved share, allocation and job counts.

Computed from the same session-open state as a cycle, so the deserved column is exactly what
the scheduler uses to order queues and to decide reclaim.
"""
from __future__ import annotations

from arena.engines.local.scheduler.context import build
from arena.engines.local.scheduler.snapshot import QueueReport, Snapshot


def queue_report(snapshot: Snapshot) -> dict[str, QueueReport]:
    st = build(snapshot)
    dims, zero = st.dims, st.dims.zero
    pending: dict[str, int] = {}
    for q, jobs in st.pending.items():
        pending[q] = sum(1 for j in jobs if st.needs[j.uid].members)
    running: dict[str, int] = {}
    for job in snapshot.jobs:
        if any(r.bound and not r.finished for r in job.replicas):
            running[job.queue] = running.get(job.queue, 0) + 1
    out: dict[str, QueueReport] = {}
    for name in sorted(snapshot.queues.keys() | pending.keys() | running.keys()):
        qu = st.queue(name)
        out[name] = QueueReport(
            name=name,
            weight=qu.weight if qu else 0,
            state=qu.state if qu else "Unknown",
            reclaimable=qu.reclaimable if qu else False,
            deserved=dims.amount(tuple(st.deserved.get(name, zero))),
            allocated=dims.amount(st.held.get(name, zero)),
            capability=qu.capability if qu else None,
            guarantee=qu.guarantee if qu else None,
            pending=pending.get(name, 0),
            running=running.get(name, 0),
            share=st.share(name),
        )
    return out
