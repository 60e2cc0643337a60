"""Volcano Job values: tasks, lifecycle policies, dependencies and plugins, parsed and checked with
Volcano's rules (the flags themselves are declared in `arena.kinds.volcanojob`).

Upstream Arena's volcanojob only knows one task per image and no plugins (ARENA.md §9.3); here the
tasks, policies, dependencies and plugins of a real Volcano Job (SEMANTICS.md A) are first-class:

    --task NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]][=COMMAND]   (repeatable; COMMAND defaults to the positional one)
    --policy [TASK:]EVENT=ACTION[@TIMEOUT]                (repeatable; EVENT may be a non-zero exit code)
    --depends-on TASK:DEP[,DEP...]                        (repeatable)
    --min-available N  --queue Q  --max-retry N  --tf-config none|auto
    --plugin NAME[:--ARG[=V],...]                         (repeatable; `none` for no plugin; default env, svc)
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from arena.errors import InvalidSpec
from arena.spec import duration
from arena.spec.common import non_negative, resources
from arena.spec.job import JobSpec, Policy, TaskSpec
from arena.spec.names import check_dns_label

# Events and actions a user may put in a policy: Volcano's admission webhook allows exactly these
# (validate/util.go policyEventMap/policyActionMap); the rest are internal to its controller.
USER_EVENTS = ("*", "PodFailed", "PodEvicted", "PodPending", "Unknown", "TaskCompleted", "TaskFailed", "JobUpdated")
INTERNAL_EVENTS = ("OutOfSync", "CommandIssued", "PodRunning")
USER_ACTIONS = ("AbortJob", "RestartJob", "RestartTask", "RestartPod", "RestartPartition", "TerminateJob",
                "CompleteJob", "ResumeJob")
INTERNAL_ACTIONS = ("SyncJob", "EnqueueJob", "SyncQueue", "OpenQueue", "CloseQueue")
# Go's constant is JobUnknownEvent; its wire value is "Unknown". Accept both spellings.
_EVENT_ALIASES = {"jobunknown": "Unknown"}
_EVENTS = {e.lower(): e for e in (*USER_EVENTS, *INTERNAL_EVENTS)} | _EVENT_ALIASES
_ACTIONS = {a.lower(): a for a in (*USER_ACTIONS, *INTERNAL_ACTIONS)}

# Volcano's job plugins (SEMANTICS.md A.9). Each --plugin is NAME or NAME:--arg[,--arg...]; the local
# engine models env, svc, pytorch and tensorflow (see distributed/volcano.py).
PLUGINS = ("env", "svc", "ssh", "pytorch", "tensorflow", "mpi", "ray", "hcclrank")
_POD_NAME_MAX = 63  # <job>-<task>-<index> must stay a DNS label (hostname)


def canonical_event(text: str, field: str = "--policy") -> str:
    """The canonical spelling of a user event; internal or unknown events are refused."""
    event = _EVENTS.get(text.strip().lower())
    if event is None:
        raise InvalidSpec(field, f"unknown event {text!r}; one of {', '.join(USER_EVENTS)} (or a non-zero exit code)")
    if event in INTERNAL_EVENTS:
        raise InvalidSpec(field, f"event {event} is internal to Volcano and cannot be used in a policy")
    return event


def canonical_action(text: str, field: str = "--policy") -> str:
    """The canonical spelling of a user action; internal or unknown actions are refused."""
    action = _ACTIONS.get(text.strip().lower())
    if action is None:
        raise InvalidSpec(field, f"unknown action {text!r}; one of {', '.join(USER_ACTIONS)}")
    if action in INTERNAL_ACTIONS:
        raise InvalidSpec(field, f"action {action} is internal to Volcano and cannot be used in a policy")
    return action


def check_policy(policy: Policy, field: str = "--policy") -> Policy:
    """Validate one policy object (from a flag or a job file) and return it with canonical names."""
    if (policy.event is None) == (policy.exit_code is None):
        raise InvalidSpec(field, "a policy needs exactly one of an event or an exit code")
    action = canonical_action(policy.action, field)
    event = canonical_event(policy.event, field) if policy.event is not None else None
    if policy.exit_code is not None:
        if policy.exit_code == 0:
            raise InvalidSpec(field, "exit code 0 is not a failure and cannot trigger a policy")
        if not -(2**31) <= policy.exit_code < 2**31:
            raise InvalidSpec(field, f"exit code {policy.exit_code} does not fit in 32 bits")
    if policy.timeout is not None:
        duration.parse_seconds(policy.timeout, field)
    elif event == "PodPending":
        # Volcano matches PodPending only when the policy has a timeout: without one it never fires.
        raise InvalidSpec(field, "a PodPending policy needs a timeout, e.g. PodPending=RestartJob@10m")
    return Policy(action=action, event=event, exit_code=policy.exit_code, timeout=policy.timeout)


def parse_policy(text: str, field: str = "--policy") -> tuple[str | None, Policy]:
    """`[TASK:]EVENT=ACTION[@TIMEOUT]` → (task name or None for the job level, Policy).

    EVENT may also be a non-zero exit code (`worker:137=RestartPod`).
    """
    left, sep, right = text.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise InvalidSpec(field, f"{text!r} must be [TASK:]EVENT=ACTION[@TIMEOUT], e.g. worker:PodFailed=RestartTask")
    task: str | None = None
    if ":" in left:
        task, _, left = left.partition(":")
        if ":" in left:
            raise InvalidSpec(field, f"{text!r}: at most one TASK: prefix is allowed")
        check_dns_label(task.strip(), field)
        task = task.strip()
    action, at, timeout = right.partition("@")
    if at and not timeout.strip():
        raise InvalidSpec(field, f"{text!r}: a timeout must follow '@', e.g. @10m")
    event_text = left.strip()
    exit_code: int | None = None
    event: str | None = None
    if event_text.lstrip("+-").isdigit():
        exit_code = int(event_text)
    else:
        event = event_text
    policy = Policy(action=action.strip(), event=event, exit_code=exit_code, timeout=timeout.strip() or None)
    return task, check_policy(policy, field)


def check_policies(policies: Sequence[Policy], field: str = "--policy") -> list[Policy]:
    """Volcano's list rules: an event or exit code appears in one policy only, and `*` stands alone."""
    out = [check_policy(p, field) for p in policies]
    events = [p.event for p in out if p.event is not None]
    codes = [p.exit_code for p in out if p.exit_code is not None]
    for seen in (events, codes):
        dup = next((x for i, x in enumerate(seen) if x in seen[:i]), None)
        if dup is not None:
            raise InvalidSpec(field, f"{dup} appears in more than one policy of the same job or task")
    if "*" in events and len(events) > 1:
        raise InvalidSpec(field, "a '*' policy must be the only event policy of its job or task")
    return out


def parse_task(text: str, command: str | None = None, field: str = "--task") -> TaskSpec:
    """`NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]][=COMMAND]` → TaskSpec; empty CPU/MEMORY/GPUS mean unset."""
    head, sep, task_command = text.partition("=")
    parts = head.split(":")
    if not 2 <= len(parts) <= 5:
        raise InvalidSpec(field, f"{text!r} must be NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]]=COMMAND")
    name = check_dns_label(parts[0].strip(), field)
    replicas_text = parts[1].strip()
    if not replicas_text.isdigit():
        raise InvalidSpec(field, f"{text!r}: replicas {replicas_text!r} must be a whole number")
    replicas = int(replicas_text)
    if replicas < 1:
        raise InvalidSpec(field, f"{text!r}: task {name} needs 1 or more replicas")
    cpu, memory, gpus = [*parts[2:], "", "", ""][:3]
    try:
        res = resources(cpu.strip() or None, memory.strip() or None, gpus.strip() or 0)
    except InvalidSpec as err:  # name the flag the user typed, not --cpu/--memory/--gpus
        raise InvalidSpec(field, f"{text!r}: {err.rule}") from None
    cmd = task_command.strip() if sep else ""
    if not cmd:
        if not command or not command.strip():
            raise InvalidSpec(field, f"{text!r}: task {name} has no command (add =COMMAND or a trailing command)")
        cmd = command
    return TaskSpec(name=name, replicas=replicas, command=cmd, resources=res, restart_policy="Never")


def parse_depends_on(items: Iterable[str], field: str = "--depends-on") -> dict[str, list[str]]:
    """`TASK:DEP[,DEP...]` (repeatable) → {task: [deps]} in the order given, duplicates dropped."""
    out: dict[str, list[str]] = {}
    for item in items:
        task, sep, deps = item.partition(":")
        names = [d.strip() for d in deps.split(",") if d.strip()]
        if not sep or not task.strip() or not names:
            raise InvalidSpec(field, f"{item!r} must be TASK:DEP[,DEP...]")
        bucket = out.setdefault(check_dns_label(task.strip(), field), [])
        for dep in names:
            check_dns_label(dep, field)
            if dep not in bucket:
                bucket.append(dep)
    return out


def check_depends_on(tasks: Sequence[TaskSpec], field: str = "--depends-on") -> None:
    """Every dependency names another task, and the graph is a DAG (Volcano's webhook refuses cycles)."""
    names = {t.name for t in tasks}
    graph = {t.name: list(t.depends_on) for t in tasks}
    for task, deps in graph.items():
        for dep in deps:
            if dep == task:
                raise InvalidSpec(field, f"task {task} cannot depend on itself")
            if dep not in names:
                raise InvalidSpec(field, f"task {task} depends on {dep!r}, which is not a task of this job")
    state: dict[str, int] = {}  # 1: on the DFS stack, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep):], dep] if dep in path else [node, dep]
                raise InvalidSpec(field, f"dependency cycle: {' -> '.join(cycle)}")
            if state.get(dep) is None:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def plugin_name(item: str) -> str:
    """`svc:--publish-not-ready-addresses` → `svc`."""
    return item.partition(":")[0].strip()


def check_plugins(items: Iterable[str] | str, field: str = "--plugin") -> list[str]:
    """`NAME[:--arg,...]` items (or `env,svc` lists), one per plugin, in the order given.

    `none` means no plugin at all; a plugin given twice keeps its last arguments.
    """
    out: dict[str, str] = {}
    for raw in ([items] if isinstance(items, str) else items):
        text = str(raw).strip()
        parts = [text] if ":" in text else [p.strip() for p in text.split(",")]
        for item in parts:
            name = plugin_name(item)
            if not name or name == "none":
                continue
            if name not in PLUGINS:
                raise InvalidSpec(field, f"unknown plugin {name!r}; one of {', '.join(PLUGINS)}")
            args = item.partition(":")[2]
            if any(a.strip() and not a.strip().startswith("--") for a in args.split(",")):
                raise InvalidSpec(field, f"{item!r}: plugin arguments are --flags, e.g. svc:--disable-network-policy")
            out[name] = item
    return list(out.values())


def check_tasks(job_name: str, tasks: Sequence[TaskSpec], field: str = "--task") -> None:
    """At least one task, unique names, and pod names `<job>-<task>-<i>` that stay DNS labels."""
    if not tasks:
        raise InvalidSpec(field, "a volcanojob needs at least one task (--task NAME:REPLICAS=COMMAND)")
    seen: set[str] = set()
    for t in tasks:
        if t.name in seen:
            raise InvalidSpec(field, f"task {t.name} is given twice")
        seen.add(t.name)
        pod = f"{job_name}-{t.name}-{max(t.replicas - 1, 0)}"
        if len(pod) > _POD_NAME_MAX:
            raise InvalidSpec(field, f"pod name {pod!r} would exceed {_POD_NAME_MAX} characters; shorten the task name")
        if t.min_available is not None and not 0 <= t.min_available <= t.replicas:
            raise InvalidSpec(field, f"task {t.name}: min_available must be between 0 and its replicas")


def check_min_available(value: int | None, total: int, field: str = "--min-available") -> int | None:
    """0 or None means the whole job is the gang (Volcano defaults minAvailable to every replica)."""
    if value in (None, ""):
        return None
    n = non_negative(int(value), field)  # type: ignore[arg-type]
    if n > total:
        raise InvalidSpec(field, f"{n} is more than the job's {total} replicas")
    return n or None


def tf_config_mode(value: str | None, field: str = "--tf-config") -> str:
    """`auto`: Arena gives every pod a TF_CONFIG built from the tasks named chief/ps/worker/evaluator."""
    mode = (value or "none").strip().lower()
    if mode not in ("none", "auto"):
        raise InvalidSpec(field, f"{value!r} must be none or auto")
    return mode


def build(**opts: Any) -> JobSpec:
    """A Volcano Job spec from flag values (the CLI's dest names): the registry's one path from options."""
    from arena.kinds.volcanojob import KIND

    return KIND.spec_from_options(opts)
