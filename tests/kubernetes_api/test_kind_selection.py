"""A job kind given to get/delete/logs/events reaches the engine, which then asks only that kind's
resources; `container` reaches the pod log request. Through the engine and through the SDK `Client`."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from fake_apiserver import FakeApiServer
from k8s_objects import event, job_object, job_pods, kubeflow_status, pod, volcano_status

from arena.client import Client
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import ArenaError, InvalidSpec, JobNotFound

VOLCANO_JOBS = "/apis/batch.volcano.sh/v1alpha1/namespaces/default/jobs"


@pytest.fixture
def twins(apiserver: FakeApiServer) -> FakeApiServer:
    """A PyTorchJob and a Volcano Job both named `twin`, each with its pods and log lines."""
    torch = apiserver.add(job_object("pytorchjob", "twin", status=kubeflow_status()))
    vc = apiserver.add(job_object("volcanojob", "twin", status=volcano_status("Running", "Pending")))
    for p in job_pods("pytorchjob", "twin", workers=1) + job_pods("volcanojob", "twin", workers=1):
        apiserver.add(p)
    apiserver.add(event(torch, "Created", "pytorch twin created"))
    apiserver.add(event(vc, "Scheduled", "volcano twin scheduled"))
    now = time.time()
    apiserver.logs[("default", "twin-master-0")] = [(now, "torch master")]
    apiserver.logs[("default", "twin-task-0")] = [(now, "volcano task")]
    apiserver.reset_requests()
    return apiserver


def job_gets(server: FakeApiServer) -> list[str]:
    """Paths of the GETs of a named job object (not pods, events, services)."""
    return [r.path for r in server.requests_to("GET") if r.path.endswith("/twin")]


def test_a_shared_name_needs_the_kind(twins: FakeApiServer, engine: KubernetesEngine) -> None:
    for call in (lambda: engine.get("default", "twin"), lambda: engine.delete("default", "twin"),
                 lambda: engine.logs("default", "twin"), lambda: engine.events("default", "twin")):
        with pytest.raises(InvalidSpec, match=r"more than one job is named 'twin' \(pytorchjob, volcanojob\)"):
            call()


def test_get_with_a_kind_asks_only_that_kinds_resources(twins: FakeApiServer, engine: KubernetesEngine) -> None:
    view = engine.get("default", "twin", kind="vj")  # any accepted spelling
    assert (view.kind, view.chiefName) == ("volcanojob", "twin-task-0")
    assert job_gets(twins) == [f"{VOLCANO_JOBS}/twin"]
    twins.reset_requests()
    assert engine.get("default", "twin", kind="pytorchjob", events=False).kind == "pytorchjob"
    assert job_gets(twins) == ["/apis/kubeflow.org/v1/namespaces/default/pytorchjobs/twin"]
    with pytest.raises(JobNotFound):
        engine.get("default", "twin", kind="tfjob")


def test_logs_with_a_kind_and_a_container(twins: FakeApiServer, engine: KubernetesEngine) -> None:
    assert list(engine.logs("default", "twin", kind="volcanojob")) == ["volcano task"]
    assert list(engine.logs("default", "twin", kind="pytorchjob")) == ["torch master"]
    sidecar = pod("twin-master-0", job="twin", task="master", container="main")
    sidecar["spec"]["containers"].append({"name": "sidecar", "image": "proxy"})
    twins.add(sidecar)
    twins.logs[("default", "twin-master-0", "sidecar")] = [(time.time(), "proxy ready")]
    assert list(engine.logs("default", "twin", kind="pytorchjob", container="sidecar")) == ["proxy ready"]
    assert twins.requests_to("GET", "/log")[-1].query["container"] == "sidecar"
    with pytest.raises(ArenaError, match="container ghost is not valid for pod twin-master-0"):
        engine.logs("default", "twin", kind="pytorchjob", container="ghost")


def test_delete_and_events_with_a_kind(twins: FakeApiServer, engine: KubernetesEngine) -> None:
    assert [e.reason for e in engine.events("default", "twin", kind="pytorchjob")] == ["Created"]
    assert [e.reason for e in engine.events("default", "twin", kind="volcanojob")] == ["Scheduled"]
    twins.reset_requests()
    engine.delete("default", "twin", kind="volcanojob")
    assert [r.path for r in twins.requests_to("DELETE")] == [f"{VOLCANO_JOBS}/twin"]
    assert job_gets(twins) == [f"{VOLCANO_JOBS}/twin"]
    assert engine.get("default", "twin").kind == "pytorchjob"  # the only one left


def test_the_sdk_passes_the_kind_and_the_container(twins: FakeApiServer, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(twins.kubeconfig()))
    client = Client(engine="kubernetes", home=tmp_path / "home", kubeconfig=str(path))
    assert client.get("twin", kind="volcanojob").kind == "volcanojob"
    assert list(client.logs("twin", kind="pytorchjob", container="main")) == ["torch master"]
    assert twins.requests_to("GET", "/log")[-1].query["container"] == "main"
    assert [e.reason for e in client.events("twin", kind="volcanojob")] == ["Scheduled"]
    client.delete("twin", kind="pytorchjob")
    assert twins.objects("pytorchjobs") == []
    assert client.get("twin").kind == "volcanojob"
