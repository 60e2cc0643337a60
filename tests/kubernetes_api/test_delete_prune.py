"""delete cascades through ownerReferences; prune removes only finished, old jobs."""
from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import T2, T3, cond, job_object, kubeflow_status, pod, volcano_status

from arena.engines.kubernetes.engine import KubernetesEngine
from arena.engines.kubernetes.models import ts
from arena.errors import ArenaError, InvalidSpec, JobNotFound
from arena.spec.job import JobSpec, TaskSpec, Tensorboard


def owned_pod(server: FakeApiServer, name: str, owner: dict) -> dict:
    p = pod(name, job=owner["metadata"]["name"], task="worker")
    p["metadata"]["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                         "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                         "controller": True}]
    return server.add(p)


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_delete_cascades(policy: str, apiserver: FakeApiServer, make_engine) -> None:
    engine: KubernetesEngine = make_engine(apiserver, propagation=policy)
    spec = JobSpec(kind="tfjob", name="tb", image="tf:2", tensorboard=Tensorboard(logdir="/logs"),
                   tasks=[TaskSpec(name="worker", replicas=2, command="python w.py")])
    engine.submit(spec)
    job = apiserver.objects("tfjobs")[0]
    owned_pod(apiserver, "tb-worker-0", job)
    owned_pod(apiserver, "tb-worker-1", job)
    apiserver.add(pod("keep-worker-0", job="keep"))
    assert len(apiserver.objects("deployments")) == 1 and len(apiserver.objects("services")) == 1
    apiserver.reset_requests()
    engine.delete("default", "tb")
    (delete,) = apiserver.requests_to("DELETE")  # upstream's record of the job is owned by it: it goes along
    assert delete.path == "/apis/kubeflow.org/v1/namespaces/default/tfjobs/tb"
    assert apiserver.objects("configmaps") == []
    assert delete.query["propagationPolicy"] == policy
    assert apiserver.objects("tfjobs") == []
    assert apiserver.objects("deployments") == [] and apiserver.objects("services") == []
    assert [p["metadata"]["name"] for p in apiserver.objects("pods")] == ["keep-worker-0"]


def test_every_name_is_processed(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    """What `arena delete a ghost b` does: an unknown name is reported, the others are still deleted."""
    for name in ("a", "b"):
        apiserver.add(job_object("pytorchjob", name, status=kubeflow_status()))
    errors = []
    for name in ("a", "ghost", "b"):
        try:
            engine.delete("default", name)
        except ArenaError as exc:
            errors.append(exc)
    assert apiserver.objects("pytorchjobs") == []
    assert [type(e) for e in errors] == [JobNotFound]


def test_delete_needs_a_type_when_ambiguous(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(job_object("pytorchjob", "twin", status=kubeflow_status()))
    apiserver.add(job_object("volcanojob", "twin", status=volcano_status("Running")))
    with pytest.raises(InvalidSpec, match="--type"):
        engine.delete("default", "twin")
    engine.delete("default", "twin", kind="volcanojob")
    assert [o["kind"] for o in apiserver.objects("pytorchjobs")] == ["PyTorchJob"]
    assert apiserver.objects("jobs", "batch.volcano.sh") == []


def test_prune_deletes_only_old_finished_jobs(apiserver: FakeApiServer, make_engine) -> None:
    done = kubeflow_status(cond("Created"), cond("Running", "False", T2), cond("Succeeded", t=T3), done=True)
    failed = kubeflow_status(cond("Created"), cond("Failed", t=T2))
    apiserver.add(job_object("pytorchjob", "old-done", status=done))
    apiserver.add(job_object("tfjob", "old-failed", status=failed))
    apiserver.add(job_object("pytorchjob", "running", status=kubeflow_status(cond("Running", t=T2))))
    apiserver.add(job_object("volcanojob", "queued", status=volcano_status("Pending")))
    apiserver.add(job_object("volcanojob", "vc-done", status=volcano_status("Completed", "Pending", "Running")))
    clock = ts(T3) + 3600  # an hour after T3
    engine: KubernetesEngine = make_engine(apiserver, clock=lambda: clock)
    assert engine.prune(2 * 3600, "default") == []  # nothing finished two hours ago
    pruned = engine.prune(1800, "default")
    assert sorted((v.kind, v.name) for v in pruned) == [("pytorchjob", "old-done"), ("tfjob", "old-failed"),
                                                        ("volcanojob", "vc-done")]
    assert sorted(j.name for j in engine.list("default")) == ["queued", "running"]
