"""One scheduling cycle: a pure function from a snapshot to decisions.

Volcano's session, on one machine: open (build the working state and the deserved shares),
then the actions in order — allocate (which runs the enqueue/admission checks per job),
preempt, reclaim — then close (one `Waiting` per job that is not fully running, and events for
the jobs whose reason changed since the last cycle).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

from arena.engines.local.scheduler.allocate import allocate
from arena.engines.local.scheduler.context import State, build
from arena.engines.local.scheduler.preempt import preempt
from arena.engines.local.scheduler.reclaim import reclaim
from arena.engines.local.scheduler.snapshot import Decisions, Snapshot, Waiting

ACTIONS = (allocate, preempt, reclaim)


def cycle(snapshot: Snapshot) -> Decisions:
    with _gc_paused():
        return _decide(snapshot)


def _decide(snapshot: Snapshot) -> Decisions:
    """Apart from `cycle` so that the working state is freed before the collector is on again: alive at that
    moment, its tens of thousands of objects were all traversed by the collection that followed."""
    st = build(snapshot)
    for action in ACTIONS:
        action(st)
    return close(st)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection during a cycle: it makes tens of thousands of short-lived tuples, which set
    off generational passes over the snapshot's live objects (a third of a 10,000-job cycle) that
    free nothing — the cycle builds no reference cycles. The caller's setting is restored."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def close(st: State) -> Decisions:
    """Waiting entries with 1-based positions per queue, and reason-change events."""
    waiting: dict[str, Waiting] = {}
    events = list(st.events)
    reasons, msgs, extras = st.reasons, st.event_msgs, st.extras_waiting
    for jobs in st.pending.values():
        position = 0
        for job in jobs:
            uid = job.uid
            reason = reasons.get(uid)
            if reason is None:
                extra = extras.get(uid)
                if extra is not None:
                    waiting[uid] = Waiting(extra, 0, True)
                continue
            position += 1
            waiting[uid] = Waiting(reason, position, job.admitted)
            if reason != job.waiting_reason:
                events.append((uid, "Unschedulable", msgs.get(uid, reason)))
    return Decisions(binds=tuple(st.binds), evictions=tuple(st.evictions), admit=tuple(st.admit),
                     waiting=waiting, events=tuple(events))
