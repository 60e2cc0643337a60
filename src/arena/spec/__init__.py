"""Pure, engine-neutral job data and the builders that turn user options into it.

The job types load on first use, so that a command that only needs `spec.duration` (`arena list`'s
DURATION column) does not load them and msgspec with them.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

    from arena.spec.job import JobSpec, Policy, Resources, Scheduling, TaskSpec

__all__ = ["JobSpec", "Policy", "Resources", "Scheduling", "TaskSpec"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from arena.spec import job

        return getattr(job, name)
    raise AttributeError(f"module 'arena.spec' has no attribute {name!r}")
