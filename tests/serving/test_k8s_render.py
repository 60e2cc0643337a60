"""`arena serve` on the Kubernetes engine: upstream's charts' objects, validated like the job kinds' manifests."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kubernetes"))

from k8s_validation import load  # noqa: E402

from arena.engines.kubernetes.render.serving import ServingContext, fullname, render  # noqa: E402
from arena.errors import InvalidSpec  # noqa: E402
from arena.serving import options, types  # noqa: E402

CTX = ServingContext(user_id="u123", user_name="alice", created=1700000000)


@pytest.fixture(scope="module")
def validator() -> Any:
    found = load()
    if found is None:
        pytest.skip("the shared manifest validator (../shared/tools/validate_manifests.py) is absent")
    return found


def manifests(type_: str, **opts: Any) -> list[dict]:
    spec = options.spec_from_options(type_, {"namespace": "team", **opts})
    return render(types.get(spec.type), spec, CTX)


def test_custom_is_a_deployment_and_a_service_with_upstreams_labels(validator: Any) -> None:
    objs = manifests("custom", name="web", version="v1", image="python:3.11", port=9000, restful_port=8080,
                     replicas=2, gpus=1, cpu="2", memory="4Gi", env=["A=1"], label=["team=x"],
                     annotation=["note=y"], selector=["pool=gpu"], toleration=["gpu=true:NoSchedule"],
                     image_pull_secret=["regcred"], data=["models:/models"], data_dir=["/host/data:/data"],
                     readiness_probe_action="httpGet", readiness_probe_action_option=["path: /healthz"],
                     max_surge="1", max_unavailable="25%", command="python serve.py")
    validator.assert_valid(objs)
    dep, svc, record = objs
    assert dep["kind"] == "Deployment" and dep["metadata"]["name"] == "web-v1-custom-serving"
    labels = dep["metadata"]["labels"]
    assert {k: labels[k] for k in ("servingName", "servingVersion", "servingType", "app", "release", "serviceName")} == \
        {"servingName": "web", "servingVersion": "v1", "servingType": "custom-serving", "app": "custom-serving",
         "release": "web-v1", "serviceName": "web"}
    assert labels["arena.kubeflow.org/uid"] == "u123" and labels["team"] == "x"
    assert dep["metadata"]["annotations"]["helm.sh/created"] == "1700000000"
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"] == ["sh", "-c", "python serve.py"]
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("grpc", 9000), ("restful", 8080)]
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "restful"}}
    assert {e["name"] for e in c["env"]} >= {"A", "ARENA_POD_NAME", "ARENA_NODE_NAME"}
    assert pod["nodeSelector"] == {"pool": "gpu"} and pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    assert svc["metadata"]["name"] == "web-v1" and svc["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("grpc-serving", 9000), ("http-serving", 8080)]
    assert svc["spec"]["selector"] == {"app": "custom-serving", "release": "web-v1"}
    assert dep["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    # upstream's record of the job: its `serve delete` deletes what `app` lists
    assert record["kind"] == "ConfigMap" and record["metadata"]["name"] == "web-v1-custom-serving"
    assert record["data"]["app"] == "deployment.apps/web-v1-custom-serving\nservice/web-v1"
    assert record["metadata"]["ownerReferences"][0]["name"] == "web-v1-custom-serving"


def test_tensorflow_and_triton_run_their_servers(validator: Any) -> None:
    tf = manifests("tensorflow", name="mnist", version="1", model_name="mnist", model_path="/models/mnist")
    validator.assert_valid(tf)
    c = tf[0]["spec"]["template"]["spec"]["containers"][0]
    assert tf[0]["metadata"]["name"] == "mnist-1-tensorflow-serving" and c["image"] == "tensorflow/serving:latest"
    assert c["args"] == ["/usr/bin/tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=mnist "
                         "--model_base_path=/models/mnist"]
    assert tf[0]["metadata"]["labels"]["servingType"] == "tf-serving"
    assert [p["port"] for p in tf[1]["spec"]["ports"]] == [8500, 8501]
    tr = manifests("triton", name="bert", version="2", model_repository="/repo", allow_metrics=True)
    validator.assert_valid(tr)
    c = tr[0]["spec"]["template"]["spec"]["containers"][0]
    assert tr[0]["metadata"]["name"] == "bert-2-tritoninferenceserver"
    assert c["image"] == "nvcr.io/nvidia/tritonserver:24.01-py3" and c["name"] == "tritonserver"
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert "--model-repository=/repo" in c["args"][0] and "--allow-metrics=true" in c["args"][0]
    assert [p["name"] for p in tr[1]["spec"]["ports"]] == ["http-serving", "grpc-serving", "http-metrics"]


def test_kserve_is_an_inference_service(validator: Any) -> None:
    objs = manifests("kserve", name="sk", model_format="sklearn:1", storage_uri="gs://models/sk", min_replicas=1,
                     max_replicas=3, scale_metric="concurrency", scale_target=5, canary_traffic_percent=20,
                     cpu="1", memory="2Gi", env=["A=1"])
    validator.assert_valid(objs)
    isvc, record = objs
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["metadata"]["name"] == "sk"
    assert isvc["metadata"]["labels"]["servingType"] == "kserve" and "servingVersion" not in isvc["metadata"]["labels"]
    assert record["metadata"]["name"] == "sk-kserve" and record["data"]["app"] == "inferenceservice.serving.kserve.io/sk"
    p = isvc["spec"]["predictor"]
    assert (p["minReplicas"], p["maxReplicas"], p["scaleMetric"], p["scaleTarget"], p["canaryTrafficPercent"]) == \
        (1, 3, "concurrency", 5, 20)
    assert p["model"]["modelFormat"] == {"name": "sklearn", "version": "1"} and p["model"]["storageUri"] == "gs://models/sk"
    assert p["model"]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    custom = manifests("kserve", name="cc", image="repo/server:1", command="python s.py", scale_metric="gpu-util")
    validator.assert_valid(custom)
    pred = custom[0]["spec"]["predictor"]
    assert pred["containers"][0]["name"] == "kserve-container" and "scaleMetric" not in pred
    assert custom[0]["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"


def test_names_and_refusals() -> None:
    spec = options.spec_from_options("custom", {"name": "custom-serving", "version": "v1", "restful_port": 1,
                                                "image": "x", "command": "c"})
    assert fullname(types.get("custom"), spec) == "custom-serving-v1"  # helm: the release already has the chart's name
    with pytest.raises(InvalidSpec, match="image must be specified"):
        manifests("custom", name="a", version="v1", restful_port=1, command="c")


def test_traffic_split_objects_validate(validator: Any) -> None:
    """The shared Service validates against the core schema; no Istio CRD is in shared/crds, so the
    VirtualService is checked against the fields Istio's API defines (networking.istio.io/v1beta1)."""
    from arena.engines.kubernetes import traffic

    objs = manifests("custom", name="web", version="v1", image="x", port=9000, restful_port=8080, command="c")
    ports = [p for p in objs[1]["spec"]["ports"]]
    svc = traffic.shared_service("web", "team", "custom-serving", ports, {"v1": 70, "v2": 30})
    validator.assert_valid([svc])
    assert svc["spec"]["selector"] == {"servingName": "web"}
    assert traffic.weights_from_service(svc) == {"v1": 70, "v2": 30}
    v2 = {**objs[1], "metadata": {**objs[1]["metadata"], "name": "web-v2"}}
    vs = traffic.virtual_service("web", "team", ports, {"v1": objs[1], "v2": v2}, {"v1": 70, "v2": 30, "v3": 0})
    assert vs["apiVersion"] == "networking.istio.io/v1beta1" and vs["spec"]["hosts"] == ["web"]
    for route in vs["spec"]["http"]:
        assert set(route) == {"name", "match", "route"} and sum(d["weight"] for d in route["route"]) == 100
        assert all(set(d["destination"]) == {"host", "port"} for d in route["route"])
    assert traffic.weights_from_virtual_service(vs, {"web-v1": "v1", "web-v2": "v2"}) == {"v1": 70, "v2": 30}


@pytest.mark.parametrize(("weights", "current", "expected"), [
    ({"v1": 75, "v2": 25}, {"v1": 2, "v2": 2}, {"v1": 3, "v2": 1}),
    ({"v1": 80, "v2": 20}, {"v1": 1, "v2": 1}, {"v1": 1, "v2": 1}),  # each weighted version keeps one
    ({"v1": 0, "v2": 100}, {"v1": 3, "v2": 1}, {"v1": 0, "v2": 4}),
    ({"a": 34, "b": 33, "c": 33}, {"a": 5, "b": 5, "c": 0}, {"a": 4, "b": 3, "c": 3}),
])
def test_replica_ratios_keep_the_total(weights: dict, current: dict, expected: dict) -> None:
    from arena.engines.kubernetes import traffic

    assert traffic.replicas(weights, current) == expected


def test_update_rewrites_only_the_model_servers_flags_given() -> None:
    from arena.engines.kubernetes import servingupdate

    dep = manifests("triton", name="bert", version="2", model_repository="/repo", load_model=["a", "b"])[0]
    upd = options.update_from_options("triton", {"name": "bert", "model_repository": "/repo2"}, "team")
    args = servingupdate.deployment(dep, upd)["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert args.startswith("tritonserver --http-port=8000 --grpc-port=8001 --allow-metrics=false "
                           "--model-repository=/repo2 --load-model a --load-model b")  # upstream lost --load-model
    assert servingupdate.deployment(dep, upd)["spec"]["replicas"] == 1  # no --replicas: kept (upstream: 0)
    isvc = manifests("kserve", name="cc", image="repo/server:1", command="python s.py")[0]
    with pytest.raises(InvalidSpec, match="--storage-uri: the job runs a custom container"):
        servingupdate.inference_service(isvc, options.update_from_options("kserve", {"name": "cc",
                                                                                     "storage_uri": "s3://m"}, "team"))
    changed = servingupdate.inference_service(isvc, options.update_from_options(
        "kserve", {"name": "cc", "image": "repo/server:2", "canary_traffic_percent": 10}, "team"))
    pred = changed["spec"]["predictor"]
    assert pred["containers"][0]["image"] == "repo/server:2" and pred["canaryTrafficPercent"] == 10
