"""MPIJob: kubeflow.org/v1 (training operator), kubeflow.org/v2beta1 (mpi-operator) or kubeflow.org/v1alpha1
(Aliyun's mpi-operator, what upstream Arena installs and writes). Composed by `arena.kinds.mpijob`, whose plan
picks the version the cluster serves.

All run the command on the Launcher; the operator supplies the hostfile and the remote-exec agent (kubectl
exec in v1 and v1alpha1, ssh in v2beta1). v1 and v2beta1 take one replica spec per role; workers keep their
image's entrypoint unless the worker task has its own command. v1alpha1 takes one pod template for both, as
upstream's chart renders it: the workers' resources and the launcher's command (the operator runs the workers
idle), `replicas` workers, `launcherResources` and `mountsOnLauncher`; it has no run policy, so a running
timeout or a TTL cannot be expressed there and is refused rather than dropped.
"""
from __future__ import annotations

from typing import Any

import msgspec

from arena.engines.kubernetes.render import kubeflow, pod
from arena.engines.kubernetes.render.context import Ctx
from arena.errors import InvalidSpec
from arena.spec.job import MPIOptions

KIND = "MPIJob"
API_VERSIONS = {"v1": "kubeflow.org/v1", "v2beta1": "kubeflow.org/v2beta1", "v1alpha1": "kubeflow.org/v1alpha1"}
ROLES = {"launcher": "Launcher", "worker": "Worker"}
CONTAINER = "mpi"
PORT_NAME = "mpi-port"
IMPLEMENTATIONS = {"openmpi": "OpenMPI", "mpich": "MPICH"}  # "auto": the operator's default
GPU_TOPOLOGY = "gpu-topology"  # --gputopology: Aliyun's topology scheduler groups the job's pods by these
GPU_TOPOLOGY_REPLICA = "gpu-topology-replica"
# Labels Aliyun's v1alpha1 operator puts on the launcher pod (upstream's trainer finds the chief by them).
V1ALPHA1_JOB_NAME = "mpi_job_name"
V1ALPHA1_ROLE = "mpi_role_type"


def _topology_labels(ctx: Ctx, options: MPIOptions) -> dict[str, str]:
    if not options.gpu_topology:
        return {}
    return {GPU_TOPOLOGY: ctx.name, GPU_TOPOLOGY_REPLICA: str(ctx.spec.workers)}


def job(ctx: Ctx) -> dict[str, Any]:
    kubeflow.check_job_names(ctx)
    options = ctx.spec.options_as(MPIOptions)
    if ctx.spec.task("launcher") is None:
        raise InvalidSpec("tasks", "an MPIJob needs a launcher")
    if options.slots_per_worker < 1:
        raise InvalidSpec("--slots-per-worker", "must be 1 or more")
    if options.api_version == "v1alpha1":
        return job_v1alpha1(ctx, options)
    labels = _topology_labels(ctx, options)
    replicas: dict[str, Any] = {}
    for rtype, task in kubeflow.replica_types(ctx, ROLES):
        ports = [{"name": PORT_NAME, "containerPort": task.port, "protocol": "TCP"}] if task.port else []
        template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports, labels=labels or None,
                                    scheduler_name=ctx.spec.scheduling.scheduler_name)
        replicas[rtype] = kubeflow.replica_spec(task, template)
    spec: dict[str, Any] = {"slotsPerWorker": options.slots_per_worker, "runPolicy": kubeflow.run_policy(ctx)}
    if options.api_version == "v2beta1" and options.implementation in IMPLEMENTATIONS:
        spec["mpiImplementation"] = IMPLEMENTATIONS[options.implementation]
    spec["mpiReplicaSpecs"] = replicas
    api_version = API_VERSIONS[options.api_version]
    return {"apiVersion": api_version, "kind": KIND, "metadata": kubeflow.metadata(ctx), "spec": spec}


def job_v1alpha1(ctx: Ctx, options: MPIOptions) -> dict[str, Any]:
    """The v1alpha1 MPIJob of upstream's mpijob chart: one template, `replicas` workers."""
    spec = ctx.spec
    launcher, worker = spec.task("launcher"), spec.task("worker")
    assert launcher is not None
    rp = spec.run_policy
    for value, flag in ((rp.active_deadline_seconds, "--running-timeout"), (rp.ttl_seconds_after_finished,
                                                                             "--ttl-after-finished")):
        if value is not None:
            raise InvalidSpec(flag, "MPIJob v1alpha1 (the cluster's mpi-operator) has no run policy to hold it")
    if spec.scheduling.kueue_queue:
        raise InvalidSpec("--kueue-queue", "Kueue cannot suspend an MPIJob v1alpha1; use MPIJob v1 or v2beta1")
    # The template: the workers' image and resources, the launcher's command (the operator idles the workers).
    base = worker or launcher
    task = msgspec.structs.replace(base, command=launcher.command, image=base.image or launcher.image,
                                   env={**launcher.env, **base.env})
    template = pod.pod_template(ctx, task, container=CONTAINER, labels=_topology_labels(ctx, options) or None,
                                restart="Never", scheduler_name=spec.scheduling.scheduler_name)
    template["metadata"]["name"] = ctx.name
    out: dict[str, Any] = {"cleanPodPolicy": rp.clean_pod_policy}
    launcher_res = pod.resources(launcher.resources)
    if launcher_res:
        out["launcherResources"] = launcher_res
    out.update(backoffLimit=rp.backoff_limit, replicas=worker.replicas if worker else 0,
               mountsOnLauncher=options.mounts_on_launcher, template=template)
    return {"apiVersion": API_VERSIONS["v1alpha1"], "kind": KIND, "metadata": kubeflow.metadata(ctx), "spec": out}


def chief_selector(ctx: Ctx) -> dict[str, str]:
    """Labels the launcher pod really carries, per operator: the Training Operator's MPI controller marks the
    launcher's replica type but gives it no replica index (it is one pod, not a replica set); the mpi-operator
    marks its role; Aliyun's v1alpha1 operator its own `mpi_role_type`."""
    options = ctx.spec.options_as(MPIOptions)
    if options.api_version == "v2beta1":
        return {"training.kubeflow.org/job-name": ctx.name, "training.kubeflow.org/job-role": "launcher"}
    if options.api_version == "v1alpha1":
        return {V1ALPHA1_JOB_NAME: ctx.name, V1ALPHA1_ROLE: "launcher"}
    return {"training.kubeflow.org/job-name": ctx.name, "training.kubeflow.org/replica-type": "launcher"}
