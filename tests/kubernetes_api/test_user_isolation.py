"""Per-user isolation in our own commands, as upstream's binary enforces it: in a namespace labelled
`arena.kubeflow.org/isolate-user=true` a user who is no admin lists only the jobs of their uid (a label selector
in the LIST, as upstream's), and `get`, `logs`, `attach`, `delete`, `events` and `prune` of another user's job
fail with upstream's text. Two users and an admin (basic auth: upstream names them `kubecfg:basicauth:<user>`),
an isolating namespace and an open one, through the loopback API server."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import T0, T3, cond, job_object, job_pods, kubeflow_status
from k8s_users import NOT_OWNER, UID, cli_flags_as, engine_as, isolate, uid

from arena import kinds
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import JobExists, JobNotFound, NotJobOwner


def add_job(server: FakeApiServer, name: str, owner: str, namespace: str, done: bool = False) -> None:
    status = kubeflow_status(cond("Succeeded", t=T3), done=True) if done else kubeflow_status()
    job = job_object("pytorchjob", name, namespace, status=status, workers=1)
    job["metadata"]["labels"][UID] = uid(owner)
    job["metadata"]["creationTimestamp"] = T0
    server.add(job)
    for p in job_pods("pytorchjob", name, namespace, workers=1):
        server.add(p)


@pytest.fixture
def cluster(apiserver: FakeApiServer) -> FakeApiServer:
    isolate(apiserver)
    for ns in ("team", "open"):
        add_job(apiserver, "alices", "alice", ns)
        add_job(apiserver, "bobs", "bob", ns)
    return apiserver


def names(engine: KubernetesEngine, namespace: str | None) -> list[str]:
    return sorted(f"{j.namespace}/{j.name}" for j in engine.list(namespace))


def test_list_shows_a_user_only_their_jobs_where_the_namespace_isolates(cluster: FakeApiServer,
                                                                       tmp_path: Path) -> None:
    alice, bob, root = (engine_as(cluster, tmp_path, u) for u in ("alice", "bob", "root"))
    assert names(alice, "team") == ["team/alices"]
    assert names(bob, "team") == ["team/bobs"]
    assert names(root, "team") == ["team/alices", "team/bobs"]  # an admin sees everyone's
    assert names(alice, "open") == ["open/alices", "open/bobs"]  # a namespace that does not isolate
    # the filter is upstream's label selector, in the request
    jobs = [r for r in cluster.requests_to("GET", "/pytorchjobs") if r.path.startswith(
        "/apis/kubeflow.org/v1/namespaces/team/")]
    assert f"app=pytorchjob,release,{UID}={uid('alice')}" in [r.query["labelSelector"] for r in jobs]


def test_all_namespaces_follow_the_users_own_namespace(cluster: FakeApiServer, tmp_path: Path) -> None:
    """Upstream decides isolation once, for the namespace the command runs in, and applies it to `-A` too."""
    assert names(engine_as(cluster, tmp_path, "alice", "team"), None) == ["open/alices", "team/alices"]
    assert names(engine_as(cluster, tmp_path, "bob", "open"), None) == [
        "open/alices", "open/bobs", "team/alices", "team/bobs"]


def test_the_lookup_is_made_once_per_command_not_per_job(cluster: FakeApiServer, tmp_path: Path) -> None:
    for i in range(5):
        add_job(cluster, f"more-{i}", "alice", "team")
    alice = engine_as(cluster, tmp_path, "alice")
    cluster.reset_requests()
    assert len(alice.list("team")) == 6
    alice.get("team", "more-1", events=False)
    assert [r.path for r in cluster.requests_to("GET", "/namespaces/team")
            if r.path == "/api/v1/namespaces/team"] == ["/api/v1/namespaces/team"]
    assert len(cluster.requests_to("GET", "/configmaps/arena-config")) == 1


def test_another_users_job_is_refused_in_upstreams_words(cluster: FakeApiServer, tmp_path: Path) -> None:
    alice = engine_as(cluster, tmp_path, "alice")
    for act in (lambda: alice.get("team", "bobs"), lambda: alice.events("team", "bobs"),
                lambda: list(alice.logs("team", "bobs")), lambda: alice.attach("team", "bobs", command=["true"]),
                lambda: alice.delete("team", "bobs")):
        with pytest.raises(NotJobOwner) as err:
            act()
        assert str(err.value) == NOT_OWNER and err.value.exit_code == 1
    assert sorted(j["metadata"]["name"] for j in cluster.objects("pytorchjobs")
                  if j["metadata"]["namespace"] == "team") == ["alices", "bobs"]  # nothing deleted
    with pytest.raises(JobNotFound):  # a job nobody has is still "not found"
        alice.get("team", "nobodys")
    assert alice.get("team", "alices", events=False).name == "alices"
    assert alice.get("open", "bobs", events=False).name == "bobs"  # not isolated there


def test_an_admin_acts_on_everyones_jobs(cluster: FakeApiServer, tmp_path: Path) -> None:
    root = engine_as(cluster, tmp_path, "root")
    assert root.get("team", "bobs", events=False).name == "bobs"
    root.delete("team", "bobs")
    assert "bobs" not in [j["metadata"]["name"] for j in cluster.objects("pytorchjobs")
                          if j["metadata"]["namespace"] == "team"]


def test_prune_deletes_only_the_users_own_jobs(cluster: FakeApiServer, tmp_path: Path) -> None:
    add_job(cluster, "alices-done", "alice", "team", done=True)
    add_job(cluster, "bobs-done", "bob", "team", done=True)
    pruned = engine_as(cluster, tmp_path, "alice").prune(0, "team")
    assert [v.name for v in pruned] == ["alices-done"]
    left = sorted(j["metadata"]["name"] for j in cluster.objects("pytorchjobs") if j["metadata"]["namespace"] == "team")
    assert left == ["alices", "bobs", "bobs-done"]


def test_submitting_a_name_another_user_holds_says_so(cluster: FakeApiServer, tmp_path: Path) -> None:
    spec = kinds.get("pytorchjob").spec_from_options({"name": "bobs", "image": "img", "command": "true",
                                                      "namespace": "team"})
    with pytest.raises(JobExists, match="^the job bobs is already exist and it owned by other user,you have no "
                                        "privileges to operate it$"):
        engine_as(cluster, tmp_path, "alice").submit(spec)
    with pytest.raises(JobExists, match="^the job bobs is already exist, please delete it first"):
        engine_as(cluster, tmp_path, "bob").submit(spec)


def test_a_namespace_the_user_may_not_read_does_not_isolate(cluster: FakeApiServer, tmp_path: Path) -> None:
    """A namespaced Role cannot grant reading the Namespace object: that reads as "no isolation", as whoami says."""
    cluster.forbid("get", "namespaces")
    assert names(engine_as(cluster, tmp_path, "alice"), "team") == ["team/alices", "team/bobs"]


def test_the_cli_prints_upstreams_text(arena: Any, cluster: FakeApiServer, tmp_path: Path) -> None:
    flags = cli_flags_as(cluster, tmp_path, "alice")
    r = arena.run("get", "bobs", *flags)
    assert r.returncode == 1 and NOT_OWNER in r.stderr and "Traceback" not in r.stderr
    listed = arena.run("list", *flags, check=True).stdout
    assert "alices" in listed and "bobs" not in listed
