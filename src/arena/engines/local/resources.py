"""Resource maps as users write them: cpu / memory / nvidia.com/gpu (gpu, gpus) / vendor/name.

Queue capabilities and guarantees, and a declared machine capacity, take the same maps. One
parser serves every reader, so a value the queue commands accept ("2.0", "1k") is one the
scheduler can read back: three hand-written copies had drifted, and a queue stored with
`nvidia.com/gpu: "2.0"` made every scheduling cycle fail.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from arena.errors import InvalidSpec
from arena.spec import quantity

GPU = "nvidia.com/gpu"
GPU_ALIASES = (GPU, "gpu", "gpus")


class Resources(msgspec.Struct, frozen=True):
    """A parsed map; None where the resource was not named (callers pick their own default)."""

    cpu_milli: int | None = None
    memory: int | None = None
    gpus: int | None = None
    extended: dict[str, int] = {}
    text: dict[str, str] = {}  # canonical key → the value as written, kept for display and storage


def parse(values: Mapping[str, Any] | None, field: str, qualify: bool = False) -> Resources:
    """Validate and parse `values`; errors name `field` (followed by the resource when `qualify`)."""
    cpu = memory = gpus = None
    extended: dict[str, int] = {}
    text: dict[str, str] = {}
    for key, value in (values or {}).items():
        raw = str(value)
        canonical = GPU if key in GPU_ALIASES else key
        where = f"{field} {canonical}" if qualify else field
        if key == "cpu":
            cpu = quantity.cpu_milli(raw, where)
        elif key == "memory":
            memory = quantity.memory_bytes(raw, where)
        elif canonical == GPU:
            gpus = quantity.count(raw, where)
        elif "/" in key:
            extended[key] = quantity.count(raw, where)
        else:
            raise InvalidSpec(field, f"unknown resource {key!r} (cpu, memory, nvidia.com/gpu or vendor/name)")
        text[canonical] = raw
    return Resources(cpu, memory, gpus, extended, text)
