"""Validation of the options every job kind shares (upstream's SubmitArgsBuilder)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from arena.errors import InvalidSpec
from arena.spec import duration, quantity
from arena.spec.job import (ConfigFile, DataDir, DataMount, Resources, RunPolicy, Scheduling, SyncSpec, TaskSpec,
                            Tensorboard)
from arena.spec.keyvalue import parse_annotations, parse_env, parse_labels
from arena.spec.names import check_dns_label, check_dns_subdomain, check_job_name

CLEAN_POD_POLICIES = ("None", "Running", "All")
IMAGE_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@contextmanager
def at(path: str | Callable[[str], str]) -> Iterator[None]:
    """Re-raise InvalidSpec under another field: a fixed one, or one mapped from the field the rule named
    (`--cpu` -> `tasks[0].resources.cpu` when the value came from a job file)."""
    try:
        yield
    except InvalidSpec as err:
        raise InvalidSpec(path(err.field) if callable(path) else path, err.rule) from None


def check_roles(kind: str, tasks: Sequence[TaskSpec], key: str, allowed: Sequence[str],
                single: Sequence[str] = ()) -> None:
    """Tasks named after the kind's roles, each at most once, single-replica roles with one replica."""
    for i, t in enumerate(tasks):
        if t.name not in allowed:
            raise InvalidSpec(f"{key}[{i}].name", f"a {kind} has roles {', '.join(allowed)}, not {t.name!r}")
        if t.name in single and t.replicas != 1:
            raise InvalidSpec(f"{key}[{i}].replicas", f"a {kind} has exactly one {t.name}")
    names = [t.name for t in tasks]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise InvalidSpec(f"{key}[{names.index(dup, names.index(dup) + 1)}].name", f"role {dup} is given twice")


def command_text(command: str | Sequence[str] | None, field: str = "command") -> str:
    """Upstream joins every positional argument with a space."""
    text = command if isinstance(command, str) else " ".join(command or ())
    if not text.strip():
        raise InvalidSpec(field, "a command to run is required (the trailing argument)")
    return text


def resources(cpu: str | None = None, memory: str | None = None, gpus: int | str = 0,
              devices: Iterable[str] = (), prefix: str = "") -> Resources:
    quantity.cpu_milli(cpu, f"--{prefix}cpu")
    quantity.memory_bytes(memory, f"--{prefix}memory")
    n_gpus = quantity.count(gpus if gpus not in (None, "") else 0, f"--{prefix}gpus")
    if n_gpus < 0:
        raise InvalidSpec(f"--{prefix}gpus", "must be 0 or more")
    extra: dict[str, int] = {}
    for item in devices:
        key, sep, value = item.partition("=")
        if not sep or "/" not in key:
            raise InvalidSpec("--device", f"{item!r} must be vendor/resource=N, e.g. amd.com/gpu=1")
        extra[key] = quantity.count(value, "--device")
    return Resources(cpu=cpu or None, memory=memory or None, gpus=n_gpus, devices=extra)


def non_negative(value: int | None, field: str) -> int:
    if value is None:
        return 0
    if int(value) < 0:
        raise InvalidSpec(field, "must be 0 or more")
    return int(value)


def check_port(value: int | str | None, field: str) -> int:
    """0 (the default) lets the engine pick a free port when the replica starts."""
    try:
        port = int(value or 0)
    except (TypeError, ValueError):
        raise InvalidSpec(field, f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise InvalidSpec(field, "must be between 1 and 65535 (0 picks a free port)")
    return port


def run_policy(retry: int = 0, clean_task_policy: str = "Running", running_timeout: str | int | None = None,
               ttl_after_finished: str | int | None = None) -> RunPolicy:
    if clean_task_policy not in CLEAN_POD_POLICIES:
        raise InvalidSpec("--clean-task-policy", f"{clean_task_policy!r} must be one of None, Running, All")
    deadline = _seconds(running_timeout, "--running-timeout")
    ttl = _seconds(ttl_after_finished, "--ttl-after-finished")
    return RunPolicy(clean_pod_policy=clean_task_policy, backoff_limit=non_negative(retry, "--retry"),  # type: ignore[arg-type]
                     active_deadline_seconds=deadline or None, ttl_seconds_after_finished=ttl if ttl_after_finished not in (None, "", 0, "0") else None)


def _seconds(value: str | int | None, field: str) -> int:
    if value in (None, ""):
        return 0
    return int(duration.parse_seconds(str(value), field))


def data_mounts(items: Iterable[str]) -> list[DataMount]:
    mounts: list[DataMount] = []
    seen: set[str] = set()
    for item in items:
        name, sep, path = item.partition(":")
        if not sep or not name or not path:
            raise InvalidSpec("--data", f"{item!r} must be NAME:/mount/path")
        check_dns_label(name, "--data")
        if not path.startswith("/"):
            raise InvalidSpec("--data", f"mount path {path!r} must be absolute")
        if name in seen:
            raise InvalidSpec("--data", f"data volume {name!r} is given twice")
        seen.add(name)
        mounts.append(DataMount(name=name, path=path))
    return mounts


def data_dirs(items: Iterable[str]) -> list[DataDir]:
    out: list[DataDir] = []
    for item in items:
        host, _, mount = item.partition(":")
        if not host.startswith("/"):
            raise InvalidSpec("--data-dir", f"host path {host!r} must be absolute")
        mount = mount or host
        if not mount.startswith("/"):
            raise InvalidSpec("--data-dir", f"mount path {mount!r} must be absolute")
        out.append(DataDir(host_path=host, mount_path=mount))
    return out


def config_files(items: Iterable[str]) -> list[ConfigFile]:
    """`HOST[:CONTAINER]` items (upstream's --config-file): the host path made absolute (`~` expanded), the
    container path the host's when not given; a pair given twice counts once, a container file twice is refused.

    The file is read when the job is planned for a cluster, not here: building a spec never touches the disk."""
    import os

    out: list[ConfigFile] = []
    seen: dict[str, str] = {}
    for item in items:
        host, sep, mount = str(item).partition(":")
        if not host or (sep and not mount) or ":" in mount:
            raise InvalidSpec("--config-file", f"{item!r} must be HOST_FILE[:CONTAINER_FILE]")
        host = os.path.abspath(os.path.expanduser(host))
        mount = mount or host
        if not mount.startswith("/") or mount.endswith("/"):
            raise InvalidSpec("--config-file", f"container file {mount!r} must be an absolute file path")
        if mount in seen:
            if seen[mount] == host:
                continue
            raise InvalidSpec("--config-file", f"container file {mount} is given twice")
        seen[mount] = host
        out.append(ConfigFile(host_path=host, mount_path=mount))
    return out


def project_name(source: str) -> str:
    """The directory git-sync creates (upstream's rule): the source's last path element without `.git`.

    Both engines put the code at `<working-dir>/code/<project>`, so they must derive the same name.
    """
    last = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return last[:-4] if last.endswith(".git") else last


def sync(mode: str | None, source: str | None, image: str | None = None) -> SyncSpec | None:
    if not mode and not source:
        if image:
            raise InvalidSpec("--sync-image", "needs --sync-mode and --sync-source")
        return None
    if not mode:
        raise InvalidSpec("--sync-mode", "is required when --sync-source is set: git or rsync")
    if mode not in ("git", "rsync"):
        raise InvalidSpec("--sync-mode", f"{mode!r} must be git or rsync")
    if not source:
        raise InvalidSpec("--sync-source", "is required when --sync-mode is set")
    return SyncSpec(mode=mode, source=source, image=image or None)  # type: ignore[arg-type]


def common_fields(opts: dict[str, Any], kind: str) -> dict[str, Any]:
    """JobSpec fields shared by every kind, from flag values (dest names as the CLI uses)."""
    name = check_job_name(opts.get("name") or "", "--name")
    namespace = check_dns_label(opts.get("namespace") or "default", "--namespace")
    shell = opts.get("shell") or "sh"
    working_dir = opts.get("working_dir") or ""  # engine default: local cwd, cluster /root
    sched = Scheduling(
        queue=check_dns_label(opts.get("queue") or "default", "--queue"),
        priority=opts.get("priority") or None,
        gang=bool(opts.get("gang")),
        scheduler_name=opts.get("scheduler") or None,
        kueue_queue=opts.get("kueue_queue") or None,
        node_selector=parse_labels(opts.get("selector") or (), "--selector"),
        tolerations=list(opts.get("toleration") or ()),
    )
    tb = None
    if opts.get("tensorboard_ttl"):  # a job file's `tensorboard.ttl`, or the SDK's: the flag's check, for every caller
        duration.parse_seconds(str(opts["tensorboard_ttl"]), "--tensorboard-ttl")
    if opts.get("tensorboard"):
        tb = Tensorboard(logdir=opts.get("logdir") or "/training_logs", image=opts.get("tensorboard_image") or None,
                         ttl=opts.get("tensorboard_ttl") or None)
    share_memory = opts.get("share_memory")
    if share_memory:
        quantity.memory_bytes(share_memory, "--share-memory")
    pull = opts.get("image_pull_policy") or None
    if pull is not None and pull not in IMAGE_PULL_POLICIES:
        raise InvalidSpec("--image-pull-policy", f"{pull!r} must be one of {', '.join(IMAGE_PULL_POLICIES)}")
    secrets = [check_dns_subdomain(str(s), "--image-pull-secret") for s in opts.get("image_pull_secret") or ()]
    return {
        "kind": kind,
        "name": name,
        "namespace": namespace,
        "image": opts.get("image") or "",
        "image_pull_policy": pull,
        "shell": shell,
        "working_dir": working_dir,
        "labels": parse_labels(opts.get("label") or ()),
        "annotations": parse_annotations(opts.get("annotation") or ()),
        "env": parse_env(opts.get("env") or ()),
        "scheduling": sched,
        "sync": sync(opts.get("sync_mode"), opts.get("sync_source"), opts.get("sync_image")),
        "data": data_mounts(opts.get("data") or ()),
        "data_dirs": data_dirs(opts.get("data_dir") or ()),
        "tensorboard": tb,
        "share_memory": share_memory or None,
        "image_pull_secrets": list(dict.fromkeys(secrets)),
        "config_files": config_files(opts.get("config_file") or ()),
        "host_network": bool(opts.get("host_network")),
        "host_ipc": bool(opts.get("host_ipc")),
        "host_pid": bool(opts.get("host_pid")),
        "rdma": bool(opts.get("rdma")),
    }
