"""What one user's request may cost the local daemon (`limits:` in the config file; `config.limits` reads it).

A module of its own so that reading the config (every command does) does not load msgspec.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from arena.config import home
from arena.errors import InvalidSpec

if TYPE_CHECKING:
    from arena.spec.job import JobSpec


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
