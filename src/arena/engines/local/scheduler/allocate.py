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
Replicas beyond a running gang's minimum are placed last (`elastic`), from what is left.

Starvation across queues: the share order alone can hand every freed unit to whichever queue
is least served at that instant, so a head in another queue could lose each time. A queue's
first waiting gang that has waited longer than `Snapshot.sla_waiting_time` is therefore tried
before the round robin, oldest first (Volcano's sla plugin): it binds or reserves ahead of
everyone, and since reservations only grow as running jobs end, it starts eventually.
"""
from __future__ import annotations

import heapq
from operator import le

from arena.engines.local.scheduler import elastic, enqueue, gang, reasons
from arena.engines.local.scheduler.context import Head, State
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.scheduler.snapshot import Amount, Bind, Job
from arena.engines.local.scheduler.vec import GPU_DIM, INF, Vec, fits, first_short, pos, vadd, vmin, vsub


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
        cursor[q], placed = _visit(st, q, cursor[q], tried, bound)
        if placed and cursor[q] < len(st.pending[q]):
            heapq.heappush(heap, (st.queue_key(q), q))
    elastic.place(st, bound)


def _visit(st: State, q: str, i: int, tried: set[str], bound: set[str]) -> tuple[int, bool]:
    """Try q's jobs from position i until one gang binds; returns (next position, bound one?).

    The common verdict in a backlog — a gang short of node resources behind its queue's head,
    nothing to reserve, nothing released that would make it fit — is decided inline on local
    variables; every other case goes through `_Scan.try_gang`.
    """
    jobs, needs, reasons_ = st.pending[q], st.needs, st.reasons
    scan = _Scan(st, q)
    order = st.dims.report_order
    while i < len(jobs):
        generation = scan.generation
        limit, room, avail, avail_rel, cache = scan.limit, scan.room, scan.avail, scan.avail_rel, scan.cache
        has_head = scan.gate is None and q in st.node_heads
        uncapped = all(x == INF for x in room)
        rel_gpu = avail_rel[GPU_DIM]
        while i < len(jobs):
            job = jobs[i]
            i += 1
            if job.uid in tried:  # a starving head: it had its verdict before the round robin
                continue
            need = needs[job.uid]
            g = need.gang
            if (has_head and need.valid and need.members and all(map(le, g, limit))
                    and (uncapped or all(map(le, g, room)))):
                if g[GPU_DIM] > rel_gpu:  # the usual shortage, and GPUs are reported first
                    d = GPU_DIM
                elif not all(map(le, g, avail_rel)):
                    d = first_short(g, avail, order)
                else:
                    d = -1  # it would fit once releasing jobs are gone: pipelining, slow path
                if d >= 0:
                    key = (2, d, g[d])
                    reason = cache.get(key)
                    if reason is None:
                        reason = cache[key] = scan.node_reason(d, g, False)
                    reasons_[job.uid] = reason  # its event, if the reason changed, is the reason itself
                    continue
            if scan.try_gang(job):
                bound.add(job.uid)
                return i, True
            if scan.generation != generation:
                break  # it reserved something: reload the locals
    return i, False


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
    return bool(need.members) and need.valid and fits(need.gang, limit)


class _Scan:
    """One visit of a queue: what its jobs may use, cached until a bind or a reservation."""

    def __init__(self, st: State, q: str) -> None:
        self.st, self.q = st, q
        self.gate, self.gate_all = enqueue.gate(st, q)
        self.limit = st.limit(q)
        self.order = st.dims.report_order
        self.refresh()

    def refresh(self) -> None:
        st, q = self.st, self.q
        self.generation = getattr(self, "generation", -1) + 1
        self.room = st.cap_room(q)
        self.withheld = st.withheld(q)
        self.avail = pos(vsub(st.free, self.withheld))
        self.avail_rel = vadd(self.avail, st.releasing)
        # Reasons of jobs that block without changing anything, keyed by (check, dimension, amount):
        # in a backlog most jobs differ in size but share the binding dimension and amount.
        self.cache: dict[tuple[int, int, float], Reason] = {}

    def wait(self, job: Job, reason: Reason, event: Reason | None = None) -> None:
        self.st.reasons[job.uid] = reason
        if event is not None:
            self.st.event_msgs[job.uid] = event

    def try_gang(self, job: Job) -> bool:
        """One job's verdict: bind its gang (True), or record why it waits (False)."""
        st, q = self.st, self.q
        need = st.needs[job.uid]
        if not need.members:  # gang already running: its extras come last
            return False
        if self.gate is not None and (self.gate_all or not job.admitted):
            self.wait(job, self.gate)
            return False
        if not need.valid:
            self.wait(job, _invalid(st, job, need))
            return False
        g = need.gang
        if not all(map(le, g, self.limit)):  # fits(), inlined: this line runs for every waiting job
            d = first_short(g, self.limit, self.order)
            key = (0, d, g[d])
            reason = self.cache.get(key)
            if reason is None:
                reason = self.cache[key] = enqueue.never_fits(st, q, g, self.limit)
            self.wait(job, reason)
            return False
        if not all(map(le, g, self.room)):
            return self._capped(job, g)
        if all(map(le, g, self.avail)):
            self._bind(job, need, g)
            return True
        if q not in st.node_heads or all(map(le, g, self.avail_rel)):
            return self._head_or_pipelined(job, need, g)
        d = first_short(g, self.avail, self.order)
        key = (2, d, g[d])
        reason = self.cache.get(key)
        if reason is None:
            reason = self.cache[key] = self.node_reason(d, g, False)
        self.wait(job, reason)
        return False

    def _capped(self, job: Job, g: Vec) -> bool:
        """Over capability: the first such job reserves the headroom; later ones share a reason."""
        st, q = self.st, self.q
        if q not in st.cap_heads:
            reason = enqueue.over_capability(st, q, job, g, self.room)
            self.wait(job, reason, enqueue.capability_event(st, q, g) if reason != job.waiting_reason else None)
            self.refresh()
            return False
        d = first_short(g, self.room, self.order)
        key = (1, d, 0)
        reason = self.cache.get(key)
        if reason is None:
            reason = self.cache[key] = enqueue.over_capability(st, q, job, g, self.room)
        self.wait(job, reason, enqueue.capability_event(st, q, g) if reason != job.waiting_reason else None)
        return False

    def node_reason(self, d: int, g: Vec, with_releasing: bool) -> Reason:
        st = self.st
        zero = st.dims.zero
        withheld = vmin(self.withheld, st.free) if g[d] <= st.free[d] else zero
        return reasons.node_short(st.dims, d, g, self.avail, withheld, st.releasing if with_releasing else zero)

    def placeable_event(self, job: Job, need: gang.Need, reason: Reason) -> Reason | None:
        """"gang 2/4 replicas placeable: …" for a head or a pipelined gang, when its reason changed.

        Jobs queued behind a head get their reason as the event text: after a burst of 10,000
        submissions, counting placeable replicas for every one of them would double the cycle.
        """
        if reason == job.waiting_reason:
            return None
        n = gang.placeable(need.members, self.avail, self.st.dims)
        return reasons.placeable_event(need.ready, n, need.ready + need.missing, reason)

    def _head_or_pipelined(self, job: Job, need: gang.Need, g: Vec) -> bool:
        """Node-blocked and first (the head), or fitting once releasing jobs are gone: reserve."""
        st, q, avail = self.st, self.q, self.avail
        pipelined = fits(g, self.avail_rel)
        reason = self.node_reason(first_short(g, avail, self.order), g, True)
        take = vmin(g, avail)
        claim = vmin(pos(vsub(g, take)), st.releasing)
        st.reserved = vadd(st.reserved, take)
        st.releasing = vsub(st.releasing, claim)
        if not pipelined:
            st.node_heads[q] = Head(job, g, vadd(take, claim), "node")
        self.wait(job, reason, self.placeable_event(job, need, reason))
        self.refresh()
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
        st.events.append((job.uid, "Scheduled", reasons.bound(need.ready + len(need.members), job.gang_size, gpus)))
        self.refresh()


def _invalid(st: State, job: Job, need: gang.Need) -> Reason:
    """A gang that can never form: an undeclared resource, or too few replicas left."""
    if len(need.members) >= need.missing:  # enough replicas: so one asks for an undeclared resource
        return reasons.unknown_resource(st.dims.unknown(_first_unknown(st, need)))
    return reasons.gang_unreachable(need.ready + len(need.members), job.gang_size)


def _first_unknown(st: State, need: gang.Need) -> Amount:
    """The request naming a resource nobody declares (for the reason text)."""
    for r in need.members:
        if st.dims.vec(r.request) is None:
            return r.request
    return need.members[0].request
