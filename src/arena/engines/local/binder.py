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

from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from arena.engines.local import cpuset, faults, resources, wording
from arena.engines.local.catalog import Catalog
from arena.engines.local.controllers.volcano import depends_ready
from arena.engines.local.effects import Effects
from arena.engines.local.isolation import isolated
from arena.engines.local.node import Capacity
from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.planner import fixed_port
from arena.engines.local.ports import Ports
from arena.engines.local.repo import Repo
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.scheduler import Amount, Bind, Decisions, Job, Node, Queue, Replica, Snapshot, cycle
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.spawner import Spawner
from arena.spec import quantity
from arena.spec.job import JobSpec

_REASON = msgspec.json.Decoder(Reason)
_ENCODE = msgspec.json.Encoder()


def decode_reason(text: str | None) -> Reason | None:
    return _REASON.decode(text) if text else None


class Binder:
    def __init__(self, repo: Repo, catalog: Catalog, capacity: Capacity, effects: Effects, spawner: Spawner,
                 ports: Ports) -> None:
        self.repo = repo
        self.catalog = catalog
        self.capacity = capacity
        self.effects = effects
        self.spawner = spawner
        self.ports = ports

    # ---- observe ------------------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        cap = self.capacity
        node = Node(Amount(cap.cpu_milli, cap.memory, len(cap.gpus), dict(cap.extended)), tuple(cap.gpus))
        queues = {q.name: Queue(q.name, q.weight, _amount(q.capability), _amount(q.guarantee), q.reclaimable, q.state)
                  for q in self.repo.queues()}
        jobs_rows = self.repo.jobs_schedulable(now)
        reps_by_job = self.repo.replicas_schedulable() if jobs_rows else {}
        jobs = []
        for row in jobs_rows:
            with isolated(self.repo, self.catalog, self.effects, row.uid):
                spec = self.catalog.spec(row.uid, row.spec)
                finished_job = row.finished is not None
                reps = reps_by_job.get(row.uid, [])
                states: dict[str, list[str]] = {}
                for r in reps:
                    states.setdefault(r.task, []).append(r.state)
                # A restarted (or evicted) job's next generation waits until the last one has stopped, and then
                # binds as one gang; a still-terminating replica must not count as a member of the new gang.
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
                    replicas.append(Replica(r.key, _request(t.resources) if t else Amount(), r.bound, tuple(r.gpus),
                                            done))
                mina = spec.scheduling.min_available or sum(t.replicas for t in spec.tasks if not t.depends_on)
                releasing = finished_job or any(st == "Terminating" for sts in states.values() for st in sts)
                jobs.append(Job(row.uid, row.name, row.namespace, row.queue, row.priority, row.created, mina,
                                tuple(replicas), admitted=row.admitted or finished_job, releasing=releasing,
                                waiting_reason=decode_reason(row.waiting)))
        return Snapshot(node, queues, tuple(jobs), now)

    # ---- decide and apply ---------------------------------------------------------------------
    def schedule(self, now: float) -> None:
        decisions: Decisions = cycle(self.snapshot(now))
        active = self.repo.jobs_waiting_state()
        with self.repo.tx() as tx:
            for uid in decisions.admit:
                tx.job_admitted(uid)
                tx.event(uid, "Admitted", "admitted by queue", source="scheduler")
            for uid, w in decisions.waiting.items():
                row = active.get(uid)
                if row is None:
                    continue
                stored = _ENCODE.encode(w.reason).decode()
                if row.waiting != stored or row.position != w.position:
                    tx.job_waiting(uid, stored, w.position)
                    if row.waiting != stored:
                        tx.event(uid, "Unschedulable", wording.text(w.reason), "Warning", "scheduler")
                if w.admitted and row.status == "QUEUING":
                    tx.set_phase(uid, "Inqueue", wording.text(w.reason), "PENDING")
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
        faults.crash("replica-bound", Path(job.job_dir))  # tests: a daemon killed between bind and spawn
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


def _amount(d: dict[str, Any] | None) -> Amount | None:
    """A stored queue capability/guarantee, parsed as `arena queue` validated it; unnamed → unlimited."""
    if not d:
        return None
    res = resources.parse(d, "queue resources")
    return Amount(10**12 if res.cpu_milli is None else res.cpu_milli, 10**18 if res.memory is None else res.memory,
                  10**6 if res.gpus is None else res.gpus, res.extended)


def _request(res: Any) -> Amount:
    return Amount(quantity.cpu_milli(res.cpu), quantity.memory_bytes(res.memory), res.gpus, dict(res.devices))
