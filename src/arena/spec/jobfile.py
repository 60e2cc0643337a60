"""`arena submit -f job.yaml`: one YAML schema for every job kind (documented in docs/jobfile.md).

The file is loaded (PyYAML's C loader when built), checked structurally against the `JobFile` structs
below, merged with the flags the user gave explicitly (flags win), then validated with the same rules the
flag builders use and turned into a `JobSpec`. Errors name the YAML path, e.g. `tasks[1].replicas`.

    load(path) / loads(text) -> dict          the raw document
    merge(file_opts, flag_opts) -> dict       flags given explicitly override file values
    to_spec(doc) -> JobSpec                   validate and convert
    from_file(path, flag_opts) -> JobSpec     all three
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, get_args, get_type_hints

import msgspec
import yaml

from arena.errors import InvalidSpec
from arena.spec import appwrapperjob, kinds, tfjob, volcanojob
from arena.spec.common import command_text, common_fields, non_negative, resources, run_policy
from arena.spec.keyvalue import parse_env, split_pair
from arena.spec.job import (
    AppWrapperOptions,
    JobSpec,
    KindOptions,
    MPIOptions,
    Policy,
    PyTorchOptions,
    Resources,
    TaskSpec,
    TFOptions,
    VolcanoOptions,
)
from arena.spec.mpijob import default_slots
from arena.spec.names import check_dns_label
from arena.spec.pytorchjob import check_nproc

Scalar = str | int | float | bool
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when PyYAML was built with it


# ---------------------------------------------------------------------------------------------------
# The schema. Field names are the YAML keys; msgspec reports structural errors with their path.

class FileResources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cpu: str | int | float | None = None
    memory: str | int | None = None
    gpus: int = 0
    devices: dict[str, int] = {}


class FilePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: str
    event: str | None = None
    exit_code: int | None = None
    timeout: str | None = None


class FileTask(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    replicas: int = 1
    command: str | list[str] | None = None
    image: str | None = None
    envs: dict[str, Scalar] | list[str] = {}
    resources: FileResources = FileResources()
    restart_policy: str | None = None
    port: int = 0
    min_available: int | None = None
    max_retry: int | None = None
    policies: list[FilePolicy | str] = []
    depends_on: list[str] = []


class FileSync(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    mode: str | None = None
    source: str | None = None
    image: str | None = None
    branch: str | None = None


class FileData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    path: str


class FileDataDir(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host_path: str
    mount_path: str | None = None


class FileTensorboard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    logdir: str | None = None
    image: str | None = None
    ttl: str | None = None


class FileRunPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    clean_pod_policy: str | None = None
    backoff_limit: int = 0
    active_deadline_seconds: str | int | None = None  # seconds, or a duration such as 2h
    ttl_seconds_after_finished: str | int | None = None


class FileScheduling(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    queue: str | None = None
    priority: str | None = None
    min_available: int | None = None
    gang: bool = False
    scheduler_name: str | None = None
    kueue_queue: str | None = None
    policies: list[FilePolicy | str] = []
    max_retry: int | None = None
    node_selector: dict[str, Scalar] = {}
    tolerations: list[str] = []


class JobFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str
    name: str
    version: int = 1
    namespace: str | None = None
    image: str = ""
    command: str | list[str] | None = None
    shell: str | None = None
    working_dir: str | None = None
    envs: dict[str, Scalar] | list[str] = {}
    labels: dict[str, Scalar] = {}
    annotations: dict[str, Scalar] = {}
    tasks: list[FileTask] = []
    sync: FileSync | None = None
    data: list[FileData | str] = []
    data_dirs: list[FileDataDir | str] = []
    tensorboard: FileTensorboard | bool | None = None
    share_memory: str | None = None
    run_policy: FileRunPolicy = FileRunPolicy()
    scheduling: FileScheduling = FileScheduling()
    options: dict[str, Any] = {}


_OPTIONS: dict[str, type] = {"pytorchjob": PyTorchOptions, "tfjob": TFOptions, "mpijob": MPIOptions,
                             "volcanojob": VolcanoOptions, "appwrapperjob": AppWrapperOptions}
_RESTART_POLICIES = ("Never", "OnFailure", "Always", "ExitCode")
# Where common_fields()/run_policy() errors (named by flag) live in the file.
_FLAG_TO_PATH = {
    "--name": "name", "--namespace": "namespace", "--queue": "scheduling.queue",
    "--selector": "scheduling.node_selector", "--label": "labels", "--annotation": "annotations",
    "--env": "envs", "--sync-mode": "sync.mode", "--sync-source": "sync.source", "--data": "data",
    "--data-dir": "data_dirs", "--share-memory": "share_memory", "--clean-task-policy": "run_policy.clean_pod_policy",
    "--retry": "run_policy.backoff_limit", "--running-timeout": "run_policy.active_deadline_seconds",
    "--ttl-after-finished": "run_policy.ttl_seconds_after_finished",
}


# ---------------------------------------------------------------------------------------------------
# Loading

def loads(text: str, source: str = "job file") -> dict[str, Any]:
    """Parse YAML (or JSON) text into the raw document; it must be one mapping."""
    try:
        doc = yaml.load(text, Loader=_LOADER)  # a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InvalidSpec("-f", f"{source} is not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise InvalidSpec("-f", f"{source} must hold a mapping (name:, kind:, tasks: ...) at the top level")
    return doc


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a job file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise InvalidSpec("-f", f"cannot read {os.fspath(path)}: {err.strerror}") from None
    return loads(text, os.fspath(path))


# ---------------------------------------------------------------------------------------------------
# Merging flags into a document

# Flags that are about the command, not the job: never an error to see them next to -f. The one list:
# `arena submit -f` relies on it too (its own dests, such as --wait-timeout, are here), and upstream's
# spellings (filename, helm_binary, ...) keep SDK callers that pass such dicts working.
IGNORED_FLAGS = frozenset({"file", "filename", "output", "dry_run", "wait", "wait_timeout", "func", "handler",
                           "engine", "loglevel", "config", "context", "arena_namespace", "image_pull_policy",
                           "helm_binary", "pprof", "trace"})
# Flags with three states (None: unset, True, False): their False is a choice the user made, not "not given".
TRI_STATE_FLAGS = frozenset({"use_svc_plugin"})
_ROLE_FLAG = re.compile(r"([a-z0-9-]+?)_(cpu|memory|gpus|image|port)")  # --ROLE-cpu and friends


def explicit_flags(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The flags whose value differs from the parser's default: what the user actually typed."""
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def _given(key: str, value: Any) -> bool:
    """None, '', [] and False mean "not given" (boolean flags can only switch something on), except that
    False is given for a TRI_STATE_FLAGS flag (--use-svc-plugin=false turns a default-on option off)."""
    if value is False:
        return key in TRI_STATE_FLAGS
    return value is not None and value != "" and value != [] and value != ()


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _env_dict(value: Any, field: str) -> dict[str, Any]:
    """A file mapping as is, or KEY=VALUE items (flags, or a file's list form) split as the flags are."""
    if isinstance(value, Mapping):
        return dict(value)
    return dict(split_pair(str(item), field) for item in value or ())


def _task_dicts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    tasks = doc.setdefault("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InvalidSpec("tasks", "must be a list of mappings (name:, replicas:, ...)")
    return tasks


def _find_task(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((t for t in _task_dicts(doc) if t.get("name") == name), None)


def _set_replicas(doc: dict[str, Any], name: str, replicas: int) -> None:
    """Set a role's replicas, adding the role (it runs the job's command) or dropping it at 0."""
    tasks = _task_dicts(doc)
    found = _find_task(doc, name)
    if replicas <= 0:
        doc["tasks"] = [t for t in tasks if t.get("name") != name]
    elif found is not None:
        found["replicas"] = replicas
    else:
        tasks.append({"name": name, "replicas": replicas})


def _task_to_dict(task: TaskSpec) -> dict[str, Any]:
    """A --task flag parsed into a TaskSpec, as a file task mapping."""
    res = {k: v for k, v in (("cpu", task.resources.cpu), ("memory", task.resources.memory),
                             ("gpus", task.resources.gpus)) if v}
    return {"name": task.name, "replicas": task.replicas, "command": task.command} | ({"resources": res} if res else {})


def merge(file_opts: Mapping[str, Any], flag_opts: Mapping[str, Any],
          ignore: frozenset[str] | set[str] = IGNORED_FLAGS) -> dict[str, Any]:
    """The file document with every explicitly given flag applied on top (flags win).

    `flag_opts` uses the CLI's dest names. A value of None, '', [] or False counts as not given (False does
    count for TRI_STATE_FLAGS), so pass only what the user typed for numbers (see `explicit_flags`). Maps
    (-e, -l, -a, --selector) are merged key by key; lists (--data, --toleration, --policy of one scope)
    replace the file's.
    """
    doc: dict[str, Any] = copy.deepcopy(dict(file_opts))
    tasks_key = "roles" if "roles" in doc else "tasks"
    if tasks_key == "roles":
        if "tasks" in doc:
            raise InvalidSpec("roles", "give either roles: or tasks:, not both")
        doc["tasks"] = doc.pop("roles")
    flags = {k: v for k, v in flag_opts.items() if _given(k, v) and k not in ignore and not k.startswith("_")}
    kind_flag = flags.pop("type", None)  # the submit sub-command's job type, under either name
    kind_flag = flags.pop("kind", None) or kind_flag
    if kind_flag:
        if doc.get("kind") and kinds.canonical(str(doc["kind"]), "kind") != kinds.canonical(kind_flag):
            raise InvalidSpec("kind", f"the file is a {doc['kind']} but the command asks for {kind_flag}")
        doc["kind"] = kind_flag
    kind = kinds.canonical(str(doc.get("kind") or ""), "kind") if doc.get("kind") else ""
    opt_cls = _OPTIONS.get(kind)
    opt_fields = set(opt_cls.__struct_fields__) if opt_cls else set()
    created = {k for k in ("options", "scheduling", "run_policy") if k not in doc}
    options = _section(doc, "options")
    sched = _section(doc, "scheduling")
    run = _section(doc, "run_policy")
    inner_type = flags.get("inner_type") or options.get("inner_type") or "pytorch"
    inner_pytorch = kind == "appwrapperjob" and inner_type == "pytorch"
    job_policies: list[str] = []
    task_policies: dict[str, list[str]] = {}

    # Flags that add, drop or rename roles go first, so that resource flags reach every role.
    shaping = ("task", "task_name", "workers", "replicas", "ps", "chief", "evaluator")
    for key, value in sorted(flags.items(), key=lambda kv: kv[0] not in shaping):
        if key in ("name", "namespace", "image", "shell", "working_dir", "share_memory", "command"):
            doc[key] = value
        elif key in ("env", "label", "annotation"):
            target = {"env": "envs", "label": "labels", "annotation": "annotations"}[key]
            doc[target] = _env_dict(doc.get(target), target) | _env_dict(value, _flag(key))
        elif key in ("queue", "priority", "min_available", "kueue_queue", "gang"):
            sched[key] = value
        elif key in ("scheduler", "scheduler_name"):
            sched["scheduler_name"] = value
        elif key == "selector":
            file_selector = _env_dict(sched.get("node_selector"), "scheduling.node_selector")
            sched["node_selector"] = file_selector | _env_dict(value, "--selector")
        elif key == "toleration":
            sched["tolerations"] = list(value)
        elif key == "max_retry":
            if kind == "appwrapperjob":  # the fork's --max-retry is the Volcano task's maxRetry
                for t in _task_dicts(doc):
                    t["max_retry"] = value
            else:
                sched["max_retry"] = value
        elif key == "policy":
            for item in value:
                task, _ = volcanojob.parse_policy(item)
                spec_text = item.partition(":")[2] if task else item
                (task_policies.setdefault(task, []) if task else job_policies).append(spec_text)
        elif key == "depends_on":
            for task, deps in volcanojob.parse_depends_on(value).items():
                found = _find_task(doc, task)
                if found is None:
                    raise InvalidSpec("--depends-on", f"{task!r} is not a task of the job file")
                found["depends_on"] = deps
        elif key == "task":
            job_command = command_text(doc["command"]) if doc.get("command") else None
            for item in value:
                parsed = _task_to_dict(volcanojob.parse_task(item, job_command))
                found = _find_task(doc, parsed["name"])
                if found is not None:
                    found.update(parsed)
                else:
                    _task_dicts(doc).append(parsed)
        elif key in ("sync_mode", "sync_source", "sync_image"):
            doc["sync"] = dict(doc.get("sync") or {}) | {key.removeprefix("sync_"): value}
        elif key == "data":
            doc["data"] = list(value)
        elif key == "data_dir":
            doc["data_dirs"] = list(value)
        elif key in ("tensorboard", "logdir", "tensorboard_image", "tensorboard_ttl"):
            if not (flags.get("tensorboard") or doc.get("tensorboard")):
                continue  # --logdir and friends only shape a tensorboard that is on
            tb = doc.get("tensorboard")
            tb = dict(tb) if isinstance(tb, dict) else {}
            if key != "tensorboard":
                tb[key.removeprefix("tensorboard_")] = value
            doc["tensorboard"] = tb
        elif key in ("retry", "clean_task_policy", "running_timeout", "ttl_after_finished"):
            run[{"retry": "backoff_limit", "clean_task_policy": "clean_pod_policy",
                 "running_timeout": "active_deadline_seconds",
                 "ttl_after_finished": "ttl_seconds_after_finished"}[key]] = value
        elif key in ("plugin", "plugins"):
            options["plugins"] = volcanojob.check_plugins(value, _flag(key))
        elif key in ("mpi_implementation", "mpi_api_version"):
            options[key.removeprefix("mpi_")] = value
        elif key in opt_fields and key != "task_name":
            options[key] = value
        elif key == "task_name" and kind == "appwrapperjob":
            old = options.get("task_name")
            options["task_name"] = value
            tasks = _task_dicts(doc)
            if len(tasks) == 1 and (old is None or tasks[0].get("name") == old):
                tasks[0]["name"] = value
        elif key == "workers":
            n = int(value)
            if kind == "pytorchjob" or inner_pytorch:
                _set_replicas(doc, "worker", n - 1)  # --workers counts the master
            else:
                _set_replicas(doc, "worker", n)
        elif key == "replicas" and kind == "appwrapperjob" and not inner_pytorch:
            for t in _task_dicts(doc):
                t["replicas"] = value
        elif key == "ps":
            _set_replicas(doc, "ps", int(value))
        elif key in ("chief", "evaluator"):
            if _find_task(doc, key) is None:
                _set_replicas(doc, key, 1)
        elif key in ("cpu", "memory", "gpus", "device"):
            for t in _task_dicts(doc):
                if t.get("name") in ("ps", "launcher"):
                    continue  # --gpus/--cpu/--memory are the workers' (upstream): not ps, not the launcher
                res = t.setdefault("resources", {})
                if key == "device":
                    res["devices"] = dict(res.get("devices") or {}) | _devices(value)
                else:
                    res[key] = value
        elif (m := _ROLE_FLAG.fullmatch(key)) and _find_task(doc, m.group(1)):
            found = _find_task(doc, m.group(1))
            assert found is not None
            if m.group(2) in ("image", "port"):
                found[m.group(2)] = value
            else:
                found.setdefault("resources", {})[m.group(2)] = value
        else:
            raise InvalidSpec(_flag(key), "cannot be used with a job file here; set it in the file instead")

    if job_policies:
        sched["policies"] = job_policies
    for task, items in task_policies.items():
        found = _find_task(doc, task)
        if found is None:
            raise InvalidSpec("--policy", f"policy for {task!r}, which is not a task of the job file")
        found["policies"] = items
    for key in created:
        if not doc.get(key):
            doc.pop(key, None)  # keep the document as small as the user wrote it
    if tasks_key == "roles":
        doc["roles"] = doc.pop("tasks")  # later errors keep naming what the user wrote
    return doc


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """A mapping section of the document, created when absent; a non-mapping is a file error."""
    value = doc.setdefault(key, {})
    if not isinstance(value, dict):
        raise InvalidSpec(key, "must be a mapping")
    return value


def _devices(items: Sequence[str]) -> dict[str, int]:
    return dict(resources(devices=items).devices)


# ---------------------------------------------------------------------------------------------------
# Validation and conversion

@contextmanager
def _at(path: str | Callable[[str], str]) -> Iterator[None]:
    """Re-raise InvalidSpec under a file path (a fixed path, or a mapping from the flag the rule named)."""
    try:
        yield
    except InvalidSpec as err:
        field = path(err.field) if callable(path) else path
        rule = err.rule
        if field.endswith(".command") and "trailing argument" in rule:
            rule = "is required: give the task a command, or the job a top-level command"
        raise InvalidSpec(field, rule) from None


def _structural(doc: Mapping[str, Any], tasks_key: str) -> JobFile:
    try:
        return msgspec.convert(doc, JobFile, strict=False)
    except msgspec.ValidationError as err:
        raise InvalidSpec(*_msgspec_error(str(err), tasks_key)) from None


def _msgspec_error(text: str, tasks_key: str = "tasks", prefix: str = "") -> tuple[str, str]:
    """msgspec's "<rule> - at `$.a[1].b`" → ("a[1].b", rule), naming missing/unknown fields too."""
    rule, _, at = text.partition(" - at `")
    path = at.rstrip("`").removeprefix("$").lstrip(".")
    named = re.match(r"Object (missing required|contains unknown) field `([^`]+)`", rule)
    if named:
        path = f"{path}.{named.group(2)}" if path else named.group(2)
        rule = "is required" if named.group(1).startswith("missing") else "is not a known field"
    path = prefix + path if path else prefix.rstrip(".") or "job file"
    if path.startswith("tasks") and tasks_key != "tasks":
        path = tasks_key + path[len("tasks"):]
    return path, rule


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(mapping: Mapping[str, Scalar] | Sequence[str], field: str) -> list[str]:
    return [f"{k}={_text(v)}" for k, v in _env_dict(mapping, field).items()]


def _policies(items: Sequence[FilePolicy | str], field: str, task: str | None) -> list[Policy]:
    out: list[Policy] = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if isinstance(item, str):
            owner, policy = volcanojob.parse_policy(item, where)
            if owner is not None and owner != task:
                rule = ("a job-level policy takes no TASK: prefix; put it under that task's policies" if task is None
                        else f"this policy belongs to task {task}, not {owner}")
                raise InvalidSpec(where, rule)
        else:
            timeout = None if item.timeout is None else str(item.timeout)
            policy = volcanojob.check_policy(Policy(action=item.action, event=item.event, exit_code=item.exit_code,
                                                    timeout=timeout), where)
        out.append(policy)
    return volcanojob.check_policies(out, field)


def _task(f: FileTask, i: int, kind: str, job: JobFile, key: str) -> TaskSpec:
    base = f"{key}[{i}]"
    name = check_dns_label(f.name, f"{base}.name")
    if f.replicas < 1:
        raise InvalidSpec(f"{base}.replicas", "must be 1 or more")
    raw_command = f.command if f.command is not None else job.command
    command = ""
    if not (kind == "mpijob" and name == "worker"):  # MPI workers only host ranks: no command of their own
        with _at(f"{base}.command"):
            command = command_text(raw_command, f"{base}.command")
    r = f.resources
    cpu = None if r.cpu is None else _text(r.cpu)
    memory = None if r.memory is None else _text(r.memory)
    with _at(lambda flag: f"{base}.resources." + flag.removeprefix("--")):
        res = resources(cpu, memory, r.gpus)
    for dev, count in r.devices.items():
        if "/" not in dev or count < 0:
            raise InvalidSpec(f"{base}.resources.devices", f"{dev}: {count} must be vendor/resource: N (N ≥ 0)")
    res = Resources(cpu=res.cpu, memory=res.memory, gpus=res.gpus, devices=dict(r.devices))
    restart = f.restart_policy or _default_restart(kind, name)
    if restart not in _RESTART_POLICIES:
        raise InvalidSpec(f"{base}.restart_policy", f"{restart!r} must be one of {', '.join(_RESTART_POLICIES)}")
    with _at(f"{base}.port"):
        port = tfjob.check_port(f.port, f"{base}.port")
    if f.min_available is not None and not 0 <= f.min_available <= f.replicas:
        raise InvalidSpec(f"{base}.min_available", f"must be between 0 and replicas ({f.replicas})")
    if f.max_retry is not None and f.max_retry < -1:
        raise InvalidSpec(f"{base}.max_retry", "must be -1 (unlimited) or more")
    with _at(f"{base}.envs"):
        env = parse_env(_pairs(f.envs, f"{base}.envs"), f"{base}.envs")
    return TaskSpec(name=name, replicas=f.replicas, command=command, image=f.image or job.image, resources=res,
                    env=env, restart_policy=restart, port=port, min_available=f.min_available,  # type: ignore[arg-type]
                    max_retry=f.max_retry, policies=_policies(f.policies, f"{base}.policies", name),
                    depends_on=[check_dns_label(d, f"{base}.depends_on") for d in f.depends_on])


def _check_volcano_only(kind: str, job: JobFile, tasks: Sequence[TaskSpec], options: KindOptions, key: str) -> None:
    """Lifecycle policies, dependencies and task gangs exist only on Volcano Jobs: refuse, don't ignore."""
    volcano_inner = isinstance(options, AppWrapperOptions) and options.inner_type == "volcano"
    if kind == "volcanojob":
        return
    if job.scheduling.policies:
        raise InvalidSpec("scheduling.policies", f"lifecycle policies need a volcanojob, not a {kind}")
    if job.scheduling.max_retry is not None:
        raise InvalidSpec("scheduling.max_retry", f"a job-level max_retry needs a volcanojob, not a {kind}")
    for i, t in enumerate(tasks):
        for attr in ("policies", "depends_on", "min_available") + (() if volcano_inner else ("max_retry",)):
            if getattr(t, attr) not in (None, []):
                raise InvalidSpec(f"{key}[{i}].{attr}", f"needs a volcanojob, not a {kind}")


def _default_restart(kind: str, name: str) -> str:
    """SEMANTICS.md E.1 and upstream charts: PyTorch workers OnFailure, everything else Never."""
    return "OnFailure" if kind in ("pytorchjob", "appwrapperjob") and name == "worker" else "Never"


def _options(kind: str, raw: Mapping[str, Any]) -> KindOptions:
    cls = _OPTIONS[kind]
    given = {k: v for k, v in raw.items() if k != "type"}
    try:
        return msgspec.convert(given, cls, strict=False)  # type: ignore[no-any-return]
    except msgspec.ValidationError as err:
        field, rule = _msgspec_error(str(err), prefix="options.")
        choices = get_args(get_type_hints(cls).get(field.removeprefix("options."), object))
        if rule.startswith("Invalid enum value") and choices:
            rule += f"; one of {', '.join(map(str, choices))}"
        raise InvalidSpec(field, rule) from None


def _roles(kind: str, tasks: list[TaskSpec], key: str, allowed: Sequence[str], single: Sequence[str] = ()) -> None:
    for i, t in enumerate(tasks):
        if t.name not in allowed:
            raise InvalidSpec(f"{key}[{i}].name", f"a {kind} has roles {', '.join(allowed)}, not {t.name!r}")
        if t.name in single and t.replicas != 1:
            raise InvalidSpec(f"{key}[{i}].replicas", f"a {kind} has exactly one {t.name}")
    names = [t.name for t in tasks]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise InvalidSpec(f"{key}[{names.index(dup, names.index(dup) + 1)}].name", f"role {dup} is given twice")


def _kind_tasks(kind: str, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
                ) -> tuple[list[TaskSpec], KindOptions, int]:
    """Per-kind role rules and derived values; returns (tasks, options, the `workers` number)."""
    by_name = {t.name: t for t in tasks}
    if kind == "pytorchjob" or (kind == "appwrapperjob" and isinstance(options, AppWrapperOptions)
                                and options.inner_type == "pytorch"):
        _roles(kind, tasks, key, ("master", "worker"), ("master",))
        if "master" not in by_name:
            raise InvalidSpec(key, f"a {kind} needs a master role (replicas: 1)")
        if isinstance(options, PyTorchOptions):
            with _at("options.nproc_per_node"):
                check_nproc(options.nproc_per_node)
            with _at("options.master_port"):
                tfjob.check_port(options.master_port, "options.master_port")
            master = by_name["master"]
            if not master.port and options.master_port:
                tasks = [msgspec.structs.replace(t, port=options.master_port) if t.name == "master" else t
                         for t in tasks]
        order = {"master": 0, "worker": 1}
        return sorted(tasks, key=lambda t: order[t.name]), options, sum(t.replicas for t in tasks)
    if kind == "tfjob":
        _roles(kind, tasks, key, tfjob.ROLES, ("chief", "evaluator"))
        if "worker" not in by_name and "chief" not in by_name:
            raise InvalidSpec(key, "a tfjob needs a worker or a chief role")
        assert isinstance(options, TFOptions)
        workers = by_name["worker"].replicas if "worker" in by_name else 0
        if "standalone" not in job.options:
            options = msgspec.structs.replace(options, standalone=tfjob.is_standalone(
                by_name["ps"].replicas if "ps" in by_name else 0, workers, "chief" in by_name, "evaluator" in by_name))
        order = {r: i for i, r in enumerate(tfjob.ROLES)}
        return sorted(tasks, key=lambda t: order[t.name]), options, workers
    if kind == "mpijob":
        _roles(kind, tasks, key, ("launcher", "worker"), ("launcher",))
        if "launcher" not in by_name and job.command is not None:
            launcher = TaskSpec(name="launcher", command=command_text(job.command, "command"), image=job.image)
            tasks, by_name = [launcher, *tasks], {"launcher": launcher, **by_name}
        if "launcher" not in by_name:
            raise InvalidSpec(key, "an mpijob needs a launcher role (or a top-level command for it)")
        if "worker" not in by_name:
            raise InvalidSpec(key, "an mpijob needs a worker role")
        assert isinstance(options, MPIOptions)
        if "slots_per_worker" not in job.options:
            options = msgspec.structs.replace(options, slots_per_worker=default_slots(by_name["worker"].resources))
        elif options.slots_per_worker < 1:
            raise InvalidSpec("options.slots_per_worker", "must be 1 or more")
        tasks = sorted(tasks, key=lambda t: t.name != "launcher")
        return tasks, options, by_name["worker"].replicas
    if kind == "volcanojob":
        volcanojob.check_tasks(job.name, tasks, key)
        for i, t in enumerate(tasks):
            for dep in t.depends_on:
                if dep not in by_name or dep == t.name:
                    raise InvalidSpec(f"{key}[{i}].depends_on", f"{dep!r} must name another task of this job")
        volcanojob.check_depends_on(tasks, key)
        assert isinstance(options, VolcanoOptions)
        plugins = volcanojob.check_plugins(options.plugins, "options.plugins")
        mode = volcanojob.tf_config_mode(options.tf_config, "options.tf_config")
        return tasks, VolcanoOptions(tf_config=mode, plugins=plugins), sum(t.replicas for t in tasks)  # type: ignore[arg-type]
    # appwrapperjob, volcano inner: one task named options.task_name
    assert isinstance(options, AppWrapperOptions)
    if len(tasks) != 1:
        raise InvalidSpec(key, "an appwrapperjob with inner_type volcano has exactly one task")
    task = tasks[0]
    if "task_name" not in job.options:
        options = msgspec.structs.replace(options, task_name=task.name)
    elif task.name != options.task_name:
        raise InvalidSpec(f"{key}[0].name", f"must match options.task_name ({options.task_name})")
    if task.max_retry is None:
        task = msgspec.structs.replace(task, max_retry=appwrapperjob.DEFAULT_MAX_RETRY)
    return [task], options, task.replicas


def to_spec(doc: Mapping[str, Any]) -> JobSpec:
    """Validate a (merged) job-file document and turn it into a JobSpec."""
    raw = dict(doc)
    key = "tasks"
    if "roles" in raw:
        if "tasks" in raw:
            raise InvalidSpec("roles", "give either roles: or tasks:, not both")
        raw["tasks"], key = raw.pop("roles"), "roles"
    if not raw.get("kind"):
        raise InvalidSpec("kind", f"is required; one of {', '.join(kinds.KINDS)}")
    kind = kinds.canonical(str(raw["kind"]), "kind")
    job = _structural(raw, key)
    if job.version != 1:
        raise InvalidSpec("version", f"{job.version} is not supported; this Arena reads version 1")
    if not job.tasks and kind not in ("mpijob",):
        raise InvalidSpec(key, "at least one task is required")

    sync, sched, rp = job.sync, job.scheduling, job.run_policy
    tb = job.tensorboard
    tb_on = tb is True or isinstance(tb, FileTensorboard)
    tb_struct = tb if isinstance(tb, FileTensorboard) else FileTensorboard()
    opts: dict[str, Any] = {
        "name": job.name, "namespace": job.namespace, "image": job.image, "shell": job.shell,
        "working_dir": job.working_dir, "label": _pairs(job.labels, "labels"),
        "annotation": _pairs(job.annotations, "annotations"), "env": _pairs(job.envs, "envs"),
        "queue": sched.queue, "priority": sched.priority, "gang": sched.gang, "scheduler": sched.scheduler_name,
        "kueue_queue": sched.kueue_queue, "selector": _pairs(sched.node_selector, "scheduling.node_selector"),
        "toleration": sched.tolerations,
        "sync_mode": sync.mode if sync else None, "sync_source": sync.source if sync else None,
        "sync_image": sync.image if sync else None,
        "data": [d if isinstance(d, str) else f"{d.name}:{d.path}" for d in job.data],
        "data_dir": [d if isinstance(d, str) else f"{d.host_path}:{d.mount_path or d.host_path}"
                     for d in job.data_dirs],
        "tensorboard": tb_on, "logdir": tb_struct.logdir, "tensorboard_image": tb_struct.image,
        "tensorboard_ttl": tb_struct.ttl, "share_memory": job.share_memory,
    }
    with _at(lambda flag: _FLAG_TO_PATH.get(flag, flag)):
        fields = common_fields(opts, kind)
        policy = run_policy(rp.backoff_limit, rp.clean_pod_policy or ("All" if kind == "mpijob" else "Running"),
                            rp.active_deadline_seconds, rp.ttl_seconds_after_finished)
    if fields["sync"] is not None and sync is not None and sync.branch:
        fields["sync"] = msgspec.structs.replace(fields["sync"], branch=sync.branch)

    tasks = [_task(t, i, kind, job, key) for i, t in enumerate(job.tasks)]
    options = _options(kind, job.options)
    if isinstance(options, AppWrapperOptions):
        options = appwrapperjob.check_options(options, lambda attr: f"options.{attr}")
    _check_volcano_only(kind, job, tasks, options, key)
    tasks, options, workers = _kind_tasks(kind, tasks, options, job, key)

    total = sum(t.replicas for t in tasks)
    min_available = sched.min_available
    if min_available is not None:
        with _at("scheduling.min_available"):
            min_available = volcanojob.check_min_available(min_available, total, "scheduling.min_available")
    scheduler = fields["scheduling"].scheduler_name
    if isinstance(options, AppWrapperOptions) and options.inner_type == "volcano":
        min_available = min_available or total  # the fork: 0 means every replica
        scheduler = scheduler or "volcano"  # as the appwrapperjob builder
    max_retry = None if sched.max_retry is None else non_negative(sched.max_retry, "scheduling.max_retry")
    scheduling = msgspec.structs.replace(
        fields.pop("scheduling"), min_available=min_available, max_retry=max_retry, scheduler_name=scheduler,
        policies=_policies(sched.policies, "scheduling.policies", None))
    return JobSpec(**fields, tasks=tasks, run_policy=policy, scheduling=scheduling, options=options, workers=workers)


def from_file(path: str | os.PathLike[str], flag_opts: Mapping[str, Any] | None = None) -> JobSpec:
    """Load a job file, apply the explicitly given flags, and build the JobSpec."""
    return to_spec(merge(load(path), flag_opts or {}))
