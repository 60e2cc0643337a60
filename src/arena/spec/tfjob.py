"""TFJob values: when a job is standalone, and `build`, the SDK's flags-to-spec entry (the flags and roles
themselves are declared in `arena.kinds.tfjob`)."""
from __future__ import annotations

from typing import Any

from arena.spec.job import JobSpec


def is_standalone(ps: int, workers: int, chief: bool, evaluator: bool) -> bool:
    """One worker and nothing else: upstream disables TF_CONFIG (annotation disable-tf-config)."""
    return ps < 1 and workers == 1 and not chief and not evaluator


def build(**opts: Any) -> JobSpec:
    """A TFJob spec from flag values (the CLI's dest names): the registry's one path from options."""
    from arena.kinds.tfjob import KIND

    return KIND.spec_from_options(opts)
