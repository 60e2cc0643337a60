"""AppWrapper (the fork's appwrapperjob): fault-tolerance annotations, Kueue label, podSets, inner jobs."""
from __future__ import annotations

import re

import msgspec
import pytest
from k8s_specs import appwrapper_pytorch, appwrapper_volcano, env_of, main_container, templates, with_common

from arena.engines.kubernetes.render import OWNER_UID, render, to_yaml
from arena.errors import InvalidSpec
from arena.spec.job import AppWrapperOptions

FT_KEYS = ["retryLimit", "admissionGracePeriodDuration", "warmupGracePeriodDuration",
           "failureGracePeriodDuration", "retryPausePeriodDuration", "successTTLDuration"]
TASK_INDEX = {"fieldRef": {"fieldPath": "metadata.annotations['volcano.sh/task-index']"}}


def resolve(obj: dict, path: str) -> object:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


@pytest.mark.parametrize("make", [appwrapper_pytorch, appwrapper_volcano])
def test_fault_tolerance_annotations_exactly_once(make) -> None:
    spec = make(success_ttl="2h", retry_limit=5)
    # a user annotation with the same key must not produce a second copy either
    spec = msgspec.structs.replace(spec, annotations={"workload.codeflare.dev.appwrapper/retryLimit": "9"})
    manifests = render(spec)
    aw = manifests[0]
    ann = aw["metadata"]["annotations"]
    assert ann["workload.codeflare.dev.appwrapper/retryLimit"] == "5"
    assert ann["workload.codeflare.dev.appwrapper/successTTLDuration"] == "2h"
    text = to_yaml(manifests)
    for key in FT_KEYS:
        assert text.count(f"workload.codeflare.dev.appwrapper/{key}:") == 1, key
    for tpl in templates(aw).values():  # not copied onto pods (the fork's duplication)
        assert not any(k.startswith("workload.codeflare.dev.appwrapper/") for k in tpl["metadata"]["annotations"])


def test_default_annotations_without_success_ttl() -> None:
    ann = render(appwrapper_pytorch())[0]["metadata"]["annotations"]
    ft = {k.split("/", 1)[1]: v for k, v in ann.items() if k.startswith("workload.codeflare.dev.appwrapper/")}
    assert ft == {"retryLimit": "3", "admissionGracePeriodDuration": "1m", "warmupGracePeriodDuration": "5m",
                  "failureGracePeriodDuration": "1m", "retryPausePeriodDuration": "90s"}


def test_kueue_label_only_on_the_appwrapper() -> None:
    aw = render(appwrapper_pytorch(), user_id="u1")[0]
    labels = aw["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "team-a-queue"
    assert labels["workload.codeflare.dev/appwrapper"] == "aw-job"
    assert (labels["app"], labels["release"], labels["createdBy"], labels["arena.kubeflow.org/uid"]) == (
        "appwrapperjob", "aw-job", "AppWrapperJob", "u1")
    inner = aw["spec"]["components"][0]["template"]
    assert "kueue.x-k8s.io/queue-name" not in inner["metadata"]["labels"]
    assert "namespace" not in inner["metadata"]  # the AppWrapper's namespace applies
    for tpl in templates(aw).values():
        assert "kueue.x-k8s.io/queue-name" not in tpl["metadata"]["labels"]
        assert tpl["metadata"]["labels"]["app"] == "appwrapperjob"


@pytest.mark.parametrize("workers,expected", [(3, [("Master", 1), ("Worker", 2)]), (1, [("Master", 1)])])
def test_pytorch_pod_sets(workers: int, expected: list) -> None:
    aw = render(appwrapper_pytorch(workers=workers))[0]
    component = aw["spec"]["components"][0]
    assert component["template"]["kind"] == "PyTorchJob"
    assert [(ps["path"], ps["replicas"]) for ps in component["podSets"]] == [
        (f"template.spec.pytorchReplicaSpecs.{role}.template", n) for role, n in expected]
    for ps in component["podSets"]:
        assert "containers" in resolve(component, ps["path"])["spec"]


def test_pytorch_inner_env_and_scheduler() -> None:
    aw = render(appwrapper_pytorch(workers=2, nproc_per_node="4"))[0]
    inner = aw["spec"]["components"][0]["template"]
    assert "nprocPerNode" not in inner["spec"]  # torchrun's PET_NPROC_PER_NODE only: WORLD_SIZE stays the pods
    master = templates(aw)["Master"]
    assert env_of(master)["PET_NPROC_PER_NODE"] == "4"
    assert "MASTER_ADDR" not in env_of(master)  # the training operator injects it
    assert "schedulerName" not in master["spec"]  # no silent volcano default in pytorch mode
    assert main_container(master)["ports"][0] == {"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}
    assert len(render(appwrapper_pytorch())) == 1  # no extra headless Service in pytorch mode


def test_volcano_inner_job_and_env() -> None:
    aw = render(appwrapper_volcano(replicas=4, nproc_per_node="8", ring_controller="ascend-1980"))[0]
    component = aw["spec"]["components"][0]
    assert component["podSets"] == [{"path": "template.spec.tasks[0].template", "replicas": 4}]
    assert resolve(component, "template.spec.tasks[0].template")["spec"]["containers"]
    inner = component["template"]
    spec = inner["spec"]
    assert (spec["schedulerName"], spec["minAvailable"]) == ("volcano", 4)
    assert spec["plugins"] == {"svc": ["--publish-not-ready-addresses=true"]}
    task = spec["tasks"][0]
    assert (task["name"], task["replicas"], task["maxRetry"]) == ("worker", 4, 10000)
    tpl = task["template"]
    assert "subdomain" not in tpl["spec"]
    assert tpl["metadata"]["labels"]["ring-controller.volcano"] == "ascend-1980"
    assert inner["metadata"]["labels"]["ring-controller.volcano"] == "ascend-1980"
    assert main_container(tpl)["name"] == "main-con"
    env = env_of(tpl)
    assert env["MASTER_ADDR"] == "aw-vc-worker-0.aw-vc"
    assert (env["MASTER_PORT"], env["NNODES"], env["NPROC_PER_NODE"], env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == (
        "23456", "4", "8", "32", "8")
    assert env["RANK"] == TASK_INDEX and env["NODE_RANK"] == TASK_INDEX  # RANK is the node index
    assert env["ASCEND_VISIBLE_DEVICES"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['huawei.com/ascend-visible-devices']"}}
    assert env["PET_NPROC_PER_NODE"] == "8"
    assert "NVIDIA_VISIBLE_DEVICES" not in env  # a device (Ascend) is requested


@pytest.mark.parametrize("nproc,world", [(None, "3"), ("auto", "3"), ("2", "6")])
def test_volcano_world_size(nproc: str | None, world: str) -> None:
    env = env_of(templates(render(appwrapper_volcano(replicas=3, nproc_per_node=nproc))[0])["worker"])
    assert env["WORLD_SIZE"] == world
    assert ("NPROC_PER_NODE" in env) == (nproc == "2")


def test_volcano_without_svc_plugin_renders_headless_service() -> None:
    manifests = render(appwrapper_volcano(use_svc_plugin=False, master_port=29500))
    aw, svc = manifests
    inner = aw["spec"]["components"][0]["template"]
    assert "plugins" not in inner["spec"]
    tpl = inner["spec"]["tasks"][0]["template"]
    assert tpl["spec"]["subdomain"] == "aw-vc"
    env = env_of(tpl)
    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("aw-vc", "29500")
    assert svc["kind"] == "Service" and svc["metadata"]["name"] == "aw-vc"
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"] == [{"name": "master-port", "port": 29500, "targetPort": 29500, "protocol": "TCP"}]
    assert svc["spec"]["selector"]["volcano.sh/task-index"] == "0"
    assert svc["metadata"]["ownerReferences"] == [{"apiVersion": "workload.codeflare.dev/v1beta2",
                                                   "kind": "AppWrapper", "name": "aw-vc", "uid": OWNER_UID}]


def test_topology_and_partitions() -> None:
    aw = render(appwrapper_volcano(network_topology_mode="hard", highest_tier_allowed=2, total_partitions=2,
                                   partition_size=2, partition_topology_mode="soft", partition_highest_tier=1))[0]
    spec = aw["spec"]["components"][0]["template"]["spec"]
    assert spec["networkTopology"] == {"mode": "hard", "highestTierAllowed": 2}
    assert spec["tasks"][0]["partitionPolicy"] == {"totalPartitions": 2, "partitionSize": 2,
                                                   "networkTopology": {"mode": "soft", "highestTierAllowed": 1}}


@pytest.mark.parametrize("opts,field", [
    ({"admission_grace_period": "1 minute"}, "--admission-grace-period"),
    ({"success_ttl": "7d"}, "--success-ttl"),
    ({"retry_limit": -1}, "--retry-limit"),
    ({"total_partitions": 2}, "--total-partitions"),
    ({"network_topology_mode": "strict"}, "--network-topology-mode"),
    ({"master_port": 70000}, "--master-port"),
    ({"task_name": "other"}, "--task-name"),
])
def test_volcano_mode_errors(opts: dict, field: str) -> None:
    spec = appwrapper_volcano()
    spec = msgspec.structs.replace(spec, options=msgspec.structs.replace(spec.options, **opts))
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == field


def test_invalid_inner_type() -> None:
    options = AppWrapperOptions(inner_type="ray")  # type: ignore[arg-type]
    spec = msgspec.structs.replace(appwrapper_pytorch(), options=options)
    with pytest.raises(InvalidSpec) as err:
        render(spec)
    assert err.value.field == "--inner-type"


def test_tensorboard_owned_by_the_appwrapper() -> None:
    manifests = render(with_common(appwrapper_pytorch(), "rsync-tensorboard-on-pvc"))
    assert [m["kind"] for m in manifests] == ["AppWrapper", "Deployment", "Service"]
    for obj in manifests[1:]:
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "AppWrapper"
