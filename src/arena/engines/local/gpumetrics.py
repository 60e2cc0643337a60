"""`arena get -g` and `top job` on the local engine: each replica's GPUs, with NVML's live figures.

A replica holds the GPUs the scheduler bound to it (`Instance.gpuIndices`, its CUDA_VISIBLE_DEVICES);
the node view already carries NVML's memory and utilisation per device, so the metrics of a job are a
join of the two. A device without NVML figures (declared capacity, no driver) is left out: the CLI
prints N/A for it, as upstream does without Prometheus.
"""
from __future__ import annotations

from collections.abc import Sequence

from arena.views import GpuMetric, GpuMetrics, JobView, NodeView


def of_job(view: JobView, nodes: Sequence[NodeView]) -> GpuMetrics:
    devices = {g["index"]: g for n in nodes for g in n.gpus}
    out: GpuMetrics = {}
    for inst in view.instances:
        metrics = {}
        for index in inst.gpuIndices:
            g = devices.get(index)
            if g is None or not g.get("memory_total"):
                continue
            metrics[str(index)] = GpuMetric(gpuDutyCycle=float(g.get("utilization") or 0.0),
                                            usedGPUMemory=float(g.get("memory_used") or 0.0),
                                            totalGPUMemory=float(g["memory_total"]))
        if metrics:
            out[inst.name] = metrics
    return out
