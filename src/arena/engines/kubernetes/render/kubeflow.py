"""What PyTorchJob, TFJob and MPIJob share: runPolicy, replica specs, role names, chief selector."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.engines.kubernetes.render import checks
from arena.engines.kubernetes.render.context import Ctx
from arena.errors import InvalidSpec
from arena.spec.job import TaskSpec

REPLICA_RESTART_POLICIES = ("Never", "OnFailure", "Always", "ExitCode")


def check_job_names(ctx: Ctx) -> None:
    """The operators name pods and Services <job>-<role>-<index>: all must be DNS-1035 labels."""
    checks.dns1035(ctx.name, "--name")
    for task in ctx.spec.tasks:
        checks.dns1035(f"{ctx.name}-{task.name}-{max(task.replicas - 1, 0)}", "--name", "pod name")


def replica_types(ctx: Ctx, allowed: Mapping[str, str]) -> list[tuple[str, TaskSpec]]:
    """(CamelCase replica type, task) in spec order; unknown roles are an error."""
    if not ctx.spec.tasks:
        raise InvalidSpec("tasks", f"a {ctx.spec.kind} needs at least one role ({', '.join(allowed)})")
    out = []
    for task in ctx.spec.tasks:
        if task.name not in allowed:
            raise InvalidSpec("tasks", f"{ctx.spec.kind} has no role {task.name!r}; "
                                       f"expected one of {', '.join(allowed)}")
        if task.replicas < 0:
            raise InvalidSpec(f"tasks[{task.name}].replicas", "must be 0 or more")
        out.append((allowed[task.name], task))
    return out


def run_policy(ctx: Ctx, *, zero_backoff: bool = True) -> dict[str, Any]:
    """runPolicy: clean-up, retries, deadline, TTL, and the gang PodGroup when --gang is set.

    zero_backoff=False leaves out a backoffLimit of 0 (no --retry): the operator fails a job as soon as an
    OnFailure replica restarts under a limit of 0, where upstream's TFJob chart sets no limit at all."""
    rp = ctx.spec.run_policy
    out: dict[str, Any] = {"cleanPodPolicy": rp.clean_pod_policy}
    if rp.backoff_limit or zero_backoff:
        out["backoffLimit"] = rp.backoff_limit
    if rp.active_deadline_seconds is not None:
        out["activeDeadlineSeconds"] = rp.active_deadline_seconds
    if rp.ttl_seconds_after_finished is not None:
        out["ttlSecondsAfterFinished"] = rp.ttl_seconds_after_finished
    sched = ctx.spec.scheduling
    if sched.gang:
        total = ctx.spec.total_replicas
        min_available = sched.min_available if sched.min_available is not None else total
        if not 1 <= min_available <= total:
            raise InvalidSpec("--min-available", f"must be between 1 and the job's {total} replicas")
        policy: dict[str, Any] = {"minAvailable": min_available, "queue": sched.queue}
        if sched.priority:
            policy["priorityClass"] = sched.priority
        out["schedulingPolicy"] = policy
    return out


def replica_spec(task: TaskSpec, template: dict[str, Any]) -> dict[str, Any]:
    if task.restart_policy not in REPLICA_RESTART_POLICIES:
        raise InvalidSpec(f"tasks[{task.name}].restart_policy", f"{task.restart_policy!r} must be one of "
                                                                f"{', '.join(REPLICA_RESTART_POLICIES)}")
    return {"replicas": task.replicas, "restartPolicy": task.restart_policy, "template": template}


def chief_selector(name: str, replica_type: str) -> dict[str, str]:
    """Labels the training operator puts on replica 0 of a role (used for TensorBoard affinity)."""
    return {
        "training.kubeflow.org/job-name": name,
        "training.kubeflow.org/replica-type": replica_type.lower(),
        "training.kubeflow.org/replica-index": "0",
    }



def metadata(ctx: Ctx, annotations: Mapping[str, str] | None = None, *, embedded: bool = False) -> dict[str, Any]:
    """Job metadata; `--kueue-queue` becomes Kueue's queue label, which makes Kueue admit the job
    (it suspends it through runPolicy.suspend until quota is free). Inside an AppWrapper the label
    belongs to the AppWrapper only, and the namespace is the AppWrapper's."""
    meta = ctx.metadata(annotations, namespaced=not embedded)
    if not embedded:
        meta["labels"].update(ctx.kueue_labels())
    return meta
