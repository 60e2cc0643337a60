"""The reconcile loop: observe → decide → apply, idempotent, so a restarted daemon just runs it again.

Observe: each live replica's shim files (the exit file is the truth; a vanished shim is a lost replica)
and the clock. Decide: the job's controller (from its kind) turns an exit, or time passing, into an
`Outcome`; the scheduler turns the store's snapshot into `Decisions`. Apply: `Effects` (finish, stop,
re-queue, restart), the spawner (restart in place) and the binder (binds, evictions).
"""
from __future__ import annotations

import threading

from arena.engines.local import queues
from arena.engines.local.binder import Binder
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.controllers.base import Counters, Outcome, ReplicaState
from arena.engines.local.effects import FINAL_OF, Effects
from arena.engines.local.isolation import isolated
from arena.engines.local.paths import ReplicaFiles, remove_job_dir
from arena.engines.local.repo import LIVE, Repo
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.spawner import Spawner
from arena.engines.local.supervisor import KILL, TERM, Processes, tag_of
from arena.spec import duration

# The kubelet's crash-loop back-off for in-place restarts: the first restart is immediate, then 10 s doubling
# to 5 min, and a replica that ran 10 min before it failed counts as healthy again.
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0

ERROR_CHARS = 300  # of a shim's reason for not starting a replica, shown in its Exited event


def backoff(previous: float, ran: float) -> tuple[float, float]:
    """(seconds to wait before this restart, the back-off the next crash will wait) after a crash of a
    replica that ran `ran` seconds with back-off `previous` (0: none yet)."""
    if previous <= 0 or ran >= BACKOFF_RESET:
        return 0.0, BACKOFF_INITIAL
    return previous, min(previous * 2, BACKOFF_MAX)


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
        self.repo.courtesy.new_pass()
        if self.repo.courtesy.pending:  # woken by a submit: its answer goes out first
            self.repo.courtesy.wait()
        with self.mu, self.repo.batch():  # one commit per pass, and before each start or signal
            now = self.clock.now()
            self.observe(now)
            self.restarts(now)
            self.deadlines(now)
            self.tick(now)
            self.tensorboards(now)
            self.binder.schedule(now)
            queues.settle(self.repo)

    # ---- observe: replica processes -----------------------------------------------------------
    def observe(self, now: float) -> None:
        """Each live replica's shim: the lock it holds says whether it runs, its exit file how it ended.

        Bind and spawn are one recoverable step: a replica bound by a daemon that stopped before starting
        it (no pid recorded, no shim, no pid file) is started now, or released if its job has ended. A shim
        the store never recorded (the daemon stopped between starting and recording it) is adopted."""
        for live in self.repo.replicas_live():
            self.repo.step_aside()
            with isolated(self.repo, self.catalog, self.effects, live.replica.job_uid):
                r = live.replica
                files = ReplicaFiles.of(live.job_dir, r.key)
                tag = tag_of(r.job_uid, r.key)
                pid, ctime = r.pid, r.pid_ctime
                running = self.procs.shim(files, pid, ctime)
                if running is not None and running != pid:  # adopt the shim that runs it
                    pid, ctime = running, None
                    # Read afresh: an exit observed earlier in this pass may have ended the job meanwhile.
                    job, now_r = self.repo.job(r.job_uid), self.repo.replica(r.job_uid, r.key)
                    if job is not None and job.finished is None and now_r is not None and now_r.state == "Starting":
                        self.spawner.started(job, r.key, pid, None)
                    else:
                        with self.repo.tx() as tx:
                            tx.replica_pid(r.job_uid, r.key, pid)
                ex = self.procs.read_exit(files.exit)
                if r.state == "Terminating":
                    if ex is not None or (running is None and not self.procs.any_alive([(pid, tag)])):
                        # Read again: the shim may have written its exit file between the first read and its exit.
                        self.released(r, ex if ex is not None else self.procs.read_exit(files.exit))
                    elif r.kill_at and now >= r.kill_at:
                        self.repo.flush()
                        self.procs.signal_tree(pid, ctime, KILL, tag)
                    continue
                if ex is None and running is None:
                    if not r.pid and self.procs.read_pid(files.pid) is None:
                        self.unstarted(r, live.job_finished)
                        continue
                    ex = self.procs.read_exit(files.exit)
                    if ex is None:  # the shim died without a word: end what it left, the replica is lost
                        self.repo.flush()
                        self.procs.signal_tree(pid, ctime, KILL, tag)
                        ex = {"code": 255, "ts": now, "lost": True}
                if ex is not None:
                    self.exited(r, int(ex["code"]), float(ex.get("ts", now)), lost=bool(ex.get("lost")),
                                error=str(ex.get("error") or ""))

    def unstarted(self, r: ReplicaRow, job_finished: float | None) -> None:
        """A replica bound but never spawned (its daemon stopped in between): start it, or release it."""
        if job_finished is not None:
            self.released(r, None)
        else:
            self.spawner.start_replica(r.job_uid, r.key)

    def restarts(self, now: float) -> None:
        """Replicas whose crash-loop back-off is over start again."""
        for uid, key in self.repo.replicas_restart_due(now):
            with isolated(self.repo, self.catalog, self.effects, uid):
                self.spawner.start_replica(uid, key, in_place=True)

    def released(self, r: ReplicaRow, ex: dict | None) -> None:
        """A replica we were stopping is gone. One the signal ended (killed, or exiting 128 + the signal as a
        shell does) is Terminated; one that ended otherwise keeps its own outcome: Succeeded, or Failed with
        its exit code ("Error", as a container's)."""
        with self.repo.tx() as tx:
            job = tx.job_state(r.job_uid)
            if job is not None and job[0] is None:  # stopped for a restart: back to Pending
                tx.replica_pending(r.job_uid, r.key)
                return
            code = ex["code"] if ex is not None else None
            own = code is not None and code not in (0, 128 + TERM, 128 + KILL)
            state = "Succeeded" if code == 0 else "Failed" if own else "Terminated"
            tx.replica_stopped(r.job_uid, r.key, state, code, "Error" if own else None)
            final = FINAL_OF.get(job[1]) if job is not None else None
            last = tx.count_replicas(r.job_uid, LIVE) == 0
            if final and last:
                tx.set_phase(r.job_uid, final, "all pods stopped")
        if job is not None and job[0] is not None and last:
            self.procs.release(r.job_uid)

    def exited(self, r: ReplicaRow, code: int, ts: float, lost: bool = False, error: str = "") -> None:
        """A replica ended by itself: its job's controller decides what follows. `error`: why its shim could not
        start it (the exit file says so; the log may not exist), shown in the event."""
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
        wait, next_backoff = backoff(r.backoff, ts - (r.started or ts)) if outcome.action == "restart" else (0.0, 0.0)
        with self.repo.tx() as tx:
            tx.replica_exited(uid, r.key, code, ts, "shim vanished: replica lost" if lost else
                              "Completed" if code == 0 else "Error")
            in_place = outcome.action == "restart"  # a crash loop's events are counted, not repeated
            if lost:
                tx.event(uid, "ReplicaLost", f"{name}: its shim vanished without an exit status", "Warning", f"pod/{name}",
                         aggregate=in_place)
            else:
                why = f": {error[:ERROR_CHARS]}" if error else ""
                tx.event(uid, "Exited", f"{name} exited with code {code}{why}", "Normal" if code == 0 else "Warning",
                         f"pod/{name}", ts, aggregate=in_place)
            if in_place:
                tx.replica_restarted(uid, r.key)
                tx.job_counters(uid, restarts=1, retries=1 if outcome.counted else 0)
                tx.event(uid, "Restarting", outcome.reason, "Warning", f"pod/{name}", aggregate=True)
                tx.set_phase(uid, "Restarting", outcome.reason, "PENDING")
                # Due now or after its back-off: recorded either way, so that a daemon killed before the restart
                # leaves it to the next one (`restarts`).
                tx.replica_backoff(uid, r.key, ts + wait, next_backoff,
                                   f"back-off {wait:g}s restarting failed replica {name}" if wait > 0 else "")
                if wait > 0:  # CrashLoopBackOff: the kubelet's wording, shown as the replica's state
                    tx.event(uid, "BackOff", f"back-off restarting failed replica {name}", "Warning", f"pod/{name}",
                             aggregate=True)
            elif outcome.action in ("succeed", "fail"):
                if outcome.counted:
                    tx.job_counters(uid, retries=1)
                self.effects.finish(tx, uid, outcome.action == "succeed", outcome.reason, outcome.phase)
            else:  # the replica has ended and holds nothing; a task/job restart re-binds it
                tx.replica_unbound(uid, r.key)
        if outcome.action == "restart":
            if wait <= 0:
                self.spawner.start_replica(uid, r.key, in_place=True)
        elif outcome.action in ("succeed", "fail"):
            self.effects.terminate(uid, outcome.reason)
            if not self.repo.any_live(uid):
                self.procs.release(uid)
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
        """What controllers see: a replica waiting out its back-off is Running, as a pod in CrashLoopBackOff is."""
        return [ReplicaState(x.key, x.task, x.idx, "Running" if x.restart_at is not None else x.state, x.exit_code)
                for x in self.repo.replicas(uid)]

    # ---- observe: time ------------------------------------------------------------------------
    def deadlines(self, now: float) -> None:
        """Fail a job past its activeDeadlineSeconds; delete a finished one whose TTL (fixed when it ended) is over."""
        for row in self.repo.jobs_due(now):
            with isolated(self.repo, self.catalog, self.effects, row.uid):
                spec = self.catalog.spec(row.uid, row.spec)
                deadline = spec.run_policy.active_deadline_seconds
                if row.finished is None and deadline and row.started and now - row.started >= deadline:
                    self.effects.end(row.uid, False, f"job was active longer than specified deadline ({deadline}s)")
                elif row.finished is not None and not self.repo.any_live(row.uid):  # selected: its TTL is over
                    self.remove(row)

    def remove(self, row: JobRow) -> None:
        """The job, its history, its directory (and its name's and namespace's when empty) and its cgroups are
        gone."""
        with self.repo.tx() as tx:
            tx.delete_job(row.uid)
        self.repo.flush()  # the record goes with the directory: never a directory the store still lists as gone
        self.catalog.forget(row.uid)
        remove_job_dir(row.job_dir)
        self.procs.release(row.uid)

    def tick(self, now: float) -> None:
        """Controllers that act on time (AppWrapper's grace periods) see each admitted, deployed job."""
        for row in self.repo.jobs_deployed():
            with isolated(self.repo, self.catalog, self.effects, row.uid):
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
            with isolated(self.repo, self.catalog, self.effects, row.uid):
                spec = self.catalog.spec(row.uid, row.spec)
                ttl = spec.tensorboard.ttl if spec.tensorboard else None
                if ttl and row.finished is not None and now - row.finished < duration.parse_seconds(ttl, "--tensorboard-ttl"):
                    continue
                self.repo.flush()
                self.procs.signal_tree(row.tb_pid, row.tb_ctime, TERM, tag_of(row.uid, "tensorboard"))
                with self.repo.tx() as tx:
                    tx.job_tensorboard(row.uid, None, None, None)
