"""The preempt action: inside one queue, a blocked head evicts lower-priority jobs.

Only a queue's heads (see `allocate`/`enqueue`) preempt, so each queue makes room for at most
one node-blocked and one capability-blocked gang per cycle, and never for a job that is only
waiting for resources already being released. Victims are whole running jobs of the same queue
with strictly lower priority that allow preemption; evicting them must free both what the node
lacks and what the capability lacks, or nothing is evicted.
"""
from __future__ import annotations

from arena.engines.local.scheduler import order, reasons, victims
from arena.engines.local.scheduler.context import Head, State
from arena.engines.local.scheduler.snapshot import Evict
from arena.engines.local.scheduler.vec import pos, vadd, vmin, vsub


def preempt(st: State) -> None:
    for q in st.queues_in_order():
        for head in (st.cap_heads.get(q), st.node_heads.get(q)):
            if head is not None and not head.done:
                _for(st, q, head)


def _for(st: State, q: str, head: Head) -> None:
    job, zero = head.job, st.dims.zero
    have = head.have if head.blocked_by == "node" else st.avail(q)
    node_short = pos(vsub(head.gang, have))
    cap_short = pos(vsub(head.gang, pos(vsub(st.cap[q], st.held.get(q, zero)))))
    short = tuple(map(max, node_short, cap_short))
    queue = st.queue(q)
    cands = [(j, holds, q) for j, holds in st.running.get(q, ())
             if j.preemptable and j.uid not in st.evicted and j.priority < job.priority]
    cands.sort(key=lambda c: order.victim_key(queue, c[0]))
    chosen = victims.select(short, cands, zero)
    if not chosen:
        return
    msg = reasons.preempted(job.name)
    for victim, holds, vq in chosen:
        st.evict(victim, vq, holds, Evict(victim.uid, msg, "preempt", job.uid), (victim.uid, "Preempted", msg))
    head.done = True
    if head.blocked_by == "capability":  # it did not set node resources aside while capped; do it now
        take = vmin(head.gang, have)
        st.reserved = vadd(st.reserved, take)
    st.reasons[job.uid] = st.reasons[job.uid].with_params(preempting=len(chosen))
    st.events.append((job.uid, "Preempting", reasons.preempting([v.name for v, _, _ in chosen])))
