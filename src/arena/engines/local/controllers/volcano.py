"""Volcano Job's rules: lifecycle policies, maxRetry, completion rules, dependsOn.

Pure, following SEMANTICS.md A.3-A.7: the exit raises `PodFailed` (with its exit code) or, when
the last replica of a task succeeded, `TaskCompleted`; task policies are searched before job
policies (event, `*` or exit code; first match wins); with no match the default SyncJob rules
decide (all pods finished: Completed if at least minAvailable succeeded, else Failed). A
restart-type action on the k-th request fails the job when k ≥ maxRetry (Volcano's counting), and
every restart counts as a retry. Policy timeouts are applied at once locally (the delay is recorded
in the reason). An eviction follows the job's `PodEvicted` policy (default: RestartJob).
"""
from __future__ import annotations

from arena.engines.local.controllers.base import NOTHING, Controller, Counters, Outcome, ReplicaState
from arena.spec.job import JobSpec, Policy

DEFAULT_MAX_RETRY = 3
FINAL = {"AbortJob": ("fail", "Aborted"), "TerminateJob": ("fail", "Terminated"), "CompleteJob": ("succeed", "Completed")}
RESTARTS = {"RestartJob": "restart_job", "RestartTask": "restart_task", "RestartPod": "restart",
            "RestartPartition": "restart_task"}


def _match(policies: list[Policy], event: str | None, code: int) -> Policy | None:
    for p in policies:
        if p.exit_code is not None:
            if code != 0 and p.exit_code == code:
                return p
            continue
        if p.event == "PodPending" and p.timeout is None:
            continue
        if event is not None and p.event in (event, "*"):
            return p
    return None


def evicted_policy(spec: JobSpec) -> Policy | None:
    """The policy a `PodEvicted` event resolves to (first task with one, then the job's)."""
    for t in spec.tasks:
        p = _match(list(t.policies), "PodEvicted", 0)
        if p is not None:
            return p
    return _match(list(spec.scheduling.policies), "PodEvicted", 0)


class Volcano(Controller):
    def on_exit(self, spec: JobSpec, replicas: list[ReplicaState], key: str, code: int,
                counters: Counters) -> Outcome:
        me = next(r for r in replicas if r.key == key)
        after = [r if r.key != key else ReplicaState(r.key, r.task, r.index, "Succeeded" if code == 0 else "Failed", code)
                 for r in replicas]
        event: str | None
        if code != 0:
            event = "PodFailed"
        elif all(r.state == "Succeeded" for r in after if r.task == me.task):
            event = "TaskCompleted"
        else:
            event = None  # OutOfSync: default sync
        task = spec.task(me.task)
        policy = _match(list(task.policies) if task else [], event, code) or _match(list(spec.scheduling.policies),
                                                                                    event, code)
        if policy is not None:
            what = f"{policy.event or f'exit code {policy.exit_code}'} → {policy.action}"
            delay = f" (after {policy.timeout})" if policy.timeout else ""
            why = f"{me.task} replica {me.index} exited with code {code}; policy {what}{delay}"
            if policy.action in FINAL:
                action, phase = FINAL[policy.action]
                return Outcome(action, why, phase)  # type: ignore[arg-type]
            if policy.action in RESTARTS:
                max_retry = spec.scheduling.max_retry if spec.scheduling.max_retry is not None else DEFAULT_MAX_RETRY
                if counters.retries + 1 >= max_retry:
                    return Outcome("fail", f"{why}; job reached maxRetry ({max_retry})", "Failed", counted=True)
                return Outcome(RESTARTS[policy.action], why, "Restarting", counted=True)  # type: ignore[arg-type]
        return self.sync(spec, after)

    def sync(self, spec: JobSpec, replicas: list[ReplicaState]) -> Outcome:
        """Volcano's completion rules in Running (SEMANTICS.md A.6), once every pod has finished."""
        if any(r.state not in ("Succeeded", "Failed") for r in replicas):
            return NOTHING
        succeeded = sum(1 for r in replicas if r.state == "Succeeded")
        for t in spec.tasks:
            if t.min_available is not None:
                ok = sum(1 for r in replicas if r.task == t.name and r.state == "Succeeded")
                if ok < t.min_available:
                    return Outcome("fail", f"task {t.name}: {ok} succeeded, minAvailable {t.min_available}", "Failed")
        need = spec.scheduling.min_available or spec.total_replicas
        if succeeded >= need:
            return Outcome("succeed", f"all pods finished, {succeeded} succeeded (minAvailable {need})", "Completed")
        return Outcome("fail", f"all pods finished, {succeeded} succeeded < minAvailable {need}", "Failed")

    def on_evict(self, spec: JobSpec, reason: str) -> Outcome:
        policy = evicted_policy(spec)
        if policy is not None and policy.action in FINAL:
            action, phase = FINAL[policy.action]
            return Outcome(action, f"{reason}; policy PodEvicted → {policy.action}", phase)  # type: ignore[arg-type]
        return Outcome("restart_job", reason)


def depends_ready(spec: JobSpec, task: str, states: dict[str, list[str]]) -> bool:
    """dependsOn: every dependency has ≥ its minAvailable (default all) replicas Running or Succeeded."""
    t = spec.task(task)
    if t is None or not t.depends_on:
        return True
    for dep in t.depends_on:
        d = spec.task(dep)
        if d is None:
            continue
        ready = sum(1 for s in states.get(dep, []) if s in ("Running", "Succeeded"))
        if ready < (d.min_available if d.min_available is not None else d.replicas):
            return False
    return True
