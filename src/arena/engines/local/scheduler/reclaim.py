"""The reclaim action: a queue below its deserved share takes resources back from others.

For each queue's node head not helped by preempt: its queue must stay within its deserved
share with the gang added (Volcano's `Preemptive`), and victims are whole running jobs of
*other* queues that are reclaimable, allow preemption, and are over their own deserved share in
a resource the gang lacks; a victim never takes its queue below its guarantee. Evictions must
make the gang fit, or none happens.
"""
from __future__ import annotations

from arena.engines.local.scheduler import order, proportion, reasons, victims
from arena.engines.local.scheduler.context import Head, State
from arena.engines.local.scheduler.snapshot import Evict, Job
from arena.engines.local.scheduler.vec import Vec, pos, vadd, vsub


def reclaim(st: State) -> None:
    for q in st.queues_in_order():
        head = st.node_heads.get(q)
        if head is not None and not head.done and st.queue(q) is not None and _within_deserved(st, q, head):
            _for(st, q, head)


def _within_deserved(st: State, q: str, head: Head) -> bool:
    after = vadd(st.alloc.get(q, st.dims.zero), head.gang)
    return all(g <= 0 or proportion.within(a, d) for g, a, d in zip(head.gang, after, st.deserved[q]))


def _for(st: State, q: str, head: Head) -> None:
    zero = st.dims.zero
    short = pos(vsub(head.gang, head.have))
    cands = []
    for v, jobs in st.running.items():
        qv = st.queue(v)
        if v == q or qv is None or not qv.reclaimable:
            continue
        cands.extend((j, holds, v) for j, holds in jobs if j.preemptable and j.uid not in st.evicted)
    cands.sort(key=lambda c: order.victim_key(st.queue(c[2]), c[0]))

    def allow(job: Job, holds: Vec, v: str, taken: Vec) -> bool:
        alloc = vsub(st.alloc.get(v, zero), taken)
        deserved = st.deserved.get(v, [0.0] * len(zero))
        if not any(h > 0 and s > 0 and proportion.over(a, d) for h, s, a, d in zip(holds, short, alloc, deserved)):
            return False  # its queue is not over its share in what the gang lacks
        g = st.guarantee.get(v)
        if g is not None:
            left = vsub(vsub(st.held.get(v, zero), taken), holds)
            if any(h > 0 and lf < gg for h, lf, gg in zip(holds, left, g)):
                return False  # would take its queue below its guarantee
        return True

    chosen = victims.select(short, cands, zero, allow)
    if not chosen:
        return
    msg = reasons.reclaimed(q)
    for victim, holds, vq in chosen:
        st.evict(victim, vq, holds, Evict(victim.uid, msg, "reclaim", head.job.uid), (victim.uid, "Evicted", msg))
    head.done = True
    queues = ", ".join(sorted({vq for _, _, vq in chosen}))
    job = head.job
    st.reasons[job.uid] = st.reasons[job.uid].with_params(reclaiming=len(chosen), reclaimFrom=queues)
    st.events.append((job.uid, "Reclaiming", reasons.reclaiming([v.name for v, _, _ in chosen], queues)))
