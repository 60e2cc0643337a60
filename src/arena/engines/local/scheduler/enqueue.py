"""Admission (Volcano enqueue + proportion's queue checks, Kueue's quota check).

A job's gang is admitted by its queue when the queue is Open and the gang fits under the
queue's capability. On the local engine admission and binding happen in the same cycle
(there is no separate node scheduler to wait for), so `allocate` calls these checks and marks
the job admitted when it binds its gang. Jobs admitted before (restarted after an eviction,
or running with elastic replicas left) pass a Closed/Closing queue: it drains, not kills.

Starvation: the first job of a queue that is over capability only because of what is running
now becomes the queue's *capability head*: the headroom left under the cap is reserved for it,
so smaller jobs behind it cannot keep taking every unit that frees up.
"""
from __future__ import annotations

from arena.engines.local.scheduler import reasons
from arena.engines.local.scheduler.context import Head, State
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.scheduler.snapshot import Job
from arena.engines.local.scheduler.vec import Vec, first_short, pos, vmin, vsub


def gate(st: State, q: str) -> tuple[Reason | None, bool]:
    """(reason, also_blocks_admitted) for a queue that admits no new jobs; (None, False) if Open."""
    qu = st.queue(q)
    if qu is None:
        return reasons.queue_state(q, None), True
    if qu.state != "Open":
        return reasons.queue_state(q, qu.state), False
    return None, False


def never_fits(st: State, q: str, gang: Vec, limit: Vec) -> Reason:
    """The permanent reason for a gang larger than `limit` (see `State.limit`)."""
    d = first_short(gang, limit, st.dims.report_order)
    others = pos(vsub(st.g_total, st.guarantee.get(q, st.dims.zero)))
    return reasons.never(st.dims, d, gang, q, st.cap[q], st.total, others)


def over_capability(st: State, q: str, job: Job, gang: Vec, room: Vec) -> Reason:
    """A gang that does not fit `room` (= `State.cap_room`): reason, and a reservation if it is first."""
    dims = st.dims
    held = st.held.get(q, dims.zero)
    head = st.cap_heads.get(q)
    if head is None:
        st.cap_reserved[q] = vmin(gang, room)
        st.cap_heads[q] = Head(job, gang, dims.zero, "capability")
        d = first_short(gang, room, dims.report_order)
        return reasons.capability(dims, d, q, held, st.cap[q], dims.zero, "")
    d = first_short(gang, room, dims.report_order)
    return reasons.capability(dims, d, q, held, st.cap[q], st.cap_reserved[q], head.job.name)


def capability_event(st: State, q: str, gang: Vec) -> Reason:
    """The event for a capability-blocked gang: what the queue would hold with it, against the cap."""
    dims = st.dims
    held = st.held.get(q, dims.zero)
    d = first_short(gang, pos(vsub(st.cap[q], held)), dims.report_order)
    if d < 0:  # it fits the cap itself; a head's reservation is what blocks it
        d = first_short(gang, st.cap_room(q), dims.report_order)
    return reasons.capability_event(dims, d, q, held, gang, st.cap[q])
