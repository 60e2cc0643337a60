"""A job as one line of `arena list` shows it: the few fields of its row, and nothing else.

A list of thousands of jobs is read by a short-lived command: full `JobView`s (instances, events, the
local job folder) are five times the bytes and need msgspec loaded to decode. A `JobSummary` is a plain
named tuple of JSON values, so that `arena list` starts, fetches and prints with the standard library alone.
Both engines give the same summary; `summarize` derives it from a `JobView` wherever one is at hand.
"""
from __future__ import annotations

import time
from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

FINISHED = ("SUCCEEDED", "FAILED")

# A summary's fields, in order (also on the local daemon's wire, `from_wire`).
FIELDS = ("name", "namespace", "kind", "trainer", "status", "creationTimestamp", "startTime", "finishTime",
          "requestGPUs", "allocatedGPUs", "nodeIP", "queue", "priority", "position", "reason")
_DEFAULTS = {"startTime": None, "finishTime": None, "requestGPUs": 0, "allocatedGPUs": 0, "nodeIP": "",
             "queue": "default", "priority": "N/A", "position": 0, "reason": "", "engine": "local", "chief": False}


def elapsed(start: float | None, created: float, finish: float | None, now: float | None = None) -> float:
    """Seconds from start (or creation while waiting) to finish or now: a job's DURATION."""
    end = finish or (now if now is not None else time.time())
    return max(end - (start or created), 0.0)


class JobSummary(namedtuple("JobSummary", FIELDS)):
    """`nodeIP` is the NODE column's value: the chief's node, "" while it has none (upstream prints N/A)."""

    __slots__ = ()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def duration(self, now: float | None = None) -> float:
        return elapsed(self.startTime, self.creationTimestamp, self.finishTime, now)


def node_ip(view: Any) -> str:
    """Upstream's NODE: the node IP of the chief instance; locally the machine's loopback once the job is
    admitted (a local list carries no instances); "" while there is none."""
    for i in view.instances:
        if i.chief:
            if i.nodeIP:
                return i.nodeIP
            break
    return "127.0.0.1" if view.engine == "local" and view.status != "QUEUING" else ""


def summarize(view: Any) -> JobSummary:
    """The summary of a `JobView`."""
    return JobSummary(view.name, view.namespace, view.kind, view.trainer, view.status, view.creationTimestamp,
                      view.startTime, view.finishTime, view.requestGPUs, view.allocatedGPUs, node_ip(view),
                      view.queue, view.priority, view.position, view.reason)


def from_wire(doc: Any) -> list[JobSummary]:
    """Summaries from the local daemon's answer, `{"fields": [...], "rows": [[...], ...]}` (a row per job, its
    values in the order of `fields`). Fields are matched by name, so that a daemon of another version (more,
    fewer or reordered fields) is still read, a field it lacks taking its default; a daemon from before
    summaries answers with full views, summarized here. Anything else raises ValueError."""
    if isinstance(doc, list):
        return [summarize(_Attrs(v)) for v in doc]
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), list) or not isinstance(doc.get("rows"), list):
        raise ValueError("not a list of job summaries")
    fields, rows = doc["fields"], doc["rows"]
    if tuple(fields) == FIELDS:
        return list(map(JobSummary._make, rows))
    out = []
    for row in rows:
        got = dict(zip(fields, row))
        out.append(JobSummary(*(got[f] if f in got else _DEFAULTS.get(f, "") for f in FIELDS)))
    return out


class _Attrs:
    """A view's JSON (a dict) read as the view: `summarize` reads attributes."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc

    def __getattr__(self, name: str) -> Any:
        value = self._doc.get(name, _DEFAULTS.get(name))
        if name == "instances":
            return [_Attrs(i) for i in value or ()]
        return value
