"""top node GPU math, queue allocation, and `arena check` (engine and CLI)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

import yaml

import pytest
from fake_apiserver import FakeApiServer, Recorded
from k8s_objects import T0, cond, node, pod

from arena.cli import check as check_cli
from arena.cli.parser import Parser
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import ArenaError, InvalidSpec


def test_top_node_gpu_math(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add(node("node-1", gpus=8, allocatable_gpus=7, roles=("worker",)))
    apiserver.add(node("node-2", gpus=4, ip="10.0.0.2"))
    apiserver.add(node("cpu-0", gpus=0, roles=("control-plane",), ready="False", unschedulable=True))
    apiserver.add(pod("a-worker-0", job="a", gpus=2, node="node-1", cpu="4", memory="16Gi"))
    apiserver.add(pod("a-worker-1", job="a", index=1, gpus=1, node="node-1", phase="Pending", started=False))
    apiserver.add(pod("b-worker-0", job="b", gpus=1, node="node-1", phase="Succeeded"))  # finished: not counted
    apiserver.add(pod("c-worker-0", job="c", gpus=1, node="node-1", deleting=True))  # terminating: not counted
    apiserver.add(pod("d-worker-0", job="d", gpus=4, node="node-2", namespace="team-b"))
    apiserver.add(pod("e-worker-0", job="e", gpus=1, node=None, phase="Pending", started=False))  # unscheduled
    apiserver.reset_requests()
    usage = {u.name: u for u in engine.nodes()}
    n1, n2, cpu = usage["node-1"], usage["node-2"], usage["cpu-0"]
    assert (n1.gpu_total, n1.gpu_allocated, n1.gpu_unhealthy, n1.mode) == (8, 3, 1, "exclusive")
    assert (n1.role, n1.status, n1.ip) == ("worker", "Ready", "10.0.0.1")
    assert (n1.cpu_milli, n1.cpu_allocated, n1.memory_allocated) == (64000, 5000, 17 * 2**30)
    assert sorted(i.name for i in n1.instances) == ["a-worker-0", "a-worker-1"]
    assert (n2.gpu_total, n2.gpu_allocated, n2.ip) == (4, 4, "10.0.0.2")
    assert (cpu.gpu_total, cpu.mode, cpu.role, cpu.status) == (0, "none", "control-plane",
                                                                 "NotReady,SchedulingDisabled")
    requests = apiserver.api_requests()
    assert sorted(r.path for r in requests) == ["/api/v1/nodes", "/api/v1/pods"]
    pods = next(r for r in requests if r.path == "/api/v1/pods")
    assert pods.query["fieldSelector"] == "status.phase!=Failed,status.phase!=Succeeded"
    assert (sum(u.gpu_total for u in usage.values()), sum(u.gpu_allocated for u in usage.values())) == (12, 7)
    assert [u.name for u in engine.nodes(["node-2"])] == ["node-2"]
    with pytest.raises(InvalidSpec, match="node 'node-9' not found"):
        engine.nodes(["node-9"])


def test_queue_allocation(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.add({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                   "metadata": {"name": "team-a"},
                   "spec": {"weight": 2, "capability": {"cpu": "64", "nvidia.com/gpu": "8"}, "reclaimable": True},
                   "status": {"state": "Open", "allocated": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "4"},
                              "running": 2, "pending": 1, "inqueue": 1}})
    apiserver.add({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": "cq"},
                   "spec": {"cohortName": "org", "namespaceSelector": {}, "resourceGroups": [
                       {"coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [
                           {"name": "a100", "resources": [{"name": "cpu", "nominalQuota": "32"},
                                                          {"name": "nvidia.com/gpu", "nominalQuota": 8}]}]}]},
                   "status": {"flavorsUsage": [{"name": "a100", "resources": [
                       {"name": "cpu", "total": "8", "borrowed": "0"},
                       {"name": "nvidia.com/gpu", "total": "10", "borrowed": "2"}]}],
                       "pendingWorkloads": 3, "admittedWorkloads": 2, "reservingWorkloads": 2,
                       "conditions": [cond("Active", t=T0, reason="Ready")]}})
    apiserver.add({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
                   "metadata": {"name": "team-q", "namespace": "research"}, "spec": {"clusterQueue": "cq"}})
    queues = {q.name: q for q in engine.queues()}
    vq, cq = queues["team-a"], queues["cq"]
    assert (vq.system, vq.state, vq.weight, vq.running, vq.pending) == ("volcano", "Open", 2, 2, 1)
    assert vq.allocated["nvidia.com/gpu"] == "4" and vq.capability["nvidia.com/gpu"] == "8"
    assert (cq.system, cq.state, cq.cohort, cq.pending, cq.running) == ("kueue", "Active", "org", 3, 2)
    assert cq.capability == {"cpu": "32", "nvidia.com/gpu": "8"}
    assert cq.allocated == {"cpu": "8", "nvidia.com/gpu": "10"} and cq.borrowed == {"nvidia.com/gpu": "2"}
    assert cq.local_queues == ["research/team-q"]


def test_queues_without_queue_systems(make_server, make_engine) -> None:
    engine = make_engine(make_server(installed=["pytorchjobs"]))
    assert engine.queues() == []


def test_check_reports_served_crds(make_server, make_engine) -> None:
    server = make_server(installed=["pytorchjobs", "mpijobs-v2beta1", "appwrappers", "jobs.batch.volcano.sh",
                                    "podgroups"], operators=True)
    report = make_engine(server).check()
    ready = {k.kind: k for k in report.kinds}
    assert {k for k, v in ready.items() if v.ready} == {"pytorchjob", "mpijob", "volcanojob", "appwrapperjob"}
    assert ready["tfjob"].missing == ["install the TFJob CRD (kubeflow.org/v1)"]
    assert ready["mpijob"].variants == ["--mpi-api-version v2beta1 (mpi-operator)"]
    assert ready["appwrapperjob"].variants == ["--inner-type pytorch", "--inner-type volcano"]
    assert report.queues == []  # neither Volcano Queues nor Kueue
    assert report.version == "v1.30.0" and report.server == server.url
    ops = {o.name: o for o in report.operators}
    assert (ops["Training Operator"].deployments, ops["Training Operator"].ready) == (["kubeflow/training-operator"],
                                                                                      "1/1")
    assert ops["MPI operator"].running and ops["Volcano controllers"].running and not ops["Kueue"].found
    paths = sorted(r.path for r in server.api_requests())
    assert paths == ["/apis", "/apis/apps/v1/deployments", "/apis/batch.volcano.sh/v1alpha1", "/apis/kubeflow.org/v1",
                     "/apis/kubeflow.org/v2beta1", "/apis/scheduling.volcano.sh/v1beta1",
                     "/apis/workload.codeflare.dev/v1beta2", "/version"]


def test_check_needs_a_ready_operator(make_server, make_engine) -> None:
    from fake_apiserver import operator_deployments

    server = make_server(installed=["pytorchjobs", "tfjobs", "mpijobs-v2beta1"])
    for dep in operator_deployments(["mpijobs-v2beta1"], ready=0):  # scaled up, not ready yet
        server.add(dep)
    legacy = operator_deployments(["tfjobs"])[0]
    legacy["metadata"].update(name="tf-job-operator", namespace="arena-system")  # arena-artifacts' install
    legacy["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/kubeflow/tf_operator:v1@sha256:ab"
    server.add(legacy)
    report = make_engine(server).check()
    kinds = {k.kind: k for k in report.kinds}
    assert kinds["tfjob"].ready and not kinds["pytorchjob"].ready and not kinds["mpijob"].ready
    assert kinds["pytorchjob"].missing == ["start the Training Operator or PyTorch operator (legacy) "
                                           "(no ready Deployment found)"]
    assert kinds["mpijob"].missing == ["start the MPI operator (no ready Deployment found)"]
    ops = {o.name: o for o in report.operators}
    assert (ops["MPI operator"].found, ops["MPI operator"].running, ops["MPI operator"].ready) == (True, False, "0/1")
    assert ops["TF operator (legacy)"].deployments == ["arena-system/tf-job-operator"]


def test_check_without_permission_to_list_deployments(make_server, make_engine) -> None:
    server = make_server(installed=["pytorchjobs"])
    server.forbid("list", "deployments")
    report = make_engine(server).check()
    assert {k.kind for k in report.kinds if k.ready} == {"pytorchjob"}  # unknown operators hold nothing back
    assert all(o.found is None for o in report.operators)


def run_cli(server: FakeApiServer, tmp_path, *argv: str) -> int:
    path = tmp_path / "kc-cli"  # the same file the kubeconfig fixtures write
    path.write_text(yaml.safe_dump(server.kubeconfig(None)))
    root = Parser(prog="arena")
    check_cli.register(root.add_subparsers(dest="command"), "check", (), "check the cluster")
    args: argparse.Namespace = root.parse_args(["check", "--config", str(path), *argv])
    return args.func(args)


def test_check_cli(make_server, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    full = make_server(operators=True)
    assert run_cli(full, tmp_path) == 0
    out = capsys.readouterr().out
    assert f"API server:  {full.url} (v1.30.0)" in out
    assert "kueue-system/kueue-controller-manager" in out
    assert "pytorchjobs.kubeflow.org" in out and "Queues: volcano, kueue" in out
    empty = make_server(installed=[])
    assert run_cli(empty, tmp_path, "-o", "json") == 1
    assert '"ready": false' in capsys.readouterr().out


@pytest.mark.parametrize("op, action", [("open", "OpenQueue"), ("close", "CloseQueue")])
def test_queue_open_close_command_is_owned_by_the_queue(apiserver: FakeApiServer, engine: KubernetesEngine,
                                                        op: str, action: str) -> None:
    """The Command's ownerReference and target carry the queue's real uid (not the render placeholder),
    so the garbage collector keeps it until Volcano acts; the queue is read with one GET, not a LIST."""
    queue = apiserver.add({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                           "metadata": {"name": "team-a"}, "spec": {"weight": 1}, "status": {"state": "Open"}})
    apiserver.add({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                   "metadata": {"name": "team-b"}, "spec": {"weight": 1}, "status": {"state": "Open"}})
    uid = queue["metadata"]["uid"]
    apiserver.reset_requests()
    engine.queue_op(op, "team-a")
    posts = apiserver.requests_to("POST", "/commands")
    assert len(posts) == 1
    command = posts[0].body
    assert command["action"] == action
    assert command["metadata"]["generateName"] == f"team-a-{action.lower()}-"
    assert [r["uid"] for r in command["metadata"]["ownerReferences"]] == [uid]
    assert command["metadata"]["ownerReferences"][0]["name"] == "team-a"
    assert (command["target"]["uid"], command["target"]["name"]) == (uid, "team-a")
    queue_calls = [r for r in apiserver.api_requests()
                   if r.path.startswith("/apis/scheduling.volcano.sh/v1beta1/queues")]
    assert queue_calls[0].method == "GET" and queue_calls[0].path.endswith("/queues/team-a")
    # the only queue LIST is the read-back of the result (`queues(name)`), after the Command was created
    assert requests_before(apiserver, posts[0], lambda r: r.path.endswith("/queues")) == []
    [created] = apiserver.objects("commands")
    assert created["metadata"]["ownerReferences"][0]["uid"] == uid


def test_queue_open_missing_queue(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    with pytest.raises(ArenaError, match="queue 'nope' not found"):
        engine.queue_op("open", "nope")
    assert apiserver.requests_to("POST") == []


def requests_before(server: FakeApiServer, mark: Recorded, pred: Callable[[Recorded], bool]) -> list[Recorded]:
    """Recorded requests made before `mark` that match `pred`."""
    out: list[Recorded] = []
    for r in server.api_requests():
        if r is mark:
            return out
        if pred(r):
            out.append(r)
    return out
