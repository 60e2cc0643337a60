"""`arena submit mpijob`: one launcher that runs `mpirun`, plus N workers that host the MPI ranks.

The launcher runs the user's command; workers only host ranks started by that mpirun, so their command
is empty (the Kubernetes renderer gives them the operator's idle command, the local engine keeps them as
slot holders). Slots per worker default to the worker's GPUs (one rank per GPU), else 1.

Opts read (argparse dest names): the common ones (see `spec.common.common_fields`) plus `workers`,
`slots_per_worker`, `cpu`, `memory`, `gpus`, `device`, `mpi_implementation` (auto|openmpi|mpich),
`mpi_api_version` (v1|v2beta1), `retry`, `clean_task_policy` (default All, as upstream),
`running_timeout`, `ttl_after_finished`, `command`.
"""
from __future__ import annotations

from typing import Any

from arena.errors import InvalidSpec
from arena.spec.common import command_text, common_fields, given_or, positive, resources, run_policy
from arena.spec.job import JobSpec, MPIOptions, Resources, TaskSpec

IMPLEMENTATIONS = ("auto", "openmpi", "mpich")
API_VERSIONS = ("v1", "v2beta1")


def default_slots(worker: Resources) -> int:
    """One rank per GPU when the workers have GPUs, else one rank per worker."""
    return worker.gpus if worker.gpus > 0 else 1


def build(**opts: Any) -> JobSpec:
    """Build an MPIJob spec from flag values (the CLI's dest names)."""
    fields = common_fields(opts, "mpijob")
    command = command_text(opts.get("command"))
    workers = positive(given_or(opts.get("workers"), 1), "--workers")
    res = resources(opts.get("cpu"), opts.get("memory"), opts.get("gpus") or 0, opts.get("device") or ())
    raw_slots = opts.get("slots_per_worker")
    slots = default_slots(res) if raw_slots in (None, "") else positive(raw_slots, "--slots-per-worker")
    impl = opts.get("mpi_implementation") or "auto"
    if impl not in IMPLEMENTATIONS:
        raise InvalidSpec("--mpi-implementation", f"{impl!r} must be one of {', '.join(IMPLEMENTATIONS)}")
    api = opts.get("mpi_api_version") or "v1"
    if api not in API_VERSIONS:
        raise InvalidSpec("--mpi-api-version", f"{api!r} must be one of {', '.join(API_VERSIONS)}")
    image = fields["image"]
    # MPIJob's default restartPolicy is Never for both roles (SEMANTICS.md E.1).
    tasks = [
        TaskSpec(name="launcher", replicas=1, command=command, image=image, restart_policy="Never"),
        TaskSpec(name="worker", replicas=workers, command="", image=image, resources=res, restart_policy="Never"),
    ]
    return JobSpec(
        **fields,
        tasks=tasks,
        workers=workers,
        run_policy=run_policy(opts.get("retry") or 0, opts.get("clean_task_policy") or "All",
                              opts.get("running_timeout"), opts.get("ttl_after_finished")),
        options=MPIOptions(slots_per_worker=slots, api_version=api, implementation=impl),  # type: ignore[arg-type]
    )
