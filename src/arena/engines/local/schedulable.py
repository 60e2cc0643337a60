"""The jobs the scheduler sees, kept between passes and read again only where the store says they changed.

Why: every pass built its snapshot from every active job's row, replicas and spec. With a thousand jobs waiting
(a sweep of short trials on a small machine) that cost the daemon 30 ms or more of CPU on every submit and every
exit, and such a sweep ran at a fifth of the engine's rate. Now the store's change notes (`store.TOUCHED`, this
reader's own table) name the jobs to read again; every other job keeps the `Job` it made last time (frozen: the
scheduler never changes one).

The loop reads inside its batch, before the batch commits: after a rollback these rows may be ones the store
never kept, so after any rollback everything is read again. Only the loop's thread uses this (the API's
`arena top queue` reads the store afresh): the loop may hold the store's lock while it refreshes.
"""
from __future__ import annotations

from typing import Any

import msgspec

from arena.engines.local.catalog import Catalog
from arena.engines.local.controllers.volcano import depends_ready
from arena.engines.local.effects import Effects
from arena.engines.local.isolation import isolated
from arena.engines.local.repo import Repo
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.scheduler import Amount, Job, Replica
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.store import NOTES
from arena.spec import quantity
from arena.spec.job import JobSpec

NOTED = NOTES[1]  # this reader's table of change notes
_REASON = msgspec.json.Decoder(Reason)


def decode_reason(text: str | None) -> Reason | None:
    return _REASON.decode(text) if text else None


def request(res: Any) -> Amount:
    """A task's `resources` as the scheduler counts them."""
    return Amount(quantity.cpu_milli(res.cpu), quantity.memory_bytes(res.memory), res.gpus, dict(res.devices))


def make_job(row: JobRow, reps: list[ReplicaRow], spec: JobSpec) -> Job:
    """The scheduler's view of one job: its stored row, its replicas' rows and its spec."""
    finished_job = row.finished is not None
    states: dict[str, list[str]] = {}
    for r in reps:
        states.setdefault(r.task, []).append(r.state)
    # A restarted (or evicted) job's next generation waits until the last one has stopped, and then binds as one
    # gang; a still-terminating replica must not count as a member of the new gang.
    stopping = not finished_job and any("Terminating" in s for s in states.values())
    replicas = []
    for r in reps:
        t = spec.task(r.task)
        if stopping and not r.bound:
            continue
        if not r.bound and not depends_ready(spec, r.task, states):
            continue  # dependsOn: not created until its dependencies are ready
        if finished_job and not r.bound:
            continue
        done = r.state in ("Succeeded", "Failed", "Terminated") and not r.bound
        replicas.append(Replica(r.key, request(t.resources) if t else Amount(), r.bound, tuple(r.gpus), done))
    mina = spec.scheduling.min_available or sum(t.replicas for t in spec.tasks if not t.depends_on)
    releasing = finished_job or any(st == "Terminating" for sts in states.values() for st in sts)
    return Job(row.uid, row.name, row.namespace, row.queue, row.priority, row.created, mina, tuple(replicas),
               admitted=row.admitted or finished_job, releasing=releasing, waiting_reason=decode_reason(row.waiting))


def held_back(row: JobRow, job: Job, now: float) -> bool:
    """An active job waiting out a restart's back-off (`hold_until`) while holding nothing: not scheduled yet."""
    return row.finished is None and row.hold_until is not None and row.hold_until > now \
        and not any(r.bound for r in job.replicas)


class Schedulable:
    """Every job that is active or still holds a bound replica: its row and the `Job` made of it."""

    def __init__(self, repo: Repo, catalog: Catalog, effects: Effects) -> None:
        self.repo = repo
        self.catalog = catalog
        self.effects = effects
        self._rows: dict[str, JobRow] | None = None  # in the order the store holds them
        self._made: dict[str, Job] = {}  # absent: its processing failed (the job is quarantined meanwhile)
        self._rollbacks = -1

    def jobs(self, now: float) -> tuple[Job, ...]:
        """What `Repo.jobs_schedulable` and `replicas_schedulable` make, less the jobs held back at `now`; read
        afresh only where changed."""
        self.refresh()
        assert self._rows is not None
        made = self._made
        return tuple(job for uid, row in self._rows.items()
                     if (job := made.get(uid)) is not None and not held_back(row, job, now))

    def row(self, uid: str) -> JobRow | None:
        """The job's row as of the last `refresh` (None: no longer schedulable, or unknown)."""
        return self._rows.get(uid) if self._rows is not None else None

    def job(self, uid: str) -> Job | None:
        return self._made.get(uid)

    def refresh(self) -> None:
        """Read again the jobs the store noted as changed since the last refresh; everything at first, and
        after a rollback."""
        rollbacks = self.repo.store.rollbacks
        if self._rows is None or rollbacks != self._rollbacks:
            self._rollbacks = rollbacks
            self.repo.jobs_touched(NOTED)  # first forget, then read: a change from now on is noted again
            jobs = self.repo.jobs_schedulable()
            reps = self.repo.replicas_schedulable() if jobs else {}
            self._rows, self._made = {}, {}
            for row in jobs:
                self._rows[row.uid] = row
                self._make(row, reps.get(row.uid, []))
            return
        touched = self.repo.jobs_touched(NOTED)
        if not touched:
            return
        jobs, reps = self.repo.jobs_schedulable_of(touched)
        found = {row.uid for row in jobs}
        for uid in touched:
            if uid not in found:  # finished and holding nothing, or deleted
                self._rows.pop(uid, None)
                self._made.pop(uid, None)
        for row in jobs:
            self._rows[row.uid] = row  # a job read again keeps its place
            self._make(row, reps.get(row.uid, []))

    def _make(self, row: JobRow, reps: list[ReplicaRow]) -> None:
        """The job's `Job` made again, always a new object, even when equal to the one it replaces: a job written
        to since the last cycle (bound, then reset by a restart) must not look untouched to `binder.LastCycle`."""
        self._made.pop(row.uid, None)
        with isolated(self.repo, self.catalog, self.effects, row.uid):
            self._made[row.uid] = make_job(row, reps, self.catalog.spec(row.uid, row.spec))
        row.spec = ""  # a kilobyte or two a job, in the catalog already (or read again from the store when needed)
