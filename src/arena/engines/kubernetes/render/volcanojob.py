"""batch.volcano.sh/v1alpha1 Job: arbitrary tasks, gang minAvailable, lifecycle policies, plugins.

`VolcanoOptions.tf_config == "auto"` gives every pod its own TF_CONFIG without shell glue: the task
index comes from the pod annotation Volcano writes (`volcano.sh/task-index`) through the downward
API into ARENA_TASK_INDEX, and TF_CONFIG references it with Kubernetes' $(VAR) expansion. Hosts
follow the svc plugin's naming, <job>-<task>-<i>.<job>.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from arena.engines.kubernetes.render import checks, pod, tensorboard
from arena.engines.kubernetes.render.context import Ctx, RenderOptions
from arena.errors import InvalidSpec
from arena.spec.job import JobSpec, Policy, TaskSpec, VolcanoOptions

API_VERSION = "batch.volcano.sh/v1alpha1"
KIND = "Job"
DEFAULT_SCHEDULER = "volcano"
TASK_INDEX_KEY = "volcano.sh/task-index"  # Volcano writes it as a pod annotation and a pod label
TASK_INDEX_ENV = "ARENA_TASK_INDEX"
TF_PORT = 2222
USER_EVENTS = ("*", "PodFailed", "PodEvicted", "PodPending", "Unknown", "TaskCompleted", "TaskFailed", "JobUpdated")
USER_ACTIONS = ("AbortJob", "RestartJob", "RestartTask", "RestartPod", "RestartPartition", "TerminateJob",
                "CompleteJob", "ResumeJob")
PLUGINS = ("env", "svc", "ssh", "pytorch", "tensorflow", "mpi", "ray", "hcclrank")
SVC_PLUGINS = ("svc", "pytorch", "tensorflow", "mpi", "ray")  # Volcano's webhook adds svc for the frameworks


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
def host(job: str, task: str, index: int) -> str:
    """A pod's address under the svc plugin."""
    return f"{job}-{task}-{index}.{job}"


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


def check_depends_on(tasks: list[TaskSpec]) -> None:
    """dependsOn must name other tasks and form no cycle (Volcano's webhook rule)."""
    graph = {t.name: list(t.depends_on) for t in tasks}
    for name, deps in graph.items():
        for dep in deps:
            if dep not in graph or dep == name:
                raise InvalidSpec("--depends-on", f"task {name!r} depends on {dep!r}, which is not another task")
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        if state.get(node) == 1:
            raise InvalidSpec("--depends-on", f"task dependencies form a cycle through {node!r}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in graph[node]:
            visit(dep)
        state[node] = 2

    for node in graph:
        visit(node)


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
    """ARENA_TASK_INDEX from the pod annotation, then TF_CONFIG built from it by $(VAR) expansion."""
    # The same cluster map as the local engine and a TFJob: chief/ps/worker tasks, sorted; the evaluator
    # (and any other task) is not part of the training cluster (distributed/volcano.auto_tf_config_dict).
    members = sorted((t for t in ctx.spec.tasks if t.name in ("chief", "ps", "worker") and t.replicas > 0),
                     key=lambda t: t.name)
    cluster = {t.name: [f"{host(ctx.name, t.name, i)}:{t.port or TF_PORT}" for i in range(t.replicas)]
               for t in members}
    compact = (",", ":")
    value = ('{"cluster":' + json.dumps(cluster, separators=compact)
             + ',"task":{"type":' + json.dumps(task.name) + ',"index":$(' + TASK_INDEX_ENV + ")}"
             + ',"environment":"cloud"}')
    return [pod.env_field(TASK_INDEX_ENV, pod.annotation_path(TASK_INDEX_KEY)),
            pod.env_value("TF_CONFIG", value)]


def job(ctx: Ctx) -> dict[str, Any]:
    spec = ctx.spec
    options = spec.options if isinstance(spec.options, VolcanoOptions) else VolcanoOptions()
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
    check_depends_on(list(spec.tasks))
    tasks = []
    for i, task in enumerate(spec.tasks):
        port = task.port or (TF_PORT if tf_auto else 0)
        ports = [{"name": "tfjob-port" if tf_auto else "job-port", "containerPort": port, "protocol": "TCP"}] \
            if port else []
        labels = {"volcano-role": "driver"} if i == 0 else None  # upstream marks the first task
        template = pod.pod_template(ctx, task, container=task.name, ports=ports, labels=labels,
                                    kind_env=tf_config_env(ctx, task) if own_tf_config else (),
                                    restart=pod.restart_policy(task))
        tasks.append(task_object(task, template))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": ctx.metadata(),
            "spec": job_spec(ctx, tasks, plugin_map)}


def chief_selector(job_name: str, task: str) -> dict[str, str]:
    """Labels Volcano puts on pod 0 of a task (used for TensorBoard affinity)."""
    return {"volcano.sh/job-name": job_name, "volcano.sh/task-spec": task, TASK_INDEX_KEY: "0"}


def render(spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
    ctx = Ctx.of(spec, opts, upstream_env=False)  # upstream's volcanojob has no common flags
    primary = job(ctx)
    return [primary, *tensorboard.objects(ctx, primary, chief_selector(spec.name, spec.tasks[0].name))]
