"""`arena get -g`, `top job` and `top node --metric` on a cluster: per-pod and per-node GPU figures from
Prometheus, when one is configured.

Upstream reads the metrics of its gpu-exporter (`nvidia_gpu_duty_cycle`, `nvidia_gpu_memory_used_bytes`,
`nvidia_gpu_memory_total_bytes`, labelled `node_name`, `namespace_name`, `pod_name`, `minor_number`); clusters
with NVIDIA's DCGM exporter have `DCGM_FI_DEV_GPU_UTIL` and `DCGM_FI_DEV_FB_USED|FREE` (MiB, labelled
`Hostname`, `namespace`, `pod`, `gpu`) instead. Both are read, the first that answers wins.

Where Prometheus is, the Arena config file says (`$ARENA_HOME/config`):

    prometheus_url: http://prometheus.monitoring:9090          # reached directly, or
    prometheus_service: monitoring/prometheus-k8s:9090         # through the API server's service proxy

Without either, there are no metrics and the CLI prints N/A, as upstream does without Prometheus.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from arena.errors import ArenaError, InvalidSpec
from arena.views import GpuMetric, GpuMetrics

TIMEOUT = 5.0


class Exporter(NamedTuple):
    duty: str
    used: str
    total: str
    namespace_label: str
    pod_label: str
    device_label: str
    memory_unit: float  # bytes per unit of the memory metrics
    node_label: str


GPU_EXPORTER = Exporter("nvidia_gpu_duty_cycle", "nvidia_gpu_memory_used_bytes", "nvidia_gpu_memory_total_bytes",
                        "namespace_name", "pod_name", "minor_number", 1.0, "node_name")
DCGM = Exporter("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE",
                "namespace", "pod", "gpu", float(2**20), "Hostname")
EXPORTERS = (GPU_EXPORTER, DCGM)

Query = Callable[[str], list[dict[str, Any]]]  # PromQL -> the `data.result` vector


def query_for(config: dict[str, Any], raw_get: Callable[[str], dict[str, Any] | None]) -> Query | None:
    """How to ask the configured Prometheus, or None when none is configured."""
    url = config.get("prometheus_url")
    service = config.get("prometheus_service")
    if url:
        base = str(url).rstrip("/")

        def direct(promql: str) -> list[dict[str, Any]]:
            from urllib.request import urlopen

            try:
                with urlopen(f"{base}/api/v1/query?{urlencode({'query': promql})}", timeout=TIMEOUT) as resp:
                    return _vector(json.loads(resp.read()))
            except (OSError, ValueError) as exc:
                raise ArenaError(f"Prometheus at {base}: {exc}") from None
        return direct
    if service:
        m = re.fullmatch(r"([a-z0-9-]+)/([a-z0-9-]+)(?::([A-Za-z0-9-]+))?", str(service))
        if m is None:
            raise InvalidSpec("prometheus_service", f"{service!r} is not NAMESPACE/NAME[:PORT]")
        ns, name, port = m.group(1), m.group(2), m.group(3)
        proxy = f"/api/v1/namespaces/{ns}/services/{name}{':' + port if port else ''}/proxy/api/v1/query"

        def proxied(promql: str) -> list[dict[str, Any]]:
            return _vector(raw_get(f"{proxy}?query={quote(promql)}") or {})
        return proxied
    return None


def _vector(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((answer or {}).get("data") or {}).get("result") or [])


def _selector(exporter: Exporter, namespace: str, pods: Sequence[str]) -> str:
    # Pod names are DNS subdomains: "." is their one regex character; PromQL strings escape the backslash.
    names = "|".join(p.replace(".", "\\\\.") for p in pods)
    return f'{{{exporter.namespace_label}="{namespace}",{exporter.pod_label}=~"{names}"}}'


def _by_device(exporter: Exporter, vector: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    out = {}
    for sample in vector:
        labels, value = sample.get("metric") or {}, _value(sample)
        if value is not None:
            out[(labels.get(exporter.pod_label, ""), str(labels.get(exporter.device_label, "")))] = value
    return out


def _value(sample: dict[str, Any]) -> float | None:
    """An instant vector sample's value; None for one Prometheus did not give as a number."""
    try:
        return float((sample.get("value") or [0, "0"])[1])
    except (TypeError, ValueError, IndexError):
        return None


def _expression(metric: str, selector: str) -> str:
    """`metric{selector}`, or each term of a sum with the selector (`a + b` → `a{s} + b{s}`)."""
    return " + ".join(f"{term.strip()}{selector}" for term in metric.split("+"))


def fetch(query: Query, namespace: str, pods: Sequence[str]) -> GpuMetrics:
    """pod -> device -> metric, from the first exporter whose metrics exist for these pods."""
    if not pods:
        return {}
    for exporter in EXPORTERS:
        found = _figures(query, exporter, _selector(exporter, namespace, pods), _by_device)
        if found is None:
            continue
        duty, used, total = found
        out: GpuMetrics = {}
        for (pod, device), value in sorted(duty.items()):
            out.setdefault(pod, {})[device] = GpuMetric(
                gpuDutyCycle=value, usedGPUMemory=used.get((pod, device), 0.0) * exporter.memory_unit,
                totalGPUMemory=total.get((pod, device), 0.0) * exporter.memory_unit)
        return out
    return {}


def _figures(query: Query, exporter: Exporter, selector: str,
             by: Callable[[Exporter, list[dict[str, Any]]], dict[Any, Any]]) -> tuple[dict, dict, dict] | None:
    """Duty cycle, used and total memory under `selector`, keyed by `by`; None when this exporter reports no
    duty cycle there (the next exporter is tried, without asking for the other two)."""
    duty = by(exporter, query(_expression(exporter.duty, selector)))
    if not duty:
        return None
    return (duty, by(exporter, query(_expression(exporter.used, selector))),
            by(exporter, query(_expression(exporter.total, selector))))


class NodeGpu(NamedTuple):
    """One GPU of a node as Prometheus sees it (upstream's `AdvancedGpuMetric`): bytes, percent, and the pods
    (`namespace/name`) its exporter reports on it."""

    duty: float
    used: float
    total: float
    pods: tuple[str, ...]


NodeGpus = dict[str, dict[str, NodeGpu]]  # node name -> device index -> figures


def _node_selector(exporter: Exporter, nodes: Sequence[str]) -> str:
    names = "|".join(n.replace(".", "\\\\.") for n in nodes)  # node names are DNS subdomains, as pod names
    return f'{{{exporter.node_label}=~"{names}"}}'


def _by_node(exporter: Exporter, vector: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, set[str]]]:
    """(node, device) -> (value, pods): an exporter reports a device once per pod on it, with the same value."""
    out: dict[tuple[str, str], tuple[float, set[str]]] = {}
    for sample in vector:
        labels, value = sample.get("metric") or {}, _value(sample)
        if value is None:
            continue
        key = (str(labels.get(exporter.node_label, "")), str(labels.get(exporter.device_label, "")))
        pods = out.get(key, (value, set()))[1]
        ns, pod = labels.get(exporter.namespace_label), labels.get(exporter.pod_label)
        if ns and pod:
            pods.add(f"{ns}/{pod}")
        out[key] = (value, pods)
    return out


def fetch_nodes(query: Query, nodes: Sequence[str]) -> NodeGpus:
    """node -> device -> figures for these nodes, from the first exporter that has them (three queries, whatever
    the number of nodes: upstream's one `node_name=~` query per metric)."""
    if not nodes:
        return {}
    for exporter in EXPORTERS:
        found = _figures(query, exporter, _node_selector(exporter, nodes), _by_node)
        if found is None:
            continue
        duty, used, total = found
        out: NodeGpus = {}
        for (node, device), (value, pods) in sorted(duty.items()):
            seen = pods | used.get((node, device), (0.0, set()))[1]
            out.setdefault(node, {})[device] = NodeGpu(
                duty=value, used=used.get((node, device), (0.0, set()))[0] * exporter.memory_unit,
                total=total.get((node, device), (0.0, set()))[0] * exporter.memory_unit, pods=tuple(sorted(seen)))
        return out
    return {}
