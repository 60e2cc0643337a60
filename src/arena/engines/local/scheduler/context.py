"""The working state of one cycle, built from a snapshot (Volcano's session open).

Everything an action reads or updates lives here: node free resources and free GPU indices,
per-queue allocations, deserved shares, reservations for blocked heads, and the decisions so
far. The snapshot itself is never mutated; this object is thrown away at the end of a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from arena.engines.local.scheduler import gang, order, proportion
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.scheduler.snapshot import Bind, Evict, Job, Queue, Snapshot
from arena.engines.local.scheduler.vec import Dims, Vec, pos, vadd, vmin, vsub


@dataclass(slots=True)
class Head:
    """The first job of a queue blocked by a limit it could meet; it holds a reservation."""

    job: Job
    gang: Vec
    have: Vec  # node resources set aside for it this cycle (free ones + ones being released)
    blocked_by: str  # "node" | "capability": the limit it waits on
    done: bool = False  # preempt/reclaim already made room for it


@dataclass(slots=True)
class State:
    snapshot: Snapshot
    dims: Dims
    total: Vec  # node allocatable (GPUs = number of device indices)
    free: Vec  # not held by any bound, unfinished replica
    free_gpus: list[int]
    releasing: Vec  # held by releasing jobs and not yet claimed by a pipelined job
    reserved: Vec = ()  # free resources set aside for blocked heads
    alloc: dict[str, Vec] = field(default_factory=dict)  # held by active (non-releasing) jobs
    held: dict[str, Vec] = field(default_factory=dict)  # alloc + releasing: what capability sees
    cap: dict[str, Vec] = field(default_factory=dict)
    cap_reserved: dict[str, Vec] = field(default_factory=dict)
    guarantee: dict[str, Vec] = field(default_factory=dict)
    unused_g: dict[str, Vec] = field(default_factory=dict)  # guarantee not yet used, per queue
    unused_g_total: Vec = ()
    deserved: dict[str, list[float]] = field(default_factory=dict)
    pending: dict[str, list[Job]] = field(default_factory=dict)  # sorted, per queue
    needs: dict[str, gang.Need] = field(default_factory=dict)
    elastic: dict[str, list[Job]] = field(default_factory=dict)  # pending jobs with replicas beyond the gang
    running: dict[str, list[tuple[Job, Vec]]] = field(default_factory=dict)  # victims-to-be
    node_heads: dict[str, Head] = field(default_factory=dict)
    cap_heads: dict[str, Head] = field(default_factory=dict)
    binds: list[Bind] = field(default_factory=list)
    admit: list[str] = field(default_factory=list)
    evictions: list[Evict] = field(default_factory=list)
    evicted: set[str] = field(default_factory=set)
    reasons: dict[str, Reason] = field(default_factory=dict)  # waiting job uid → reason
    event_msgs: dict[str, Reason] = field(default_factory=dict)  # a richer event for a reason
    extras_waiting: dict[str, Reason] = field(default_factory=dict)  # running jobs whose extras wait
    events: list[tuple[str, str, Reason]] = field(default_factory=list)

    # -- queries ------------------------------------------------------------------------------
    def queue(self, name: str) -> Queue | None:
        return self.snapshot.queues.get(name)

    def share(self, q: str) -> float:
        d = self.deserved.get(q)
        return proportion.share(self.alloc.get(q, self.dims.zero), d) if d is not None else 0.0

    def queue_key(self, q: str) -> tuple[int, float, str]:
        return order.queue_key(self.queue(q), q, self.share(q))

    def queues_in_order(self) -> list[str]:
        return sorted(self.pending.keys() | self.running.keys(), key=self.queue_key)

    def withheld(self, q: str) -> Vec:
        """Free resources queue q may not use: heads' reservations and other queues' guarantees."""
        others = vsub(self.unused_g_total, self.unused_g.get(q, self.dims.zero))
        return vadd(self.reserved, others)

    def avail(self, q: str) -> Vec:
        """Free node resources a job of queue q may take now."""
        return pos(vsub(self.free, self.withheld(q)))

    def cap_room(self, q: str) -> Vec:
        """Headroom under q's capability (INF where uncapped), less its head's reservation."""
        room = vsub(self.cap[q], self.held.get(q, self.dims.zero))
        return pos(vsub(room, self.cap_reserved.get(q, self.dims.zero)))

    def limit(self, q: str) -> Vec:
        """The most a gang of q could ever get: the node less others' guarantees, capped."""
        others = vsub(self.g_total, self.guarantee.get(q, self.dims.zero))
        return vmin(pos(vsub(self.total, others)), self.cap[q])

    @property
    def g_total(self) -> Vec:
        """All guarantees (of Open queues) together."""
        out = self.dims.zero
        for g in self.guarantee.values():
            out = vadd(out, g)
        return out

    # -- updates ------------------------------------------------------------------------------
    def take(self, q: str, amount: Vec) -> None:
        """Account a bind: node free, queue allocation, unused guarantee."""
        self.free = vsub(self.free, amount)
        self.alloc[q] = vadd(self.alloc.get(q, self.dims.zero), amount)
        self.held[q] = vadd(self.held.get(q, self.dims.zero), amount)
        self._sync_guarantee(q)

    def evict(self, victim: Job, q: str, amount: Vec, evict: Evict, event: tuple[str, str, Reason]) -> None:
        """Record an eviction; later decisions of this cycle no longer count the victim's allocation."""
        self.evictions.append(evict)
        self.evicted.add(victim.uid)
        self.events.append(event)
        self.alloc[q] = vsub(self.alloc.get(q, self.dims.zero), amount)

    def _sync_guarantee(self, q: str) -> None:
        g = self.guarantee.get(q)
        if g is None:
            return
        new = pos(vsub(g, self.held[q]))
        self.unused_g_total = vadd(vsub(self.unused_g_total, self.unused_g[q]), new)
        self.unused_g[q] = new

    def pick_gpus(self, n: int) -> tuple[int, ...]:
        """The n lowest free device indices; the caller has checked that n are free."""
        out = tuple(self.free_gpus[:n])
        del self.free_gpus[:n]
        return out


def build(snapshot: Snapshot) -> State:
    """Session open: classify every job, sum what it holds and needs, water-fill the queues."""
    node = snapshot.node
    ext_names = set(node.allocatable.extended)
    for qu in snapshot.queues.values():
        for a in (qu.capability, qu.guarantee):
            if a is not None:
                ext_names.update(a.extended)
    dims = Dims(ext_names)
    indices = node.gpu_indices or tuple(range(node.allocatable.gpus))
    base = dims.vec(node.allocatable)
    assert base is not None  # its extended names are in dims by construction
    total = (base[0], base[1], len(indices)) + base[3:]
    zero = dims.zero

    held_gpus: set[int] = set()
    used, releasing = zero, zero
    alloc: dict[str, Vec] = {}
    held: dict[str, Vec] = {}
    pending: dict[str, list[Job]] = {}
    needs: dict[str, gang.Need] = {}
    elastic: dict[str, list[Job]] = {}
    running: dict[str, list[tuple[Job, Vec]]] = {}
    for job, bound, need in gang.classify(snapshot.jobs, dims):
        q = job.queue
        if bound:
            holds = gang.total(bound, dims) or zero  # an undeclared resource still counts as nothing
            for r in bound:
                held_gpus.update(r.gpu_indices)
            used = vadd(used, holds)
            held[q] = vadd(held.get(q, zero), holds)
            if job.releasing:
                releasing = vadd(releasing, holds)
            else:
                alloc[q] = vadd(alloc.get(q, zero), holds)
                running.setdefault(q, []).append((job, holds))
        if need is not None and not job.releasing:
            jobs = pending.get(q)
            if jobs is None:
                jobs = pending[q] = []
            jobs.append(job)
            needs[job.uid] = need
            if need.extras:
                elastic.setdefault(q, []).append(job)
    for jobs in (*pending.values(), *elastic.values()):
        order.sort_jobs(jobs)

    free_gpus = [i for i in indices if i not in held_gpus]
    free = pos(vsub(total, used))
    if free[2] > len(free_gpus):  # indices held beyond what requests say: trust the indices
        free = (free[0], free[1], len(free_gpus)) + free[3:]
    st = State(snapshot=snapshot, dims=dims, total=total, free=free, free_gpus=free_gpus, releasing=releasing,
               reserved=zero,
               alloc=alloc, held=held, pending=pending, needs=needs, elastic=elastic, running=running,
               unused_g_total=zero)
    _queues(st)
    return st


def _queues(st: State) -> None:
    """Per-queue limits, guarantees and deserved shares (proportion over queues that have jobs)."""
    dims, zero = st.dims, st.dims.zero
    names = set(st.snapshot.queues) | st.pending.keys() | st.held.keys()
    for q in names:
        qu = st.queue(q)
        st.cap[q] = dims.limit(qu.capability if qu else None)
        st.cap_reserved[q] = zero
        if qu is not None and qu.guarantee is not None and qu.state == "Open":
            g = dims.vec(qu.guarantee) or zero
            st.guarantee[q] = g
            st.unused_g[q] = pos(vsub(g, st.held.get(q, zero)))
            st.unused_g_total = vadd(st.unused_g_total, st.unused_g[q])
    g_total = st.g_total
    claims = []
    for q in sorted(st.pending.keys() | st.held.keys()):
        qu = st.queue(q)
        if qu is None:
            continue
        needs, admits = st.needs, qu.state == "Open"
        # a queue that admits nothing new claims a share only for the jobs it already admitted
        totals = [needs[job.uid].total for job in st.pending.get(q, ()) if admits or job.admitted]
        demand = vadd(st.alloc.get(q, zero), tuple(map(sum, zip(*totals))) if totals else zero)
        g = st.guarantee.get(q, zero)
        real_cap = vmin(vadd(pos(vsub(st.total, g_total)), g), st.cap[q])
        claims.append(proportion.Claim(q, qu.weight, demand, real_cap, g))
    st.deserved = proportion.water_fill(st.total, claims)
    for q in st.snapshot.queues:
        st.deserved.setdefault(q, [0.0] * len(zero))


__all__ = ["Head", "State", "build"]
