"""Per-user isolation of `arena serve` on the Kubernetes engine, as upstream's serving code enforces it: in a
namespace labelled `arena.kubeflow.org/isolate-user=true` a user who is no admin lists only the serving jobs of
their uid (the selector in the Deployment and InferenceService LISTs), and get, delete, update, logs, attach and
traffic-split of another user's job fail with upstream's text; submitting a name another user holds says so.
Two users and an admin (basic auth), an isolating namespace and an open one, through the loopback API server."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_apiserver import DEFAULT_CRDS, FakeApiServer
from k8s_objects import pod as make_pod
from k8s_users import NOT_OWNER, UID, cli_flags_as, engine_as, isolate, uid

from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import NotJobOwner
from arena.serving import options
from arena.serving.errors import ServingAmbiguous, ServingExists, ServingNotFound, ServingOwnedByOther
from arena.serving.spec import TrafficSplit, Weight


def serve(engine: KubernetesEngine, name: str, namespace: str, type_: str = "custom", **opts: Any) -> Any:
    base = {"image": "python:3.11", "restful_port": 8080, "command": "python serve.py", "version": "v1"} \
        if type_ == "custom" else {"model_format": "sklearn", "storage_uri": "pvc://models/sk"}
    return engine.serving().submit(options.spec_from_options(type_, {"name": name, **base, **opts},
                                                             namespace=namespace))


def with_pod(server: FakeApiServer, deployment: str, namespace: str) -> str:
    """The pod the Deployment's ReplicaSet would make (its template's labels, its container)."""
    dep = next(o for o in server.objects("deployments")
               if o["metadata"]["name"] == deployment and o["metadata"]["namespace"] == namespace)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    name = f"{deployment}-7d9-0"
    server.add(make_pod(name, kind=labels["app"], namespace=namespace, labels=labels,
                        container=dep["spec"]["template"]["spec"]["containers"][0]["name"]))
    return name


@pytest.fixture
def cluster(make_server: Any, tmp_path: Path) -> FakeApiServer:
    server: FakeApiServer = make_server((*DEFAULT_CRDS, "inferenceservices"))
    isolate(server)
    for user in ("alice", "bob"):
        for ns in ("team", "open"):
            serve(engine_as(server, tmp_path, user, ns), f"{user}s", ns)
    return server


def names(engine: KubernetesEngine, namespace: str | None) -> list[str]:
    return sorted(f"{v.namespace}/{v.name}" for v in engine.serving().list(namespace))


def test_submit_labels_every_object_with_the_owners_uid(cluster: FakeApiServer, tmp_path: Path) -> None:
    serve(engine_as(cluster, tmp_path, "alice"), "sk", "team", "kserve")
    mine = [o for plural in ("deployments", "services", "configmaps") for o in cluster.objects(plural)
            if o["metadata"]["name"].startswith("alices-v1") and o["metadata"]["namespace"] == "team"]
    assert len(mine) == 3 and all(o["metadata"]["labels"][UID] == uid("alice") for o in mine)
    dep = next(o for o in mine if o["kind"] == "Deployment")
    assert dep["spec"]["template"]["metadata"]["labels"][UID] == uid("alice")
    assert dep["metadata"]["annotations"]["arena.kubeflow.org/username"] == "kubecfg:basicauth:alice"
    (isvc,) = cluster.objects("inferenceservices", "serving.kserve.io")
    assert isvc["metadata"]["labels"][UID] == uid("alice")


def test_list_shows_a_user_only_their_serving_jobs_where_the_namespace_isolates(cluster: FakeApiServer,
                                                                               tmp_path: Path) -> None:
    serve(engine_as(cluster, tmp_path, "bob"), "sk", "team", "kserve")
    alice, bob, root = (engine_as(cluster, tmp_path, u) for u in ("alice", "bob", "root"))
    cluster.reset_requests()
    assert names(alice, "team") == ["team/alices"]
    # upstream's selector, in the requests for the jobs' own objects
    selectors = [r.query.get("labelSelector", "") for r in cluster.requests_to("GET")
                 if r.path.endswith(("/namespaces/team/deployments", "/namespaces/team/inferenceservices"))]
    assert len(selectors) == 2 and all(f"{UID}={uid('alice')}" in s for s in selectors), selectors
    assert names(bob, "team") == ["team/bobs", "team/sk"]
    assert names(root, "team") == ["team/alices", "team/bobs", "team/sk"]  # an admin sees everyone's
    assert names(alice, "open") == ["open/alices", "open/bobs"]  # a namespace that does not isolate
    # decided in the command's namespace and applied to -A, as training's list and upstream's
    assert names(alice, None) == ["open/alices", "team/alices"]
    assert names(engine_as(cluster, tmp_path, "alice", "open"), None) == [
        "open/alices", "open/bobs", "team/alices", "team/bobs", "team/sk"]


def test_another_users_serving_job_is_refused_in_upstreams_words(cluster: FakeApiServer, tmp_path: Path) -> None:
    pod = with_pod(cluster, "bobs-v1-custom-serving", "team")
    cluster.logs[("team", pod)] = [(0.0, "bob's line")]
    serving = engine_as(cluster, tmp_path, "alice").serving()
    update = options.update_from_options("custom", {"name": "bobs", "image": "evil:1"}, "team")
    acts = [lambda: serving.get("team", "bobs"), lambda: serving.delete("team", "bobs"),
            lambda: serving.delete("team", "bobs", version="v1"), lambda: serving.update(update),
            lambda: list(serving.logs("team", "bobs")), lambda: serving.attach("team", "bobs", command=["true"]),
            lambda: serving.traffic_split(TrafficSplit("bobs", "team", [Weight("v1", 100)]))]
    cluster.reset_requests()
    for act in acts:
        with pytest.raises(NotJobOwner) as err:
            act()
        assert str(err.value) == NOT_OWNER and err.value.exit_code == 1
    assert not [r for r in cluster.requests_to() if r.method != "GET"]  # nothing written, nothing deleted
    assert not cluster.requests_to("GET", "/log")  # nor read
    with pytest.raises(ServingNotFound):  # a name nobody has is still "not found"
        serving.get("team", "nobodys")
    assert serving.get("team", "alices").name == "alices"
    assert serving.get("open", "bobs").name == "bobs"  # not isolated there


def test_an_admin_acts_on_everyones_serving_jobs(cluster: FakeApiServer, tmp_path: Path) -> None:
    root = engine_as(cluster, tmp_path, "root").serving()
    assert root.get("team", "bobs").name == "bobs"
    root.update(options.update_from_options("custom", {"name": "bobs", "replicas": 2}, "team"))
    assert root.get("team", "bobs").desiredInstances == 2
    root.delete("team", "bobs")
    assert [v.name for v in root.list("team")] == ["alices"]


def test_versions_of_a_name_held_by_two_users(cluster: FakeApiServer, tmp_path: Path) -> None:
    """Upstream's pre-check is per version, so another user may add a version to a name; its `validateJobs`
    then finds several of the user's own ambiguous first, and refuses any other's."""
    alice, bob = engine_as(cluster, tmp_path, "alice"), engine_as(cluster, tmp_path, "bob")
    serve(alice, "alices", "team", version="v2")
    serve(bob, "alices", "team", version="v3")
    with pytest.raises(ServingOwnedByOther):
        serve(bob, "alices", "team", version="v1")
    with pytest.raises(ServingAmbiguous):
        alice.serving().get("team", "alices")
    assert alice.serving().get("team", "alices", version="v2").version == "v2"
    for act in (lambda: alice.serving().get("team", "alices", version="v3"),
                lambda: alice.serving().delete("team", "alices")):  # every version: one is bob's
        with pytest.raises(NotJobOwner):
            act()
    assert [v.version for v in bob.serving().list("team") if v.name == "alices"] == ["v3"]


def test_submitting_a_name_another_user_holds_says_so(cluster: FakeApiServer, tmp_path: Path) -> None:
    with pytest.raises(ServingExists, match="^the job bobs is already exist, but its' owner is not you$") as err:
        serve(engine_as(cluster, tmp_path, "alice"), "bobs", "team")
    assert err.value.exit_code == 2
    with pytest.raises(ServingExists, match="^the job bobs is already exist, please delete it first"):
        serve(engine_as(cluster, tmp_path, "bob"), "bobs", "team")
    with pytest.raises(ServingExists, match="please delete it first"):  # not isolated there
        serve(engine_as(cluster, tmp_path, "alice"), "bobs", "open")


def test_the_lookup_is_made_once_per_command(cluster: FakeApiServer, tmp_path: Path) -> None:
    alice = engine_as(cluster, tmp_path, "alice")
    serving = alice.serving()
    cluster.reset_requests()
    serving.list("team")
    serving.get("team", "alices")
    serving.delete("team", "alices")
    assert len([r for r in cluster.requests_to("GET") if r.path == "/api/v1/namespaces/team"]) == 1
    assert len(cluster.requests_to("GET", "/configmaps/arena-config")) == 1


def test_the_cli_prints_upstreams_text(arena: Any, cluster: FakeApiServer, tmp_path: Path) -> None:
    flags = cli_flags_as(cluster, tmp_path, "alice")
    for verb in (("get", "bobs"), ("delete", "bobs"), ("logs", "bobs"),
                 ("traffic-split", "--name", "bobs", "-v", "v1:100")):
        r = arena.run("serve", *verb, *flags)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and lines[0].endswith(NOT_OWNER), (verb, r.stderr)
    listed = arena.run("serve", "list", *flags, check=True).stdout
    assert "alices" in listed and "bobs" not in listed
    again = arena.run("serve", "custom", "--name", "bobs", "--version", "v1", "--image", "x", "--restful-port", "1",
                      "c", *flags)
    assert again.returncode == 2 and "the job bobs is already exist, but its' owner is not you" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
