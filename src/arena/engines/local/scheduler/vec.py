"""Resource vectors inside one cycle: plain tuples over a fixed list of dimensions.

`Amount` is the readable public type, but adding two of them copies a dict. A cycle with
10,000 pending jobs cannot afford that per job, so every request is turned once into a tuple
over the same dimensions (cpu, memory, GPUs, then the extended resources the node or a
queue names) and compared with C-level `map`s. Unlimited entries are `INF`.
"""
from __future__ import annotations

import math
from operator import add, le, sub
from typing import Iterable

from arena.engines.local.scheduler.snapshot import Amount
from arena.spec.quantity import format_cpu, format_memory

Vec = tuple[float, ...]
INF = math.inf
GPU = "nvidia.com/gpu"
CPU, MEM, GPU_DIM = 0, 1, 2


class Dims:
    """The dimensions of one cycle and the conversions between `Amount` and `Vec`."""

    def __init__(self, extended: Iterable[str]) -> None:
        self.ext: tuple[str, ...] = tuple(sorted(set(extended)))
        self.names: tuple[str, ...] = ("cpu", "memory", GPU, *self.ext)
        self.zero: Vec = (0,) * len(self.names)
        # The order a shortfall is reported in: the scarce devices first, then cpu, memory.
        self.report_order: tuple[int, ...] = (GPU_DIM, *range(3, len(self.names)), CPU, MEM)

    def vec(self, a: Amount) -> Vec | None:
        """`a` as a tuple; None when it asks for an extended resource no one declares."""
        if not a.extended:
            return (a.cpu_milli, a.memory, a.gpus) + self.zero[3:]
        if any(v > 0 and k not in self.ext for k, v in a.extended.items()):
            return None
        get = a.extended.get
        return (a.cpu_milli, a.memory, a.gpus, *(get(k, 0) for k in self.ext))

    def limit(self, a: Amount | None) -> Vec:
        """A queue capability as a tuple: None, zero cpu/memory/GPU entries, absent extended → INF."""
        if a is None:
            return (INF,) * len(self.names)
        base = (a.cpu_milli or INF, a.memory or INF, a.gpus or INF)
        return base + tuple(a.extended.get(k, INF) for k in self.ext)

    def amount(self, v: Vec) -> Amount:
        """Back to an `Amount` (floats rounded down; INF never reaches here)."""
        ext = {k: int(x) for k, x in zip(self.ext, v[3:]) if x}
        return Amount(int(v[0]), int(v[1]), int(v[2]), ext)

    def unknown(self, a: Amount) -> str:
        """The first requested extended resource no one declares (for a reason)."""
        return next(k for k, v in a.extended.items() if v > 0 and k not in self.ext)

    def fmt(self, dim: int, value: float) -> str:
        """A quantity as a user writes it: 500m / 4 cpu, 16Gi memory, plain counts."""
        if value == INF:
            return "unlimited"
        value = int(value)
        if dim == CPU:
            return format_cpu(value)
        if dim == MEM:
            return format_memory(value)
        return str(value)


def vadd(a: Vec, b: Vec) -> Vec:
    return tuple(map(add, a, b))


def vsub(a: Vec, b: Vec) -> Vec:
    return tuple(map(sub, a, b))


def vmin(a: Vec, b: Vec) -> Vec:
    return tuple(map(min, a, b))


def pos(a: Vec) -> Vec:
    """Negative entries clamped to 0 (what is still missing, never a surplus)."""
    return tuple(x if x > 0 else 0 for x in a)


def fits(need: Vec, room: Vec) -> bool:
    return all(map(le, need, room))


def first_short(need: Vec, room: Vec, order: tuple[int, ...]) -> int:
    """The dimension reported as the binding constraint (-1 when everything fits)."""
    for d in order:
        if need[d] > room[d]:
            return d
    return -1
