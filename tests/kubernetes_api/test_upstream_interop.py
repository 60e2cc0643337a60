"""One cluster, two tools: a job upstream Arena created (its labels, its `<name>-<type>` ConfigMap, its uid) is
listed, read and deleted by this engine, and a job this engine created is found by upstream's selectors and
deleted by upstream's `delete` the way that reads the ConfigMap. Through the loopback API server."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_apiserver import DEFAULT_CRDS, FakeApiServer
from k8s_objects import T0, cond, kubeflow_status, pod

from arena import kinds
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import JobExists
from arena.spec.job import JobSpec

ALICE = "kubecfg:basicauth:alice"  # upstream's name for a basic-auth user
ALICE_ID = hashlib.md5(ALICE.encode()).hexdigest()
UID = "arena.kubeflow.org/uid"


def engine_as(server: FakeApiServer, tmp_path: Path, user: dict[str, Any], **kw: Any) -> KubernetesEngine:
    config = server.kubeconfig()
    config["users"][0]["user"] = user
    path = tmp_path / f"kubeconfig-{id(server)}-{len(user)}"
    path.write_text(yaml.safe_dump(config))
    return KubernetesEngine(kubeconfig=str(path), env={}, poll_interval=0.01, **kw)


def upstream_list(server: FakeApiServer, path: str, selector: str) -> list[dict[str, Any]]:
    """A LIST as upstream's trainers make it (`app=<type>,release[,arena.kubeflow.org/uid=<id>]`)."""
    url = f"{server.url}{path}?labelSelector={urllib.parse.quote(selector)}"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the loopback server
        return json.loads(resp.read())["items"]


def upstream_delete(server: FakeApiServer, name: str, kind: str, namespace: str = "default") -> None:
    """Upstream's `arena delete`: read `.data.app` of ConfigMap `<name>-<type>`, delete each object, then it."""
    record = next(cm for cm in server.objects("configmaps") if cm["metadata"]["name"] == f"{name}-{kind}")
    plurals = {"pytorchjob.kubeflow.org": ("pytorchjobs", "kubeflow.org"), "service": ("services", None),
               "deployment.apps": ("deployments", "apps"), "configmap": ("configmaps", None)}
    for line in record["data"]["app"].splitlines():
        ref, _, obj = line.partition("/")
        plural, group = plurals[ref]
        r = server.find(plural, group)
        path = (f"/apis/{r.gv}" if r.group else "/api/v1") + f"/namespaces/{namespace}/{plural}/{obj}"
        try:
            urllib.request.urlopen(urllib.request.Request(server.url + path, method="DELETE"), timeout=10).read()  # noqa: S310
        except urllib.error.HTTPError as exc:  # upstream ignores NotFound (gone with its owner already)
            assert exc.code == 404, exc
    server.delete(server.find("configmaps"), namespace, record["metadata"]["name"], None)


# ---- upstream's job, read and deleted here --------------------------------------------------
def upstream_job(server: FakeApiServer, name: str = "legacy") -> dict[str, Any]:
    """A PyTorchJob as upstream's chart renders it and its submit records it: chart labels, the uid, the
    username annotation, a TensorBoard Service and the `<name>-pytorchjob` ConfigMap without owner references
    (what upstream before v0.15.5 left)."""
    labels = {"app": "pytorchjob", "chart": "pytorchjob-0.5.0", "release": name, "heritage": "Helm",
              "createdBy": "PyTorchJob", UID: ALICE_ID}
    job = server.add({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": "default", "labels": labels, "creationTimestamp": T0,
                     "annotations": {"arena.kubeflow.org/username": ALICE, "requestGPUsOfJobOwner": "2"}},
        "spec": {"runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 0}, "pytorchReplicaSpecs": {}},
        "status": kubeflow_status(cond("Created"), cond("Running"))})
    server.add({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": f"{name}-tensorboard", "namespace": "default",
                             "labels": {"app": "pytorchjob", "release": name, "role": "tensorboard"}},
                "spec": {"type": "NodePort", "ports": [{"port": 6006, "nodePort": 31000}]}})
    server.add({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"{name}-pytorchjob", "namespace": "default",
                             "labels": {"createdBy": "arena", UID: ALICE_ID}},
                "data": {"app": f"pytorchjob.kubeflow.org/{name}\nservice/{name}-tensorboard",
                         "values": "workers: 2\n", "pytorchjob": "0.5.0"}})
    server.add(pod(f"{name}-master-0", task="master", gpus=1))
    server.add(pod(f"{name}-worker-0", gpus=1))
    return job


def test_a_job_upstream_created_is_listed_got_and_deleted(apiserver: FakeApiServer, tmp_path: Path) -> None:
    upstream_job(apiserver)
    engine = engine_as(apiserver, tmp_path, {"username": "alice", "password": "pw"})
    (view,) = [v for v in engine.list("default") if v.name == "legacy"]
    assert (view.kind, view.status, view.requestGPUs) == ("pytorchjob", "RUNNING", 2)
    got = engine.get("default", "legacy", events=False)
    assert [i.name for i in got.instances] == ["legacy-master-0", "legacy-worker-0"] and got.chiefName == "legacy-master-0"
    engine.delete("default", "legacy")
    assert apiserver.objects("pytorchjobs") == []
    assert apiserver.objects("services") == [] and apiserver.objects("configmaps") == []  # what its record listed


def test_a_record_upstream_left_makes_the_name_taken(apiserver: FakeApiServer, tmp_path: Path) -> None:
    """Upstream refuses a name whose `<name>-<type>` ConfigMap exists; so does submit here, leaving nothing."""
    apiserver.add({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "taken-pytorchjob", "namespace": "default", "labels": {"createdBy": "arena"}},
                   "data": {"app": "pytorchjob.kubeflow.org/taken"}})
    engine = engine_as(apiserver, tmp_path, {"username": "alice", "password": "pw"})
    spec = kinds.get("pytorchjob").spec_from_options({"name": "taken", "image": "img", "command": "true"})
    with pytest.raises(JobExists, match="the job taken is already exist"):
        engine.submit(spec)
    assert apiserver.objects("pytorchjobs") == []


# ---- our job, seen by upstream --------------------------------------------------------------
def test_our_job_is_found_by_upstreams_selectors_and_deleted_by_its_delete(apiserver: FakeApiServer,
                                                                           tmp_path: Path) -> None:
    engine = engine_as(apiserver, tmp_path, {"username": "alice", "password": "pw"})
    spec = kinds.get("pytorchjob").spec_from_options({"name": "ours", "image": "img", "workers": 2, "gpus": 1,
                                                      "tensorboard": True, "command": "python t.py"})
    engine.submit(spec)
    path = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    assert [j["metadata"]["name"] for j in upstream_list(apiserver, path, "app=pytorchjob,release")] == ["ours"]
    # per-user isolation: upstream lists a non-admin user's jobs by the md5 of the Kubernetes user
    isolated = upstream_list(apiserver, path, f"app=pytorchjob,release,{UID}={ALICE_ID}")
    assert [j["metadata"]["name"] for j in isolated] == ["ours"]
    assert upstream_list(apiserver, path, f"app=pytorchjob,release,{UID}={hashlib.md5(b'bob').hexdigest()}") == []
    (record,) = upstream_list(apiserver, "/api/v1/namespaces/default/configmaps", "createdBy=arena")
    assert record["metadata"]["name"] == "ours-pytorchjob" and record["metadata"]["labels"][UID] == ALICE_ID
    assert record["data"]["app"].splitlines() == ["pytorchjob.kubeflow.org/ours", "deployment.apps/ours-tensorboard",
                                                  "service/ours-tensorboard"]
    job = apiserver.objects("pytorchjobs")[0]
    assert job["metadata"]["annotations"]["arena.kubeflow.org/username"] == ALICE
    assert job["metadata"]["annotations"]["requestGPUsOfJobOwner"] == "2"
    upstream_delete(apiserver, "ours", "pytorchjob")
    for plural in ("pytorchjobs", "deployments", "services", "configmaps"):
        assert apiserver.objects(plural) == [], plural


def test_our_record_goes_with_the_job(apiserver: FakeApiServer, tmp_path: Path) -> None:
    engine = engine_as(apiserver, tmp_path, {"username": "alice", "password": "pw"})
    engine.submit(kinds.get("tfjob").spec_from_options({"name": "tf", "image": "img", "command": "python t.py"}))
    assert [cm["metadata"]["name"] for cm in apiserver.objects("configmaps")] == ["tf-tfjob"]
    engine.delete("default", "tf")
    assert apiserver.objects("configmaps") == [] and apiserver.objects("tfjobs") == []


@pytest.mark.parametrize("user, name", [
    ({"username": "alice", "password": "pw"}, ALICE),
    ({"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}, "kubecfg:certauth:admin"),
])
def test_the_uid_is_upstreams_md5_of_the_kubernetes_user(apiserver: FakeApiServer, tmp_path: Path,
                                                         user: dict[str, str], name: str) -> None:
    engine = engine_as(apiserver, tmp_path, user)
    job = engine.plan(kinds.get("pytorchjob").spec_from_options({"name": "p", "image": "i", "command": "c"}))
    assert job.manifests[0]["metadata"]["labels"][UID] == hashlib.md5(name.encode()).hexdigest()
    assert apiserver.api_requests() == []  # the kubeconfig names these users itself


def test_a_token_users_name_comes_from_the_api_server(make_server, tmp_path: Path) -> None:
    server = make_server(token="t0k3n")
    server.user = "system:serviceaccount:team:trainer"
    engine = engine_as(server, tmp_path, {"token": "t0k3n"})
    job = engine.plan(kinds.get("pytorchjob").spec_from_options({"name": "p", "image": "i", "command": "c"}))
    assert job.manifests[0]["metadata"]["labels"][UID] == hashlib.md5(server.user.encode()).hexdigest()
    assert job.manifests[0]["metadata"]["annotations"]["arena.kubeflow.org/username"] == server.user
    (review,) = server.requests_to("POST")
    assert review.path == "/apis/authentication.k8s.io/v1/tokenreviews" and review.body["spec"] == {"token": "t0k3n"}


# ---- MPIJob v1alpha1: arena's own mpi-operator ----------------------------------------------
V1ALPHA1_ONLY = [c for c in DEFAULT_CRDS if c != "mpijobs"] + ["mpijobs-v1alpha1"]


def test_mpijob_v1alpha1_is_written_and_read_where_the_cluster_serves_it(make_server, tmp_path: Path) -> None:
    server = make_server(installed=V1ALPHA1_ONLY)
    engine = engine_as(server, tmp_path, {"username": "alice", "password": "pw"})
    spec: JobSpec = kinds.get("mpijob").spec_from_options({"name": "pi", "image": "mpi:1", "workers": 2, "gpus": 1,
                                                           "command": "mpirun pi"})
    plan = engine.plan(spec)
    assert plan.manifests[0]["apiVersion"] == "kubeflow.org/v1alpha1"
    engine.apply(plan)
    posts = [r.path for r in server.requests_to("POST")]
    assert posts[0] == "/apis/kubeflow.org/v1alpha1/namespaces/default/mpijobs"
    job = server.objects("mpijobs")[0]
    job["status"] = {"launcherStatus": "Active"}
    for name, role, gpus in (("pi-launcher-x7k2p", "launcher", 0), ("pi-worker-0", "worker", 1)):
        obj = pod(name, kind="mpijob", job="pi", container="mpi", gpus=gpus)
        # Aliyun's operator labels its pods its own way, not the Training Operator's
        obj["metadata"]["labels"] = {"app": "mpijob", "release": "pi", "group_name": "kubeflow.org",
                                     "mpi_job_name": "pi", "mpi_role_type": role}
        server.add(obj)
    (view,) = engine.list("default")
    assert (view.name, view.kind, view.status) == ("pi", "mpijob", "RUNNING")
    got = engine.get("default", "pi", kind="mpijob", events=False)
    assert got.chiefName == "pi-launcher-x7k2p"
    engine.delete("default", "pi", kind="mpijob")
    assert server.objects("mpijobs") == [] and server.objects("configmaps") == []
