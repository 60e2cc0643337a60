"""What would let a waiting job start (`arena get`'s `To start:` line), from the scheduler's structured reason.

The reason carries its code and numbers (scheduler/reasons.py), so the hint reads them directly: no
wording is parsed back. A reason with no hint (a job that is not blocked by a limit it could lift) gives "".
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from arena.engines.local.scheduler import reasons as r
from arena.engines.local.scheduler.reasons import Reason

_HINTS: dict[str, Callable[[dict[str, Any]], str]] = {
    r.EXCEEDS_CAPABILITY: lambda p: (
        f"never within queue {p['queue']}'s capability ({p['capability']} {p['resource']}): raise it with "
        f"'arena queue update {p['queue']} --capability {p['resource']}=...' or request less"),
    r.EXCEEDS_NODE: lambda p: (
        f"never on this machine ({p['total']} {p['resource']} in all): request less, or declare more capacity"),
    r.INSUFFICIENT: lambda p: (
        f"starts when {p['need']} {p['resource']} are free at once (now {p['free']}): when running jobs finish, "
        "or sooner with a higher --priority"),
    r.OVER_CAPABILITY: lambda p: (
        f"starts when queue {p['queue']} has room under its capability ({p['held']}/{p['capability']} "
        f"{p['resource']} in use): when its jobs finish, or raise it with "
        f"'arena queue update {p['queue']} --capability {p['resource']}=...'"),
    r.QUEUE_NOT_OPEN: lambda p: (
        f"starts once the queue is open: 'arena queue open {p['queue']}'" if p["state"] == "Closed"
        else f"queue {p['queue']} is draining; 'arena queue open {p['queue']}' lets it start"),
    r.QUEUE_NOT_FOUND: lambda p: f"the queue was deleted: create it again with 'arena queue create {p['queue']}'",
}


def hint(reason: Reason | Mapping[str, Any] | None) -> str:
    """The condition and the action that would lift the job's binding constraint.

    Takes the `Reason` or its JSON form (`JobView.waiting`: `{"code": ..., "params": {...}}`).
    """
    if reason is None:
        return ""
    if not isinstance(reason, Reason):
        try:
            reason = msgspec.convert(reason, Reason)
        except msgspec.ValidationError:
            return ""
    make = _HINTS.get(reason.code)
    try:
        return make(reason.params) if make is not None else ""
    except KeyError:  # a reason from another version, without a parameter this one reads
        return ""
