"""What follows a replica's exit, for the Kubeflow kinds (PyTorchJob, TFJob, MPIJob).

Pure decisions from the job spec and replica states (Training Operator v1 semantics,
SEMANTICS.md E.4/E.5): restart in place per the task's restartPolicy while the backoff
limit allows; success when the master role succeeds (PyTorch master, TF chief or worker 0
or all workers, MPI launcher).
"""
from __future__ import annotations

from typing import Literal

import msgspec

from arena.spec.job import JobSpec, TFOptions


class ReplicaState(msgspec.Struct, frozen=True):
    key: str
    task: str
    index: int
    state: str  # Pending | Starting | Running | Succeeded | Failed
    exit_code: int | None = None


class Outcome(msgspec.Struct, frozen=True):
    """restart: this replica in place; restart_task: every replica of its task; restart_job: re-queue
    the whole job; reset: AppWrapper reset (pause, then re-queue)."""

    action: Literal["none", "restart", "restart_task", "restart_job", "reset", "succeed", "fail"]
    reason: str = ""
    phase: str = ""  # the native phase to enter (default per action)
    counted: bool = False  # a restart request that failed the job: still counted in retries (Volcano's retryCount)


def retryable(code: int) -> bool:
    """Exit codes 128-255 (signals, OOM) are retryable under the ExitCode policy."""
    return code >= 128


def master_task(spec: JobSpec) -> str:
    names = [t.name for t in spec.tasks]
    for candidate in ("master", "chief", "launcher"):
        if candidate in names:
            return candidate
    return "worker"


def on_exit(spec: JobSpec, replicas: list[ReplicaState], key: str, code: int, restarts: int) -> Outcome:
    """Decide after replica `key` exited with `code`; `restarts` is the job's restart count so far."""
    me = next(r for r in replicas if r.key == key)
    task = spec.task(me.task)
    policy = task.restart_policy if task else "Never"
    if code != 0 or policy == "Always":
        restart = policy in ("OnFailure", "Always") or (policy == "ExitCode" and retryable(code))
        if code != 0 and not restart:
            return Outcome("fail", f"{me.task} replica {me.index} exited with code {code} (restartPolicy {policy})")
        if restart:
            if code != 0 and restarts >= spec.run_policy.backoff_limit:
                return Outcome("fail", f"job has reached the specified backoff limit ({spec.run_policy.backoff_limit}); "
                                       f"{me.task} replica {me.index} exited with code {code}")
            return Outcome("restart", f"{me.task} replica {me.index} exited with code {code}; restarting (restartPolicy {policy})")
    return _success(spec, [r if r.key != key else msgspec.structs.replace(r, state="Succeeded", exit_code=0)
                           for r in replicas])


def _success(spec: JobSpec, replicas: list[ReplicaState]) -> Outcome:
    done = {r.key for r in replicas if r.state == "Succeeded"}
    master = master_task(spec)
    if spec.kind == "tfjob" and master == "worker":
        opts = spec.options if isinstance(spec.options, TFOptions) else TFOptions()
        workers = [r for r in replicas if r.task == "worker"]
        if opts.success_policy == "AllWorkers":
            ok = all(r.key in done for r in workers)
        else:
            ok = any(r.key in done and r.index == 0 for r in workers)
        return Outcome("succeed", "worker 0 succeeded" if ok and opts.success_policy != "AllWorkers"
                       else "all workers succeeded") if ok else Outcome("none")
    masters = [r for r in replicas if r.task == master]
    if masters and all(r.key in done for r in masters):
        return Outcome("succeed", f"{master} succeeded")
    return Outcome("none")
