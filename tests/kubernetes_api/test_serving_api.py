"""`arena serve` on the Kubernetes engine, through the loopback API server: create, list, get, update,
traffic-split (with and without Istio), logs, delete; jobs upstream's Arena made are read like ours."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_apiserver import DEFAULT_CRDS, FakeApiServer
from k8s_objects import pod as make_pod

from arena.engines.kubernetes.api import CRDNotInstalled
from arena.engines.kubernetes.render.owner import bind_owner
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import InvalidSpec
from arena.serving import options
from arena.serving.errors import ServingAmbiguous, ServingExists, ServingNotFound

KSERVE = (*DEFAULT_CRDS, "inferenceservices")
ISTIO = (*KSERVE, "virtualservices")


@pytest.fixture
def cluster(make_server: Callable[..., FakeApiServer]) -> FakeApiServer:
    return make_server(KSERVE)


@pytest.fixture
def serving(cluster: FakeApiServer, make_engine: Callable[..., KubernetesEngine]) -> Any:
    return make_engine(cluster, namespace="default").serving()


def submit(serving: Any, type_: str = "custom", **opts: Any) -> Any:
    base = {"image": "python:3.11", "restful_port": 8080, "port": 9000, "command": "python serve.py"} \
        if type_ == "custom" else {}
    return serving.submit(options.spec_from_options(type_, {**base, **opts}, namespace="default"))


def stored(server: FakeApiServer, plural: str, name: str, group: str | None = None) -> dict[str, Any]:
    return next(o for o in server.objects(plural, group) if o["metadata"]["name"] == name)


def as_controllers_would(server: FakeApiServer, deployment: str, service: str, ip: str, pods: int) -> None:
    """The Deployment controller's status, the Service's ClusterIP and the pods the ReplicaSet made."""
    dep = stored(server, "deployments", deployment)
    dep["status"] = {"replicas": pods, "availableReplicas": pods, "readyReplicas": pods}
    server.add(dep)  # stored again: a new resourceVersion, as a controller's write makes
    svc = stored(server, "services", service)
    svc["spec"]["clusterIP"] = ip
    server.add(svc)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for i in range(pods):
        server.add(make_pod(f"{deployment}-7d9-{i}", kind=labels["app"], index=i, labels=labels,
                            container=dep["spec"]["template"]["spec"]["containers"][0]["name"]))


def test_create_list_get_delete(cluster: FakeApiServer, serving: Any) -> None:
    spec = options.spec_from_options("custom", {"name": "web", "version": "v1", "image": "python:3.11",
                                                "restful_port": 8080, "port": 9000, "replicas": 2, "gpus": 1,
                                                "command": "python serve.py"}, namespace="default")
    plan = serving.plan(spec)
    view = serving.apply(plan)
    assert (view.name, view.version, view.type, view.engine) == ("web", "v1", "Custom", "kubernetes")
    posted = [r.body for r in cluster.requests_to("POST")]
    uid = stored(cluster, "deployments", "web-v1-custom-serving")["metadata"]["uid"]
    assert posted == bind_owner(plan.manifests, uid)  # the POST bodies are the plan (the record owned by the job)
    assert [o["kind"] for o in posted] == ["Deployment", "Service", "ConfigMap"]
    (listed,) = serving.list("default")
    assert (listed.desiredInstances, listed.availableInstances, listed.ip, listed.requestGPUs) == (2, 0, "N/A", 2.0)
    with pytest.raises(ServingExists, match="the job web is already exist, please delete it first"):
        serving.submit(spec)

    as_controllers_would(cluster, "web-v1-custom-serving", "web-v1", "10.96.0.10", pods=2)
    got = serving.get("default", "web")
    assert (got.desiredInstances, got.availableInstances, got.ip, got.ports_text) == \
        (2, 2, "10.96.0.10", "GRPC:9000,RESTFUL:8080")
    assert [(i.status, i.readyContainers, i.totalContainers, i.version) for i in got.instances] == \
        [("Running", 1, 1, "v1")] * 2
    assert got.instances[0].requestGPUs == 0  # the test's pods ask for no GPU
    assert serving.list("default", "tensorflow") == [] and len(serving.list(None)) == 1

    gone = serving.delete("default", "web")
    assert [v.version for v in gone] == ["v1"]
    assert not cluster.objects("deployments") and not cluster.objects("services")
    with pytest.raises(ServingNotFound, match="Not found serving job web"):
        serving.get("default", "web")


def test_versions_need_a_version_to_pick_one(cluster: FakeApiServer, serving: Any) -> None:
    submit(serving, name="web", version="v1")
    submit(serving, name="web", version="v2")
    with pytest.raises(ServingAmbiguous, match="There is 2 jobs have been found") as err:
        serving.get("default", "web")
    assert err.value.exit_code == 2
    assert serving.get("default", "web", "v2").version == "v2"
    assert [v.version for v in serving.delete("default", "web", "v1")] == ["v1"]
    assert [v.version for v in serving.list("default")] == ["v2"]


def upstream_tf_job(server: FakeApiServer) -> None:
    """What upstream's `arena serve tensorflow --name mnist --version 1` leaves in a cluster (its tfserving chart)."""
    labels = {"heritage": "Helm", "release": "mnist-1", "chart": "tensorflow-serving-0.11.0",
              "app": "tensorflow-serving", "servingName": "mnist", "servingType": "tf-serving",
              "servingVersion": "1", "serviceName": "mnist", "arena.kubeflow.org/uid": "abc"}
    server.add({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "mnist-1-tensorflow-serving", "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"release": "mnist-1", "app": "tensorflow-serving"}},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                             "name": "serving", "image": "tensorflow/serving:latest", "command": ["sh", "-c"],
                             "args": ["/usr/bin/tensorflow_model_server --port=8500 --rest_api_port=8501 "
                                      "--model_name=mnist --model_base_path=/models/mnist"],
                             "resources": {"limits": {"cpu": "500m", "nvidia.com/gpu": "1"}}}]}}},
                "status": {"replicas": 1, "availableReplicas": 1}})
    server.add({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "mnist-1-tensorflow-serving", "labels": labels},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.3.4", "selector": {"app": "tensorflow-serving",
                                                                                   "release": "mnist-1"},
                         "ports": [{"name": "grpc-serving", "port": 8500}, {"name": "http-serving", "port": 8501}]}})
    server.add(make_pod("mnist-1-tensorflow-serving-5c-x", kind="tensorflow-serving", labels=labels,
                        container="serving", gpus=1))
    server.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mnist-1-tf-serving"},
                "data": {"app": "service/mnist-1-tensorflow-serving\ndeployment.apps/mnist-1-tensorflow-serving\n"}})


def test_a_job_upstreams_arena_made_is_listed_got_updated_and_deleted(cluster: FakeApiServer, serving: Any) -> None:
    upstream_tf_job(cluster)
    (view,) = serving.list("default")
    assert (view.name, view.type, view.version, view.servingType) == ("mnist", "Tensorflow", "1", "tf-serving")
    assert (view.desiredInstances, view.availableInstances, view.ip, view.ports_text) == \
        (1, 1, "10.96.3.4", "GRPC:8500,RESTFUL:8501")
    assert (view.requestCPUs, view.requestGPUs) == (1.0, 1.0)  # 500m rounds up, as upstream's Quantity.Value()
    assert serving.get("default", "mnist", type="tf").instances[0].requestGPUs == 1.0

    upd = options.update_from_options("tensorflow", {"name": "mnist", "model_path": "/models/mnist2",
                                                     "image": "tensorflow/serving:2.15"}, "default")
    serving.update(upd)
    (put,) = cluster.requests_to("PUT")
    c = put.body["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "tensorflow/serving:2.15" and put.body["spec"]["replicas"] == 1  # no --replicas: kept
    assert c["args"] == ["/usr/bin/tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=mnist "
                         "--model_base_path=/models/mnist2"]

    serving.delete("default", "mnist")
    assert not cluster.objects("deployments") and not cluster.objects("services")
    assert not cluster.objects("configmaps")  # upstream's record of it goes too


def test_update_changes_what_was_given(cluster: FakeApiServer, serving: Any) -> None:
    submit(serving, name="web", version="v1", env=["A=1", "B=2"], replicas=2)
    upd = options.update_from_options("custom", {"name": "web", "image": "python:3.12", "replicas": 3, "env": ["B=3"],
                                                 "command": "python serve.py --v2", "gpus": 1, "label": ["team=x"],
                                                 "toleration": ["gpu=true:NoSchedule"]}, "default")
    view = serving.update(upd)
    assert view.desiredInstances == 3 and view.requestGPUs == 3.0
    body = cluster.requests_to("PUT")[0].body
    pod = body["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert (c["image"], c["command"], c["resources"]["limits"]["nvidia.com/gpu"]) == \
        ("python:3.12", ["sh", "-c", "python serve.py --v2"], 1)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["A"] == "1" and env["B"] == "3" and "NVIDIA_VISIBLE_DEVICES" not in env
    assert body["metadata"]["labels"]["team"] == "x" and body["spec"]["template"]["metadata"]["labels"]["team"] == "x"
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    with pytest.raises(InvalidSpec, match="--label: servingName is Arena's own label"):
        serving.update(options.update_from_options("custom", {"name": "web", "label": ["servingName=x"]}, "default"))
    submit(serving, "tensorflow", name="tfc", version="1", model_name="m", model_path="/m", command="python s.py")
    with pytest.raises(InvalidSpec, match="--model-path: the job runs its own command"):
        serving.update(options.update_from_options("tensorflow", {"name": "tfc", "model_path": "/m2"}, "default"))


def two_versions(cluster: FakeApiServer, serving: Any) -> None:
    for version, ip in (("v1", "10.96.0.1"), ("v2", "10.96.0.2")):
        submit(serving, name="web", version=version, replicas=2)
        as_controllers_would(cluster, f"web-{version}-custom-serving", f"web-{version}", ip, pods=2)


def test_traffic_split_without_istio_scales_versions_to_the_ratio(cluster: FakeApiServer, serving: Any) -> None:
    two_versions(cluster, serving)
    split = options.traffic_from_options({"name": "web", "version_weight": ["v1:75", "v2:25"]}, "default")
    views = serving.traffic_split(split)
    assert [(v.version, v.desiredInstances, v.weight) for v in views] == [("v1", 3, 75), ("v2", 1, 25)]
    assert "no Istio VirtualService is served here" in views[0].message and "v1 3, v2 1" in views[0].message
    shared = stored(cluster, "services", "web")
    assert shared["spec"]["selector"] == {"servingName": "web"}
    assert [(p["name"], p["port"]) for p in shared["spec"]["ports"]] == [("grpc-serving", 9000), ("http-serving", 8080)]
    shared["spec"]["clusterIP"] = "10.96.0.100"
    cluster.add(shared)
    listed = {v.version: (v.weight, v.ip) for v in serving.list("default")}
    assert listed == {"v1": (75, "10.96.0.100"), "v2": (25, "10.96.0.100")}  # the address that follows the split
    assert serving.get("default", "web", "v2").weight == 25
    # all to v2: v1 scales to 0, v2 takes the replicas
    views = serving.traffic_split(options.traffic_from_options({"name": "web", "version_weight": ["v2"]}, "default"))
    assert [(v.version, v.desiredInstances, v.weight) for v in views] == [("v1", 0, 0), ("v2", 4, 100)]
    serving.delete("default", "web", "v1")
    assert [(v.version, v.weight) for v in serving.list("default")] == [("v2", None)]  # a lone version: no split
    assert cluster.objects("services")  # the shared Service stays while a version is left
    serving.delete("default", "web")
    assert not cluster.objects("services")  # the shared Service goes with the last version


def test_traffic_split_with_istio_routes_by_weight(make_server: Callable[..., FakeApiServer],
                                                   make_engine: Callable[..., KubernetesEngine]) -> None:
    cluster = make_server(ISTIO)
    serving = make_engine(cluster, namespace="default").serving()
    two_versions(cluster, serving)
    split = options.traffic_from_options({"name": "web", "version_weight": ["v1:80", "v2:20"]}, "default")
    views = serving.traffic_split(split)
    assert [(v.version, v.desiredInstances, v.weight, v.message) for v in views] == \
        [("v1", 2, 80, ""), ("v2", 2, 20, "")]  # replicas untouched: Istio does the weighting
    vs = stored(cluster, "virtualservices", "web")
    assert_virtual_service(vs)
    assert vs["spec"]["hosts"] == ["web"]
    assert [(r["match"], [(d["destination"]["host"], d["destination"]["port"]["number"], d["weight"])
                          for d in r["route"]]) for r in vs["spec"]["http"]] == [
        ([{"port": 9000}], [("web-v1.default.svc.cluster.local", 9000, 80), ("web-v2.default.svc.cluster.local", 9000, 20)]),
        ([{"port": 8080}], [("web-v1.default.svc.cluster.local", 8080, 80), ("web-v2.default.svc.cluster.local", 8080, 20)])]
    serving.traffic_split(options.traffic_from_options({"name": "web", "version_weight": ["v1:50", "v2:50"]}, "default"))
    assert [r.path for r in cluster.requests_to("PUT", "virtualservices")] == \
        ["/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/web"]
    assert {v.version: v.weight for v in serving.list("default")} == {"v1": 50, "v2": 50}
    # the VirtualService is what `list` believes (upstream's traffic-split writes subsets of one host)
    vs = stored(cluster, "virtualservices", "web")
    vs["spec"]["http"] = [{"route": [{"destination": {"host": "web", "subset": "subset-v1"}, "weight": 10},
                                     {"destination": {"host": "web", "subset": "subset-v2"}, "weight": 90}]}]
    cluster.add(vs)
    assert {v.version: v.weight for v in serving.list("default")} == {"v1": 10, "v2": 90}
    serving.delete("default", "web")
    assert not cluster.objects("virtualservices") and not cluster.objects("services")


def assert_virtual_service(vs: dict[str, Any]) -> None:
    """Istio's VirtualService schema, where it constrains what we write (no Istio CRD is in shared/crds)."""
    assert vs["apiVersion"] == "networking.istio.io/v1beta1" and vs["kind"] == "VirtualService"
    spec = vs["spec"]
    assert set(spec) <= {"hosts", "gateways", "http", "tcp", "tls", "exportTo"}
    assert spec["hosts"] and all(isinstance(h, str) and h for h in spec["hosts"])
    for route in spec["http"]:
        assert set(route) <= {"name", "match", "route", "rewrite", "timeout", "retries"}
        assert all(set(m) <= {"uri", "port", "headers"} and isinstance(m.get("port", 1), int) for m in route["match"])
        assert sum(d["weight"] for d in route["route"]) == 100
        for d in route["route"]:
            assert set(d) <= {"destination", "weight", "headers"} and isinstance(d["weight"], int)
            assert set(d["destination"]) <= {"host", "subset", "port"} and set(d["destination"]["port"]) == {"number"}


def test_traffic_split_refusals(cluster: FakeApiServer, serving: Any) -> None:
    two_versions(cluster, serving)
    with pytest.raises(InvalidSpec, match=r"--version-weight: serving job web has no version v3 \(versions: v1, v2\)") \
            as err:
        serving.traffic_split(options.traffic_from_options({"name": "web", "version_weight": ["v1:50", "v3:50"]},
                                                           "default"))
    assert err.value.exit_code == 2
    with pytest.raises(ServingNotFound, match="Not found serving job ghost"):
        serving.traffic_split(options.traffic_from_options({"name": "ghost", "version_weight": ["v1"]}, "default"))
    assert not cluster.requests_to("PUT") and len(cluster.requests_to("POST")) == 6  # nothing written


def test_kserve_inference_service(cluster: FakeApiServer, serving: Any) -> None:
    view = submit(serving, "kserve", name="sk", model_format="sklearn", storage_uri="gs://models/sk", min_replicas=2)
    assert view.type == "KServe" and view.desiredInstances == 2 and view.availableInstances == 0
    isvc = stored(cluster, "inferenceservices", "sk")
    with pytest.raises(ServingExists):
        submit(serving, "kserve", name="sk", model_format="sklearn")
    isvc["status"] = {"url": "http://sk.default.example.com",
                      "conditions": [{"type": "Ready", "status": "True"}],
                      "components": {"predictor": {"latestCreatedRevision": "sk-predictor-00001",
                                                   "traffic": [{"revisionName": "sk-predictor-00001", "percent": 100,
                                                                "latestRevision": True}]}}}
    cluster.add(isvc)
    got = serving.get("default", "sk")
    assert (got.version, got.ip, got.ports_text, got.availableInstances, got.traffic) == \
        ("00001", "http://sk.default.example.com", "RESTFUL:80", 2, {"00001": 100})
    # KServe's predictor Deployment and pods carry the InferenceService's labels: they count once they exist
    labels = dict(isvc["metadata"]["labels"])
    cluster.add({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "sk-predictor-00001-deployment", "labels": labels},
                 "spec": {"replicas": 2, "template": {"metadata": {"labels": labels},
                                                      "spec": {"containers": [{"name": "kserve-container"}]}}},
                 "status": {"replicas": 2, "availableReplicas": 1}})
    cluster.add(make_pod("sk-predictor-00001-deployment-6f-a", kind="kserve", labels=labels,
                         container="kserve-container"))
    got = serving.get("default", "sk", type="KServe")
    assert (got.desiredInstances, got.availableInstances, [i.name for i in got.instances]) == \
        (2, 1, ["sk-predictor-00001-deployment-6f-a"])

    upd = options.update_from_options("kserve", {"name": "sk", "storage_uri": "gs://models/sk2",
                                                 "canary_traffic_percent": 20, "memory": "2Gi"}, "default")
    serving.update(upd)
    pred = cluster.requests_to("PUT", "inferenceservices")[0].body["spec"]["predictor"]
    assert (pred["canaryTrafficPercent"], pred["model"]["storageUri"], pred["minReplicas"]) == (20, "gs://models/sk2", 2)
    assert pred["model"]["resources"] == {"limits": {"memory": "2Gi"}, "requests": {"memory": "2Gi"}}
    with pytest.raises(InvalidSpec, match="--name: kserve job sk splits its requests between its revisions"):
        serving.traffic_split(options.traffic_from_options({"name": "sk", "version_weight": ["00001"]}, "default"))
    serving.delete("default", "sk")
    assert not cluster.objects("inferenceservices")


def test_kserve_without_kserve_installed(apiserver: FakeApiServer,
                                         make_engine: Callable[..., KubernetesEngine]) -> None:
    serving = make_engine(apiserver, namespace="default").serving()
    with pytest.raises(CRDNotInstalled, match="InferenceService CRD .* is not installed; run 'arena check'"):
        submit(serving, "kserve", name="sk", model_format="sklearn")
    assert serving.list("default") == []  # every other type is still listed
    with pytest.raises(CRDNotInstalled):
        serving.list("default", "kserve")


def test_logs(cluster: FakeApiServer, serving: Any) -> None:
    submit(serving, name="web", version="v1", replicas=2)
    with pytest.raises(Exception, match="not found instances of serving job"):
        serving.logs("default", "web")
    as_controllers_would(cluster, "web-v1-custom-serving", "web-v1", "10.96.0.1", pods=2)
    now = time.time()
    for i in range(2):
        cluster.logs[("default", f"web-v1-custom-serving-7d9-{i}")] = [(now - 10 + j, f"pod{i} line{j}") for j in range(5)]
    with pytest.raises(InvalidSpec, match="There is 2 instances have been found"):
        serving.logs("default", "web")
    with pytest.raises(InvalidSpec, match="invalid instance name nope of serving job web"):
        serving.logs("default", "web", instance="nope")
    lines = list(serving.logs("default", "web", instance="web-v1-custom-serving-7d9-1", tail=2))
    assert lines == ["pod1 line3", "pod1 line4"]
    (req,) = cluster.requests_to("GET", "/log")
    assert req.query["container"] == "custom-serving" and req.query["tailLines"] == "2"
    cluster.follow_lines[("default", "web-v1-custom-serving-7d9-0")] = ["later 1", "later 2"]
    followed = list(serving.logs("default", "web", instance="web-v1-custom-serving-7d9-0", tail=1, follow=True))
    assert followed == ["pod0 line4", "later 1", "later 2"]


def test_attach_execs_in_the_instance_pod(cluster: FakeApiServer, serving: Any,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from arena.engines.kubernetes import exec as pod_exec

    submit(serving, name="web", version="v1", replicas=2)
    with pytest.raises(Exception, match="can not attach the serving job web, because it has no instances"):
        serving.attach("default", "web")
    as_controllers_would(cluster, "web-v1-custom-serving", "web-v1", "10.96.0.1", pods=2)
    calls: list[tuple] = []
    monkeypatch.setattr(pod_exec, "stream", lambda config, ns, pod, container, command, **kw: calls.append(
        (ns, pod, container, command)) or 7)
    with pytest.raises(InvalidSpec, match="There is 2 instances have been found"):
        serving.attach("default", "web")
    for p in cluster.objects("pods"):
        p["status"]["phase"] = "Running"
        cluster.add(p)
    assert serving.attach("default", "web", instance="web-v1-custom-serving-7d9-1") == 7
    assert serving.attach("default", "web", instance="web-v1-custom-serving-7d9-0", container="side",
                          command=["ls"]) == 7
    assert calls == [("default", "web-v1-custom-serving-7d9-1", "custom-serving", ["sh"]),
                     ("default", "web-v1-custom-serving-7d9-0", "side", ["ls"])]
    assert "Hello! Arena attach the container custom-serving of instance web-v1-custom-serving-7d9-1" \
        in capsys.readouterr().err
