"""`arena submit pytorchjob`: 1 Master + (workers − 1) Workers, as upstream counts them."""
from __future__ import annotations

import re
from typing import Any

from arena.errors import InvalidSpec
from arena.spec.common import check_port, command_text, common_fields, positive, resources, run_policy
from arena.spec.job import JobSpec, PyTorchOptions, TaskSpec

_NPROC = re.compile(r"^(auto|cpu|gpu|[1-9][0-9]*)$")


def check_nproc(value: str | None, field: str = "--nproc-per-node") -> str | None:
    if value in (None, ""):
        return None
    if not _NPROC.match(str(value)):
        raise InvalidSpec(field, f"{value!r} must be auto, cpu, gpu or a positive integer")
    return str(value)


def build(**opts: Any) -> JobSpec:
    """Build a PyTorchJob spec from flag values (the CLI's dest names)."""
    fields = common_fields(opts, "pytorchjob")
    workers = positive(1 if opts.get("workers") is None else opts["workers"], "--workers")
    command = command_text(opts.get("command"))
    res = resources(opts.get("cpu"), opts.get("memory"), opts.get("gpus") or 0, opts.get("device") or ())
    master_port = check_port(opts.get("master_port"), "--master-port")
    tasks = [TaskSpec(name="master", replicas=1, command=command, image=fields["image"], resources=res,
                      restart_policy="Never", port=master_port)]
    if workers > 1:
        tasks.append(TaskSpec(name="worker", replicas=workers - 1, command=command, image=fields["image"],
                              resources=res, restart_policy="OnFailure"))
    return JobSpec(
        **fields,
        tasks=tasks,
        workers=workers,
        run_policy=run_policy(opts.get("retry") or 0, opts.get("clean_task_policy") or "Running",
                              opts.get("running_timeout"), opts.get("ttl_after_finished")),
        options=PyTorchOptions(nproc_per_node=check_nproc(opts.get("nproc_per_node")), master_port=master_port),
    )
