"""The real `arena` command with --engine kubernetes against the loopback API server."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def k8s_arena(arena, apiserver, kubeconfig_file):
    arena.env["KUBECONFIG"] = str(kubeconfig_file)
    arena.env["ARENA_ENGINE"] = "kubernetes"
    arena.env["GIT_SYNC_PASSWORD"] = "do-not-print-me"
    arena.env["GIT_SYNC_USERNAME"] = "bob"
    return arena


def test_submit_list_get_delete_through_the_cli(k8s_arena, apiserver):
    a = k8s_arena
    r = a.run("submit", "pytorchjob", "--name", "mnist", "--image", "pytorch:2", "--workers", "3", "--gpus", "1",
              "--sync-mode", "git", "--sync-source", "https://example.com/org/repo.git", "python train.py")
    assert r.returncode == 0, r.stderr
    posted = [x for x in apiserver.requests_to("POST")]
    kinds = [x.body["kind"] for x in posted]
    assert kinds[0] == "PyTorchJob" and "Secret" in kinds
    job = posted[0].body
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    assert "do-not-print-me" not in json.dumps(job) and "do-not-print-me" not in r.stdout + r.stderr
    again = a.run("submit", "pytorchjob", "--name", "mnist", "--image", "pytorch:2", "true")
    assert again.returncode == 2 and "is already exist, please delete it first" in again.stderr
    names = [j["name"] for j in a.json("list")]
    assert names == ["mnist"]
    table = [line.split() for line in a.run("list", "-o", "wide", check=True).stdout.splitlines()]
    assert table[0][:7] == ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)", "GPU(Allocated)", "NODE"]
    assert table[1][0] == "mnist" and table[1][4:7] == ["3", "0", "N/A"]  # no pod on a node yet
    assert a.run("list", "-o", "name", check=True).stdout == "pytorchjob/mnist\n"
    view = a.json("get", "mnist")
    assert view["kind"] == "pytorchjob" and view["engine"] == "kubernetes" and view["requestGPUs"] == 3
    assert "do-not-print-me" not in a.run("get", "mnist", "-o", "yaml", check=True).stdout
    d = a.run("delete", "mnist", "ghost")
    assert d.returncode == 1 and "deleted successfully" in d.stderr and "ghost" in d.stderr
    assert a.json("list") == []


def test_dry_run_needs_no_cluster(arena, tmp_path):
    arena.env["KUBECONFIG"] = str(tmp_path / "none")
    r = arena.run("submit", "vj", "--engine", "kubernetes", "--name", "v", "--image", "busybox", "--task", "ps:1",
                  "--task", "worker:2", "--tf-config", "auto", "--dry-run", "-o", "json", "python t.py")
    assert r.returncode == 0, r.stderr
    objs = json.loads(r.stdout)["items"]
    assert objs[0]["kind"] == "Job" and [t["name"] for t in objs[0]["spec"]["tasks"]] == ["ps", "worker"]


def test_check_reports_job_kinds(k8s_arena, apiserver):
    from fake_apiserver import DEFAULT_CRDS, operator_deployments

    r = k8s_arena.run("check")
    assert r.returncode == 1, r.stderr  # CRDs served, but no operator runs: nothing can run
    assert "start the Training Operator or PyTorch operator (legacy) (no ready Deployment found)" in r.stdout
    for dep in operator_deployments(DEFAULT_CRDS):
        apiserver.add(dep)
    r = k8s_arena.run("check")
    assert r.returncode == 0, r.stderr
    assert "pytorchjob" in r.stdout.lower()
    assert "kubeflow/training-operator" in r.stdout and "Queues: volcano, kueue" in r.stdout


def test_queue_commands_through_the_cli(k8s_arena, apiserver):
    a = k8s_arena
    r = a.run("queue", "create", "team-a", "--weight", "3")
    assert r.returncode == 0, r.stderr
    for argv in (("queue", "list"), ("queue", "get", "team-a"), ("top", "queue")):
        r = a.run(*argv)
        assert r.returncode == 0, f"{argv}: {r.stderr}"
        assert "team-a" in r.stdout and "Traceback" not in r.stderr
    r = a.run("queue", "list", "-o", "json")
    assert [q["name"] for q in json.loads(r.stdout)] == ["team-a"]
