"""Planning a serving version on this machine: (spec, inputs, generation) -> `ServingPlan`, a pure function.

A serving version runs as one job of the local store per *generation*: the first at submit, a new one at
each `arena serve update` (rolled out: the new generation's replicas are ready before the old
generation's go). The generation's job is an ordinary `JobSpec` of the serving type's kind
(`arena.serving.kind`), planned by the local engine's own planner, so its replicas get the same env
layering, GPU and port placeholders and job directory as any replica.

The plan is what `--dry-run` prints and what the daemon applies; the daemon plans again from the spec and
inputs and refuses a plan that differs. The inputs — the submitting shell's allow-listed environment, its
directory, where the type's server is installed — are gathered once in the submitting process
(`gather`), so planning itself runs and reads nothing.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from arena.engines.local import planner
from arena.engines.local.plan import Inputs, LocalPlan
from arena.serving import types
from arena.serving.kind import TASK
from arena.serving.spec import Probe, ServingSpec
from arena.serving.types import Tools
from arena.spec.job import JobSpec, RunPolicy, Scheduling, TaskSpec

LAUNCHER = str(Path(__file__).resolve().parents[3] / "serving" / "launch.py")
GENERATION = "arena.serving/generation"  # label of a generation's job


class ServingInputs(msgspec.Struct, frozen=True, omit_defaults=True):
    base_env: dict[str, str] = {}
    cwd: str = ""
    tools: Tools = Tools()


class ServingPlan(msgspec.Struct, frozen=True):
    spec: ServingSpec
    inputs: ServingInputs
    generation: int
    probe: Probe
    extra_ports: list[str]
    job: LocalPlan

    def document(self) -> dict[str, Any]:
        """What `--dry-run` prints: the serving spec, its readiness probe, then the generation's job plan."""
        t = types.get(self.spec.type)
        return {"engine": "local", "serving": msgspec.to_builtins(self.spec), "generation": self.generation,
                "address": "a loopback address of its own, kept for the name (assigned at submit)",
                "endpoints": [{"name": n, "port": p} for n, p in t.endpoints(self.spec)],
                "readiness": {"action": self.probe.action, "port": self.probe.port,
                              **({"path": self.probe.path} if self.probe.path else {})},
                "replica_ports": ["PORT (REST, bound by the scheduler)",
                                  *[f"{p} (picked at each start by the launcher)" for p in self.extra_ports]],
                "job": self.job.document()}

    def text(self, fmt: str) -> str:
        from arena.engines.local.plan import document_text

        return document_text(self.document(), fmt)


def job_name(name: str, version: str, generation: int) -> str:
    """A generation's job name in the store: never a valid training job name (those have no '.'), so the two
    cannot collide."""
    return f"{name}.{version}.{generation}"


def parse_job_name(job: str) -> tuple[str, str, int] | None:
    name, _, rest = job.partition(".")
    version, _, gen = rest.rpartition(".")
    return (name, version, int(gen)) if name and version and gen.isdigit() else None


def job_spec(spec: ServingSpec, inputs: ServingInputs, generation: int) -> JobSpec:
    """The generation's job: one task `replica` of `spec.replicas`, running the command (or the type's
    server) through the launcher when the replica needs extra ports."""
    t = types.get(spec.type)
    command = spec.command or t.local_server(spec, inputs.tools)
    extra = t.extra_ports(spec)
    if extra:
        argv = [inputs.tools.python or "python3", "-I", "-S", LAUNCHER]
        for name in extra:
            argv += ["--port", name]
        argv += ["--", spec.shell, "-c", command]
        command = "exec " + shlex.join(argv)
    labels = {**spec.labels, "servingName": spec.name, "servingVersion": spec.version, "servingType": t.label,
              GENERATION: str(generation)}
    if spec.model_name:
        labels["modelName"] = spec.model_name
    if spec.model_version:
        labels["modelVersion"] = spec.model_version
    task = TaskSpec(name=TASK, replicas=spec.replicas, command=command, resources=spec.resources,
                    restart_policy="Always")
    return JobSpec(kind=t.label, name=job_name(spec.name, spec.version, generation), namespace=spec.namespace,
                   shell="sh", working_dir=spec.working_dir, labels=labels, annotations=dict(spec.annotations),
                   env=dict(spec.env), tasks=[task], run_policy=RunPolicy(),
                   scheduling=Scheduling(min_available=1), data=list(spec.data), data_dirs=list(spec.data_dirs))


def plan(spec: ServingSpec, inputs: ServingInputs, generation: int = 1) -> ServingPlan:
    t = types.get(spec.type)
    local = planner.plan(job_spec(spec, inputs, generation), Inputs(base_env=dict(inputs.base_env), cwd=inputs.cwd))
    return ServingPlan(spec=spec, inputs=inputs, generation=generation, probe=t.readiness(spec),
                       extra_ports=list(t.extra_ports(spec)), job=local)


def gather(spec: ServingSpec, environ: Mapping[str, str], cwd: str) -> ServingInputs:
    """The planner's inputs, read in the submitting process (the only place this machine is looked at)."""
    import sys

    from arena.engines.local.probe import capture_base_env

    base_env = capture_base_env(environ)
    tools = types.get(spec.type).find_tools(spec, base_env.get("PATH"), sys.executable)
    return ServingInputs(base_env=base_env, cwd=cwd, tools=tools)


def check_local(spec: ServingSpec) -> None:
    """What the local engine cannot do with a spec, refused in one line before anything is created.
    (Placement and pulling — --selector, --toleration, --image-pull-secret — mean something on a cluster
    only; they are kept in the spec, as --dry-run shows.)"""
    from arena.errors import Unsupported

    opts = msgspec.to_builtins(spec.options) if spec.options is not None else {}
    for key in ("max_replicas", "scale_target", "scale_metric", "container_concurrency", "timeout"):
        if opts.get(key):
            raise Unsupported("local", f"--{key.replace('_', '-')} (autoscaling and request limits need a cluster; "
                                       "the local engine runs --min-replicas replicas)")


_JOB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\.[1-9][0-9]*$")


def check_job(spec: JobSpec) -> None:
    """The daemon's check of a generation's job (in place of the job-file rules a training job passes): the
    shape `job_spec` gives it, so that nothing else can be submitted under a serving kind."""
    from arena.errors import InvalidSpec

    if not _JOB_NAME.match(spec.name) or len(spec.name) > 200:
        raise InvalidSpec("name", f"{spec.name!r} is not a serving generation's name (<name>.<version>.<n>)")
    parsed = parse_job_name(spec.name)
    t = types.by_label(spec.kind)
    if parsed is None or spec.labels.get("servingName") != parsed[0] or \
            spec.labels.get("servingVersion") != parsed[1] or spec.labels.get("servingType") != t.label:
        raise InvalidSpec("labels", "servingName, servingVersion and servingType must name the generation's job")
    if [x.name for x in spec.tasks] != [TASK] or spec.tasks[0].replicas < 1:
        raise InvalidSpec("tasks", f"a serving generation has one task {TASK!r} of at least one replica")
    if spec.sync is not None or spec.tensorboard is not None:
        raise InvalidSpec("spec", "a serving generation syncs no code and runs no TensorBoard")
