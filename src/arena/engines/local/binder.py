"""Scheduling on the store: the snapshot the scheduler decides on, and applying its decisions.

`snapshot(now)` turns the store into the scheduler's immutable input (Kueue's snapshot-then-act);
`schedule(now)` runs one cycle on it and applies the result: admissions, waiting reasons (structured,
stored as they are; rendered to English only for events), evictions through the job's controller,
and binds. Binding fixes every replica's port at the job's first bind — as pod DNS names are fixed on a
cluster — so replicas started later (dependsOn) are already in the host lists the first ones got —
then records GPUs and the cores of replicas that request CPUs (`cpuset`), and starts the bound replicas
through the spawner.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import msgspec

from arena.engines.local import cpuset, faults, resources, wording
from arena.engines.local.catalog import Catalog
from arena.engines.local.effects import Effects
from arena.engines.local.isolation import isolated
from arena.engines.local.node import Capacity
from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.planner import fixed_port
from arena.engines.local.ports import Ports
from arena.engines.local.repo import Repo, Tx
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.schedulable import Schedulable, held_back, make_job
from arena.engines.local.scheduler import Amount, Bind, Decisions, Job, Node, Queue, Snapshot, Waiting, cycle
from arena.engines.local.spawner import Spawner
from arena.spec.job import JobSpec

_ENCODE = msgspec.json.Encoder()
POSITIONS_EVERY = 1.0  # seconds: a waiting job's place in its queue, when only it changed, is stored this often


class Binder:
    def __init__(self, repo: Repo, catalog: Catalog, capacity: Capacity, effects: Effects, spawner: Spawner,
                 ports: Ports) -> None:
        self.repo = repo
        self.catalog = catalog
        self.capacity = capacity
        self.effects = effects
        self.spawner = spawner
        self.ports = ports
        self.schedulable = Schedulable(repo, catalog, effects)  # the loop's only
        self.last = LastCycle()
        self.positions = Positions()

    # ---- observe ------------------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        """The scheduler's input read afresh from the store (what `arena top queue` reports on); a pass uses the
        jobs `Schedulable` keeps instead."""
        jobs_rows = self.repo.jobs_schedulable()
        reps_by_job = self.repo.replicas_schedulable() if jobs_rows else {}
        jobs = []
        for row in jobs_rows:
            with isolated(self.repo, self.catalog, self.effects, row.uid):
                job = make_job(row, reps_by_job.get(row.uid, []), self.catalog.spec(row.uid, row.spec))
                if not held_back(row, job, now):
                    jobs.append(job)
        return self._snapshot(tuple(jobs), now)

    def _snapshot(self, jobs: tuple[Job, ...], now: float) -> Snapshot:
        cap = self.capacity
        node = Node(Amount(cap.cpu_milli, cap.memory, len(cap.gpus), dict(cap.extended)), tuple(cap.gpus))
        queues = {q.name: Queue(q.name, q.weight, _amount(q.capability), _amount(q.guarantee), q.reclaimable, q.state)
                  for q in self.repo.queues()}
        return Snapshot(node, queues, jobs, now)

    # ---- decide and apply ---------------------------------------------------------------------
    def schedule(self, now: float) -> None:
        known = self.schedulable
        snap = self._snapshot(known.jobs(now), now)
        if self.last.same(snap):  # a pure function of an unchanged snapshot decides as before: nothing new to do
            if self.positions.stale and self.positions.due(now):
                with self.repo.tx() as tx:
                    self._waiting(tx, self.last.decisions.waiting, now)
            return
        decisions: Decisions = cycle(snap)
        self._apply(decisions, now)
        self.last.keep(snap, decisions)  # applied whole: a pass that failed half-way decides again

    def _apply(self, decisions: Decisions, now: float) -> None:
        self.schedulable.refresh()  # what changed meanwhile (another thread's write between two steps of the pass)
        with self.repo.tx() as tx:
            for uid in decisions.admit:
                tx.job_admitted(uid)
                tx.event(uid, "Admitted", "admitted by queue", source="scheduler")
            self._waiting(tx, decisions.waiting, now)
            for uid, event, what in decisions.events:
                tx.event(uid, event, wording.text(what), source="scheduler")
        for ev in decisions.evictions:
            with isolated(self.repo, self.catalog, self.effects, ev.job_uid):
                self.effects.evict(ev.job_uid, wording.text(ev.reason))
        by_job: dict[str, list[Bind]] = {}
        for b in decisions.binds:
            by_job.setdefault(b.job_uid, []).append(b)
        bound: list[tuple[JobRow, JobSpec, list[Bind]]] = []
        for uid, binds in by_job.items():
            self.repo.step_aside()
            with isolated(self.repo, self.catalog, self.effects, uid):
                if (done := self.bind(uid, binds, now)) is not None:
                    bound.append(done)
        if not bound:
            return
        self.repo.flush()  # the pass's binds are on disk, in one commit, before any of their replicas starts
        try:
            for job, spec, binds in bound:
                with isolated(self.repo, self.catalog, self.effects, job.uid):
                    self.start(job, spec, binds)
        finally:  # every replica bound in this pass is started at once; their pids are recorded here
            self.spawner.settle()

    def _waiting(self, tx: Tx, waiting: dict[str, Waiting], now: float) -> None:
        """Store each waiting job's reason (an event when it changes) and its place in its queue. A place that
        alone changed is stored at most every `POSITIONS_EVERY` seconds: every place in a queue moves whenever its
        head starts, and writing them all on every pass made a pass's cost grow with the backlog."""
        known = self.schedulable
        due = self.positions.due(now)
        stale = False
        for uid, w in waiting.items():
            row = known.row(uid)
            if row is None or row.finished is not None:
                continue
            made = known.job(uid)
            if made is not None and w.reason == made.waiting_reason:
                stored = row.waiting  # unchanged (the common case): not encoded again
            else:
                stored = _ENCODE.encode(w.reason).decode()
            if row.waiting != stored:
                tx.job_waiting(uid, stored, w.position)
                tx.event(uid, "Unschedulable", wording.text(w.reason), "Warning", "scheduler")
                row.position = w.position  # the row and its `Job` are read again at the next refresh
            elif row.position != w.position:
                if due or not row.position:
                    tx.job_position(uid, w.position)
                    row.position = w.position  # the loop's copy: the change notes leave positions out
                else:
                    stale = True
            if w.admitted and row.status == "QUEUING":
                tx.set_phase(uid, "Inqueue", wording.text(w.reason), "PENDING")
        self.positions.wrote(now, due, stale)

    def bind(self, uid: str, binds: list[Bind], now: float) -> tuple[JobRow, JobSpec, list[Bind]] | None:
        """Record a gang's bind (ports, GPUs, cores, phase): what `start` then starts."""
        job = self.repo.job(uid)
        if job is None or job.finished is not None:
            return None
        spec = self.catalog.spec(uid, job.spec)
        now = max(now, job.created)  # a job submitted while this pass ran still starts after it was created
        reps = {r.key: r for r in self.repo.replicas(uid)}
        ports = {k: r.port for k, r in reps.items()}
        for b in binds:  # a new run: its last run's pid and exit files must not be read as this one's
            files = ReplicaFiles.of(job.job_dir, b.replica)
            files.pid.unlink(missing_ok=True)
            files.exit.unlink(missing_ok=True)
        with self.repo.tx() as tx:
            for key in [k for k, p in ports.items() if not p]:
                r = reps[key]
                t = spec.task(r.task)
                ports[key] = (fixed_port(t, r.idx) if t else 0) or self.ports.allocate(ports.values())
                tx.replica_port(uid, key, ports[key])
            cores = self.pin(spec, reps, binds)
            for b in binds:
                tx.bind_replica(uid, b.replica, list(b.gpu_indices), ports[b.replica], now, cores.get(b.replica))
            tx.job_bound(uid, now)
            gpus = [g for b in binds for g in b.gpu_indices]
            pinned = sorted({c for cs in cores.values() for c in cs})
            tx.event(uid, "Scheduled", f"gang of {len(binds)} replicas bound to localhost"
                     + (f" (GPUs {','.join(map(str, gpus))})" if gpus else "")
                     + (f" (CPUs {','.join(map(str, pinned))})" if pinned else ""), source="scheduler")
            phase = {"Created": "Inqueue", "Resetting": "Resuming", "Restarting": "Pending"}.get(job.phase, job.phase)
            tx.set_phase(uid, phase, "admitted", "PENDING")
        return job, spec, binds

    def start(self, job: JobRow, spec: JobSpec, binds: list[Bind]) -> None:
        faults.crash("replica-bound", job.job_dir)  # tests: a daemon killed between bind and spawn
        reps = self.repo.replicas(job.uid)  # as bound
        for b in binds:
            self.spawner.start_replica(job.uid, b.replica, defer=True, rows=(job, reps))
        if job.started is None and spec.tensorboard is not None:
            self.spawner.start_tensorboard(job.uid)

    def pin(self, spec: JobSpec, reps: dict[str, ReplicaRow], binds: list[Bind]) -> dict[str, list[int]]:
        """The cores of each bound replica that requests CPUs: free ones while they last, then the least used,
        counting what every bound replica of any job is pinned to (`cpuset`)."""
        wanted: dict[str, int] = {}
        for b in binds:
            t = spec.task(reps[b.replica].task)
            if t is not None and (milli := cpuset.requested_milli(t)):
                wanted[b.replica] = milli
        if not wanted:
            return {}
        cores = cpuset.usable()
        held: Counter[int] = Counter(c for cs in self.repo.cpus_held() for c in cs)
        out: dict[str, list[int]] = {}
        for key, milli in wanted.items():
            out[key] = cpuset.choose(cpuset.cores_of_request(milli, len(cores)), cores, held)
            held.update(out[key])
        return out


class LastCycle:
    """The last cycle's snapshot and decisions. The scheduler is a pure function of its snapshot, and of `now` only
    through the SLA's deadline (a job waiting longer than `sla_waiting_time` goes first): with the same jobs (the
    very objects `Schedulable` keeps while nothing changes them), node and queues, and no job passing that
    deadline since, a cycle would decide the same again, so it is not run (each tick, with thousands waiting, ran
    one for nothing). Its decisions are not applied again either: they were, when they were made."""

    def __init__(self) -> None:
        self.snap: Snapshot | None = None
        self.decisions = Decisions()
        self.sla_next = 0.0  # the first time after the last cycle at which a job passes the SLA's deadline

    def same(self, snap: Snapshot) -> bool:
        last = self.snap
        if last is None or snap.now < last.now or snap.now >= self.sla_next or len(snap.jobs) != len(last.jobs):
            return False
        if snap.node != last.node or snap.queues != last.queues or snap.sla_waiting_time != last.sla_waiting_time:
            return False
        return all(a is b for a, b in zip(snap.jobs, last.jobs))

    def keep(self, snap: Snapshot, decisions: Decisions) -> None:
        self.snap, self.decisions = snap, decisions
        deadline = snap.now - snap.sla_waiting_time
        later = [j.created for j in snap.jobs if j.created > deadline]
        self.sla_next = min(later) + snap.sla_waiting_time if later else math.inf


class Positions:
    """When waiting jobs' places in their queues were last stored, and whether some have moved since."""

    def __init__(self) -> None:
        self.at = -math.inf
        self.stale = False

    def due(self, now: float) -> bool:
        return not now - POSITIONS_EVERY < self.at <= now  # a clock set back makes them due too

    def wrote(self, now: float, due: bool, stale: bool) -> None:
        if due:
            self.at = now
        self.stale = stale


def _amount(d: dict[str, Any] | None) -> Amount | None:
    """A stored queue capability/guarantee, parsed as `arena queue` validated it; unnamed → unlimited."""
    if not d:
        return None
    res = resources.parse(d, "queue resources")
    return Amount(10**12 if res.cpu_milli is None else res.cpu_milli, 10**18 if res.memory is None else res.memory,
                  10**6 if res.gpus is None else res.gpus, res.extended)

