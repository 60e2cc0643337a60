"""The local engine's plan: exactly what `apply` starts, as data (`--dry-run` prints it).

A `LocalPlan` holds the resolved spec, the job's files (path relative to the job directory -> text) and
each replica's argv, working directory and environment. Values only known when the scheduler binds the
job appear as placeholders that `apply` substitutes, textually, in every argv item, env value, working
directory and file:

    {{port:<task>-<i>}}   the loopback port allocated to that replica (its rendezvous endpoint)
    {{port:tensorboard}}  TensorBoard's port
    {{gpus:<task>-<i>}}   the GPU indices bound to that replica, comma-separated
    {{cpus:<task>-<i>}}   the cores that replica is pinned to, comma-separated (with a CPU request)
    {{cpus/<n>}}          the daemon's usable CPUs divided by n, at least 1 (threads without a CPU request)
    {{job.uid}}           the job's uid
    {{job.dir}}           the job's directory, $ARENA_HOME/jobs/<namespace>/<name>.<uid>

Nothing else changes between the plan and the started process (`tests/unit/test_local_plan.py`).
"""
from __future__ import annotations

import re
from typing import Any

import msgspec

from arena.spec.job import JobSpec

LOOPBACK = "127.0.0.1"
JOB_UID = "{{job.uid}}"
JOB_DIR = "{{job.dir}}"
TENSORBOARD = "tensorboard"  # the key of TensorBoard's port
_PLACEHOLDER = re.compile(r"\{\{(?:port:[^{}]+|gpus:[^{}]+|cpus:[^{}]+|cpus/\d+|job\.uid|job\.dir)\}\}")
_SHARE = "{{cpus/"


def port(key: str) -> str:
    return "{{port:" + key + "}}"


def gpus(key: str) -> str:
    return "{{gpus:" + key + "}}"


def cpus(key: str) -> str:
    return "{{cpus:" + key + "}}"


def cpu_share(n: int) -> str:
    return _SHARE + str(n) + "}}"


def in_job_dir(relative: str) -> str:
    return f"{JOB_DIR}/{relative}"


class Rendezvous(msgspec.Struct, frozen=True):
    """How this job's replicas find each other here: what a kind's env contract and files are built from."""

    host: str  # every replica's address: the loopback
    endpoints: dict[str, list[str]]  # task -> "host:port" of each replica, in index order
    probes: dict[str, str | None]  # executable -> its `--version` text (Inputs.probes)

    def port(self, key: str) -> str:
        """The port of replica `<task>-<i>` (a number, or its placeholder); "0" when there is no such replica."""
        task, _, index = key.rpartition("-")
        listed = self.endpoints.get(task, [])
        i = int(index) if index.isdigit() else -1
        return listed[i].removeprefix(f"{self.host}:") if 0 <= i < len(listed) else "0"


class Inputs(msgspec.Struct, frozen=True, omit_defaults=True):
    """What planning reads besides the spec, gathered once in the submitting process (`probe.py`).

    The planner itself runs nothing and reads no file: given the same spec and inputs it returns the
    same plan, in the CLI for `--dry-run` and in the daemon when it checks what it was sent.
    """

    base_env: dict[str, str] = {}  # the allow-listed variables of the submitting shell
    cwd: str = ""  # the submitting directory: the working directory when the job names none
    probes: dict[str, str | None] = {}  # executable -> its `--version` text (None: not found)
    tensorboard: list[str] = []  # the command that starts TensorBoard here


class ReplicaPlan(msgspec.Struct, frozen=True):
    name: str  # <job>-<task>-<index>, as the replica is listed
    task: str
    index: int
    argv: list[str]
    cwd: str
    env: dict[str, str]


class ProcessPlan(msgspec.Struct, frozen=True):
    """A helper process of the job (TensorBoard)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    dirs: list[str] = []  # directories it needs (created when it starts)


class LocalPlan(msgspec.Struct, frozen=True):
    spec: JobSpec
    inputs: Inputs
    files: dict[str, str]  # relative to the job directory -> text
    replicas: list[ReplicaPlan]
    tensorboard: ProcessPlan | None = None

    def replica(self, key: str) -> ReplicaPlan:
        task, _, index = key.rpartition("-")
        return next(r for r in self.replicas if r.task == task and str(r.index) == index)

    def document(self) -> dict[str, Any]:
        """What `--dry-run` prints: the resolved spec, then what would be written and started."""
        doc: dict[str, Any] = {
            "engine": "local",
            "spec": msgspec.to_builtins(self.spec),
            "files": dict(self.files),
            "replicas": [msgspec.to_builtins(r) for r in self.replicas],
        }
        if self.tensorboard is not None:
            doc["tensorboard"] = msgspec.to_builtins(self.tensorboard)
        doc["placeholders"] = {
            "{{port:<task>-<i>}}": "a free loopback port, allocated when the job is first bound",
            "{{gpus:<task>-<i>}}": "the GPU indices bound to that replica",
            "{{cpus:<task>-<i>}}": "the cores that replica is pinned to (it requests CPUs)",
            "{{cpus/<n>}}": "the usable CPUs divided by n, at least 1",
            JOB_UID: "the job's uid",
            JOB_DIR: "the job's directory under $ARENA_HOME/jobs",
        }
        return doc

    def text(self, fmt: str) -> str:
        """The document as `-o json` or `-o yaml` (the default) prints it."""
        return document_text(self.document(), fmt)


def document_text(doc: Any, fmt: str) -> str:
    """A plan's document as `--dry-run -o json` or `-o yaml` (the default) prints it; PyYAML only for yaml."""
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(doc), indent=2).decode() + "\n"
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=False)


class Bindings(msgspec.Struct, frozen=True):
    """The bind-time values of one job: placeholder -> value, and the usable CPUs `{{cpus/<n>}}` divides."""

    values: dict[str, str]
    cpu_count: int = 0  # 0: this process's usable CPUs, counted when a share is filled in

    @classmethod
    def of(cls, uid: str, job_dir: str, ports: dict[str, int], gpus_by_key: dict[str, list[int]],
           cpus_by_key: dict[str, list[int]] | None = None) -> Bindings:
        values = {JOB_UID: uid, JOB_DIR: job_dir}
        values.update({port(k): str(p) for k, p in ports.items()})
        values.update({gpus(k): ",".join(map(str, g)) for k, g in gpus_by_key.items()})
        # a replica bound without cores (by a version before pinning) runs unpinned: an empty list
        values.update({cpus(k): ",".join(map(str, c)) for k, c in (cpus_by_key or {}).items()})
        return cls(values)

    def text(self, value: str) -> str:
        if "{{" not in value:
            return value
        return _PLACEHOLDER.sub(self._value, value)

    def _value(self, m: re.Match[str]) -> str:
        found = self.values.get(m.group(0))
        if found is not None:
            return found
        if m.group(0).startswith(_SHARE):
            from arena.engines.local import cpuset

            return str(cpuset.threads_of_share(self.cpu_count or len(cpuset.usable()), int(m.group(0)[len(_SHARE):-2])))
        return m.group(0)

    def replica(self, r: ReplicaPlan) -> ReplicaPlan:
        return ReplicaPlan(r.name, r.task, r.index, [self.text(a) for a in r.argv], self.text(r.cwd),
                           {k: self.text(v) for k, v in r.env.items()})

    def process(self, p: ProcessPlan) -> ProcessPlan:
        return ProcessPlan([self.text(a) for a in p.argv], self.text(p.cwd), {k: self.text(v) for k, v in p.env.items()},
                           [self.text(d) for d in p.dirs])

    def files(self, files: dict[str, str]) -> dict[str, str]:
        return {self.text(path): self.text(text) for path, text in files.items()}


def decode(data: str | bytes) -> LocalPlan:
    return msgspec.json.decode(data, type=LocalPlan)


def encode(plan: LocalPlan) -> bytes:
    return msgspec.json.encode(plan)
