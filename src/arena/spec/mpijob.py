"""MPIJob values: the default slots per worker, and `build`, the SDK's flags-to-spec entry (the flags and
roles themselves are declared in `arena.kinds.mpijob`).

The launcher runs the user's command; workers only host ranks started by that mpirun, so their command
is empty (the Kubernetes renderer gives them the operator's idle command, the local engine keeps them as
slot holders). Slots per worker default to the worker's GPUs (one rank per GPU), else 1.
"""
from __future__ import annotations

from typing import Any

from arena.spec.job import JobSpec, Resources


def default_slots(worker: Resources) -> int:
    """One rank per GPU when the workers have GPUs, else one rank per worker."""
    return worker.gpus if worker.gpus > 0 else 1


def build(**opts: Any) -> JobSpec:
    """An MPIJob spec from flag values (the CLI's dest names): the registry's one path from options."""
    from arena.kinds.mpijob import KIND

    return KIND.spec_from_options(opts)
