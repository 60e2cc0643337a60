"""`arena submit appwrapperjob` (the AppWrapper fork, ARENA.md §2.6): a PyTorchJob or a Volcano Job
wrapped in an AppWrapper, with the AppWrapper's fault-tolerance knobs.

- `--inner-type pytorch` (default): Master 1 + Worker (workers - 1); `--workers` counts the master.
- `--inner-type volcano`: one task named `--task-name` with `--replicas` replicas; `--min-available 0`
  means every replica.

Opts read (argparse dest names): the common ones (see `spec.common.common_fields`) plus `cpu`, `memory`,
`gpus`, `device`, `workers`, `retry`, `clean_task_policy`, `running_timeout`, `ttl_after_finished`,
`nproc_per_node`, `inner_type`, `retry_limit`, `admission_grace_period`, `warmup_grace_period`,
`failure_grace_period`, `retry_pause_period`, `success_ttl`, `min_available`, `scheduler_name`,
`task_name`, `max_retry`, `replicas`, `master_port`, `use_svc_plugin`, `network_topology_mode`,
`highest_tier_allowed`, `total_partitions`, `partition_size`, `partition_topology_mode`,
`partition_highest_tier`, `ring_controller`, `command`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from arena.errors import InvalidSpec
from arena.spec import duration
from arena.spec.common import command_text, common_fields, given_or, non_negative, positive, resources, run_policy
from arena.spec.job import AppWrapperOptions, JobSpec, TaskSpec
from arena.spec.names import check_dns_label
from arena.spec.pytorchjob import check_nproc

INNER_TYPES = ("pytorch", "volcano")
TOPOLOGY_MODES = ("hard", "soft")
DEFAULT_MAX_RETRY = 10000  # the fork's --max-retry default (Volcano task maxRetry)
_DURATIONS = ("admission_grace_period", "warmup_grace_period", "failure_grace_period", "retry_pause_period",
              "success_ttl")


def flag_name(attr: str) -> str:
    """The CLI flag of an AppWrapperOptions field, for error messages."""
    return "--" + attr.replace("_", "-")


def check_options(o: AppWrapperOptions, field: Callable[[str], str] = flag_name) -> AppWrapperOptions:
    """The fork's `check()` rules; `field` names an attribute in errors (a flag, or a job-file path)."""
    if o.inner_type not in INNER_TYPES:
        raise InvalidSpec(field("inner_type"), f"{o.inner_type!r} must be pytorch or volcano")
    if o.retry_limit < 0:
        raise InvalidSpec(field("retry_limit"), "must be 0 or more")
    for attr in _DURATIONS:
        value = getattr(o, attr)
        if value not in (None, ""):
            duration.parse_seconds(value, field(attr))
    if not 1 <= o.master_port <= 65535:
        raise InvalidSpec(field("master_port"), "must be between 1 and 65535")
    for attr in ("network_topology_mode", "partition_topology_mode"):
        mode = getattr(o, attr)
        if mode not in (None, "") and mode not in TOPOLOGY_MODES:
            raise InvalidSpec(field(attr), f"{mode!r} must be hard or soft")
    for attr in ("highest_tier_allowed", "total_partitions", "partition_size", "partition_highest_tier"):
        if getattr(o, attr) < 0:
            raise InvalidSpec(field(attr), "must be 0 or more")
    if (o.total_partitions > 0) != (o.partition_size > 0):
        missing = "partition_size" if o.total_partitions > 0 else "total_partitions"
        raise InvalidSpec(field(missing), f"{flag_name('total_partitions')} and {flag_name('partition_size')} "
                                          "must be given together")
    check_nproc(o.nproc_per_node, field("nproc_per_node"))
    check_dns_label(o.task_name, field("task_name"))
    # "" from a flag means unset: store None so the spec stays minimal.
    return msgspec.structs.replace(o, success_ttl=o.success_ttl or None,
                                   network_topology_mode=o.network_topology_mode or None,
                                   partition_topology_mode=o.partition_topology_mode or None,
                                   ring_controller=o.ring_controller or None)


def _options(opts: dict[str, Any]) -> AppWrapperOptions:
    """Flag values → options, falling back to the fork's defaults for anything not given."""
    given = {attr: opts[attr] for attr in AppWrapperOptions.__struct_fields__ if opts.get(attr) not in (None, "")}
    if opts.get("use_svc_plugin") is not None:
        given["use_svc_plugin"] = bool(opts["use_svc_plugin"])
    inner = given.get("inner_type", "pytorch")
    if inner not in INNER_TYPES:
        raise InvalidSpec("--inner-type", f"{inner!r} must be pytorch or volcano")
    try:
        o = msgspec.convert(given, AppWrapperOptions, strict=False)
    except msgspec.ValidationError as err:
        where = re.search(r"\$\.(\w+)", str(err))
        raise InvalidSpec(flag_name(where.group(1)) if where else "--inner-type", str(err).split(" - at ")[0]) from None
    return check_options(o)


def build(**opts: Any) -> JobSpec:
    """Build an AppWrapper job spec from flag values (the CLI's dest names)."""
    fields = common_fields(opts, "appwrapperjob")
    command = command_text(opts.get("command"))
    options = _options(opts)
    res = resources(opts.get("cpu"), opts.get("memory"), opts.get("gpus") or 0, opts.get("device") or ())
    image = fields["image"]
    sched = fields.pop("scheduling")
    scheduler = opts.get("scheduler_name") or opts.get("scheduler")
    if options.inner_type == "pytorch":
        workers = positive(given_or(opts.get("workers"), 1), "--workers")
        tasks = [TaskSpec(name="master", replicas=1, command=command, image=image, resources=res,
                          restart_policy="Never")]
        if workers > 1:
            tasks.append(TaskSpec(name="worker", replicas=workers - 1, command=command, image=image,
                                  resources=res, restart_policy="OnFailure"))
        sched = msgspec.structs.replace(sched, scheduler_name=scheduler or None)
    else:
        workers = positive(given_or(opts.get("replicas"), 1), "--replicas")
        raw_retry = opts.get("max_retry")
        max_retry = DEFAULT_MAX_RETRY if raw_retry in (None, "") else non_negative(raw_retry, "--max-retry")
        tasks = [TaskSpec(name=options.task_name, replicas=workers, command=command, image=image, resources=res,
                          restart_policy="Never", max_retry=max_retry)]
        min_available = non_negative(opts.get("min_available") or 0, "--min-available")
        if min_available > workers:
            raise InvalidSpec("--min-available", f"{min_available} is more than --replicas {workers}")
        sched = msgspec.structs.replace(sched, min_available=min_available or workers,
                                        scheduler_name=scheduler or "volcano")
    return JobSpec(
        **fields,
        tasks=tasks,
        workers=workers,
        scheduling=sched,
        run_policy=run_policy(opts.get("retry") or 0, opts.get("clean_task_policy") or "Running",
                              opts.get("running_timeout"), opts.get("ttl_after_finished")),
        options=options,
    )
