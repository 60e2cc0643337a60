"""The rest of the Engine interface on a cluster: data (PersistentVolumeClaims), events, prune by kind,
queues and nodes as the engine-neutral views, and queue creation that binds its Command to the queue."""
from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import T0, T2, T3, cond, event, job_object, job_pods, kubeflow_status, node, volcano_status

from arena.engines.base import Engine
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.engines.kubernetes.models import ts
from arena.errors import Unsupported
from arena.views import DataView, NodeView, QueueView


def claim(name: str, *, namespace: str = "default", phase: str = "Bound", modes: tuple[str, ...] = ("ReadWriteMany",),
          annotations: dict[str, str] | None = None, deleting: bool = False) -> dict:
    meta: dict = {"name": name, "namespace": namespace, "creationTimestamp": T0, "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = T3
    status: dict = {"phase": phase}
    if phase == "Bound":
        status.update(accessModes=list(modes), capacity={"storage": "100Gi"})
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": "100Gi"}},
                     "volumeName": f"pv-{name}" if phase == "Bound" else ""},
            "status": status}


def test_the_engine_implements_every_operation_of_the_protocol() -> None:
    import inspect

    declared = {n for n, v in vars(Engine).items() if inspect.isfunction(v) and not n.startswith("_")}
    for name in sorted(declared):
        ours = inspect.signature(getattr(KubernetesEngine, name))
        assert list(ours.parameters) == list(inspect.signature(getattr(Engine, name)).parameters), name


def test_data_list_is_the_namespaces_bound_claims(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(claim("imagenet", modes=("ReadOnlyMany", "ReadWriteOnce", "ReadOnlyMany"),
                        annotations={"description": "ImageNet 2012", "owner": "alice"}))
    apiserver.add(claim("scratch", phase="Pending"))  # not usable yet: upstream skips it
    apiserver.add(claim("going", deleting=True))  # being deleted: skipped too
    apiserver.add(claim("logs", namespace="team-b"))
    (vol,) = engine.data("list", namespace="default")
    assert vol == DataView(name="imagenet", path="pv-imagenet", description="ImageNet 2012", created=ts(T0),
                           namespace="default", owner="alice", capacity="100Gi",
                           access_modes=["ReadWriteOnce", "ReadOnlyMany"], status="Bound")
    assert apiserver.requests_to("GET")[-1].path == "/api/v1/namespaces/default/persistentvolumeclaims"
    assert sorted((v.namespace, v.name) for v in engine.data()) == [("default", "imagenet"), ("team-b", "logs")]


@pytest.mark.parametrize("op", ["create", "delete"])
def test_data_create_and_delete_are_unsupported(op: str, apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    with pytest.raises(Unsupported, match=f"data {op} .* is not supported by the kubernetes engine") as err:
        engine.data(op, "imagenet", "/data")
    assert (err.value.engine, err.value.exit_code) == ("kubernetes", 1)
    assert apiserver.api_requests() == []


def test_events_of_a_job_oldest_first(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    job = apiserver.add(job_object("pytorchjob", "mnist", status=kubeflow_status(cond("Created"))))
    pods = [apiserver.add(p) for p in job_pods("pytorchjob", "mnist", workers=1)]
    apiserver.add(event(pods[0], "Pulled", "image pulled", t=T2))
    apiserver.add(event(job, "SuccessfulCreatePod", "created pod mnist-master-0"))
    apiserver.add(event(apiserver.add(job_object("tfjob", "other")), "Noise", "not this job"))
    assert [(e.reason, e.source) for e in engine.events("default", "mnist")] == [
        ("SuccessfulCreatePod", "pytorchjob/mnist"), ("Pulled", "pod/mnist-master-0")]


def test_prune_by_kind(apiserver: FakeApiServer, make_engine) -> None:
    done = kubeflow_status(cond("Created"), cond("Succeeded", t=T3), done=True)
    apiserver.add(job_object("pytorchjob", "torch-done", status=done))
    apiserver.add(job_object("volcanojob", "vc-done", status=volcano_status("Completed", "Pending", "Running")))
    clock = ts(T3) + 3600
    engine: KubernetesEngine = make_engine(apiserver, clock=lambda: clock)
    assert [v.name for v in engine.prune(60, "default", kind="volcanojob")] == ["vc-done"]
    assert [j.name for j in engine.list("default")] == ["torch-done"]


def test_queues_and_nodes_are_the_neutral_views(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                   "metadata": {"name": "team-a", "creationTimestamp": T0},
                   "spec": {"weight": 2, "reclaimable": False, "deserved": {"cpu": "8"}}, "status": {"state": "Open"}})
    apiserver.add(node("node-1", gpus=4))
    (queue,) = engine.queues()
    assert isinstance(queue, QueueView)
    assert (queue.reclaimable, queue.deserved, queue.created) == (False, {"cpu": "8"}, ts(T0))
    (n,) = engine.nodes()
    assert isinstance(n, NodeView) and (n.gpu_total, n.mode, n.capacity_source) == (4, "exclusive", "cluster")


def test_creating_a_closed_queue_binds_its_command_to_the_queue(apiserver: FakeApiServer,
                                                                engine: KubernetesEngine) -> None:
    engine.queue_op("create", "team-c", weight=1, state="Closed")
    queue_uid = apiserver.objects("queues")[0]["metadata"]["uid"]
    (command,) = apiserver.objects("commands")
    assert command["target"]["uid"] == queue_uid
    assert command["metadata"]["ownerReferences"][0]["uid"] == queue_uid


def test_unknown_queue_operations_are_unsupported(engine: KubernetesEngine) -> None:
    with pytest.raises(Unsupported, match="queue update .* is not supported by the kubernetes engine"):
        engine.queue_op("update", "team-a", weight=3)


def test_summaries_are_the_views_summarized_with_the_chiefs_node(apiserver: FakeApiServer,
                                                                  engine: KubernetesEngine) -> None:
    """`arena list` on a cluster: the same jobs as `list`, the NODE the chief pod's host; N/A without pods."""
    from arena.summary import summarize

    apiserver.add(job_object("pytorchjob", "run", status=kubeflow_status(cond("Created", t=T2),
                                                                          cond("Running", t=T3))))
    for p in job_pods("pytorchjob", "run"):
        apiserver.add(p)
    apiserver.add(job_object("tfjob", "wait"))
    summaries = {s.name: s for s in engine.list_summaries("default")}
    assert summaries == {v.name: summarize(v) for v in engine.list("default")}
    assert (summaries["run"].status, summaries["run"].nodeIP) == ("RUNNING", "10.0.0.1")
    assert summaries["wait"].nodeIP == "" and [s.name for s in engine.list_summaries("default", "tfjob")] == ["wait"]
