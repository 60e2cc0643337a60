"""The allocate action: bind whole gangs, queue by queue, and reserve for blocked heads.

Queues are visited in `queue_key` order (queue priority, then share: the least served first);
a queue is popped, its jobs are tried in job order until one gang binds, then it is pushed back
with its new share — Volcano's one-job-per-pop round robin, without re-popping a queue for jobs
that cannot bind (they change nothing). Every pending job gets exactly one verdict per cycle.

Starvation rule (node resources): the first job of each queue that does not fit what is free
now, but would fit an empty machine, becomes the queue's *node head* and reserves what is free
(up to its need) plus what releasing jobs will free. Jobs visited after it — in its queue and in
later queues — only get what is left, so resources that free up accumulate for the head until
its whole gang fits; smaller jobs still backfill around it with what it does not need. A gang
that fits only once releasing jobs have gone is *pipelined*: it claims those resources too.
Replicas beyond a running gang's minimum are placed last, one at a time, from what is left.

Starvation across queues: the share order alone can hand every freed unit to whichever queue
is least served at that instant, so a head in another queue could lose each time. A queue's
first waiting gang that has waited longer than `Snapshot.sla_waiting_time` is therefore tried
before the round robin, oldest first (Volcano's sla plugin): it binds or reserves ahead of
everyone, and since reservations only grow as running jobs end, it starts eventually.
"""
from __future__ import annotations

import heapq

from arena.engines.local.scheduler import enqueue, gang, reasons
from arena.engines.local.scheduler.context import Head, State
from arena.engines.local.scheduler.snapshot import Bind, Job
from arena.engines.local.scheduler.vec import Vec, fits, first_short, pos, vadd, vmin, vsub


def allocate(st: State) -> None:
    bound: set[str] = set()
    tried: set[str] = set()
    for q, job in _starving_heads(st):
        tried.add(job.uid)
        if _Scan(st, q).try_gang(job):
            bound.add(job.uid)
    heap = [(st.queue_key(q), q) for q in st.pending]
    heapq.heapify(heap)
    cursor = dict.fromkeys(st.pending, 0)
    while heap:
        _, q = heapq.heappop(heap)
        jobs = st.pending[q]
        scan = _Scan(st, q)
        i, placed = cursor[q], False
        while i < len(jobs):
            job = jobs[i]
            i += 1
            if job.uid in tried:
                continue
            if scan.try_gang(job):
                bound.add(job.uid)
                placed = True
                break
        cursor[q] = i
        if placed and i < len(jobs):
            heapq.heappush(heap, (st.queue_key(q), q))
    _extras(st, bound)


def _starving_heads(st: State) -> list[tuple[str, Job]]:
    """Each queue's first waiting gang that has waited past the SLA, oldest first."""
    snap = st.snapshot
    deadline = snap.now - snap.sla_waiting_time
    heads = []
    for q, jobs in st.pending.items():
        gate, gate_all = enqueue.gate(st, q)
        limit = st.limit(q)
        for job in jobs:
            if _could_run(st, job, limit) and not (gate is not None and (gate_all or not job.admitted)):
                if job.created <= deadline:
                    heads.append((job.created, job.uid, q, job))
                break
    heads.sort(key=lambda h: (h[0], h[1]))
    return [(q, job) for _, _, q, job in heads]


def _could_run(st: State, job: Job, limit: Vec) -> bool:
    """A waiting gang that is not blocked for good (it fits an empty machine under its cap)."""
    need = st.needs[job.uid]
    return (bool(need.members) and need.gang is not None and len(need.members) >= job.gang_size - need.ready
            and fits(need.gang, limit))


class _Scan:
    """One visit of a queue: what its jobs may use, cached until a bind or a reservation."""

    def __init__(self, st: State, q: str) -> None:
        self.st, self.q = st, q
        self.gate, self.gate_all = enqueue.gate(st, q)
        self.limit = st.limit(q)
        self.refresh()

    def refresh(self) -> None:
        st, q = self.st, self.q
        self.room = st.cap_room(q)
        self.withheld = st.withheld(q)
        self.avail = pos(vsub(st.free, self.withheld))
        self.cache: dict[Vec, str] = {}  # reason for a blocked gang of this size, as things stand

    def wait(self, job: Job, reason: str, event: str | None = None) -> None:
        st = self.st
        st.reasons[job.uid] = reason
        if event is not None:
            st.event_msgs[job.uid] = event

    def try_gang(self, job: Job) -> bool:
        """One job's verdict: bind its gang (True), or record why it waits (False)."""
        st, q = self.st, self.q
        need = st.needs[job.uid]
        if not need.members:  # gang already running: its extras come last
            return False
        if self.gate is not None and (self.gate_all or not job.admitted):
            self.wait(job, self.gate)
            return False
        g = need.gang
        if g is None:
            self.wait(job, f"gang needs {st.dims.unknown(_first_unknown(st, need))}, which the node does not have")
            return False
        missing = job.gang_size - need.ready
        if len(need.members) < missing:
            self.wait(job, f"gang {need.ready + len(need.members)}/{job.gang_size} replicas left, "
                           f"minAvailable can no longer be reached")
            return False
        cached = self.cache.get(g)
        if cached is not None:  # same-sized gang, same verdict, no new head to make
            self.wait(job, cached)
            return False
        if not fits(g, self.limit):
            self._cached(job, g, enqueue.never_fits(st, q, g, self.limit))
            return False
        if not fits(g, self.room):
            first = q not in st.cap_heads
            reason = enqueue.over_capability(st, q, job, g, self.room)
            event = enqueue.capability_event(st, q, g) if reason != job.waiting_reason else None
            if first:
                self.wait(job, reason, event)
                self.refresh()
            else:
                self._cached(job, g, reason, event)
            return False
        if fits(g, self.avail):
            self._bind(job, need, g)
            return True
        return self._blocked(job, need, g)

    def _cached(self, job: Job, g: Vec, reason: str, event: str | None = None) -> None:
        self.cache[g] = reason
        self.wait(job, reason, event)

    def _blocked(self, job: Job, need: gang.Need, g: Vec) -> bool:
        """Node-blocked: pipeline onto releasing resources, or become the head, or just wait."""
        st, q, avail = self.st, self.q, self.avail
        d = first_short(g, avail, st.dims.report_order)
        withheld = vmin(self.withheld, st.free)
        pipelined = fits(g, vadd(avail, st.releasing))
        head = not pipelined and q not in st.node_heads
        reason = reasons.node_short(st.dims, d, g, avail, withheld if g[d] <= st.free[d] else st.dims.zero,
                                    st.releasing if (pipelined or head) else st.dims.zero)
        event = None
        if reason != job.waiting_reason:
            ready = need.ready
            event = reasons.placeable_event(ready, gang.placeable(need.members, avail, st.dims), job.gang_size,
                                            reason)
        if pipelined or head:
            take = vmin(g, avail)
            claim = vmin(pos(vsub(g, take)), st.releasing)
            st.reserved = vadd(st.reserved, take)
            st.releasing = vsub(st.releasing, claim)
            if head:
                st.node_heads[q] = Head(job, g, vadd(take, claim), "node")
            self.wait(job, reason, event)
            self.refresh()
        else:
            self.cache[g] = reason
            self.wait(job, reason, event)
        return False

    def _bind(self, job: Job, need: gang.Need, g: Vec) -> None:
        st = self.st
        gpus: list[int] = []
        for r in need.members:
            idx = st.pick_gpus(r.request.gpus)
            gpus.extend(idx)
            st.binds.append(Bind(job.uid, r.key, idx))
        st.take(self.q, g)
        if not job.admitted:
            st.admit.append(job.uid)
        on = f" on GPUs {','.join(map(str, sorted(gpus)))}" if gpus else ""
        st.events.append((job.uid, "Scheduled", f"gang {need.ready + len(need.members)}/{job.gang_size} "
                                                f"replicas bound{on}"))
        self.refresh()


def _first_unknown(st: State, need: gang.Need):  # -> Amount
    """The request naming a resource nobody declares (for the reason text)."""
    for r in need.members:
        if st.dims.vec(r.request) is None:
            return r.request
    return need.members[0].request


def _extras(st: State, bound: set[str]) -> None:
    """Elastic replicas of running gangs, one at a time, after every waiting gang had its turn."""
    dims = st.dims
    for q in st.queues_in_order():
        gate, gate_all = enqueue.gate(st, q)
        if gate_all:
            continue
        for job in st.pending.get(q, ()):
            need = st.needs[job.uid]
            if not need.extras or (need.members and job.uid not in bound):
                continue
            room, avail = st.cap_room(q), st.avail(q)
            left = list(need.extras)
            while left:
                v = dims.vec(left[0].request)
                if v is None or not fits(v, room) or not fits(v, avail):
                    break
                r = left.pop(0)
                idx = st.pick_gpus(r.request.gpus)
                st.binds.append(Bind(job.uid, r.key, idx))
                st.take(q, v)
                st.events.append((job.uid, "Scheduled", f"replica {r.key} bound beyond minAvailable"))
                room, avail = st.cap_room(q), st.avail(q)
            if left:
                v = dims.vec(left[0].request)
                if v is None:
                    why = "needs a resource the node does not have"
                elif not fits(v, room):
                    d = first_short(v, room, dims.report_order)
                    why = f"queue {q} capability {dims.names[d]} {dims.fmt(d, st.held[q][d])}/{dims.fmt(d, st.cap[q][d])}"
                else:
                    d = first_short(v, avail, dims.report_order)
                    why = f"needs {dims.fmt(d, v[d])} {dims.names[d]}, {dims.fmt(d, avail[d])} free"
                st.extras_waiting[job.uid] = f"{len(left)} replicas beyond minAvailable wait: {why}"
