"""The scheduler's structured reasons, in English: rendered here, at the edge, and parsed nowhere.

`text(reason)` is what `arena get`/`list -o wide` show as the job's reason and what the daemon records
as event messages. One template per code keeps every wording in one place; the scheduler only chooses
codes and numbers (scheduler/reasons.py), and the `To start:` hint reads the same codes (hints.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arena.engines.local.scheduler import reasons as r
from arena.engines.local.scheduler.reasons import Reason


def _insufficient(p: dict[str, Any], _: Reason | None) -> str:
    out = f"gang needs {p['need']} {p['resource']}, {p['free']} free"
    if "reserved" in p:
        out += f" ({p['reserved']} reserved)"
    if "releasing" in p:
        out += f", {p['releasing']} being released"
    return out


def _exceeds_node(p: dict[str, Any], _: Reason | None) -> str:
    out = f"gang needs {p['need']} {p['resource']}, node has {p['total']}"
    if "guaranteed" in p:
        out += f" ({p['guaranteed']} guaranteed to other queues)"
    return out


def _over_capability(p: dict[str, Any], _: Reason | None) -> str:
    out = f"queue {p['queue']} capability {p['resource']} {p['held']}/{p['capability']}"
    if "head" in p:
        out += f" ({p['reserved']} reserved for {p['head']})"
    return out


def _placeable(p: dict[str, Any], cause: Reason | None) -> str:
    detail = text(cause).removeprefix("gang ") if cause is not None else ""
    return f"gang {p['placeable']}/{p['size']} replicas placeable: {detail}"


def _bound(p: dict[str, Any], _: Reason | None) -> str:
    on = f" on GPUs {p['gpus']}" if "gpus" in p else ""
    return f"gang {p['bound']}/{p['size']} replicas bound{on}"


_TEMPLATES: dict[str, Callable[[dict[str, Any], Reason | None], str]] = {
    r.QUEUE_NOT_FOUND: lambda p, _: f"queue {p['queue']} not found",
    r.QUEUE_NOT_OPEN: lambda p, _: f"queue {p['queue']} {str(p['state']).lower()}",
    r.INSUFFICIENT: _insufficient,
    r.EXCEEDS_CAPABILITY: lambda p, _: f"gang needs {p['need']} {p['resource']}, queue {p['queue']} capability "
                                       f"{p['capability']}",
    r.EXCEEDS_NODE: _exceeds_node,
    r.OVER_CAPABILITY: _over_capability,
    r.UNKNOWN_RESOURCE: lambda p, _: f"gang needs {p['resource']}, which the node does not have",
    r.GANG_UNREACHABLE: lambda p, _: f"gang {p['ready']}/{p['size']} replicas left, minAvailable can no longer be "
                                     "reached",
    r.EXTRAS_WAITING: lambda p, c: f"{p['count']} replicas beyond minAvailable wait: {text(c) if c else ''}",
    r.REPLICA_INSUFFICIENT: lambda p, _: f"needs {p['need']} {p['resource']}, {p['free']} free",
    r.REPLICA_UNKNOWN_RESOURCE: lambda p, _: "needs a resource the node does not have",
    r.PLACEABLE: _placeable,
    r.CAPABILITY_EXCEEDED: lambda p, _: f"queue {p['queue']} capability exceeded: {p['resource']} "
                                        f"{p['total']}/{p['capability']}",
    r.BOUND: _bound,
    r.EXTRA_BOUND: lambda p, _: f"replica {p['replica']} bound beyond minAvailable",
    r.PREEMPTED: lambda p, _: f"preempted by higher-priority job {p['by']}",
    r.PREEMPTING: lambda p, _: f"evicting lower-priority job(s) {p['victims']} to fit its gang",
    r.RECLAIMED: lambda p, _: f"evicted by reclaim for queue {p['queue']}",
    r.RECLAIMING: lambda p, _: f"evicting {p['victims']} from queue {p['queues']} to fit its gang",
}


def text(reason: Reason) -> str:
    """One line of English for a reason (with what preempt/reclaim do about it, when they do)."""
    template = _TEMPLATES.get(reason.code)
    p = reason.params
    out = template(p, reason.cause) if template is not None else reason.code
    if "preempting" in p:
        out += f"; preempting {p['preempting']} lower-priority job(s)"
    if "reclaiming" in p:
        out += f"; reclaiming {p['reclaiming']} job(s) from queue {p['reclaimFrom']}"
    return out
