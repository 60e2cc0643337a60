"""logs through the pod log API: chief by default, -i, tail, since, timestamps, follow, not-started retries."""
from __future__ import annotations

import time

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import job_object, job_pods, kubeflow_status, pod, running_state, waiting_state

from arena.engines.kubernetes.api import NotStarted
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import InvalidSpec


@pytest.fixture
def mnist(apiserver: FakeApiServer) -> FakeApiServer:
    apiserver.add(job_object("pytorchjob", "mnist", status=kubeflow_status()))
    for p in job_pods("pytorchjob", "mnist", workers=2):
        apiserver.add(p)
    now = time.time()
    for name in ("mnist-master-0", "mnist-worker-0", "mnist-worker-1"):
        apiserver.logs[("default", name)] = [(now - 600 + i * 60, f"{name} epoch {i}") for i in range(10)]
    return apiserver


def log_requests(server: FakeApiServer) -> list:
    return server.requests_to("GET", "/log")


def test_chief_by_default(mnist: FakeApiServer, engine: KubernetesEngine) -> None:
    lines = list(engine.logs("default", "mnist"))
    assert lines == [f"mnist-master-0 epoch {i}" for i in range(10)]
    (req,) = log_requests(mnist)
    assert req.path == "/api/v1/namespaces/default/pods/mnist-master-0/log"
    assert req.query == {"container": "main", "follow": "false", "timestamps": "false"}


def test_instance_tail_since_timestamps(mnist: FakeApiServer, engine: KubernetesEngine) -> None:
    assert list(engine.logs("default", "mnist", instance="worker-1", tail=2)) == \
        ["mnist-worker-1 epoch 8", "mnist-worker-1 epoch 9"]
    assert log_requests(mnist)[-1].query["tailLines"] == "2"
    clock = time.time()
    engine.clock = lambda: clock
    recent = list(engine.logs("default", "mnist", instance="mnist-worker-0", since=clock - 150))
    assert recent == ["mnist-worker-0 epoch 8", "mnist-worker-0 epoch 9"]
    assert log_requests(mnist)[-1].query["sinceSeconds"] == "150"
    stamped = list(engine.logs("default", "mnist", tail=1, timestamps=True))
    assert stamped[0].endswith("Z mnist-master-0 epoch 9") and stamped[0][:4].isdigit()
    with pytest.raises(InvalidSpec, match="'worker-7' is not an instance of job mnist"):
        engine.logs("default", "mnist", instance="worker-7")


def test_follow_streams_lines_as_they_come(mnist: FakeApiServer, engine: KubernetesEngine) -> None:
    mnist.follow_lines[("default", "mnist-master-0")] = ["epoch 10", "epoch 11", "done"]
    mnist.follow_delay = 0.2
    stream = engine.logs("default", "mnist", follow=True, tail=1)
    first = next(stream)
    assert first == "mnist-master-0 epoch 9"
    assert not mnist.follow_done.is_set()  # the first line arrived while the server was still streaming
    assert list(stream) == ["epoch 10", "epoch 11", "done"]
    assert log_requests(mnist)[-1].query["follow"] == "true"


def test_retries_until_the_container_starts(mnist: FakeApiServer, make_engine) -> None:
    mnist.not_started[("default", "mnist-master-0")] = 2
    engine: KubernetesEngine = make_engine(mnist, log_retries=5)
    assert len(list(engine.logs("default", "mnist"))) == 10
    assert len(log_requests(mnist)) == 3
    mnist.not_started[("default", "mnist-master-0")] = 5
    impatient: KubernetesEngine = make_engine(mnist, log_retries=1)
    with pytest.raises(NotStarted, match="is waiting to start: ContainerCreating"):
        impatient.logs("default", "mnist")


def test_code_sync_logs_while_initializing(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(job_object("pytorchjob", "sync", status=kubeflow_status()))
    apiserver.add(pod("sync-master-0", task="master", phase="Pending", state=waiting_state("PodInitializing"),
                      init=[("init-code", running_state())]))
    apiserver.logs[("default", "sync-master-0")] = [(time.time(), "Cloning into '/code/train'...")]
    assert list(engine.logs("default", "sync")) == ["Cloning into '/code/train'..."]
    assert log_requests(apiserver)[-1].query["container"] == "init-code"
