"""The job table of `arena list` and `arena top job`: its headers and its columns, from summaries or from the
daemon's rows as they arrive (`quick`). Standard library only: the plain `arena list` imports this and little
else."""
from __future__ import annotations

import functools
from collections.abc import Sequence

from arena.spec.duration import short_human  # formats only: `re` is loaded by the parser, not here
from arena.summary import FIELDS, elapsed  # standard library only

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from arena.summary import JobSummary
    from arena.views import JobView

HEADERS = ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)", "GPU(Allocated)", "NODE"]
WIDE = ["QUEUE", "PRIORITY", "POSITION", "REASON"]


def headers(all_namespaces: bool, wide: bool = False, base: Sequence[str] = HEADERS) -> list[str]:
    """NAMESPACE first across namespaces, the queue's columns last when wide."""
    return ["NAMESPACE"] * all_namespaces + list(base) + WIDE * wide


def duration(v: JobView | JobSummary, now: float) -> str:
    return age(v.startTime, v.finishTime, v.creationTimestamp, now)


def age(start: float | None, finish: float | None, created: float, now: float) -> str:
    """DURATION: "0s" until the job starts or ends, then kubectl's short duration (`summary.elapsed`)."""
    return _short(int(elapsed(start, created, finish, now))) if start or finish else "0s"


_short = functools.lru_cache(maxsize=4096)(short_human)  # thousands of listed jobs share a few durations


def summary_columns(jobs: Sequence[Sequence], now: float, all_namespaces: bool, wide: bool = False) -> list[Sequence]:
    """The columns under `headers`: summaries, or rows with the values of `summary.FIELDS` in order. Built a
    column at a time: each field is one slice of the transposed rows."""
    c = dict(zip(FIELDS, zip(*jobs))) if jobs else {f: () for f in FIELDS}
    durations = [age(start, finish, created, now)
                 for start, finish, created in zip(c["startTime"], c["finishTime"], c["creationTimestamp"])]
    cols: list[Sequence] = [c["name"], c["status"], c["trainer"], durations, c["requestGPUs"], c["allocatedGPUs"],
                            [ip or "N/A" for ip in c["nodeIP"]]]
    if wide:
        cols += [c["queue"], c["priority"], [p or "-" for p in c["position"]], [r or "-" for r in c["reason"]]]
    if all_namespaces:
        cols.insert(0, c["namespace"])
    return cols
