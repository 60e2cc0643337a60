"""The reconcile loop: observe → decide → apply, idempotent, so a restarted daemon just runs it again.

Observe: each live replica's shim files (the exit file is the truth; a vanished shim is a lost replica)
and the clock. Decide: the job's controller (from its kind) turns an exit, or time passing, into an
`Outcome`; the scheduler turns the store's snapshot into `Decisions`. Apply: `Effects` (finish, stop,
re-queue, restart), the spawner (restart in place) and the binder (binds, evictions).
"""
from __future__ import annotations

import shutil
import threading

from arena.engines.local import queues
from arena.engines.local.binder import Binder
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.controllers.base import Counters, Outcome, ReplicaState
from arena.engines.local.effects import FINAL_OF, Effects
from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.repo import LIVE, Repo
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.spawner import Spawner
from arena.engines.local.supervisor import KILL, TERM, Processes
from arena.spec import duration

STARTING_GRACE = 10.0  # seconds a shim may take to write its pid file before its replica counts as lost


class Reconciler:
    def __init__(self, repo: Repo, catalog: Catalog, effects: Effects, spawner: Spawner, binder: Binder,
                 procs: Processes, clock: Clock) -> None:
        self.repo = repo
        self.catalog = catalog
        self.effects = effects
        self.spawner = spawner
        self.binder = binder
        self.procs = procs
        self.clock = clock
        self.mu = threading.RLock()  # one reconcile or API mutation at a time
        self.wake = threading.Event()

    def reconcile(self) -> None:
        with self.mu:
            now = self.clock.now()
            self.observe(now)
            self.deadlines(now)
            self.tick(now)
            self.tensorboards(now)
            self.binder.schedule(now)
            queues.settle(self.repo)

    # ---- observe: replica processes -----------------------------------------------------------
    def observe(self, now: float) -> None:
        for live in self.repo.replicas_live():
            r = live.replica
            files = ReplicaFiles.of(live.job_dir, r.key)
            pid, ctime = r.pid, r.pid_ctime
            if not pid:
                pid = self.procs.read_pid(files.pid)
                if pid:
                    with self.repo.tx() as tx:
                        tx.replica_pid(r.job_uid, r.key, pid)
            ex = self.procs.read_exit(files.exit)
            if r.state == "Terminating":
                if ex is not None or not self.procs.group_alive(pid):
                    # Read again: the shim may have written its exit file between the first read and its exit.
                    self.released(r, ex if ex is not None else self.procs.read_exit(files.exit))
                elif r.kill_at and now >= r.kill_at:
                    self.procs.signal_tree(pid, ctime, KILL)
                continue
            if ex is None and not self.procs.alive(pid, ctime):
                if not pid and (now - (r.started or now)) < STARTING_GRACE:
                    continue  # shim still starting
                ex = self.procs.read_exit(files.exit)
                if ex is None:
                    ex = {"code": 255, "ts": now, "lost": True}
            if ex is not None:
                self.exited(r, int(ex["code"]), float(ex.get("ts", now)), lost=bool(ex.get("lost")))

    def released(self, r: ReplicaRow, ex: dict | None) -> None:
        """A replica we were stopping is gone."""
        with self.repo.tx() as tx:
            job = tx.job_state(r.job_uid)
            if job is not None and job[0] is None:  # stopped for a restart: back to Pending
                tx.replica_pending(r.job_uid, r.key)
                return
            code = ex["code"] if ex is not None else None
            tx.replica_stopped(r.job_uid, r.key, "Succeeded" if code == 0 else "Terminated", code)
            final = FINAL_OF.get(job[1]) if job is not None else None
            if final and tx.count_replicas(r.job_uid, LIVE) == 0:
                tx.set_phase(r.job_uid, final, "all pods stopped")

    def exited(self, r: ReplicaRow, code: int, ts: float, lost: bool = False) -> None:
        """A replica ended by itself: its job's controller decides what follows."""
        uid = r.job_uid
        job = self.repo.job(uid)
        if job is None:
            return
        if job.finished is not None:  # the job already ended: just record the replica's end
            self.released(r, {"code": code})
            return
        spec = self.catalog.spec(uid, job.spec)
        states = self.states(uid)
        outcome = self.catalog.controller(uid).on_exit(spec, states, r.key, code, Counters(job.restarts, job.retries))
        name = f"{job.name}-{r.key}"
        with self.repo.tx() as tx:
            tx.replica_exited(uid, r.key, code, ts, "shim vanished: replica lost" if lost else "")
            if lost:
                tx.event(uid, "ReplicaLost", f"{name}: its shim vanished without an exit status", "Warning", f"pod/{name}")
            else:
                tx.event(uid, "Exited", f"{name} exited with code {code}", "Normal" if code == 0 else "Warning",
                         f"pod/{name}", ts)
            if outcome.action == "restart":
                tx.replica_restarted(uid, r.key)
                tx.job_counters(uid, restarts=1, retries=1 if outcome.counted else 0)
                tx.event(uid, "Restarting", outcome.reason, "Warning", f"pod/{name}")
                tx.set_phase(uid, "Restarting", outcome.reason, "PENDING")
            elif outcome.action in ("succeed", "fail"):
                if outcome.counted:
                    tx.job_counters(uid, retries=1)
                self.effects.finish(tx, uid, outcome.action == "succeed", outcome.reason, outcome.phase)
            else:  # the replica has ended and holds nothing; a task/job restart re-binds it
                tx.replica_unbound(uid, r.key)
        if outcome.action == "restart":
            self.spawner.start_replica(uid, r.key)
        elif outcome.action in ("succeed", "fail"):
            self.effects.terminate(uid, outcome.reason)
        else:
            self.follow(uid, outcome, r.task)

    def follow(self, uid: str, outcome: Outcome, task: str = "") -> None:
        """Apply an outcome that stops, re-queues or resets the job (finishing is the caller's transaction)."""
        if outcome.action in ("succeed", "fail"):
            self.effects.end(uid, outcome.action == "succeed", outcome.reason, outcome.phase)
        elif outcome.action == "restart_task":
            self.effects.restart_task(uid, task, outcome.reason)
        elif outcome.action == "restart_job":
            self.effects.requeue(uid, outcome.reason, "Restarting", "PENDING", "Restarting")
        elif outcome.action == "reset":
            self.effects.requeue(uid, outcome.reason, "Resetting", "SUSPENDED", "Resetting", hold=outcome.hold)

    def states(self, uid: str) -> list[ReplicaState]:
        return [ReplicaState(x.key, x.task, x.idx, x.state, x.exit_code) for x in self.repo.replicas(uid)]

    # ---- observe: time ------------------------------------------------------------------------
    def deadlines(self, now: float) -> None:
        """Fail a job past its activeDeadlineSeconds; delete a finished one whose TTL (fixed when it ended) is over."""
        for row in self.repo.jobs_due(now):
            spec = self.catalog.spec(row.uid, row.spec)
            deadline = spec.run_policy.active_deadline_seconds
            if row.finished is None and deadline and row.started and now - row.started >= deadline:
                self.effects.end(row.uid, False, f"job was active longer than specified deadline ({deadline}s)")
            elif row.finished is not None and not self.repo.any_live(row.uid):  # selected: its TTL is over
                self.remove(row)

    def remove(self, row: JobRow) -> None:
        """The job, its history and its directory are gone."""
        with self.repo.tx() as tx:
            tx.delete_job(row.uid)
        self.catalog.forget(row.uid)
        shutil.rmtree(row.job_dir, ignore_errors=True)

    def tick(self, now: float) -> None:
        """Controllers that act on time (AppWrapper's grace periods) see each admitted, deployed job."""
        for row in self.repo.jobs_deployed():
            controller = self.catalog.controller(row.uid, row.spec)
            if not controller.watches_time or row.deployed is None:
                continue
            outcome = controller.on_tick(self.catalog.spec(row.uid), self.states(row.uid),
                                         Counters(row.restarts, row.retries), row.deployed, now)
            if outcome.action != "none":
                self.follow(row.uid, outcome)

    def tensorboards(self, now: float) -> None:
        """Stop a finished job's TensorBoard, at once or after its --tensorboard-ttl."""
        for row in self.repo.jobs_finished_with_tensorboard():
            spec = self.catalog.spec(row.uid, row.spec)
            ttl = spec.tensorboard.ttl if spec.tensorboard else None
            if ttl and row.finished is not None and now - row.finished < duration.parse_seconds(ttl, "--tensorboard-ttl"):
                continue
            self.procs.signal_tree(row.tb_pid, row.tb_ctime, TERM)
            with self.repo.tx() as tx:
                tx.job_tensorboard(row.uid, None, None, None)
