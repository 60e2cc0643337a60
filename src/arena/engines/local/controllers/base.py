"""The interface every kind's controller implements, and the values it trades in.

Controllers are pure: they read the spec, the replicas' states and the job's counters, and return an
`Outcome`; the reconcile loop applies it (restarts, re-queues, finishes) and records it.
"""
from __future__ import annotations

from typing import Literal

import msgspec

from arena.spec.job import JobSpec

Action = Literal["none", "restart", "restart_task", "restart_job", "reset", "succeed", "fail"]


class ReplicaState(msgspec.Struct, frozen=True):
    key: str
    task: str
    index: int
    state: str  # Pending | Starting | Running | Succeeded | Failed | Terminating | Terminated
    exit_code: int | None = None


class Counters(msgspec.Struct, frozen=True):
    """The job's counters so far: in-place restarts (Kubeflow's backoffLimit) and retries (Volcano's
    retryCount, AppWrapper's resets, evictions)."""

    restarts: int = 0
    retries: int = 0


class Outcome(msgspec.Struct, frozen=True):
    """What follows. restart: this replica in place; restart_task: every replica of its task; restart_job:
    re-queue the whole job; reset: AppWrapper reset (stop, pause `hold` seconds, re-queue)."""

    action: Action
    reason: str = ""
    phase: str = ""  # the native phase to enter (default per action)
    counted: bool = False  # counts as a retry (Volcano's retryCount), even when it ended the job
    hold: float = 0.0  # seconds before a reset job is queued again


NOTHING = Outcome("none")


class Controller:
    """A kind's rules. Subclasses implement `on_exit`; the other hooks default to Kubeflow's behaviour."""

    # Whether `on_tick` must see this job while it runs (AppWrapper's grace periods); the loop skips
    # the others, so a thousand running jobs cost nothing per tick.
    watches_time: bool = False

    def on_exit(self, spec: JobSpec, replicas: list[ReplicaState], key: str, code: int,
                counters: Counters) -> Outcome:
        """Replica `key` exited with `code` (`replicas` are the states before this exit)."""
        raise NotImplementedError

    def on_evict(self, spec: JobSpec, reason: str) -> Outcome:
        """The scheduler evicted the job (reclaim, preemption): by default it is queued again (RestartJob)."""
        return Outcome("restart_job", reason)

    def on_tick(self, spec: JobSpec, replicas: list[ReplicaState], counters: Counters, deployed: float,
                now: float) -> Outcome:
        """Time passed while the job is admitted; `deployed` is when its current generation was bound."""
        return NOTHING

    def ttl(self, spec: JobSpec, status: str) -> float | None:
        """Seconds a job that ended with `status` is kept before it is deleted (None: kept)."""
        ttl = spec.run_policy.ttl_seconds_after_finished
        return None if ttl is None else float(ttl)


def master_task(spec: JobSpec) -> str:
    """The role whose replica 0 is the chief (IS_CHIEF, `arena logs`' default instance)."""
    names = [t.name for t in spec.tasks]
    for candidate in ("master", "chief", "launcher"):
        if candidate in names:
            return candidate
    return "worker"
