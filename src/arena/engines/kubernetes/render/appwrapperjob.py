"""workload.codeflare.dev/v1beta2 AppWrapper around a PyTorchJob or a Volcano Job (the fork's chart).
Composed by `arena.kinds.appwrapperjob` from `context`, `inner`, `wrapper` and `master_service`.

Differences from the fork, on purpose (ARENA.md §9.7):
- each fault-tolerance annotation appears exactly once, on the AppWrapper only (not on pods);
- the PyTorchJob inside gets `--scheduler-name` only when the user set one (the fork silently
  defaulted it to volcano); the Volcano Job still defaults to volcano;
- without the svc plugin the headless Service selects only task index 0, and MASTER_ADDR is that
  Service, because pods get per-pod DNS names only when something sets their hostname, which is
  the svc plugin's job;
- pytorch mode renders no extra headless Service: the training operator makes its own;
- the volcano-mode torchrun env is rendered for every replica count, where the chart (and
  `distributed.appwrapper.volcano_env`, which mirrors it for the local engine) emits it only when
  replicas > 1.
"""
from __future__ import annotations

from typing import Any

import msgspec

from arena.distributed import appwrapper as contract
from arena.distributed import volcano as volcano_contract
from arena.engines.kubernetes.render import checks, pod, pytorchjob, volcanojob
from arena.engines.kubernetes.render.context import Ctx, RenderOptions
from arena.engines.kubernetes.render.owner import owner_reference
from arena.errors import InvalidSpec
from arena.spec.job import AppWrapperOptions, JobSpec, TaskSpec

API_VERSION = "workload.codeflare.dev/v1beta2"
KIND = "AppWrapper"
APPWRAPPER_LABEL = "workload.codeflare.dev/appwrapper"
RING_LABEL = "ring-controller.volcano"
FT = "workload.codeflare.dev.appwrapper/"
CONTAINER = "main-con"  # the fork's container name in volcano mode


def fault_tolerance(o: AppWrapperOptions) -> dict[str, str]:
    """The AppWrapper controller's per-object fault-tolerance settings (SEMANTICS D.2)."""
    if o.retry_limit < 0:
        raise InvalidSpec("--retry-limit", "must be 0 or more")
    out = {
        FT + "retryLimit": str(o.retry_limit),
        FT + "admissionGracePeriodDuration": checks.go_duration(o.admission_grace_period, "--admission-grace-period"),
        FT + "warmupGracePeriodDuration": checks.go_duration(o.warmup_grace_period, "--warmup-grace-period"),
        FT + "failureGracePeriodDuration": checks.go_duration(o.failure_grace_period, "--failure-grace-period"),
        FT + "retryPausePeriodDuration": checks.go_duration(o.retry_pause_period, "--retry-pause-period"),
    }
    if o.success_ttl:
        out[FT + "successTTLDuration"] = checks.go_duration(o.success_ttl, "--success-ttl")
    return out


def _topology(mode: str | None, tier: int, field: str) -> dict[str, Any] | None:
    if not mode:
        return None
    if mode not in ("hard", "soft"):
        raise InvalidSpec(field, f"{mode!r} must be hard or soft")
    out: dict[str, Any] = {"mode": mode}
    if tier > 0:
        out["highestTierAllowed"] = tier
    return out


def _partition_policy(o: AppWrapperOptions) -> dict[str, Any] | None:
    if not o.total_partitions and not o.partition_size:
        if o.partition_topology_mode:
            raise InvalidSpec("--partition-topology-mode", "needs --total-partitions and --partition-size")
        return None
    if o.total_partitions < 1 or o.partition_size < 1:
        raise InvalidSpec("--total-partitions", "--total-partitions and --partition-size must be given together")
    out: dict[str, Any] = {"totalPartitions": o.total_partitions, "partitionSize": o.partition_size}
    topo = _topology(o.partition_topology_mode, o.partition_highest_tier, "--partition-topology-mode")
    if topo:
        out["networkTopology"] = topo
    return out


def ring_labels(o: AppWrapperOptions) -> dict[str, str]:
    return {RING_LABEL: o.ring_controller} if o.ring_controller else {}


# ---- volcano inner type ------------------------------------------------------------------
def volcano_env(ctx: Ctx, task: TaskSpec, o: AppWrapperOptions, master_addr: str) -> list[dict[str, Any]]:
    """The fork's torchrun env: RANK/NODE_RANK are the node index, WORLD_SIZE counts processes.

    Numeric --nproc-per-node is decided as for the local engine (`distributed.appwrapper.numeric_nproc`);
    unlike there, the block is rendered for one replica too (see the module docstring).
    """
    index = pod.annotation_path(volcanojob.TASK_INDEX_KEY)
    nproc = o.nproc_per_node
    n = contract.numeric_nproc(ctx.spec)
    numeric = n is not None
    env: list[dict[str, Any]] = []
    if nproc:
        env.append(pod.env_value("PET_NPROC_PER_NODE", nproc))
    if o.ring_controller:
        env.append(pod.env_field("ASCEND_VISIBLE_DEVICES", pod.annotation_path("huawei.com/ascend-visible-devices")))
    env += [pod.env_value("MASTER_ADDR", master_addr), pod.env_value("MASTER_PORT", str(o.master_port)),
            pod.env_value("NNODES", str(task.replicas))]
    if numeric:
        env.append(pod.env_value("NPROC_PER_NODE", str(nproc)))
    env.append(pod.env_value("WORLD_SIZE", str(task.replicas * n if n is not None else task.replicas)))
    env += [pod.env_field("RANK", index), pod.env_field("NODE_RANK", index)]
    if numeric:
        env.append(pod.env_value("LOCAL_WORLD_SIZE", str(nproc)))
    return env


def master_service(ctx: Ctx, o: AppWrapperOptions, task: TaskSpec, owner: dict[str, Any]) -> dict[str, Any]:
    """Headless Service <job> → pod 0 of the task: MASTER_ADDR when the svc plugin is off."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": ctx.name, "namespace": ctx.spec.namespace, "labels": ctx.labels(),
                     "ownerReferences": [owner_reference(owner)]},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,  # rendezvous happens before readiness
            "selector": {"app": ctx.app, "release": ctx.name, **volcanojob.chief_selector(ctx.name, task.name)},
            "ports": [{"name": "master-port", "port": o.master_port, "targetPort": o.master_port, "protocol": "TCP"}],
        },
    }


def _volcano_component(ctx: Ctx, o: AppWrapperOptions) -> tuple[dict[str, Any], TaskSpec]:
    spec = ctx.spec
    if len(spec.tasks) != 1:
        raise InvalidSpec("--inner-type", "volcano mode runs exactly one task")
    task = spec.tasks[0]
    if task.name != o.task_name:
        raise InvalidSpec("--task-name", f"the task is named {task.name!r} but --task-name is {o.task_name!r}")
    if not 1 <= o.master_port <= 65535:
        raise InvalidSpec("--master-port", "must be between 1 and 65535")
    # Either the svc plugin or our headless Service is named after the job.
    volcanojob.check_names(ctx.name, spec.tasks, svc=True, field="--task-name")
    master_addr = volcano_contract.svc_host(ctx.name, task.name, 0) if o.use_svc_plugin else ctx.name
    extra_spec = None if o.use_svc_plugin else {"subdomain": ctx.name}
    ports = [{"name": "master-port", "containerPort": o.master_port, "protocol": "TCP"}]
    template = pod.pod_template(ctx, task, container=CONTAINER, ports=ports, labels=ring_labels(o),
                                kind_env=volcano_env(ctx, task, o, master_addr), restart=pod.restart_policy(task),
                                extra_spec=extra_spec)
    extra_task: dict[str, Any] = {}
    partition = _partition_policy(o)
    if partition:
        extra_task["partitionPolicy"] = partition
    job_extra: dict[str, Any] = {}
    topo = _topology(o.network_topology_mode, o.highest_tier_allowed, "--network-topology-mode")
    if topo:
        job_extra["networkTopology"] = topo
    plugin_map = {"svc": ["--publish-not-ready-addresses=true"]} if o.use_svc_plugin else {}
    meta = ctx.metadata(namespaced=False)
    meta["labels"].update(ring_labels(o))
    inner = {
        "apiVersion": volcanojob.API_VERSION,
        "kind": volcanojob.KIND,
        "metadata": meta,
        "spec": volcanojob.job_spec(ctx, [volcanojob.task_object(task, template, extra_task)], plugin_map, job_extra),
    }
    component = {"podSets": [{"path": "template.spec.tasks[0].template", "replicas": task.replicas}],
                 "template": inner}
    return component, task


# ---- pytorch inner type ------------------------------------------------------------------
def _pytorch_component(ctx: Ctx, o: AppWrapperOptions) -> dict[str, Any]:
    inner = pytorchjob.job(ctx, nproc_per_node=o.nproc_per_node, port=o.master_port or pytorchjob.DEFAULT_PORT,
                           embedded=True)
    ring = ring_labels(o)
    if ring:
        inner["metadata"]["labels"].update(ring)
        for replica in inner["spec"]["pytorchReplicaSpecs"].values():
            replica["template"]["metadata"]["labels"].update(ring)
    pod_sets = [{"path": f"template.spec.pytorchReplicaSpecs.{rtype}.template", "replicas": rs["replicas"]}
                for rtype, rs in inner["spec"]["pytorchReplicaSpecs"].items() if rs["replicas"] > 0]
    return {"podSets": pod_sets, "template": inner}


def context(spec: JobSpec, opts: RenderOptions) -> tuple[Ctx, AppWrapperOptions]:
    """The render pass and the options, with the inner type checked.

    Fault-tolerance keys live on the AppWrapper only, from the options; a user `-a` with the same
    key must not reach the inner job or its pods (the fork's duplication).
    """
    o = contract.options_of(spec)
    user_ann = {k: v for k, v in spec.annotations.items() if not k.startswith(FT)}
    ctx = Ctx.of(msgspec.structs.replace(spec, annotations=user_ann), opts)
    if o.inner_type not in ("pytorch", "volcano"):
        raise InvalidSpec("--inner-type", f"{o.inner_type!r} must be pytorch or volcano")
    return ctx, o


def inner(ctx: Ctx, o: AppWrapperOptions) -> tuple[dict[str, Any], dict[str, str], TaskSpec | None]:
    """(component, chief pod selector, the Volcano task or None) for the wrapped job of `--inner-type`."""
    if o.inner_type == "volcano":
        component, task = _volcano_component(ctx, o)
        return component, volcanojob.chief_selector(ctx.name, task.name), task
    return _pytorch_component(ctx, o), pytorchjob.chief_selector(ctx), None


def metadata(ctx: Ctx, o: AppWrapperOptions) -> dict[str, Any]:
    """The AppWrapper's metadata: Arena's and Kueue's labels, the fault-tolerance annotations.

    Built before the inner job, so that a bad label or grace period is the error reported first.
    """
    spec = ctx.spec
    labels = {**ctx.labels(), APPWRAPPER_LABEL: spec.name, **ring_labels(o), **ctx.kueue_labels()}
    annotations = {**ctx.annotations(), **fault_tolerance(o)}
    return {"name": spec.name, "namespace": spec.namespace, "labels": labels, "annotations": annotations}


def wrapper(meta: dict[str, Any], component: dict[str, Any]) -> dict[str, Any]:
    """The AppWrapper object around `component`."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": {"components": [component]}}
