"""This machine's capacity: detected (CPUs, memory, NVIDIA GPUs via NVML) or declared.

Declared capacity (`capacity:` in the config file, or `ARENA_LOCAL_CAPACITY` read when
the daemon starts) partitions a machine or fakes GPUs for tests; declared GPUs get
indices 0..N-1.
"""
from __future__ import annotations

import os
from typing import Any

import msgspec

from arena.engines.local import resources
from arena.errors import InvalidSpec
from arena.spec.keyvalue import parse_csv_pairs


class GPUInfo(msgspec.Struct, frozen=True):
    index: int
    name: str = ""
    memory_total: int = 0  # bytes
    memory_used: int = 0
    utilization: int | None = None  # percent


class Capacity(msgspec.Struct, frozen=True):
    cpu_milli: int
    memory: int
    gpus: tuple[int, ...] = ()
    extended: dict[str, int] = {}
    source: str = "detected"  # detected | declared


def _cpu_count() -> int:
    from arena.engines.local import cpuset

    return len(cpuset.usable())  # the same cores the CPU contract shares out


def nvml_gpus() -> list[GPUInfo]:
    """GPUs as NVML sees them; an empty list when there is no driver or no GPU."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                util = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
            except Exception:
                util = None
            out.append(GPUInfo(index=i, name=name.decode() if isinstance(name, bytes) else str(name),
                               memory_total=int(mem.total), memory_used=int(mem.used), utilization=util))
        return out
    except Exception:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def declared(values: dict[str, Any], field: str) -> Capacity:
    """A capacity from a resource map; cpu and memory not named default to the machine's own."""
    res = resources.parse(values, field, qualify=True)
    cpu, memory = res.cpu_milli, res.memory
    if cpu is None:
        cpu = _cpu_count() * 1000
    if memory is None:
        import psutil

        memory = psutil.virtual_memory().total
    return Capacity(cpu_milli=cpu, memory=memory, gpus=tuple(range(res.gpus or 0)), extended=res.extended,
                    source="declared")


def detect(config: dict[str, Any] | None = None) -> Capacity:
    env = os.environ.get("ARENA_LOCAL_CAPACITY")
    if env:
        return declared(parse_csv_pairs(env, "ARENA_LOCAL_CAPACITY"), "ARENA_LOCAL_CAPACITY")
    if config and config.get("capacity"):
        cap = config["capacity"]
        if not isinstance(cap, dict):
            raise InvalidSpec("config capacity", "must be a mapping like {cpu: 8, memory: 32Gi, nvidia.com/gpu: 4}")
        return declared(cap, "config capacity")
    import psutil

    gpus = nvml_gpus()
    return Capacity(cpu_milli=_cpu_count() * 1000, memory=psutil.virtual_memory().total,
                    gpus=tuple(g.index for g in gpus))
