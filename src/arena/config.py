"""Where Arena keeps its state and which engine it uses.

`$ARENA_HOME` (default `~/.arena`) holds the YAML config file `config`, the local daemon's
socket and store, and job directories. The engine comes from `--engine`, then
`ARENA_ENGINE`, then `engine:` in the config file, then `local`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from arena.errors import InvalidSpec

if TYPE_CHECKING:
    from arena.spec.job import JobSpec

ENGINES = ("local", "kubernetes")


class Limits(msgspec.Struct, frozen=True):
    """What one user's request may cost the local daemon, set under `limits:` in the config file.

    The daemon is shared by everything its user runs: a job file with a million replicas, or a client that
    opens thousands of connections, would stall it for every other job. The defaults are far above what an
    honest job on one machine needs; each refusal names its key so that a user who does need more can raise it.
    """

    replicas_per_job: int = 1000  # every replica is a process on this machine
    tasks_per_job: int = 100  # roles / Volcano tasks in one job
    jobs_per_namespace: int = 10000  # stored jobs, finished ones included ('arena prune' removes them)
    request_bytes: int = 16 * 2**20  # one API request body (a plan of the largest job fits)
    connections: int = 512  # client connections open at once
    workers: int = 16  # requests served at once (threads); other requests wait their turn
    log_bytes_per_replica: int = 2**30  # a replica's log is rotated past this (the shim keeps the newest part)

    def key(self, name: str, path: Path | None = None) -> str:
        """How a refusal names this limit: the config key and the file it is set in."""
        return f"limits.{name} in {path or home() / 'config'}"

    def check_job(self, spec: JobSpec, path: Path | None = None) -> None:
        """The size of one job: checked by the client before it plans (a plan holds every replica) and by the
        daemon at its door."""
        if len(spec.tasks) > self.tasks_per_job:
            raise InvalidSpec("tasks", f"{len(spec.tasks)} tasks in one job exceed the limit of {self.tasks_per_job} "
                                       f"({self.key('tasks_per_job', path)})")
        if spec.total_replicas > self.replicas_per_job:
            raise InvalidSpec("replicas", f"{spec.total_replicas} replicas in one job exceed the limit of "
                                          f"{self.replicas_per_job} ({self.key('replicas_per_job', path)})")


_SIZES = ("request_bytes", "log_bytes_per_replica")  # may be written as quantities (16Mi, 1Gi)


def limits(cfg: dict[str, Any] | None = None, path: Path | None = None) -> Limits:
    """The `limits:` section over the defaults; a bad value is refused naming its key."""
    raw = (cfg if cfg is not None else load(path)).get("limits") or {}
    where = path or home() / "config"
    if not isinstance(raw, dict):
        raise InvalidSpec(f"limits in {where}", "must be a mapping (limits: {replicas_per_job: 1000, ...})")
    known = set(Limits.__struct_fields__)
    values: dict[str, int] = {}
    for key, value in raw.items():
        if key not in known:
            raise InvalidSpec(f"limits.{key} in {where}", f"is not a limit; one of {', '.join(sorted(known))}")
        field = f"limits.{key} in {where}"
        if key in _SIZES and isinstance(value, str):
            from arena.spec import quantity

            n = quantity.memory_bytes(value, field)
        elif isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            raise InvalidSpec(field, f"{value!r} must be a whole number")
        if n < 1:
            raise InvalidSpec(field, "must be 1 or more")
        values[key] = n
    return Limits(**values)


def home() -> Path:
    return Path(os.environ.get("ARENA_HOME") or Path.home() / ".arena").expanduser()


def load(path: Path | None = None) -> dict[str, Any]:
    """The config file as a dict; a missing file is an empty config."""
    path = path or home() / "config"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise InvalidSpec(str(path), f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidSpec(str(path), "must be a mapping of settings")
    return data


def engine_name(flag: str | None, cfg: dict[str, Any] | None = None) -> str:
    name = flag or os.environ.get("ARENA_ENGINE") or (cfg if cfg is not None else load()).get("engine") or "local"
    if name not in ENGINES:
        raise InvalidSpec("--engine", f"{name!r} must be one of {', '.join(ENGINES)}")
    return name


def namespace(flag: str | None, cfg: dict[str, Any] | None = None) -> str:
    return flag or (cfg if cfg is not None else load()).get("namespace") or "default"
