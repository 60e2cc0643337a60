"""AppWrapper values (the AppWrapper fork, ARENA.md §2.6): the fork's `check()` rules over the options of a
PyTorchJob or a Volcano Job wrapped in an AppWrapper (the flags are declared in `arena.kinds.appwrapperjob`).

- `--inner-type pytorch` (default): Master 1 + Worker (workers - 1); `--workers` counts the master.
- `--inner-type volcano`: one task named `--task-name` with `--replicas` replicas; `--min-available 0`
  means every replica.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from arena.errors import InvalidSpec
from arena.spec import duration
from arena.spec.job import AppWrapperOptions, JobSpec
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
    # A tier without its topology mode, or a partition topology without partitions, would render nothing.
    if o.highest_tier_allowed and not o.network_topology_mode:
        raise InvalidSpec(field("highest_tier_allowed"), f"needs {field('network_topology_mode')}")
    if (o.partition_topology_mode or o.partition_highest_tier) and not o.total_partitions:
        attr = "partition_topology_mode" if o.partition_topology_mode else "partition_highest_tier"
        raise InvalidSpec(field(attr), f"needs {field('total_partitions')} and {field('partition_size')}")
    if o.partition_highest_tier and not o.partition_topology_mode:
        raise InvalidSpec(field("partition_highest_tier"), f"needs {field('partition_topology_mode')}")
    check_nproc(o.nproc_per_node, field("nproc_per_node"))
    check_dns_label(o.task_name, field("task_name"))
    # "" from a flag means unset: store None so the spec stays minimal.
    return msgspec.structs.replace(o, success_ttl=o.success_ttl or None,
                                   network_topology_mode=o.network_topology_mode or None,
                                   partition_topology_mode=o.partition_topology_mode or None,
                                   ring_controller=o.ring_controller or None)


def build(**opts: Any) -> JobSpec:
    """An AppWrapper job spec from flag values (the CLI's dest names): the registry's one path from options."""
    from arena.kinds.appwrapperjob import KIND

    return KIND.spec_from_options(opts)
