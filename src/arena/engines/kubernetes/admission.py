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

from arena.engines.kubernetes.models import Admitter, Condition, ts

VOLCANO, KUEUE = "volcano", "kueue"
# PodGroup phases the enqueue action has passed (SEMANTICS §B.2).
_PODGROUP_ADMITTED = ("Inqueue", "Running", "Completed", "Unknown")


class Admission(NamedTuple):
    system: str  # VOLCANO or KUEUE
    name: str  # the PodGroup or Workload
    admitted: bool
    phase: str  # PodGroup phase, or the Workload's condition that decides
    reason: str


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
    phase = pg.status.phase or "Pending"
    unschedulable = _true(pg).get("Unschedulable")
    if phase in _PODGROUP_ADMITTED:
        return Admission(VOLCANO, name, True, phase, _text(unschedulable))  # e.g. a gang that does not fit yet
    why = _text(unschedulable) or (f"waiting for Volcano queue {pg.spec.queue or 'default'} to admit PodGroup "
                                   f"{name} (minMember {pg.spec.minMember or 1})")
    return Admission(VOLCANO, name, False, phase, why)


def workload(wl: Admitter) -> Admission:
    """A Kueue Workload: admitted while Admitted=True and not evicted (SEMANTICS §C.2)."""
    name = wl.metadata.name
    true = _true(wl)
    queue = wl.spec.queueName or "?"
    if "Finished" in true:
        return Admission(KUEUE, name, True, "Finished", _text(true["Finished"]))
    if "Evicted" in true and "Admitted" not in true:
        return Admission(KUEUE, name, False, "Evicted", f"evicted by Kueue: {_text(true['Evicted'])}".rstrip(": "))
    if "Admitted" in true:
        return Admission(KUEUE, name, True, "Admitted", "")
    if wl.spec.active is False:
        return Admission(KUEUE, name, False, "Deactivated", "the Workload is deactivated (spec.active=false)")
    if "QuotaReserved" in true:
        return Admission(KUEUE, name, False, "QuotaReserved", f"quota reserved in {queue}; waiting for admission checks")
    pending = next((c for c in wl.status.conditions if c.type == "QuotaReserved"), None)
    return Admission(KUEUE, name, False, "Pending", _text(pending) or f"waiting for Kueue admission in queue {queue}")


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
