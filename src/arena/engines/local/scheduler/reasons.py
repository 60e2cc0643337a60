"""Why a job waits, and what a cycle did, as codes with parameters: data, not English.

The scheduler names the binding constraint with the numbers it compared, e.g.
`Reason("Insufficient", {"resource": "nvidia.com/gpu", "need": "4", "free": "1"})`. Quantities are
written as users write them ("500m", "16Gi", "4"), so a reader (the `To start:` hint, a script reading
`-o json`) needs no unit rules. The English text is rendered at the edge (`engines/local/wording.py`),
never here, and nothing parses it back.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # snapshot (a leaf the whole package imports) imports this module: no cycle at run time
    from arena.engines.local.scheduler.vec import Dims, Vec

# ---- why a gang waits ------------------------------------------------------------------------
QUEUE_NOT_FOUND = "QueueNotFound"  # queue
QUEUE_NOT_OPEN = "QueueNotOpen"  # queue, state (Closed | Closing)
INSUFFICIENT = "Insufficient"  # resource, need, free [, reserved] [, releasing]
EXCEEDS_CAPABILITY = "ExceedsCapability"  # resource, need, queue, capability: never, within this queue
EXCEEDS_NODE = "ExceedsNode"  # resource, need, total [, guaranteed]: never, on this machine
OVER_CAPABILITY = "OverCapability"  # queue, resource, held, capability [, reserved, head]: until the queue has room
UNKNOWN_RESOURCE = "UnknownResource"  # resource: asked for something the node does not declare
GANG_UNREACHABLE = "GangUnreachable"  # ready, size: too few replicas left for minAvailable
EXTRAS_WAITING = "ExtrasWaiting"  # count; cause: why the first one waits
REPLICA_INSUFFICIENT = "ReplicaInsufficient"  # resource, need, free (an extra replica, alone)
REPLICA_UNKNOWN_RESOURCE = "ReplicaUnknownResource"
# ---- what a cycle did (events, evictions) -----------------------------------------------------
PLACEABLE = "Placeable"  # placeable, size; cause: the node reason
CAPABILITY_EXCEEDED = "CapabilityExceeded"  # queue, resource, total, capability
BOUND = "Bound"  # bound, size [, gpus]
EXTRA_BOUND = "ExtraBound"  # replica
PREEMPTED = "Preempted"  # by
PREEMPTING = "Preempting"  # victims
RECLAIMED = "Reclaimed"  # queue
RECLAIMING = "Reclaiming"  # victims, queues


class Reason(msgspec.Struct, frozen=True, omit_defaults=True):
    """A code, its parameters, and (for a few codes) the reason it wraps."""

    code: str
    params: dict[str, Any] = {}
    cause: Reason | None = None

    def with_params(self, **params: Any) -> Reason:
        """The same reason with more parameters (e.g. what preempt or reclaim is doing about it)."""
        return Reason(self.code, {**self.params, **params}, self.cause)


def queue_state(q: str, state: str | None) -> Reason:
    if state is None:
        return Reason(QUEUE_NOT_FOUND, {"queue": q})
    return Reason(QUEUE_NOT_OPEN, {"queue": q, "state": state})


def node_short(dims: Dims, d: int, need: Vec, avail: Vec, withheld: Vec, releasing: Vec) -> Reason:
    """Why a gang does not fit the node now; with reserved and releasing amounts when they matter."""
    params = {"resource": dims.names[d], "need": dims.fmt(d, need[d]), "free": dims.fmt(d, avail[d])}
    if withheld[d] > 0:
        params["reserved"] = dims.fmt(d, withheld[d])
    if releasing[d] > 0:
        params["releasing"] = dims.fmt(d, releasing[d])
    return Reason(INSUFFICIENT, params)


def never(dims: Dims, d: int, need: Vec, q: str, cap: Vec, total: Vec, guaranteed: Vec) -> Reason:
    """Why a gang can never run here: larger than the capability, or than the node."""
    res, n = dims.names[d], dims.fmt(d, need[d])
    if need[d] > cap[d]:
        return Reason(EXCEEDS_CAPABILITY, {"resource": res, "need": n, "queue": q, "capability": dims.fmt(d, cap[d])})
    params = {"resource": res, "need": n, "total": dims.fmt(d, total[d])}
    if guaranteed[d] > 0:
        params["guaranteed"] = dims.fmt(d, guaranteed[d])
    return Reason(EXCEEDS_NODE, params)


def capability(dims: Dims, d: int, q: str, held: Vec, cap: Vec, reserved: Vec, head: str) -> Reason:
    params = {"queue": q, "resource": dims.names[d], "held": dims.fmt(d, held[d]), "capability": dims.fmt(d, cap[d])}
    if reserved[d] > 0 and head:
        params.update(reserved=dims.fmt(d, reserved[d]), head=head)
    return Reason(OVER_CAPABILITY, params)


def capability_event(dims: Dims, d: int, q: str, held: Vec, need: Vec, cap: Vec) -> Reason:
    return Reason(CAPABILITY_EXCEEDED, {"queue": q, "resource": dims.names[d], "total": dims.fmt(d, held[d] + need[d]),
                                        "capability": dims.fmt(d, cap[d])})


def placeable_event(ready: int, placeable: int, size: int, detail: Reason) -> Reason:
    return Reason(PLACEABLE, {"placeable": ready + placeable, "size": size}, detail)


def unknown_resource(resource: str) -> Reason:
    return Reason(UNKNOWN_RESOURCE, {"resource": resource})


def gang_unreachable(ready: int, size: int) -> Reason:
    return Reason(GANG_UNREACHABLE, {"ready": ready, "size": size})


def extras_waiting(count: int, why: Reason) -> Reason:
    return Reason(EXTRAS_WAITING, {"count": count}, why)


def replica_short(dims: Dims, d: int, need: Vec, avail: Vec) -> Reason:
    return Reason(REPLICA_INSUFFICIENT, {"resource": dims.names[d], "need": dims.fmt(d, need[d]),
                                         "free": dims.fmt(d, avail[d])})


def bound(bound_count: int, size: int, gpus: list[int]) -> Reason:
    params: dict[str, Any] = {"bound": bound_count, "size": size}
    if gpus:
        params["gpus"] = ",".join(map(str, sorted(gpus)))
    return Reason(BOUND, params)


def extra_bound(replica: str) -> Reason:
    return Reason(EXTRA_BOUND, {"replica": replica})


def preempted(by: str) -> Reason:
    return Reason(PREEMPTED, {"by": by})


def preempting(victims: list[str]) -> Reason:
    return Reason(PREEMPTING, {"victims": ", ".join(victims)})


def reclaimed(queue: str) -> Reason:
    return Reason(RECLAIMED, {"queue": queue})


def reclaiming(victims: list[str], queues: str) -> Reason:
    return Reason(RECLAIMING, {"victims": ", ".join(victims), "queues": queues})
