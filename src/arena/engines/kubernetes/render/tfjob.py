"""kubeflow.org/v1 TFJob: Chief / PS / Worker / Evaluator (and the legacy Master). Composed by
`arena.kinds.tfjob`.

The operator writes TF_CONFIG into the `tensorflow` container; Arena sets the success policy and,
for a standalone job (one worker, no PS), upstream's annotation that turns TF_CONFIG off; upstream's
role sequence annotation; and the PS/worker spread or binpack affinity of upstream's chart, selecting the
Training Operator's own pod labels (upstream's chart selects the labels of the old tf-operator,
`group-name`/`tf-replica-type`, which the Training Operator v1 no longer sets, so its terms matched nothing).
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.render import kubeflow, pod
from arena.engines.kubernetes.render.context import Ctx
from arena.spec.job import TFOptions

API_VERSION = "kubeflow.org/v1"
KIND = "TFJob"
ROLES = {"chief": "Chief", "master": "Master", "ps": "PS", "worker": "Worker", "evaluator": "Evaluator"}
CONTAINER = "tensorflow"
PORT_NAME = "tfjob-port"
DEFAULT_PORT = 2222
DISABLE_TF_CONFIG = "arena.kubeflow.org/disable-tf-config"
ROLE_SEQUENCE = "job-role-sequence"  # read by Aliyun's tf-operator: the order it starts the roles in
HOSTNAME = "kubernetes.io/hostname"
REPLICA_TYPE = "training.kubeflow.org/replica-type"
JOB_NAME = "training.kubeflow.org/job-name"


def _term(ctx: Ctx, role: str | None) -> dict[str, Any]:
    """A pod affinity term over the job's pods (of one role when given), per node."""
    labels = {JOB_NAME: ctx.name}
    if role:
        labels[REPLICA_TYPE] = role
    return {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": labels}}


def affinity(ctx: Ctx, role: str, policy: str, constraint: str) -> dict[str, Any] | None:
    """Upstream's --<role>-affinity-policy: spread keeps the role's pods on different nodes (anti-affinity),
    binpack keeps the job's pods together (affinity: the job first, then workers, then parameter servers);
    `required` makes the rule a hard constraint."""
    if policy == "spread":
        if constraint == "required":
            return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ctx, role)]}}
        return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": _term(ctx, role)}]}}
    if policy == "binpack":
        if constraint == "required":
            return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ctx, role)]}}
        first, second = ("ps", "worker") if role == "worker" else ("worker", "ps")
        return {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": _term(ctx, None)},
            {"weight": 60, "podAffinityTerm": _term(ctx, first)},
            {"weight": 30, "podAffinityTerm": _term(ctx, second)}]}}
    return None


def job(ctx: Ctx) -> dict[str, Any]:
    kubeflow.check_job_names(ctx)
    options = ctx.spec.options_as(TFOptions)
    policies = {"worker": (options.worker_affinity_policy, options.worker_affinity_constraint),
                "ps": (options.ps_affinity_policy, options.ps_affinity_constraint)}
    annotations: dict[str, str] = {}  # on the job and, as upstream's chart puts them, on every pod
    if options.standalone:
        annotations[DISABLE_TF_CONFIG] = "true"
    sequence = options.role_sequence or ctx.opts.role_sequence
    if sequence:
        annotations[ROLE_SEQUENCE] = sequence
    replicas: dict[str, Any] = {}
    for rtype, task in kubeflow.replica_types(ctx, ROLES):
        ports = [{"name": PORT_NAME, "containerPort": task.port or DEFAULT_PORT, "protocol": "TCP"}]
        rule = affinity(ctx, task.name, *policies[task.name]) if task.name in policies else None
        template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports,
                                    scheduler_name=ctx.spec.scheduling.scheduler_name,
                                    extra_spec={"affinity": rule} if rule else None, annotations=annotations)
        replicas[rtype] = kubeflow.replica_spec(task, template)
    # No --retry: no backoffLimit, as upstream's chart (a limit of 0 would fail the job when an OnFailure
    # worker restarts).
    spec: dict[str, Any] = {"runPolicy": kubeflow.run_policy(ctx, zero_backoff=False)}
    if options.success_policy == "AllWorkers":
        spec["successPolicy"] = "AllWorkers"  # ChiefWorker is the operator's default ("")
    spec["tfReplicaSpecs"] = replicas
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": kubeflow.metadata(ctx, annotations or None),
            "spec": spec}


def chief_selector(ctx: Ctx) -> dict[str, str]:
    """The master role: Chief, else Master, else Worker 0 (as the operator decides)."""
    for role in ("chief", "master", "worker", "ps", "evaluator"):
        if ctx.spec.task(role):
            return kubeflow.chief_selector(ctx.name, ROLES[role])
    return kubeflow.chief_selector(ctx.name, "Worker")
