"""What happens to a job when the loop (or a user) acts on it: finish, stop, re-queue, restart a task, evict.

Each is a store change in one transaction followed by signals to processes. Stopping is asynchronous:
replicas are marked Terminating and sent SIGTERM; the reconcile loop sees them go (their shim's exit
file, or their process group gone) and sends SIGKILL once the grace period is over. Inside a reconcile
pass (one batched transaction) every signal waits for the pass's decisions to be committed (`repo.flush`).
"""
from __future__ import annotations

from typing import NamedTuple

from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.repo import RUNNING, Repo, Tx
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.supervisor import KILL, TERM, Processes, tag_of

KILL_WAIT = 5.0  # seconds to wait for SIGKILLed processes to be gone (they cannot refuse; this is reaping)


class Stopping(NamedTuple):
    """A process being stopped: its shim (as recorded) and its replica's tag (every descendant)."""

    pid: int | None
    ctime: float | None
    tag: str

# Volcano's phases while a finished job's pods are being killed, and the phase each leads to.
TRANSITIONAL = {"Completed": "Completing", "Aborted": "Aborting", "Terminated": "Terminating"}
FINAL_OF = {v: k for k, v in TRANSITIONAL.items()}


class Effects:
    def __init__(self, repo: Repo, catalog: Catalog, procs: Processes, clock: Clock, grace: float) -> None:
        self.repo = repo
        self.catalog = catalog
        self.procs = procs
        self.clock = clock
        self.grace = grace

    def finish(self, tx: Tx, uid: str, ok: bool, reason: str, phase: str = "") -> None:
        """The job ended (inside the caller's transaction); its replicas are stopped by `terminate`."""
        status = "SUCCEEDED" if ok else "FAILED"
        phase = phase or ("Succeeded" if ok else "Failed")
        live = tx.count_replicas(uid, RUNNING)
        # The TTL depends on how the job ended (an AppWrapper's successTTL applies to success only): fix it now,
        # so that the loop selects the job exactly when it is due.
        ttl = self.catalog.controller(uid).ttl(self.catalog.spec(uid), status)
        tx.job_finished(uid, reason, ttl)
        # Volcano: Completing/Aborting/Terminating while the pods are killed, the final phase once they are gone
        tx.set_phase(uid, TRANSITIONAL[phase] if phase in TRANSITIONAL and live else phase, reason, status)
        tx.event(uid, phase, reason, "Normal" if ok else "Warning")

    def end(self, uid: str, ok: bool, reason: str, phase: str = "") -> list[Stopping]:
        """Finish the job and stop its replicas (what is being stopped, for a caller that waits on it)."""
        with self.repo.tx() as tx:
            self.finish(tx, uid, ok, reason, phase)
        return self.terminate(uid, reason)

    def terminate(self, uid: str, reason: str, task: str | None = None) -> list[Stopping]:
        """SIGTERM every live replica (of `task`, or all) and all its descendants; the loop sends SIGKILL
        after the grace period."""
        rows = self.repo.replicas_running(uid, task) if task is None else self.repo.replicas_running(uid, task, RUNNING)
        with self.repo.tx() as tx:
            tx.replicas_terminating(uid, self.clock.now() + self.grace, reason, task)
        return self.signal(rows, TERM)

    def signal(self, rows: list[ReplicaRow], sig: int) -> list[Stopping]:
        """Signal these replicas, every descendant included, without recording anything."""
        out = [Stopping(r.pid, r.pid_ctime, tag_of(r.job_uid, r.key)) for r in rows]
        if out:
            self.repo.flush()  # the decision is on disk before any process hears of it
        for s in out:
            self.procs.signal_tree(s.pid, s.ctime, sig, s.tag)
        return out

    def stop_tensorboard(self, row: JobRow) -> list[Stopping]:
        """SIGTERM the job's TensorBoard, if it runs (`wait_stopped` finishes it)."""
        if not row.tb_pid:
            return []
        tb = Stopping(row.tb_pid, row.tb_ctime, tag_of(row.uid, "tensorboard"))
        self.repo.flush()
        self.procs.signal_tree(tb.pid, tb.ctime, TERM, tb.tag)
        return [tb]

    def wait_stopped(self, stopping: list[Stopping]) -> None:
        """Wait out the grace period for them to go, SIGKILL what is left (every descendant: a double-forked
        one or one that ignores SIGTERM), and wait until nothing of them runs."""
        self._wait_gone(stopping, self.grace)
        self.repo.flush()
        for s in stopping:
            self.procs.signal_tree(s.pid, s.ctime, KILL, s.tag)
        self._wait_gone(stopping, KILL_WAIT)

    def _wait_gone(self, stopping: list[Stopping], seconds: float) -> None:
        procs = [(s.pid, s.tag) for s in stopping]
        deadline = self.clock.monotonic() + seconds
        while self.procs.any_alive(procs) and self.clock.monotonic() < deadline:
            self.clock.sleep(0.02)

    def kill(self, pid: int | None, ctime: float | None, tag: str = "") -> None:
        self.repo.flush()
        self.procs.signal_tree(pid, ctime, KILL, tag)

    def requeue(self, uid: str, reason: str, event: str, status: str, phase: str, hold: float = 0.0) -> None:
        """Stop every replica, release the job's resources and queue it again (after `hold` seconds)."""
        with self.repo.tx() as tx:
            tx.event(uid, event, reason, "Warning", "controller")
            tx.set_phase(uid, phase, reason, status)
            tx.job_requeued(uid, reason, self.clock.now() + hold if hold else None)
        self.terminate(uid, reason)
        with self.repo.tx() as tx:
            tx.replicas_reset(uid)

    def restart_task(self, uid: str, task: str, reason: str) -> None:
        """RestartTask: stop the task's replicas; the scheduler binds and starts them again."""
        with self.repo.tx() as tx:
            tx.job_counters(uid, restarts=1, retries=1)
            tx.event(uid, "RestartTask", reason, "Warning", "controller")
            tx.set_phase(uid, "Restarting", reason, "PENDING")
        self.terminate(uid, reason, task)
        with self.repo.tx() as tx:
            tx.replicas_reset(uid, task)

    def evict(self, uid: str, reason: str) -> None:
        """The scheduler evicted the job: it follows its controller (Volcano's PodEvicted policy; by default
        it stops and is queued again)."""
        outcome = self.catalog.controller(uid).on_evict(self.catalog.spec(uid), reason)
        if outcome.action in ("succeed", "fail"):
            with self.repo.tx() as tx:
                tx.event(uid, "Evicted", reason, "Warning", "scheduler")
                self.finish(tx, uid, outcome.action == "succeed", outcome.reason, outcome.phase)
            self.terminate(uid, outcome.reason)
            return
        self.requeue(uid, reason, "Evicted", "QUEUING", "Restarting")
