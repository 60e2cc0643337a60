"""`arena get -g` and `top job` on a cluster: per-pod GPU figures from Prometheus, when one is configured.

Upstream reads the metrics of its gpu-exporter (`nvidia_gpu_duty_cycle`, `nvidia_gpu_memory_used_bytes`,
`nvidia_gpu_memory_total_bytes`, labelled `namespace_name`, `pod_name`, `minor_number`); clusters with
NVIDIA's DCGM exporter have `DCGM_FI_DEV_GPU_UTIL` and `DCGM_FI_DEV_FB_USED|FREE` (MiB, labelled
`namespace`, `pod`, `gpu`) instead. Both are read, the first that answers wins.

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


GPU_EXPORTER = Exporter("nvidia_gpu_duty_cycle", "nvidia_gpu_memory_used_bytes", "nvidia_gpu_memory_total_bytes",
                        "namespace_name", "pod_name", "minor_number", 1.0)
DCGM = Exporter("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE",
                "namespace", "pod", "gpu", float(2**20))
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
        labels = sample.get("metric") or {}
        try:
            value = float((sample.get("value") or [0, "0"])[1])
        except (TypeError, ValueError, IndexError):
            continue
        out[(labels.get(exporter.pod_label, ""), str(labels.get(exporter.device_label, "")))] = value
    return out


def _expression(metric: str, selector: str) -> str:
    """`metric{selector}`, or each term of a sum with the selector (`a + b` → `a{s} + b{s}`)."""
    return " + ".join(f"{term.strip()}{selector}" for term in metric.split("+"))


def fetch(query: Query, namespace: str, pods: Sequence[str]) -> GpuMetrics:
    """pod -> device -> metric, from the first exporter whose metrics exist for these pods."""
    if not pods:
        return {}
    for exporter in EXPORTERS:
        selector = _selector(exporter, namespace, pods)
        duty = _by_device(exporter, query(_expression(exporter.duty, selector)))
        if not duty:
            continue
        used = _by_device(exporter, query(_expression(exporter.used, selector)))
        total = _by_device(exporter, query(_expression(exporter.total, selector)))
        out: GpuMetrics = {}
        for (pod, device), value in sorted(duty.items()):
            out.setdefault(pod, {})[device] = GpuMetric(
                gpuDutyCycle=value, usedGPUMemory=used.get((pod, device), 0.0) * exporter.memory_unit,
                totalGPUMemory=total.get((pod, device), 0.0) * exporter.memory_unit)
        return out
    return {}
