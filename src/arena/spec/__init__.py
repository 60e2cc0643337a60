"""Pure, engine-neutral job data and the builders that turn user options into it."""
from arena.spec.job import JobSpec, Policy, Resources, Scheduling, TaskSpec

__all__ = ["JobSpec", "Policy", "Resources", "Scheduling", "TaskSpec"]
