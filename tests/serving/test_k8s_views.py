"""Serving objects as a cluster holds them -> ServingView (pure): upstream's field rules (SERVING.md §5.1)."""
from __future__ import annotations

import msgspec

from arena.engines.kubernetes import servingviews as sv
from arena.engines.kubernetes.models import Pod
from arena.serving import types

NOW = 1_700_000_600.0
CREATED = "2023-11-14T22:13:20Z"  # NOW - 600 s


def service(name: str, type_: str = "ClusterIP", **extra: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"type": type_, "clusterIP": "10.96.0.7", "ports": [
        {"name": "grpc-serving", "port": 9000}, {"name": "http-serving", "port": 8080, "nodePort": 30080},
        {"name": "http-metrics", "port": 9100}]}, **extra}


def test_address_prefers_a_load_balancer_and_lists_serving_ports_only() -> None:
    assert sv.address([service("a")])[0] == "10.96.0.7"
    lb = service("b", "LoadBalancer", status={"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}]}})
    ip, endpoints = sv.address([service("a"), lb])
    assert ip == "34.1.2.3"
    assert [(e.name, e.port, e.nodePort) for e in endpoints] == [("GRPC", 9000, 0), ("RESTFUL", 8080, 30080)]
    assert sv.address([]) == ("N/A", [])


def test_deployment_view_counts_limits_times_replicas_and_reads_pods() -> None:
    dep = {"metadata": {"name": "web-v1-custom-serving", "namespace": "team", "uid": "u1", "creationTimestamp": CREATED,
                        "labels": {"servingName": "web", "servingVersion": "v1", "servingType": "custom-serving",
                                   "modelName": "digits"}},
           "spec": {"replicas": 3, "template": {"spec": {"containers": [
               {"name": "c", "resources": {"limits": {"cpu": "1500m", "nvidia.com/gpu": "1"}}}]}}},
           "status": {"availableReplicas": 2}}
    pod = msgspec.convert({"metadata": {"name": "web-v1-x", "namespace": "team", "creationTimestamp": CREATED,
                                        "labels": {"servingVersion": "v1"}},
                           "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
                           "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.2",
                                      "containerStatuses": [{"name": "c", "ready": False, "restartCount": 4, "state": {
                                          "waiting": {"reason": "CrashLoopBackOff"}}}]}}, Pod)
    v = sv.deployment_view(types.get("custom"), dep, [service("web-v1")], [pod], NOW, weight=30)
    assert (v.name, v.version, v.type, v.desiredInstances, v.availableInstances, v.age) == \
        ("web", "v1", "Custom", 3, 2, "10m")
    assert (v.requestCPUs, v.requestGPUs, v.modelName, v.weight, v.ports_text) == \
        (6.0, 3.0, "digits", 30, "GRPC:9000,RESTFUL:30080->8080")
    (i,) = v.instances
    assert (i.status, i.readyContainers, i.totalContainers, i.restartCount, i.nodeIP, i.ip, i.version) == \
        ("CrashLoopBackOff", 0, 1, 4, "10.0.0.1", "10.1.0.2", "v1")


def test_kserve_view_reads_revisions_and_their_traffic() -> None:
    isvc = {"metadata": {"name": "sk", "namespace": "team", "labels": {"servingName": "sk", "servingType": "kserve"}},
            "spec": {"predictor": {"minReplicas": 2, "model": {"resources": {"limits": {"cpu": "1"}}}}},
            "status": {"url": "https://sk.team.example.com", "conditions": [
                {"type": "Ready", "status": "False", "message": "Revision sk-predictor-00002 failed"}],
                "components": {"predictor": {"latestCreatedRevision": "sk-predictor-00002", "traffic": [
                    {"revisionName": "sk-predictor-00002", "percent": 20, "latestRevision": True},
                    {"revisionName": "sk-predictor-00001", "percent": 80, "tag": "prev"}]}}}}
    v = sv.kserve_view(types.get("kserve"), isvc, [], [], NOW)
    assert (v.version, v.ip, v.ports_text, v.desiredInstances, v.availableInstances) == \
        ("00002", "https://sk.team.example.com", "RESTFUL:443", 2, 0)
    assert v.traffic == {"00002": 20, "00001": 80} and v.requestCPUs == 2.0
    assert v.message == "Revision sk-predictor-00002 failed"
