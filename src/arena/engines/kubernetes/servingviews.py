"""Serving objects read from the cluster -> `ServingView`, as upstream's `serve list|get` computes it. Pure.

A Deployment-type job (custom, tensorflow, triton) is one Deployment per version, joined to its Services and
Pods by upstream's labels (namespace, `servingName`, `servingVersion`, `servingType`), so a job upstream's
Arena made reads the same as ours. A kserve job is its InferenceService, joined to the Deployments and Pods
KServe labels with the InferenceService's labels (every revision). SERVING.md §5.1 has the field rules; where
this differs (DESIRED from the Deployment's spec, kserve's port named RESTFUL) docs/serving.md says why.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arena.engines.kubernetes import pods as podlib
from arena.engines.kubernetes.models import Pod, ts
from arena.errors import InvalidSpec
from arena.serving.views import Endpoint, ServingInstance, ServingView
from arena.spec import quantity
from arena.spec.duration import short_human

NAME, VERSION, TYPE = "servingName", "servingVersion", "servingType"
#: Service port names upstream's charts give the endpoints, and the endpoint each becomes.
ENDPOINT_PORTS = {"grpc-serving": "GRPC", "http-serving": "RESTFUL"}
GPU_KEYS = ("nvidia.com/gpu", "aliyun.com/gpu")


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def job_key(obj: Mapping[str, Any], version: bool = True) -> tuple[str, ...]:
    """What joins a job's objects: namespace, name, type (and version, but for kserve)."""
    lab = labels(obj)
    key = (meta(obj).get("namespace", ""), lab.get(NAME, ""), lab.get(TYPE, ""))
    return (*key, lab.get(VERSION, "")) if version else key


def pod_key(pod: Pod, version: bool = True) -> tuple[str, ...]:
    lab = pod.metadata.labels
    key = (pod.metadata.namespace, lab.get(NAME, ""), lab.get(TYPE, ""))
    return (*key, lab.get(VERSION, "")) if version else key


def _created(obj: Mapping[str, Any]) -> int:
    return int(ts(meta(obj).get("creationTimestamp")) or 0)


def _lenient(parse: Any, value: object) -> int:
    try:
        return int(parse(str(value), "quantity"))
    except InvalidSpec:
        return 0


def requests(template_spec: Mapping[str, Any], replicas: int) -> tuple[float, float]:
    """(CPUs, GPUs): replicas x the containers' limits, CPUs rounded up as Quantity.Value() does (500m -> 1)."""
    cpu_milli = gpus = 0
    for c in template_spec.get("containers") or []:
        limits = (c.get("resources") or {}).get("limits") or {}
        if "cpu" in limits:
            cpu_milli += _lenient(quantity.cpu_milli, limits["cpu"])
        gpus += sum(_lenient(quantity.count, limits[k]) for k in GPU_KEYS if k in limits)
    return float(replicas * math.ceil(cpu_milli / 1000)), float(replicas * gpus)


def instance(pod: Pod, now: float) -> ServingInstance:
    """kubectl's STATUS and READY; GPUs only while the pod runs on a node (upstream's rule)."""
    created = ts(pod.metadata.creationTimestamp) or now
    running = pod.status.phase == "Running" and bool(pod.spec.nodeName)
    return ServingInstance(
        name=pod.metadata.name, status=podlib.phase_word(pod), age=short_human(now - created),
        readyContainers=sum(1 for cs in pod.status.containerStatuses if cs.ready),
        totalContainers=len(pod.spec.containers), restartCount=podlib.restarts(pod), nodeIP=pod.status.hostIP,
        nodeName=pod.spec.nodeName, ip=pod.status.podIP, requestGPUs=float(podlib.gpus(pod)) if running else 0.0,
        creationTimestamp=int(created), version=pod.metadata.labels.get(VERSION, ""))


def address(services: Sequence[Mapping[str, Any]]) -> tuple[str, list[Endpoint]]:
    """(ADDRESS, endpoints): a LoadBalancer's ingress IP, else the ClusterIP of the first Service with a serving
    port; the endpoints are those ports (`grpc-serving` -> GRPC, `http-serving` -> RESTFUL), in Service order."""
    ip = ""
    endpoints: list[Endpoint] = []
    for svc in services:
        spec = svc.get("spec") or {}
        ports = [p for p in spec.get("ports") or [] if p.get("name") in ENDPOINT_PORTS]
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        lb_ip = next((i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")), "")
        if spec.get("type") == "LoadBalancer" and lb_ip:
            ip = lb_ip
        elif not ip and ports and spec.get("clusterIP") not in (None, "", "None"):
            ip = spec["clusterIP"]
        if not endpoints and ports:
            endpoints = [Endpoint(ENDPOINT_PORTS[p["name"]], int(p.get("port") or 0), int(p.get("nodePort") or 0))
                         for p in ports]
    return ip or "N/A", endpoints


def deployment_view(t: Any, dep: Mapping[str, Any], services: Sequence[Mapping[str, Any]], pods: Iterable[Pod],
                    now: float, weight: int | None = None) -> ServingView:
    """One version of a custom, tensorflow or triton job."""
    m, lab = meta(dep), labels(dep)
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    cpus, gpus = requests(((spec.get("template") or {}).get("spec") or {}), replicas)
    ip, endpoints = address(services)
    created = _created(dep)
    return ServingView(
        uuid=m.get("uid", ""), name=lab.get(NAME, ""), namespace=m.get("namespace", ""), type=t.alias,
        version=lab.get(VERSION, ""), age=short_human(now - created) if created else "0s",
        desiredInstances=replicas, availableInstances=int(status.get("availableReplicas") or 0),
        endpoints=endpoints, ip=ip, instances=sorted((instance(p, now) for p in pods), key=lambda i: i.name),
        requestCPUs=cpus, requestGPUs=gpus, creationTimestamp=created, engine="kubernetes", servingType=t.label,
        weight=weight, modelName=lab.get("modelName", ""), modelVersion=lab.get("modelVersion", ""))


def revision(name: str | None) -> str:
    """kserve's VERSION: the last five characters of a revision's name (`sk-predictor-00002` -> `00002`)."""
    return (name or "")[-5:]


def _ready(status: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def kserve_view(t: Any, isvc: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]], pods: Iterable[Pod],
                now: float) -> ServingView:
    """A kserve job: DESIRED and AVAILABLE from its predictor's Deployments (every revision), else from the
    InferenceService itself (minReplicas, and all of them once it is Ready); ADDRESS is its URL."""
    m, lab = meta(isvc), labels(isvc)
    status = isvc.get("status") or {}
    predictor_status = ((status.get("components") or {}).get("predictor") or {})
    predictor = ((isvc.get("spec") or {}).get("predictor") or {})
    if deployments:
        desired = sum(int((d.get("status") or {}).get("replicas") or 0) for d in deployments)
        available = sum(int((d.get("status") or {}).get("availableReplicas") or 0) for d in deployments)
        cpus = gpus = 0.0
        for d in deployments:
            c, g = requests((((d.get("spec") or {}).get("template") or {}).get("spec") or {}),
                            int((d.get("spec") or {}).get("replicas") or 0))
            cpus, gpus = cpus + c, gpus + g
    else:
        desired = int(predictor.get("minReplicas", 1) if predictor.get("minReplicas") is not None else 1)
        available = desired if _ready(status) else 0
        containers = predictor.get("containers") or ([predictor["model"]] if predictor.get("model") else [])
        cpus, gpus = requests({"containers": containers}, desired)
    url = str(status.get("url") or "")
    endpoints = [Endpoint("RESTFUL", 443 if url.startswith("https://") else 80)] if url else []
    traffic = {revision(e.get("revisionName")): int(e.get("percent") or 0)
               for e in predictor_status.get("traffic") or [] if e.get("revisionName")}
    created = _created(isvc)
    return ServingView(
        uuid=m.get("uid", ""), name=lab.get(NAME, m.get("name", "")), namespace=m.get("namespace", ""),
        type=t.alias, version=revision(predictor_status.get("latestCreatedRevision")),
        age=short_human(now - created) if created else "0s", desiredInstances=desired, availableInstances=available,
        endpoints=endpoints, ip=url or "N/A", instances=sorted((instance(p, now) for p in pods), key=lambda i: i.name),
        requestCPUs=cpus, requestGPUs=gpus, creationTimestamp=created, engine="kubernetes", servingType=t.label,
        modelName=lab.get("modelName", ""), modelVersion=lab.get("modelVersion", ""), traffic=traffic,
        message="" if _ready(status) or not status else _not_ready(status))


def _not_ready(status: Mapping[str, Any]) -> str:
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") != "True":
            return str(c.get("message") or c.get("reason") or "")
    return ""
