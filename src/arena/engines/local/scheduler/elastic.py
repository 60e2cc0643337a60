"""Replicas beyond minAvailable: placed one at a time once their gang runs.

Volcano orders not-ready jobs before ready ones, so a running job's extra replicas only get
what every waiting gang left (reservations included), in queue order then job order. They are
never needed for the job to run, so they wait without a position in the queue.
"""
from __future__ import annotations

from arena.engines.local.scheduler import enqueue, reasons
from arena.engines.local.scheduler.context import State
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.scheduler.snapshot import Bind, Job, Replica
from arena.engines.local.scheduler.vec import Vec, fits, first_short


def place(st: State, bound: set[str]) -> None:
    """`bound`: jobs whose gang was bound earlier in this cycle (their extras may follow now)."""
    for q in st.queues_in_order():
        if enqueue.gate(st, q)[1]:  # queue gone: nothing more starts there
            continue
        for job in st.elastic.get(q, ()):
            need = st.needs[job.uid]
            if need.members and job.uid not in bound:
                continue
            left = list(need.extras)
            while left and _bind_one(st, q, job, left[0]):
                left.pop(0)
            if left:
                st.extras_waiting[job.uid] = reasons.extras_waiting(len(left), _why(st, q, left[0]))


def _bind_one(st: State, q: str, job: Job, r: Replica) -> bool:
    v = st.dims.vec(r.request)
    if v is None or not fits(v, st.cap_room(q)) or not fits(v, st.avail(q)):
        return False
    st.binds.append(Bind(job.uid, r.key, st.pick_gpus(r.request.gpus)))
    st.take(q, v)
    st.events.append((job.uid, "Scheduled", reasons.extra_bound(r.key)))
    return True


def _why(st: State, q: str, r: Replica) -> Reason:
    dims = st.dims
    v: Vec | None = dims.vec(r.request)
    if v is None:
        return Reason(reasons.REPLICA_UNKNOWN_RESOURCE)
    room = st.cap_room(q)
    if not fits(v, room):
        d = first_short(v, room, dims.report_order)
        return reasons.capability(dims, d, q, st.held[q], st.cap[q], dims.zero, "")
    avail = st.avail(q)
    return reasons.replica_short(dims, first_short(v, avail, dims.report_order), v, avail)
