"""batch.volcano.sh/v1alpha1 Job: arbitrary tasks, gang minAvailable, lifecycle policies, plugins.
Composed by `arena.kinds.volcanojob` (and wrapped in an AppWrapper by `arena.kinds.appwrapperjob`).

`VolcanoOptions.tf_config == "auto"` gives every pod its own TF_CONFIG without shell glue: the task
index comes from the pod annotation Volcano writes (`volcano.sh/task-index`) through the downward
API into ARENA_TASK_INDEX, and TF_CONFIG references it with Kubernetes' $(VAR) expansion. Hosts
follow the svc plugin's naming, <job>-<task>-<i>.<job>, and the cluster map is the one the local engine
gives (`distributed.volcano.auto_tf_cluster`).

The user-facing vocabulary (events, actions, plugins) and the dependsOn rule come from `spec.volcanojob`,
so a job file, the CLI and this renderer accept exactly the same jobs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arena.distributed import volcano as contract
from arena.engines.kubernetes.render import checks, pod
from arena.engines.kubernetes.render.context import Ctx
from arena.errors import InvalidSpec
from arena.spec.job import Policy, TaskSpec, VolcanoOptions
from arena.spec.volcanojob import PLUGINS, USER_ACTIONS, USER_EVENTS, check_depends_on

API_VERSION = "batch.volcano.sh/v1alpha1"
KIND = "Job"
DEFAULT_SCHEDULER = "volcano"
TASK_INDEX_KEY = "volcano.sh/task-index"  # Volcano writes it as a pod annotation and a pod label
TASK_INDEX_ENV = "ARENA_TASK_INDEX"
TF_PORT = 2222
SVC_PLUGINS = ("svc", *contract.FRAMEWORK_PLUGINS)  # Volcano's webhook adds svc for the frameworks


# ---- lifecycle policies ------------------------------------------------------------------
def policy(p: Policy, field: str) -> dict[str, Any]:
    """One LifecyclePolicy; the rules of Volcano's admission webhook (SEMANTICS A.1)."""
    if p.action not in USER_ACTIONS:
        raise InvalidSpec(field, f"action {p.action!r} must be one of {', '.join(USER_ACTIONS)}")
    if (p.event is None) == (p.exit_code is None):
        raise InvalidSpec(field, "a policy needs exactly one of an event or an exit code")
    out: dict[str, Any] = {}
    if p.event is not None:
        if p.event not in USER_EVENTS:
            raise InvalidSpec(field, f"event {p.event!r} must be one of {', '.join(USER_EVENTS)}")
        out["event"] = p.event
    else:
        if p.exit_code == 0:
            raise InvalidSpec(field, "exit code 0 is success and cannot trigger a policy")
        out["exitCode"] = p.exit_code
    out["action"] = p.action
    if p.timeout:
        out["timeout"] = checks.go_duration(p.timeout, field)
    return out


def policies(items: Iterable[Policy], field: str) -> list[dict[str, Any]]:
    out = [policy(p, field) for p in items]
    keys = [p.get("event", p.get("exitCode")) for p in out]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise InvalidSpec(field, f"{dup!r} appears in more than one policy")
    if "*" in keys and len(out) > 1:
        raise InvalidSpec(field, "the '*' event must be the only policy of its list")
    return out


# ---- plugins -----------------------------------------------------------------------------
def plugins(items: Iterable[str]) -> dict[str, list[str]]:
    """`name` or `name:--arg1,--arg2` → the Job's plugins map."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, _, args = item.partition(":")
        if name not in PLUGINS:
            raise InvalidSpec("--plugin", f"unknown Volcano plugin {name!r}; one of {', '.join(PLUGINS)}")
        out[name] = [a for a in args.split(",") if a] if args else []
    return out


# ---- names -------------------------------------------------------------------------------
def check_names(name: str, tasks: Iterable[TaskSpec], svc: bool, field: str = "--task") -> None:
    """The svc plugin names a Service after the job, and pods are <job>-<task>-<index>."""
    if svc:
        checks.dns1035(name, "--name")
    seen: set[str] = set()
    for task in tasks:
        checks.dns1123(task.name, field, "task name")
        if task.name in seen:
            raise InvalidSpec(field, f"task {task.name!r} is given twice")
        seen.add(task.name)
        checks.dns1123(f"{name}-{task.name}-{max(task.replicas - 1, 0)}", "--name", "pod name")


def min_available(ctx: Ctx) -> int:
    """The gang size. With dependsOn only the root tasks' pods exist at first, so a gang larger
    than them could never be placed (SEMANTICS A.8): default to them, and refuse more."""
    total = ctx.spec.total_replicas
    roots = sum(t.replicas for t in ctx.spec.tasks if not t.depends_on)
    value = ctx.spec.scheduling.min_available
    value = roots if value is None else value
    if not 0 < value <= total:
        raise InvalidSpec("--min-available", f"must be between 1 and the job's {total} replicas")
    if value > roots:
        raise InvalidSpec("--min-available", f"{value} exceeds the {roots} pods of the tasks without "
                                             "dependsOn; the gang could never start")
    return value


# ---- objects -----------------------------------------------------------------------------
def task_object(task: TaskSpec, template: dict[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One entry of spec.tasks."""
    if task.replicas < 0:
        raise InvalidSpec(f"tasks[{task.name}].replicas", "must be 0 or more")
    out: dict[str, Any] = {"name": task.name, "replicas": task.replicas}
    if task.min_available is not None:
        if not 0 <= task.min_available <= task.replicas:
            raise InvalidSpec("--task", f"task {task.name!r}: must be between 0 and its replicas")
        out["minAvailable"] = task.min_available
    if task.max_retry is not None:
        out["maxRetry"] = task.max_retry
    if task.policies:
        out["policies"] = policies(task.policies, "--policy")
    if task.depends_on:
        out["dependsOn"] = {"name": list(task.depends_on)}
    out.update(extra or {})
    out["template"] = template
    return out


def job_spec(ctx: Ctx, tasks: list[dict[str, Any]], plugin_map: Mapping[str, list[str]],
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Job's spec around its tasks: gang size, queue, scheduler, retries, policies, plugins."""
    sched = ctx.spec.scheduling
    out: dict[str, Any] = {
        "schedulerName": sched.scheduler_name or DEFAULT_SCHEDULER,
        "minAvailable": min_available(ctx),
        "queue": sched.queue,
    }
    if sched.priority:
        out["priorityClassName"] = sched.priority
    if sched.max_retry is not None:
        out["maxRetry"] = sched.max_retry
    ttl = ctx.spec.run_policy.ttl_seconds_after_finished
    if ttl is not None:
        out["ttlSecondsAfterFinished"] = ttl
    if sched.policies:
        out["policies"] = policies(sched.policies, "--policy")
    if plugin_map:
        out["plugins"] = {k: list(v) for k, v in plugin_map.items()}
    out.update(extra or {})
    out["tasks"] = tasks
    return out


def tf_config_env(ctx: Ctx, task: TaskSpec) -> list[dict[str, Any]]:
    """ARENA_TASK_INDEX from the pod annotation, then TF_CONFIG built from it by $(VAR) expansion.

    The index is only known in the pod, so the value is assembled as text around `$(ARENA_TASK_INDEX)`
    instead of being encoded from a dict.
    """
    import json  # here, not at module level: only `--tf-config auto` needs it, and start-up time counts

    # The same cluster map as the local engine and a TFJob (distributed.volcano.auto_tf_cluster), addressed
    # by the svc plugin's host names, each task on its own port.
    hosts = contract.cluster_hosts(ctx.spec)
    endpoints = {t.name: [f"{h}:{t.port or TF_PORT}" for h in hosts[t.name]] for t in ctx.spec.tasks}
    cluster = contract.auto_tf_cluster(ctx.spec, endpoints)
    compact = (",", ":")
    value = ('{"cluster":' + json.dumps(cluster, separators=compact)
             + ',"task":{"type":' + json.dumps(task.name) + ',"index":$(' + TASK_INDEX_ENV + ")}"
             + ',"environment":"cloud"}')
    return [pod.env_field(TASK_INDEX_ENV, pod.annotation_path(TASK_INDEX_KEY)),
            pod.env_value("TF_CONFIG", value)]


def job(ctx: Ctx) -> dict[str, Any]:
    spec = ctx.spec
    options = spec.options_as(VolcanoOptions)
    if not spec.tasks:
        raise InvalidSpec("--task", "a Volcano job needs at least one task")
    if spec.scheduling.kueue_queue:
        raise InvalidSpec("--kueue-queue", "Kueue does not admit Volcano Jobs directly; use an appwrapperjob "
                                           "with --inner-type volcano")
    plugin_map = plugins(options.plugins)
    svc = any(p in plugin_map for p in SVC_PLUGINS)
    tf_auto = options.tf_config == "auto"
    if tf_auto and not svc:
        raise InvalidSpec("--tf-config", "auto TF_CONFIG addresses pods by the svc plugin's host names; "
                                         "enable the svc plugin")
    # Volcano's own tensorflow plugin writes TF_CONFIG itself: do not render a second one.
    own_tf_config = tf_auto and "tensorflow" not in plugin_map
    check_names(ctx.name, spec.tasks, svc)
    check_depends_on(spec.tasks)
    tasks = []
    for i, task in enumerate(spec.tasks):
        port = task.port or (TF_PORT if tf_auto else 0)
        ports = [{"name": "tfjob-port" if tf_auto else "job-port", "containerPort": port, "protocol": "TCP"}] \
            if port else []
        labels = {"volcano-role": "driver"} if i == 0 else None  # upstream marks the first task
        template = pod.pod_template(ctx, task, container=task.name, ports=ports, labels=labels,
                                    kind_env=tf_config_env(ctx, task) if own_tf_config else (),
                                    restart=pod.restart_policy(task),
                                    scheduler_name=spec.scheduling.scheduler_name or DEFAULT_SCHEDULER)
        if not spec.working_dir and spec.sync is None:
            # Upstream's volcanojob has no working directory: the image's own WORKDIR applies (its
            # entrypoint may depend on it), not the training kinds' /root.
            for container in template["spec"]["containers"]:
                container.pop("workingDir", None)
        tasks.append(task_object(task, template))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": ctx.metadata(),
            "spec": job_spec(ctx, tasks, plugin_map)}


def chief_selector(job_name: str, task: str) -> dict[str, str]:
    """Labels Volcano puts on pod 0 of a task (used for TensorBoard affinity)."""
    return {"volcano.sh/job-name": job_name, "volcano.sh/task-spec": task, TASK_INDEX_KEY: "0"}
