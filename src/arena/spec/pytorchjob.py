"""PyTorchJob values: --nproc-per-node's rule, and `build`, the SDK's flags-to-spec entry (the flags and
roles themselves are declared in `arena.kinds.pytorchjob`)."""
from __future__ import annotations

import re
from typing import Any

from arena.errors import InvalidSpec
from arena.spec.job import JobSpec

_NPROC = re.compile(r"^(auto|cpu|gpu|[1-9][0-9]*)$")


def check_nproc(value: str | None, field: str = "--nproc-per-node") -> str | None:
    if value in (None, ""):
        return None
    if not _NPROC.match(str(value)):
        raise InvalidSpec(field, f"{value!r} must be auto, cpu, gpu or a positive integer")
    return str(value)


def build(**opts: Any) -> JobSpec:
    """A PyTorchJob spec from flag values (the CLI's dest names): the registry's one path from options."""
    from arena.kinds.pytorchjob import KIND

    return KIND.spec_from_options(opts)
