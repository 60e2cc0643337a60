"""MPIJob: kubeflow.org/v1 (training operator) or kubeflow.org/v2beta1 (mpi-operator). Composed by
`arena.kinds.mpijob`, whose plan picks the version the cluster serves.

Both run the command on the Launcher; the operator supplies the hostfile and the remote-exec
agent (kubectl exec in v1, ssh in v2beta1). Workers keep their image's entrypoint unless the
worker task has its own command.
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.render import kubeflow, pod
from arena.engines.kubernetes.render.context import Ctx
from arena.errors import InvalidSpec
from arena.spec.job import MPIOptions

KIND = "MPIJob"
API_VERSIONS = {"v1": "kubeflow.org/v1", "v2beta1": "kubeflow.org/v2beta1"}
ROLES = {"launcher": "Launcher", "worker": "Worker"}
CONTAINER = "mpi"
PORT_NAME = "mpi-port"
IMPLEMENTATIONS = {"openmpi": "OpenMPI", "mpich": "MPICH"}  # "auto": the operator's default


def job(ctx: Ctx) -> dict[str, Any]:
    kubeflow.check_job_names(ctx)
    options = ctx.spec.options_as(MPIOptions)
    if ctx.spec.task("launcher") is None:
        raise InvalidSpec("tasks", "an MPIJob needs a launcher")
    if options.slots_per_worker < 1:
        raise InvalidSpec("--slots-per-worker", "must be 1 or more")
    replicas: dict[str, Any] = {}
    for rtype, task in kubeflow.replica_types(ctx, ROLES):
        ports = [{"name": PORT_NAME, "containerPort": task.port, "protocol": "TCP"}] if task.port else []
        template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports,
                                    scheduler_name=ctx.spec.scheduling.scheduler_name)
        replicas[rtype] = kubeflow.replica_spec(task, template)
    spec: dict[str, Any] = {"slotsPerWorker": options.slots_per_worker, "runPolicy": kubeflow.run_policy(ctx)}
    if options.api_version == "v2beta1" and options.implementation in IMPLEMENTATIONS:
        spec["mpiImplementation"] = IMPLEMENTATIONS[options.implementation]
    spec["mpiReplicaSpecs"] = replicas
    api_version = API_VERSIONS[options.api_version]
    return {"apiVersion": api_version, "kind": KIND, "metadata": kubeflow.metadata(ctx), "spec": spec}


def chief_selector(ctx: Ctx) -> dict[str, str]:
    options = ctx.spec.options_as(MPIOptions)
    if options.api_version == "v2beta1":  # mpi-operator labels pods by role, not replica type
        return {"training.kubeflow.org/job-name": ctx.name, "training.kubeflow.org/job-role": "launcher"}
    return kubeflow.chief_selector(ctx.name, "Launcher")
