"""submit = apply(plan(spec)): what reaches the API server is exactly the rendered plan."""
from __future__ import annotations

import hashlib
import json

import msgspec
import pytest
from fake_apiserver import DEFAULT_CRDS, FakeApiServer
from k8s_objects import SPECS

from arena.engines.kubernetes.api import AlreadyExists, PermissionDenied
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.engines.kubernetes.render import OWNER_UID, bind_owner, to_yaml
from arena.errors import ArenaError, JobExists
from arena.spec.job import JobSpec, SyncSpec, TaskSpec, Tensorboard

PASSWORD = "hunter2-do-not-print"
GIT = {"GIT_SYNC_USERNAME": "alice", "GIT_SYNC_PASSWORD": PASSWORD}

PATHS = {
    "pytorchjob": "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs",
    "tfjob": "/apis/kubeflow.org/v1/namespaces/default/tfjobs",
    "mpijob": "/apis/kubeflow.org/v1/namespaces/default/mpijobs",
    "mpijob-v2beta1": "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs",
    "volcanojob": "/apis/batch.volcano.sh/v1alpha1/namespaces/default/jobs",
    "appwrapperjob": "/apis/workload.codeflare.dev/v1beta2/namespaces/default/appwrappers",
}


@pytest.fixture
def everything(make_server) -> FakeApiServer:
    return make_server(installed=[*DEFAULT_CRDS, "mpijobs-v2beta1"])


@pytest.mark.parametrize("case", list(SPECS))
def test_post_bodies_equal_the_plan(case: str, everything: FakeApiServer, make_engine) -> None:
    engine: KubernetesEngine = make_engine(everything)
    spec = SPECS[case]
    plan = engine.plan(spec).manifests
    view = engine.submit(spec)
    posts = everything.requests_to("POST")
    assert posts[0].path == PATHS[case]
    assert posts[0].body == plan[0]  # byte-for-byte the rendered object (JSON-equal)
    group = plan[0]["apiVersion"].split("/")[0]
    stored = everything.store[(group, PATHS[case].rsplit("/", 1)[1])]
    uid = stored[("default", spec.name)]["metadata"]["uid"]
    rest = bind_owner(plan[1:], uid) if plan[1:] else []
    assert [p.body for p in posts[1:]] == rest
    assert (view.name, view.kind, view.namespace, view.uuid, view.engine) == (spec.name, spec.kind, "default", uid,
                                                                              "kubernetes")
    assert view.status == "QUEUING"  # created, no pods yet


def test_aux_objects_are_owned_by_the_job_and_credentials_go_to_a_secret(apiserver: FakeApiServer,
                                                                         make_engine) -> None:
    spec = JobSpec(kind="pytorchjob", name="synced", image="pytorch:2", workers=1,
                   sync=SyncSpec(mode="git", source="https://github.com/acme/train.git"),
                   tensorboard=Tensorboard(logdir="/logs"),
                   tasks=[TaskSpec(name="master", command="python t.py")])
    engine: KubernetesEngine = make_engine(apiserver, env=GIT)
    plan = engine.plan(spec).manifests
    engine.submit(spec)
    posts = apiserver.requests_to("POST")
    kinds = [p.body["kind"] for p in posts]
    assert kinds == ["PyTorchJob", "Secret", "Deployment", "Service", "ConfigMap"]  # Secret right after its owner
    uid = apiserver.objects("pytorchjobs")[0]["metadata"]["uid"]
    for p in posts[1:]:
        assert p.body["metadata"]["ownerReferences"][0]["uid"] == uid
        assert OWNER_UID not in json.dumps(p.body)
    secret = posts[1].body
    assert secret["metadata"]["name"] == "synced-sync-credentials"
    assert secret["stringData"] == {"username": "alice", "password": PASSWORD}
    # Nowhere else: not in the job, not in the plan --dry-run prints, not in what get shows.
    assert PASSWORD not in json.dumps([p.body for p in posts if p.body["kind"] != "Secret"])
    assert PASSWORD not in to_yaml(plan)
    init = plan[0]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"] if "valueFrom" in e}
    assert refs["GIT_SYNC_PASSWORD"] == {"name": "synced-sync-credentials", "key": "password"}
    shown = engine.get("default", "synced", with_spec=True)
    assert PASSWORD not in json.dumps(msgspec.to_builtins(shown))


def test_no_credentials_no_secret(apiserver: FakeApiServer, make_engine) -> None:
    spec = JobSpec(kind="pytorchjob", name="public", image="pytorch:2", workers=1,
                   sync=SyncSpec(mode="git", source="https://github.com/acme/train.git"),
                   tasks=[TaskSpec(name="master", command="python t.py")])
    engine: KubernetesEngine = make_engine(apiserver)
    engine.submit(spec)
    assert [p.body["kind"] for p in apiserver.requests_to("POST")] == ["PyTorchJob", "ConfigMap"]
    init = apiserver.requests_to("POST")[0].body["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
        "initContainers"][0]
    assert all("valueFrom" not in e for e in init["env"])


def test_name_clash_is_job_exists_and_creates_nothing(apiserver: FakeApiServer, make_engine) -> None:
    engine: KubernetesEngine = make_engine(apiserver, env=GIT)
    spec = JobSpec(kind="pytorchjob", name="dup", image="pytorch:2", workers=1,
                   sync=SyncSpec(mode="git", source="https://github.com/acme/train.git"),
                   tasks=[TaskSpec(name="master", command="python t.py")])
    engine.submit(spec)
    apiserver.reset_requests()
    with pytest.raises(JobExists, match="the job dup is already exist, please delete it first. use 'arena delete dup'") as err:
        engine.submit(spec)
    assert err.value.exit_code == 2
    assert [r.method for r in apiserver.api_requests()] == ["POST", "GET"]  # the 409, the Namespace (isolation)


def test_failed_aux_object_rolls_the_job_back(apiserver: FakeApiServer, make_engine) -> None:
    apiserver.forbid("create", "deployments")
    engine: KubernetesEngine = make_engine(apiserver)
    spec = JobSpec(kind="tfjob", name="tb", image="tf:2", tensorboard=Tensorboard(logdir="/logs"),
                   tasks=[TaskSpec(name="worker", command="python w.py")])
    with pytest.raises(ArenaError, match="no permission to create deployments.apps in namespace default; "
                                         "TFJob tb was deleted again"):
        engine.submit(spec)
    assert apiserver.objects("tfjobs") == []
    delete = apiserver.requests_to("DELETE")[0]
    assert delete.path.endswith("/tfjobs/tb") and delete.query["propagationPolicy"] == "Background"


def test_create_makes_queue_manifests_in_order(apiserver: FakeApiServer, make_engine) -> None:
    from arena.engines.kubernetes.render import kueue_queues, volcano_queue

    engine: KubernetesEngine = make_engine(apiserver)
    created = engine.create(volcano_queue("team-a", weight=2, state="Closed"))
    assert [o["kind"] for o in created] == ["Queue", "Command"]
    command = apiserver.objects("commands")[0]
    assert command["target"]["uid"] == created[0]["metadata"]["uid"]
    assert command["metadata"]["name"].startswith("team-a-closequeue-")
    engine.create(kueue_queues("team-q", "default", {"cpu": "8"}))
    assert [o["metadata"]["name"] for o in apiserver.objects("clusterqueues")] == ["team-q"]
    with pytest.raises(AlreadyExists, match="Queue 'team-a' already exists"):
        engine.create(volcano_queue("team-a"))


def test_permission_denied_on_submit(apiserver: FakeApiServer, make_engine) -> None:
    apiserver.forbid("create", "pytorchjobs")
    engine: KubernetesEngine = make_engine(apiserver)
    with pytest.raises(PermissionDenied) as err:
        engine.submit(SPECS["pytorchjob"])
    assert str(err.value) == "no permission to create pytorchjobs.kubeflow.org in namespace default"


def test_mpijob_uses_v2beta1_when_only_the_mpi_operator_crd_is_served(make_server, make_engine) -> None:
    crds = [c for c in DEFAULT_CRDS if c != "mpijobs"] + ["mpijobs-v2beta1"]
    server = make_server(installed=crds)
    engine: KubernetesEngine = make_engine(server)
    engine.submit(SPECS["mpijob"])
    posts = [r.path for r in server.requests_to("POST")]
    assert PATHS["mpijob-v2beta1"] in posts and PATHS["mpijob"] not in posts


def test_jobs_carry_upstreams_user_label_and_annotation(everything: FakeApiServer, make_engine) -> None:
    """Without credentials the cluster could name, ARENA_USER (else the OS user) stands in, with upstream's id
    for it: the md5 of the name."""
    engine: KubernetesEngine = make_engine(everything, env={"ARENA_USER": "Alice Smith"})
    job = engine.plan(SPECS["pytorchjob"]).manifests[0]
    assert job["metadata"]["labels"]["arena.kubeflow.org/uid"] == hashlib.md5(b"Alice Smith").hexdigest()
    assert job["metadata"]["annotations"]["arena.kubeflow.org/username"] == "Alice Smith"
