"""The Kubeflow Training Operator's rules (PyTorchJob, TFJob, MPIJob), as a controller.

Pure decisions from the job spec and replica states (Training Operator v1 semantics, SEMANTICS.md
E.4/E.5): restart in place per the task's restartPolicy while the backoff limit allows; success when
the master role succeeds (PyTorch master, TF chief, MPI launcher). A kind with its own success rule
(TFJob without a chief: worker 0 or all workers) passes it in.
"""
from __future__ import annotations

from collections.abc import Callable

import msgspec

from arena.engines.local.controllers.base import NOTHING, Controller, Counters, Outcome, ReplicaState, master_task
from arena.spec.job import JobSpec

# (spec, replicas after the exit) -> the outcome, or None to use the master rule
SuccessRule = Callable[[JobSpec, list[ReplicaState]], "Outcome | None"]


def retryable(code: int) -> bool:
    """Exit codes 128-255 (signals, OOM) are retryable under the ExitCode policy."""
    return code >= 128


class Kubeflow(Controller):
    def __init__(self, success: SuccessRule | None = None) -> None:
        self.success_rule = success

    def on_exit(self, spec: JobSpec, replicas: list[ReplicaState], key: str, code: int,
                counters: Counters) -> Outcome:
        me = next(r for r in replicas if r.key == key)
        task = spec.task(me.task)
        policy = task.restart_policy if task else "Never"
        if code != 0 or policy == "Always":
            restart = policy in ("OnFailure", "Always") or (policy == "ExitCode" and retryable(code))
            if code != 0 and not restart:
                return Outcome("fail", f"{me.task} replica {me.index} exited with code {code} (restartPolicy {policy})")
            if restart:
                if code != 0 and counters.restarts >= spec.run_policy.backoff_limit:
                    return Outcome("fail", f"job has reached the specified backoff limit "
                                           f"({spec.run_policy.backoff_limit}); {me.task} replica {me.index} exited "
                                           f"with code {code}")
                return Outcome("restart", f"{me.task} replica {me.index} exited with code {code}; restarting "
                                          f"(restartPolicy {policy})")
        return self.success(spec, [r if r.key != key else msgspec.structs.replace(r, state="Succeeded", exit_code=0)
                                   for r in replicas])

    def success(self, spec: JobSpec, replicas: list[ReplicaState]) -> Outcome:
        """The job succeeds when every replica of its master role has (or the kind's own rule says so)."""
        if self.success_rule is not None:
            decided = self.success_rule(spec, replicas)
            if decided is not None:
                return decided
        done = {r.key for r in replicas if r.state == "Succeeded"}
        master = master_task(spec)
        masters = [r for r in replicas if r.task == master]
        if masters and all(r.key in done for r in masters):
            return Outcome("succeed", f"{master} succeeded")
        return NOTHING
