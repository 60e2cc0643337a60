"""kubeflow.org/v1 TFJob: Chief / PS / Worker / Evaluator (and the legacy Master). Composed by
`arena.kinds.tfjob`.

The operator writes TF_CONFIG into the `tensorflow` container; Arena sets the success policy and,
for a standalone job (one worker, no PS), upstream's annotation that turns TF_CONFIG off.
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


def job(ctx: Ctx) -> dict[str, Any]:
    kubeflow.check_job_names(ctx)
    options = ctx.spec.options_as(TFOptions)
    replicas: dict[str, Any] = {}
    for rtype, task in kubeflow.replica_types(ctx, ROLES):
        ports = [{"name": PORT_NAME, "containerPort": task.port or DEFAULT_PORT, "protocol": "TCP"}]
        template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports,
                                    scheduler_name=ctx.spec.scheduling.scheduler_name)
        replicas[rtype] = kubeflow.replica_spec(task, template)
    spec: dict[str, Any] = {"runPolicy": kubeflow.run_policy(ctx)}
    if options.success_policy == "AllWorkers":
        spec["successPolicy"] = "AllWorkers"  # ChiefWorker is the operator's default ("")
    spec["tfReplicaSpecs"] = replicas
    annotations = {DISABLE_TF_CONFIG: "true"} if options.standalone else None
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": kubeflow.metadata(ctx, annotations), "spec": spec}


def chief_selector(ctx: Ctx) -> dict[str, str]:
    """The master role: Chief, else Master, else Worker 0 (as the operator decides)."""
    for role in ("chief", "master", "worker", "ps", "evaluator"):
        if ctx.spec.task(role):
            return kubeflow.chief_selector(ctx.name, ROLES[role])
    return kubeflow.chief_selector(ctx.name, "Worker")
