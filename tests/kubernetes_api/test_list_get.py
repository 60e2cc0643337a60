"""list and get against the loopback API server: constant request counts, pods → instances, events."""
from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import (
    T2,
    appwrapper_status,
    cond,
    event,
    job_object,
    job_pods,
    kubeflow_status,
    pod,
    volcano_status,
    waiting_state,
)

from arena.engines.kubernetes.api import CRDNotInstalled
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import InvalidSpec, JobNotFound

RUNNING = {"pytorchjob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
           "tfjob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
           "mpijob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
           "volcanojob": volcano_status("Running", "Pending"),
           "appwrapperjob": appwrapper_status("Running", cond("PodsReady", t=T2))}
# pytorchjobs, tfjobs, mpijobs, Volcano jobs, appwrappers: MPIJob's other versions are listed only where v1 is not
# served (the versions of one CRD serve the same objects)
JOB_RESOURCES = 5
GET_RESOURCES = 7  # a `get` asks every resource, every MPIJob version included, at once (one round trip)


def seed(server: FakeApiServer, n: int, namespace: str = "default") -> None:
    """n jobs of every kind, each with a chief and 3 workers, all running."""
    for kind, st in RUNNING.items():
        for i in range(n):
            name = f"{kind[:3]}-{i}"
            server.add(job_object(kind, name, namespace, status=st))
            for p in job_pods(kind, name, namespace):
                server.add(p)


@pytest.mark.parametrize("n", [1, 10, 60])
def test_list_requests_do_not_grow_with_jobs(n: int, apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    seed(apiserver, n)
    apiserver.reset_requests()
    jobs = engine.list("default")
    assert len(jobs) == 5 * n
    assert all(j.status == "RUNNING" and len(j.instances) == 4 for j in jobs)
    requests = apiserver.api_requests()
    assert len(requests) == JOB_RESOURCES + 2  # one LIST per job resource + ONE pod LIST + the Namespace (isolation)
    assert {r.method for r in requests} == {"GET"}
    pods = [r for r in requests if r.path.endswith("/pods")]
    assert len(pods) == 1
    assert pods[0].query["labelSelector"] == \
        "app in (appwrapperjob,mpijob,pytorchjob,tfjob,volcanojob),release,role!=tensorboard"
    torch = next(r for r in requests if r.path.endswith("/pytorchjobs"))
    assert torch.path == "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    assert torch.query["labelSelector"] == "app=pytorchjob,release"


def test_list_joins_pods_to_their_job(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(job_object("pytorchjob", "a", status=RUNNING["pytorchjob"]))
    apiserver.add(job_object("pytorchjob", "b", status=kubeflow_status(cond("Created"), start=False)))
    apiserver.add(job_object("tfjob", "a", status=RUNNING["tfjob"]))  # same name, other kind
    for p in job_pods("pytorchjob", "a", workers=0) + job_pods("tfjob", "a", workers=2):
        apiserver.add(p)
    apiserver.add(pod("a-tensorboard-x", job="a", labels={"role": "tensorboard"}))  # not an instance
    apiserver.add(pod("stray-worker-0", job="stray"))  # a pod of no listed job
    jobs = {(j.kind, j.name): j for j in engine.list("default")}
    assert set(jobs) == {("pytorchjob", "a"), ("pytorchjob", "b"), ("tfjob", "a")}
    a = jobs[("pytorchjob", "a")]
    assert [i.name for i in a.instances] == ["a-master-0"]  # not the TFJob a's pods
    assert (a.status, a.chiefName, a.requestGPUs, a.allocatedGPUs) == ("RUNNING", "a-master-0", 4, 1)
    assert len(jobs[("tfjob", "a")].instances) == 3
    b = jobs[("pytorchjob", "b")]
    assert (b.status, b.instances, b.allocatedGPUs) == ("QUEUING", [], 0)


def test_appwrapper_inner_objects_are_not_listed_twice(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    aw = job_object("appwrapperjob", "aw", status=RUNNING["appwrapperjob"])
    apiserver.add(aw)
    inner = aw["spec"]["components"][0]["template"]  # what the AppWrapper controller creates
    apiserver.add({**inner, "metadata": {**inner["metadata"], "namespace": "default"},
                   "status": volcano_status("Running")})
    for p in job_pods("appwrapperjob", "aw", workers=1):
        apiserver.add(p)
    jobs = engine.list("default")
    assert [(j.kind, j.name, len(j.instances)) for j in jobs] == [("appwrapperjob", "aw", 2)]
    assert engine.get("default", "aw").kind == "appwrapperjob"  # not ambiguous with its own Volcano Job


def test_list_all_namespaces_and_by_kind(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    seed(apiserver, 1, "team-a")
    seed(apiserver, 1, "team-b")
    apiserver.reset_requests()
    assert len(engine.list(None)) == 10
    assert [r.path for r in apiserver.api_requests() if "/namespaces/" in r.path] == ["/api/v1/namespaces/default"]
    apiserver.reset_requests()
    only = engine.list("team-a", "volcanojob")
    assert [(j.kind, j.namespace) for j in only] == [("volcanojob", "team-a")]
    paths = sorted(r.path for r in apiserver.api_requests())
    assert paths == ["/api/v1/namespaces/team-a", "/api/v1/namespaces/team-a/pods",
                     "/apis/batch.volcano.sh/v1alpha1/namespaces/team-a/jobs"]
    assert apiserver.requests_to(contains="/pods")[0].query["labelSelector"] == \
        "app=volcanojob,release,role!=tensorboard"


def test_missing_crds_are_skipped_unless_asked_for(make_server, make_engine) -> None:
    server = make_server(installed=["pytorchjobs"])
    server.add(job_object("pytorchjob", "only", status=RUNNING["pytorchjob"]))
    engine = make_engine(server)
    assert [j.name for j in engine.list("default")] == ["only"]
    with pytest.raises(CRDNotInstalled, match=r"the MPIJob CRD \(mpijobs.kubeflow.org, kubeflow.org/v1\) is not "
                                              r"installed; run 'arena check'"):
        engine.list("default", "mpijob")
    with pytest.raises(CRDNotInstalled, match="the AppWrapper CRD"):
        engine.get("default", "x", kind="appwrapperjob")


def test_get_instances_from_pods(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(job_object("pytorchjob", "mnist", status=RUNNING["pytorchjob"]))
    apiserver.add(pod("mnist-master-0", task="master", gpus=1, restarts=2))
    apiserver.add(pod("mnist-worker-0", gpus=1, phase="Pending", node=None, started=False,
                      state=waiting_state("ContainerCreating")))
    apiserver.add(pod("mnist-worker-1", index=1, gpus=1, state=waiting_state("CrashLoopBackOff", "back-off"),
                      restarts=4, node="node-2"))
    apiserver.reset_requests()
    view = engine.get("default", "mnist", events=False)
    assert (view.status, view.phase, view.allocatedGPUs, view.chiefName) == ("PENDING", "Running", 2, "mnist-master-0")
    rows = [(i.name, i.status, i.chief, i.requestGPUs, i.node, i.restarts) for i in view.instances]
    assert rows == [("mnist-master-0", "Running", True, 1, "node-1", 2),
                    ("mnist-worker-0", "ContainerCreating", False, 1, "N/A", 0),
                    ("mnist-worker-1", "CrashLoopBackOff", False, 1, "node-2", 4)]
    assert view.restarts == 6
    # One GET per job resource (the kind is not known) + one pod LIST.
    assert len(apiserver.api_requests()) == GET_RESOURCES + 3  # + the TensorBoard Service and the Namespace
    pods = apiserver.requests_to(contains="/pods")[0]
    assert pods.query["labelSelector"] == "app=pytorchjob,release=mnist,role!=tensorboard"


def test_get_events_are_field_selected(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    job = apiserver.add(job_object("pytorchjob", "mnist", status=RUNNING["pytorchjob"]))
    master = apiserver.add(pod("mnist-master-0", task="master"))
    other = apiserver.add(pod("other-master-0", job="other", task="master"))
    apiserver.add(event(job, "SuccessfulCreatePod", "Created pod: mnist-master-0", t="2026-03-01T10:00:01Z"))
    apiserver.add(event(master, "Scheduled", "Successfully assigned default/mnist-master-0 to node-1",
                        t="2026-03-01T10:00:02Z"))
    apiserver.add(event(master, "BackOff", "Back-off pulling image", "Warning", t="2026-03-01T10:00:03Z"))
    apiserver.add(event(other, "Scheduled", "not ours"))
    apiserver.reset_requests()
    view = engine.get("default", "mnist", events=True)
    assert [(e.source, e.type, e.reason) for e in view.events] == [
        ("pytorchjob/mnist", "Normal", "SuccessfulCreatePod"), ("pod/mnist-master-0", "Normal", "Scheduled"),
        ("pod/mnist-master-0", "Warning", "BackOff")]
    event_lists = apiserver.requests_to(contains="/events")
    assert sorted(r.query["fieldSelector"] for r in event_lists) == sorted(
        [f"involvedObject.uid={job['metadata']['uid']}", f"involvedObject.uid={master['metadata']['uid']}"])


def test_get_errors_and_spec(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    with pytest.raises(JobNotFound, match="Not found training job ghost in namespace default,please use 'arena submit' to create it."):
        engine.get("default", "ghost")
    apiserver.add(job_object("pytorchjob", "twin", status=RUNNING["pytorchjob"]))
    apiserver.add(job_object("tfjob", "twin", status=RUNNING["tfjob"]))
    with pytest.raises(InvalidSpec, match=r"--type: more than one job is named 'twin' \(pytorchjob, tfjob\)"):
        engine.get("default", "twin")
    view = engine.get("default", "twin", kind="tfjob", with_spec=True)
    assert view.kind == "tfjob" and view.spec is not None
    assert set(view.spec) == {"apiVersion", "kind", "metadata", "spec"}
    assert "tfReplicaSpecs" in view.spec["spec"]


def test_get_events_keep_their_repeat_count(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    """The API server folds repeats of an event into `count`; the view keeps it (shown as `(xN)`)."""
    apiserver.add(job_object("pytorchjob", "mnist", status=RUNNING["pytorchjob"]))
    master = apiserver.add(pod("mnist-master-0", task="master"))
    backoff = event(master, "BackOff", "Back-off pulling image", "Warning", t="2026-03-01T10:00:03Z")
    backoff["count"] = 7
    apiserver.add(backoff)
    uncounted = event(master, "Pulling", "Pulling image", t="2026-03-01T10:00:02Z")
    del uncounted["count"]  # events.k8s.io-style events may carry no count
    apiserver.add(uncounted)
    view = engine.get("default", "mnist")
    assert [(e.reason, e.count) for e in view.events] == [("Pulling", 1), ("BackOff", 7)]


MPI_PATHS = {v: f"/apis/kubeflow.org/{v}/namespaces/default/mpijobs" for v in ("v1", "v2beta1", "v1alpha1")}


@pytest.mark.parametrize("served, asked", [
    (["mpijobs"], ["v1"]),
    (["mpijobs", "mpijobs-v2beta1"], ["v1"]),  # one CRD serving both versions: the same objects, listed once
    (["mpijobs-v2beta1"], ["v1", "v2beta1"]),
    (["mpijobs-v1alpha1"], ["v1", "v2beta1", "v1alpha1"]),
    ([], ["v1", "v2beta1", "v1alpha1"]),
])
def test_list_asks_mpijob_versions_in_turn_up_to_the_first_served(served: list[str], asked: list[str], make_server,
                                                                   make_engine) -> None:
    from fake_apiserver import DEFAULT_CRDS

    server = make_server(installed=[c for c in DEFAULT_CRDS if c != "mpijobs"] + served)
    if served:
        mpi = job_object("mpijob", "pi", status=RUNNING["mpijob"])
        mpi["apiVersion"] = f"kubeflow.org/{'v2beta1' if 'mpijobs-v2beta1' in served else asked[-1]}"
        server.add(mpi)
    server.add(job_object("pytorchjob", "pt", status=RUNNING["pytorchjob"]))
    server.reset_requests()
    jobs = sorted((j.kind, j.name) for j in make_engine(server).list("default"))
    assert jobs == ([("mpijob", "pi")] if served else []) + [("pytorchjob", "pt")]
    assert [r.path for r in server.api_requests() if r.path.endswith("/mpijobs")] == [MPI_PATHS[v] for v in asked]
