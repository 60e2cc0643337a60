"""The store's records as typed values: what `repo.Repo` returns instead of raw SQLite rows.

Built positionally from the repository's fixed column lists (`JOB_COLUMNS`, `REPLICA_COLUMNS`), so a
thousand rows convert in a few milliseconds (`arena list` reads them all).
"""
from __future__ import annotations

import json
from typing import Any

import msgspec


class JobRow(msgspec.Struct):
    uid: str
    namespace: str
    name: str
    kind: str
    spec: str  # JobSpec JSON (decoded once per uid by `catalog.Catalog`; the plan is read apart, when needed)
    status: str
    phase: str
    queue: str
    priority: int
    priority_class: str | None
    created: float
    started: float | None
    finished: float | None
    reason: str
    waiting: str | None  # the scheduler's structured reason (JSON) while the job waits
    position: int
    admitted: bool
    restarts: int
    retries: int
    requested_gpus: int
    hold_until: float | None
    deadline_s: float | None
    deployed: float | None
    tb_pid: int | None
    tb_ctime: float | None
    tb_port: int | None
    ttl_s: float | None
    job_dir: str


JOB_COLUMNS = ", ".join(JobRow.__struct_fields__)
_ADMITTED = JobRow.__struct_fields__.index("admitted")


class ReplicaRow(msgspec.Struct):
    job_uid: str
    key: str
    task: str
    idx: int
    state: str  # Pending | Starting | Running | Succeeded | Failed | Terminating | Terminated
    bound: bool
    gpus: list[int]
    port: int
    pid: int | None
    pid_ctime: float | None
    exit_code: int | None
    restarts: int
    started: float | None
    finished: float | None
    kill_at: float | None
    reason: str
    restart_at: float | None = None  # CrashLoopBackOff: when its next in-place restart is due
    backoff: float = 0.0  # its current restart back-off in seconds (0: none yet), as the kubelet keeps it
    cpus: list[int] = []  # the cores it is pinned to (it requests CPUs), chosen when it is bound


REPLICA_COLUMNS = ", ".join(ReplicaRow.__struct_fields__)
_CPUS = ReplicaRow.__struct_fields__.index("cpus")


class QueueRow(msgspec.Struct):
    name: str
    weight: int
    capability: dict[str, str]
    guarantee: dict[str, str]
    reclaimable: bool
    state: str  # Open | Closing | Closed
    created: float


class VolumeRow(msgspec.Struct):
    name: str
    path: str
    description: str
    created: float


class LiveReplica(msgspec.Struct):
    """A replica the loop must watch (Starting/Running/Terminating), with what it needs of its job."""

    replica: ReplicaRow
    job_dir: str
    job_finished: float | None


def job(row: Any) -> JobRow:
    values = list(row)
    values[_ADMITTED] = bool(values[_ADMITTED])
    return JobRow(*values)


def replica(row: Any) -> ReplicaRow:
    values = list(row)
    values[5] = bool(values[5])
    values[6] = _ints(values[6])
    values[_CPUS] = _ints(values[_CPUS])
    return ReplicaRow(*values)


def _ints(text: str | None) -> list[int]:
    """A stored list of GPU or core indices; most are empty, read without the JSON decoder."""
    return json.loads(text) if text and text != "[]" else []


def queue(row: Any) -> QueueRow:
    return QueueRow(row["name"], row["weight"], _dict(row["capability"]), _dict(row["guarantee"]),
                    bool(row["reclaimable"]), row["state"], row["created"])


def volume(row: Any) -> VolumeRow:
    return VolumeRow(row["name"], row["path"], row["description"], row["created"])


def _dict(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}
