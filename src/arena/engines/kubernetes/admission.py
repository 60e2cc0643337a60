"""Has a queue admitted the job yet? Read from its Volcano PodGroup or its Kueue Workload. Pure.

The job CR alone cannot tell "queued" from "admitted, pods on their way": the Training Operator
creates gang-scheduled pods at once and Volcano holds them Pending until the enqueue action moves
the PodGroup to Inqueue; Kueue keeps the job suspended until its Workload is admitted. Both
objects name their job in `ownerReferences`, and both say why a job waits (a PodGroup's
`Unschedulable` condition, a Workload's `QuotaReserved=False` message), which is what a user
asks `arena get` for.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from arena.engines.kubernetes.models import Admitter, Condition, Event, ts

VOLCANO, KUEUE = "volcano", "kueue"
# PodGroup phases the enqueue action has passed (SEMANTICS §B.2).
_PODGROUP_ADMITTED = ("Inqueue", "Running", "Completed", "Unknown")


class Admission(NamedTuple):
    system: str  # VOLCANO or KUEUE
    name: str  # the PodGroup or Workload
    admitted: bool
    phase: str  # PodGroup phase, or the Workload's condition that decides
    reason: str
    uid: str = ""  # of the PodGroup or Workload: `arena get -e` shows its events too
    queue: str = ""  # the Volcano queue or Kueue LocalQueue it waits in
    explained: bool = True  # False: `reason` is our own guess, no condition said why


def _true(obj: Admitter) -> dict[str, Condition]:
    conds = sorted(obj.status.conditions, key=lambda c: ts(c.lastTransitionTime) or 0.0)
    return {c.type: c for c in conds if c.status == "True"}


def _text(cond: Condition | None) -> str:
    return (cond.message or cond.reason) if cond else ""


def owner_uids(obj: Admitter) -> list[str]:
    return [r.uid for r in obj.metadata.ownerReferences if r.uid]


def podgroup(pg: Admitter) -> Admission:
    """A PodGroup: admitted once the enqueue action moved it past Pending."""
    name = pg.metadata.name
    queue = pg.spec.queue or "default"
    phase = pg.status.phase or "Pending"
    unschedulable = _true(pg).get("Unschedulable")
    if phase in _PODGROUP_ADMITTED:
        # Admitted, yet the gang may not fit on the nodes: the condition says so.
        return Admission(VOLCANO, name, True, phase, _text(unschedulable), pg.metadata.uid, queue)
    why = _text(unschedulable) or (f"waiting for Volcano queue {queue} to admit PodGroup {name} "
                                   f"(minMember {pg.spec.minMember or 1})")
    return Admission(VOLCANO, name, False, phase, why, pg.metadata.uid, queue, explained=unschedulable is not None)


def with_events(adm: Admission | None, events: Iterable[Event]) -> Admission | None:
    """Volcano's own words for a PodGroup it will not enqueue. The real scheduler (v1.14) leaves such a
    PodGroup Pending with no condition and says why in an `Unschedulable` event on it ("queue resource
    quota insufficient: ...", "resource in cluster is overused: ..."): the newest one, the enqueue
    verdict (Normal) before the gang's summary (Warning)."""
    if adm is None or adm.system != VOLCANO or adm.admitted or adm.explained:
        return adm
    said = [e for e in events if e.involvedObject.uid == adm.uid and e.reason == "Unschedulable" and e.message]
    if not said:
        return adm
    newest = max(said, key=lambda e: (e.type == "Normal", ts(e.lastTimestamp or e.eventTime or e.firstTimestamp) or 0.0))
    return adm._replace(reason=f"{newest.message} (Volcano queue {adm.queue})", explained=True)


def workload(wl: Admitter) -> Admission:
    """A Kueue Workload: admitted while Admitted=True and not evicted (SEMANTICS §C.2)."""
    true = _true(wl)
    queue = wl.spec.queueName or "?"
    if "Finished" in true:
        admitted, phase, why = True, "Finished", _text(true["Finished"])
    elif "Evicted" in true and "Admitted" not in true:
        admitted, phase, why = False, "Evicted", f"evicted by Kueue: {_text(true['Evicted'])}".rstrip(": ")
    elif "Admitted" in true:
        admitted, phase, why = True, "Admitted", ""
    elif wl.spec.active is False:
        admitted, phase, why = False, "Deactivated", "the Workload is deactivated (spec.active=false)"
    elif "QuotaReserved" in true:
        admitted, phase, why = False, "QuotaReserved", f"quota reserved in {queue}; waiting for admission checks"
    else:
        pending = next((c for c in wl.status.conditions if c.type == "QuotaReserved"), None)
        admitted, phase, why = False, "Pending", _text(pending) or f"waiting for Kueue admission in queue {queue}"
    return Admission(KUEUE, wl.metadata.name, admitted, phase, why, wl.metadata.uid, wl.spec.queueName or "")


def index(podgroups: Iterable[Admitter] = (), workloads: Iterable[Admitter] = ()) -> dict[str, Admission]:
    """Owner uid → admission. An unadmitted Workload wins over a PodGroup: Kueue decides first."""
    out: dict[str, Admission] = {}
    for pg in podgroups:
        for uid in owner_uids(pg):
            out[uid] = podgroup(pg)
    for wl in workloads:
        adm = workload(wl)
        for uid in owner_uids(wl):
            if adm.admitted and uid in out:
                continue  # Kueue admitted it: the PodGroup says what happens next
            out[uid] = adm
    return out
