"""`arena top node` on a cluster: one Node LIST + one active-pod LIST, then pure arithmetic; with `--metric`,
each GPU's figures from Prometheus (`with_gpu_metrics`).

GPU math as upstream (ARENA.md §4.5): total = capacity of nvidia.com/gpu; allocated = GPU
limits of the node's pods that are not finished (the LIST already excludes Succeeded/Failed
pods with a field selector); unhealthy = capacity − allocatable. CPU and memory allocation is
the sum of container requests, as `kubectl describe node` reports it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from arena.engines.kubernetes import pods as podlib
from arena.engines.kubernetes.models import Node, Pod
from arena.errors import InvalidSpec
from arena.spec import quantity
from arena.views import NodeInstance, NodeView

if TYPE_CHECKING:
    from arena.engines.kubernetes.gpumetrics import NodeGpu

ROLE_PREFIX = "node-role.kubernetes.io/"


def _lenient(parse: Callable[[str, str], int], value: object) -> int:
    """A node's quantity as a number; an unparseable one counts as 0 rather than failing `top node`."""
    try:
        return parse(str(value), "quantity")
    except InvalidSpec:
        return 0


def _count(value: object) -> int:
    return _lenient(quantity.count, value)


def _cpu(value: object) -> int:
    return _lenient(quantity.cpu_milli, value)


def _memory(value: object) -> int:
    return _lenient(quantity.memory_bytes, value)


def role(node: Node) -> str:
    labels = node.metadata.labels
    roles = sorted(k[len(ROLE_PREFIX):] for k in labels if k.startswith(ROLE_PREFIX) and k[len(ROLE_PREFIX):])
    if not roles and labels.get("kubernetes.io/role"):
        roles = [labels["kubernetes.io/role"]]
    return ",".join(roles) or "<none>"


def state(node: Node) -> str:
    ready = next((c.status for c in node.status.conditions if c.type == "Ready"), None)
    word = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    return word + (",SchedulingDisabled" if node.spec.unschedulable else "")


def address(node: Node) -> str:
    addrs = node.status.addresses
    internal = next((a.address for a in addrs if a.type == "InternalIP"), None)
    return internal or (addrs[0].address if addrs else "")


def mode(node: Node) -> str:
    cap, alloc = node.status.capacity, node.status.allocatable
    if _count(cap.get("aliyun.com/gpu-mem", 0)) > 0:
        return "share"
    if _count(cap.get("aliyun.com/gpu", 0)) > 0:
        return "topology"
    if 0 < _count(alloc.get(podlib.GPU, 0)) <= 100:
        return "exclusive"
    return "none"


def _requests(pod: Pod) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod.spec.containers:
        req = c.resources.requests or c.resources.limits
        cpu += _cpu(req.get("cpu", 0)) if req else 0
        mem += _memory(req.get("memory", 0)) if req else 0
    return cpu, mem


def usage(nodes: Sequence[Node], active_pods: Iterable[Pod]) -> list[NodeView]:
    """Per-node usage, in the order of `nodes`."""
    by_node: dict[str, list[Pod]] = defaultdict(list)
    for p in active_pods:
        if p.spec.nodeName and not podlib.finished(p):
            by_node[p.spec.nodeName].append(p)
    out = []
    for n in nodes:
        cap, alloc = n.status.capacity, n.status.allocatable
        total = _count(cap.get(podlib.GPU, 0))
        on_node = by_node.get(n.metadata.name, [])
        cpu = mem = 0
        for p in on_node:
            c, m = _requests(p)
            cpu, mem = cpu + c, mem + m
        out.append(NodeView(
            name=n.metadata.name, ip=address(n), role=role(n), status=state(n), mode=mode(n),
            gpu_total=total, gpu_allocated=sum(podlib.gpus(p) for p in on_node),
            gpu_unhealthy=max(total - _count(alloc.get(podlib.GPU, cap.get(podlib.GPU, 0))), 0),
            cpu_milli=_cpu(alloc.get("cpu", cap.get("cpu", 0))), cpu_allocated=cpu,
            memory=_memory(alloc.get("memory", cap.get("memory", 0))), memory_allocated=mem,
            capacity_source="cluster",
            instances=[NodeInstance(p.metadata.namespace, p.metadata.name, podlib.phase_word(p), podlib.gpus(p))
                       for p in on_node],
        ))
    return out


def _index(device: str) -> int | str:
    return int(device) if device.isdigit() else device


def with_gpu_metrics(node: NodeView, devices: Mapping[str, NodeGpu]) -> NodeView:
    """The node with one `gpus` entry per device Prometheus reports (the keys the local engine's NVML entries
    have, plus `pods`). As upstream (`gpuexclusive.go`): a device is allocated when a Running pod of the node that
    requests GPUs is reported on it; an exclusive node with figures counts its GPUs from them, and its unhealthy
    GPUs against that count."""
    if not devices:
        return node
    running = {f"{i.namespace}/{i.name}" for i in node.instances if i.status == "Running" and i.gpus > 0}
    gpus = [{"index": _index(d), "name": "", "allocated": bool(running.intersection(g.pods)),
             "memory_total": g.total, "memory_used": g.used, "utilization": g.duty, "pods": list(g.pods)}
            for d, g in sorted(devices.items(), key=lambda kv: (len(kv[0]), kv[0]))]  # 0, 1, ..., 10
    total, unhealthy = node.gpu_total, node.gpu_unhealthy
    if node.mode == "exclusive":
        allocatable = node.gpu_total - node.gpu_unhealthy
        total, unhealthy = len(gpus), max(len(gpus) - allocatable, 0)
    return msgspec.structs.replace(node, gpus=gpus, gpu_total=total, gpu_unhealthy=unhealthy)
