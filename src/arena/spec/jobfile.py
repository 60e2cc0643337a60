"""`arena submit -f job.yaml`: one YAML schema for every job kind (documented in docs/jobfile.md), and the
one path from options to a JobSpec.

The document is the job's canonical form. A job file is one; flags (CLI dests, or SDK keyword arguments of
the same names) edit one through each flag's declared mapping (`arena.kinds.flags`), on top of the file or
of the kind's default roles. The document is then checked structurally against the `JobFile` structs
below, validated with the kind's rules (`arena.kinds.<kind>`), and turned into a `JobSpec`. Errors name the
YAML path, e.g. `tasks[1].replicas`, or the flag that set the bad value.

    load(path) / loads(text) -> dict          the raw document
    merge(file_opts, flag_opts) -> dict       flags given explicitly override file values
    to_spec(doc) -> JobSpec                   validate and convert
    from_options(kind, opts, ...) -> JobSpec  flags (over a file, or alone) to a JobSpec: `Kind.spec_from_options`
    from_file(path, flag_opts) -> JobSpec     load, merge, to_spec
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

import msgspec

from arena import kinds
from arena.errors import InvalidSpec
from arena.kinds import flags as kind_flags
from arena.spec.common import at, check_port, command_text, common_fields, non_negative, resources, run_policy
from arena.spec.draft import Draft, pairs_dict
from arena.spec.job import JobSpec, KindOptions, Policy, Resources, TaskSpec
from arena.spec import quantity
from arena.spec.keyvalue import parse_env, parse_labels
from arena.spec.names import check_dns_label

if TYPE_CHECKING:
    from arena.kinds.base import Kind
    from arena.kinds.flags import Flag

Scalar = str | int | float | bool


# ---------------------------------------------------------------------------------------------------
# The schema. Field names are the YAML keys; msgspec reports structural errors with their path.

class FileResources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cpu: str | int | float | None = None
    memory: str | int | None = None
    gpus: int = 0
    devices: dict[str, int] = {}
    cpu_limit: str | int | float | None = None
    memory_limit: str | int | None = None


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
    node_selector: dict[str, Scalar] = {}


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


class FileConfigFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
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
    image_pull_policy: str | None = None
    image_pull_secrets: list[str] = []
    config_files: list[FileConfigFile | str] = []
    host_network: bool = False
    host_ipc: bool = False
    host_pid: bool = False
    rdma: bool = False
    run_policy: FileRunPolicy = FileRunPolicy()
    scheduling: FileScheduling = FileScheduling()
    options: dict[str, Any] = {}


_RESTART_POLICIES = ("Never", "OnFailure", "Always", "ExitCode")


def _loader() -> Any:
    """PyYAML's C loader when it was built with it (a safe loader either way). yaml is imported here, not
    at start-up: flags alone never read YAML."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ---------------------------------------------------------------------------------------------------
# Loading

def loads(text: str, source: str = "job file") -> dict[str, Any]:
    """Parse YAML (or JSON) text into the raw document; it must be one mapping."""
    import yaml

    try:
        doc = yaml.load(text, Loader=_loader())  # a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InvalidSpec("-f", f"{source} is not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise InvalidSpec("-f", f"{source} must hold a mapping (name:, kind:, tasks: ...) at the top level")
    return doc


MAX_FILE_BYTES = 4 * 2**20  # far above any real job file; `-f /dev/zero` must not read forever


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a job file: a regular file of at most MAX_FILE_BYTES.

    Opened without blocking and checked before reading, so a FIFO, a device (`-f /dev/zero`) or a
    directory is a one-line error instead of a hang or an unbounded read."""
    import stat

    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise InvalidSpec("-f", f"cannot read {name}: {err.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidSpec("-f", f"{name} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise InvalidSpec("-f", f"cannot read {name}: {err.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise InvalidSpec("-f", f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB; a job file is a few KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSpec("-f", f"{name} is not UTF-8 text") from None
    return loads(text, name)


# ---------------------------------------------------------------------------------------------------
# Merging flags into a document

# Keys that are about the command, not the job: never an error to see them next to -f. The command flags
# of `arena submit` (declared in `arena.kinds.flags.COMMAND`, such as --wait-timeout), the global ones, the
# parser's own values, and upstream's spellings (filename, helm_binary, ...) that SDK callers may pass.
IGNORED_FLAGS = frozenset({f.dest for f in kind_flags.COMMAND if f.command_only} | kind_flags.GLOBAL_DESTS
                          | {"func", "handler", "kind_name", "filename", "helm_binary", "pprof", "trace"})


def explicit_flags(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The flags whose value differs from the parser's default: what the user actually typed."""
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def _given(value: Any, flag: Flag | None) -> bool:
    """None, '', [] and False mean "not given" (boolean flags can only switch something on), except that
    False is given for a tri-state flag (--use-svc-plugin=false turns a default-on option off)."""
    if value is False:
        return flag is not None and flag.tri_state
    return value is not None and value != "" and value != [] and value != ()


def _flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _kind_of(doc: dict[str, Any], flag_opts: Mapping[str, Any]) -> Kind | None:
    """The job's kind: the file's, or the command's (`kind`/`type`), which must then agree."""
    kind_flag = flag_opts.get("kind") or flag_opts.get("type")
    if kind_flag:
        if doc.get("kind") and kinds.canonical(str(doc["kind"]), "kind") != kinds.canonical(str(kind_flag)):
            raise InvalidSpec("kind", f"the file is a {doc['kind']} but the command asks for {kind_flag}")
        doc["kind"] = kind_flag
    return kinds.get(str(doc["kind"]), "kind") if doc.get("kind") else None


def _flags_given(kind: Kind, flag_opts: Mapping[str, Any], ignore: frozenset[str] | set[str]) -> dict[Flag, Any]:
    """The kind's flags that were given, with their checked values; a key that is no flag of it is refused."""
    out: dict[Flag, Any] = {}
    for key, value in flag_opts.items():
        if key in ignore or key.startswith("_") or key in ("kind", "type"):
            continue
        flag = kind.flag(key)
        if not _given(value, flag):
            continue
        if flag is None or flag.command_only:
            raise InvalidSpec(_flag_name(key), f"is not a flag of `arena submit {kind.name}`")
        out[flag] = value
    return out


def _copied(value: Any) -> Any:
    """A deep copy of YAML data (mappings, lists, scalars): merging never edits the caller's document."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def merge(file_opts: Mapping[str, Any], flag_opts: Mapping[str, Any],
          ignore: frozenset[str] | set[str] = IGNORED_FLAGS) -> dict[str, Any]:
    """The file document with every explicitly given flag applied on top (flags win).

    `flag_opts` uses the CLI's dest names. A value of None, '', [] or False counts as not given (False does
    count for tri-state flags), so pass only what the user typed for numbers (see `explicit_flags`). Maps
    (-e, -l, -a, --selector) are merged key by key; lists (--data, --toleration, --policy of one scope)
    replace the file's. Each flag edits the document through its declared mapping, role-shaping flags
    first and then in the kind's declared order; a flag given outside the context it needs is refused.
    """
    doc: dict[str, Any] = _copied(dict(file_opts))
    tasks_key = "roles" if "roles" in doc else "tasks"
    if tasks_key == "roles":
        if "tasks" in doc:
            raise InvalidSpec("roles", "give either roles: or tasks:, not both")
        doc["tasks"] = doc.pop("roles")
    kind = _kind_of(doc, flag_opts)
    if kind is None:
        if any(_given(v, None) for k, v in flag_opts.items() if k not in ignore and not k.startswith("_")):
            raise InvalidSpec("kind", f"is required; one of {', '.join(kinds.names())}")
    else:
        given = _flags_given(kind, flag_opts, ignore)
        draft = Draft(doc, {flag.dest: value for flag, value in given.items()}, kind)
        order = {flag: i for i, flag in enumerate(kind.flags)}
        for flag in sorted(given, key=lambda f: (f.phase, order[f])):
            for need in flag.needs:
                if not need.holds(draft):
                    raise InvalidSpec(flag.name, need.rule)
            assert flag.to is not None  # command flags were refused above
            flag.to.apply(draft, flag.value(given[flag]))
        draft.finish()
    if tasks_key == "roles":
        doc["roles"] = doc.pop("tasks")  # later errors keep naming what the user wrote
    return doc


def from_options(kind: Kind, opts: Mapping[str, Any], namespace: str | None = None,
                 document: Mapping[str, Any] | None = None) -> JobSpec:
    """The JobSpec from flag values, over a job file's document or, without one, the kind's default roles.

    Errors the document's validation raises at a path that a given flag wrote name that flag; built from
    flags alone, they name the flag that writes the path (`--partition-size`), so the user reads what
    they typed either way."""
    flags_only = document is None
    base = kind.base_document(opts) if flags_only else dict(document)  # type: ignore[arg-type]
    doc = merge(base, {"kind": kind.name, **opts})
    if namespace and not doc.get("namespace"):
        doc["namespace"] = namespace
    if flags_only and kind.needs_command:
        command_text(doc.get("command"))  # "command: a command to run is required (the trailing argument)"
    try:
        return to_spec(doc)
    except InvalidSpec as err:
        given = list(_flags_given(kind, opts, IGNORED_FLAGS))
        raise _named(err, kind, doc, given, flags_only) from None


def _named(err: InvalidSpec, kind: Kind, doc: Mapping[str, Any], given: list[Flag], flags_only: bool) -> InvalidSpec:
    """`err` naming the flag that wrote its path (any of the kind's flags when there is no file)."""
    path = err.field
    if path.startswith("-") or path == "command":
        return err
    m = re.fullmatch(r"(tasks|roles)\[(\d+)\](.*)", path)
    if m:  # name the task by its role: --ps-cpu writes `tasks[ps].resources.cpu`
        tasks = doc.get(m.group(1)) or []
        index = int(m.group(2))
        role = tasks[index].get("name") if index < len(tasks) and isinstance(tasks[index], dict) else None
        path = f"tasks[{role}]{m.group(3)}" if role else f"tasks{m.group(3)}"
    elif path.startswith("roles"):
        path = "tasks" + path[len("roles"):]
    flag = kind_flags.flag_for_path(given, path)
    if flag is None and flags_only:
        flag = kind_flags.flag_for_path(kind.flags, path)
    return InvalidSpec(flag.name, err.rule) if flag is not None else err


# ---------------------------------------------------------------------------------------------------
# Validation and conversion

def _structural(doc: Mapping[str, Any], tasks_key: str) -> JobFile:
    try:
        return msgspec.convert(doc, JobFile, strict=False)
    except msgspec.ValidationError as err:
        raise InvalidSpec(*_msgspec_error(str(err), tasks_key)) from None


def _msgspec_error(text: str, tasks_key: str = "tasks", prefix: str = "") -> tuple[str, str]:
    """msgspec's "<rule> - at `$.a[1].b`" → ("a[1].b", rule), naming missing/unknown fields too."""
    rule, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".")
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
    return [f"{k}={_text(v)}" for k, v in pairs_dict(mapping, field).items()]


def _policies(items: Sequence[FilePolicy | str], field: str, task: str | None) -> list[Policy]:
    if not items:
        return []
    from arena.spec import volcanojob  # lifecycle policies: Volcano's rules

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


def _command(raw: str | list[str] | None, field: str) -> str:
    try:
        return command_text(raw, field)
    except InvalidSpec:
        raise InvalidSpec(field, "is required: give the task a command, or the job a top-level command") from None


def _task(f: FileTask, i: int, kind: Kind, options: KindOptions, job: JobFile, key: str) -> TaskSpec:
    base = f"{key}[{i}]"
    name = check_dns_label(f.name, f"{base}.name")
    if f.replicas < 1:
        raise InvalidSpec(f"{base}.replicas", "must be 1 or more")
    raw_command = f.command if f.command is not None else job.command
    entrypoint = kind.image_entrypoint and bool(f.image) and raw_command is None  # the image's own command
    command = "" if name in kind.commandless_roles or entrypoint else _command(raw_command, f"{base}.command")
    r = f.resources
    cpu = None if r.cpu is None else _text(r.cpu)
    memory = None if r.memory is None else _text(r.memory)
    with at(lambda flag: f"{base}.resources." + flag.removeprefix("--")):
        res = resources(cpu, memory, r.gpus)
    for dev, count in r.devices.items():
        if "/" not in dev or count < 0:
            raise InvalidSpec(f"{base}.resources.devices", f"{dev}: {count} must be vendor/resource: N (N ≥ 0)")
    cpu_limit = None if r.cpu_limit is None else _text(r.cpu_limit)
    memory_limit = None if r.memory_limit is None else _text(r.memory_limit)
    quantity.cpu_milli(cpu_limit, f"{base}.resources.cpu_limit")
    quantity.memory_bytes(memory_limit, f"{base}.resources.memory_limit")
    res = Resources(cpu=res.cpu, memory=res.memory, gpus=res.gpus, devices=dict(r.devices),
                    cpu_limit=cpu_limit or None, memory_limit=memory_limit or None)
    restart = f.restart_policy or kind.default_restart(name, options)
    if restart not in _RESTART_POLICIES:
        raise InvalidSpec(f"{base}.restart_policy", f"{restart!r} must be one of {', '.join(_RESTART_POLICIES)}")
    port = check_port(f.port, f"{base}.port")
    if f.min_available is not None and not 0 <= f.min_available <= f.replicas:
        raise InvalidSpec(f"{base}.min_available", f"must be between 0 and replicas ({f.replicas})")
    if f.max_retry is not None and f.max_retry < -1:
        raise InvalidSpec(f"{base}.max_retry", "must be -1 (unlimited) or more")
    with at(f"{base}.envs"):
        env = parse_env(_pairs(f.envs, f"{base}.envs"), f"{base}.envs")
    with at(f"{base}.node_selector"):
        selector = parse_labels(_pairs(f.node_selector, f"{base}.node_selector"), f"{base}.node_selector")
    return TaskSpec(name=name, replicas=f.replicas, command=command, image=f.image or job.image, resources=res,
                    env=env, restart_policy=restart, port=port, min_available=f.min_available,  # type: ignore[arg-type]
                    max_retry=f.max_retry, policies=_policies(f.policies, f"{base}.policies", name),
                    depends_on=[check_dns_label(d, f"{base}.depends_on") for d in f.depends_on],
                    node_selector=selector)


_TASK_VOLCANO_FIELDS = ("policies", "depends_on", "min_available", "max_retry")


def _check_volcano_only(kind: Kind, job: JobFile, tasks: Sequence[TaskSpec], options: KindOptions, key: str) -> None:
    """Lifecycle policies, dependencies and task gangs exist only on Volcano Jobs: refuse, don't ignore."""
    allowed = kind.volcano_fields(options)
    if job.scheduling.policies and "scheduling.policies" not in allowed:
        raise InvalidSpec("scheduling.policies", f"lifecycle policies need a volcanojob, not a {kind.name}")
    if job.scheduling.max_retry is not None and "scheduling.max_retry" not in allowed:
        raise InvalidSpec("scheduling.max_retry", f"a job-level max_retry needs a volcanojob, not a {kind.name}")
    for i, t in enumerate(tasks):
        for attr in _TASK_VOLCANO_FIELDS:
            if attr not in allowed and getattr(t, attr) not in (None, []):
                raise InvalidSpec(f"{key}[{i}].{attr}", f"needs a volcanojob, not a {kind.name}")


def _options(kind: Kind, raw: Mapping[str, Any]) -> KindOptions:
    cls = kind.options_type
    given = {k: v for k, v in raw.items() if k != "type"}
    try:
        return msgspec.convert(given, cls, strict=False)  # type: ignore[no-any-return]
    except msgspec.ValidationError as err:
        field, rule = _msgspec_error(str(err), prefix="options.")
        choices = get_args(get_type_hints(cls).get(field.removeprefix("options."), object))
        if rule.startswith("Invalid enum value") and choices:
            rule += f"; one of {', '.join(map(str, choices))}"
        raise InvalidSpec(field, rule) from None


def to_spec(doc: Mapping[str, Any]) -> JobSpec:
    """Validate a (merged) job-file document and turn it into a JobSpec."""
    raw = dict(doc)
    key = "tasks"
    if "roles" in raw:
        if "tasks" in raw:
            raise InvalidSpec("roles", "give either roles: or tasks:, not both")
        raw["tasks"], key = raw.pop("roles"), "roles"
    if not raw.get("kind"):
        raise InvalidSpec("kind", f"is required; one of {', '.join(kinds.names())}")
    kind = kinds.get(str(raw["kind"]), "kind")
    job = _structural(raw, key)
    if job.version != 1:
        raise InvalidSpec("version", f"{job.version} is not supported; this Arena reads version 1")

    sync, sched, rp = job.sync, job.scheduling, job.run_policy
    tb = job.tensorboard
    tb_on = tb is True or isinstance(tb, FileTensorboard)
    tb_struct = tb if isinstance(tb, FileTensorboard) else FileTensorboard()
    opts: dict[str, Any] = {
        "name": job.name, "namespace": job.namespace, "image": job.image, "shell": job.shell,
        "image_pull_policy": job.image_pull_policy,
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
        "image_pull_secret": job.image_pull_secrets,
        "config_file": [c if isinstance(c, str) else f"{c.host_path}:{c.mount_path or c.host_path}"
                        for c in job.config_files],
        "host_network": job.host_network, "host_ipc": job.host_ipc, "host_pid": job.host_pid, "rdma": job.rdma,
    }
    with at(kind_flags.path_of):  # the shared checks name flags: name the file's paths instead
        fields = common_fields(opts, kind.name)
        policy = run_policy(rp.backoff_limit, rp.clean_pod_policy or kind.clean_pod_policy,
                            rp.active_deadline_seconds, rp.ttl_seconds_after_finished)
    if fields["sync"] is not None and sync is not None and sync.branch:
        fields["sync"] = msgspec.structs.replace(fields["sync"], branch=sync.branch)

    options = kind.check_options(_options(kind, job.options), lambda attr: f"options.{attr}")
    tasks = [_task(t, i, kind, options, job, key) for i, t in enumerate(job.tasks)]
    _check_volcano_only(kind, job, tasks, options, key)
    tasks, options, workers = kind.shape(tasks, options, job, key)

    total = sum(t.replicas for t in tasks)
    min_available = sched.min_available
    if min_available is not None:
        from arena.spec.volcanojob import check_min_available

        with at("scheduling.min_available"):
            min_available = check_min_available(min_available, total, "scheduling.min_available")
    max_retry = None if sched.max_retry is None else non_negative(sched.max_retry, "scheduling.max_retry")
    scheduling = msgspec.structs.replace(
        fields.pop("scheduling"), min_available=min_available, max_retry=max_retry,
        policies=_policies(sched.policies, "scheduling.policies", None))
    spec = JobSpec(**fields, tasks=tasks, run_policy=policy, scheduling=scheduling, options=options, workers=workers)
    return kind.finish(spec)


def from_file(path: str | os.PathLike[str], flag_opts: Mapping[str, Any] | None = None) -> JobSpec:
    """Load a job file, apply the explicitly given flags, and build the JobSpec."""
    return to_spec(merge(load(path), flag_opts or {}))


# ---------------------------------------------------------------------------------------------------
# A JobSpec back to its document: the daemon's door

def document(spec: JobSpec) -> dict[str, Any]:
    """The job-file document of a JobSpec: the inverse of `to_spec`.

    A JobSpec that arrives from outside (the SDK, or anyone who can write to the daemon's socket) is typed
    but not validated; turned back into its document it goes through exactly the checks a job file and the
    flags get (`check`): one validation, two callers. The spec's fields are the file's (`env` is spelt
    `envs` there, and `workers` is derived from the tasks), so a field added to both needs nothing here."""
    doc: dict[str, Any] = msgspec.to_builtins(spec)
    doc.pop("workers", None)
    if "env" in doc:
        doc["envs"] = doc.pop("env")
    for task in doc.get("tasks", ()):
        if "env" in task:
            task["envs"] = task.pop("env")
    if isinstance(doc.get("options"), dict):
        doc["options"].pop("type", None)
    return doc


def check(spec: JobSpec) -> None:
    """Refuse (InvalidSpec naming the job-file path) a JobSpec that the job file or the flags would refuse."""
    to_spec(document(spec))
