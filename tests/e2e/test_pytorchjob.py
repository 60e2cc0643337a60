"""End to end: the real `arena` command, a real daemon, real replica processes."""
from __future__ import annotations

import importlib.util
import os
import signal
import time

import psutil
import pytest

pytestmark = pytest.mark.e2e

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("sklearn") is None,
                                 reason="needs the 'train' extra (torch, scikit-learn)")


@needs_torch
@pytest.mark.train
def test_ddp_digits_two_workers_succeeds_with_accuracy(arena):
    r = arena.run("submit", "pytorchjob", "--name", "digits", "--workers", "2", "--wait",
                  "python examples/pytorch/ddp_digits.py", timeout=300)
    assert r.returncode == 0, r.stderr
    job = arena.job("digits")
    assert job["status"] == "SUCCEEDED"
    assert [i["name"] for i in job["instances"]] == ["digits-master-0", "digits-worker-0"]
    logs = arena.run("logs", "digits", check=True).stdout
    line = next(x for x in logs.splitlines() if "final test accuracy=" in x)
    assert float(line.split("accuracy=")[1].split()[0]) >= 0.90
    assert "world size 2" in line


def test_env_contract_reaches_every_replica(arena):
    arena.run("submit", "py", "--name", "envs", "--workers", "3", "--gpus", "1", "-e", "FOO=bar", "--wait",
              'echo "M=$MASTER_ADDR:$MASTER_PORT W=$WORLD_SIZE R=$RANK L=$LOCAL_RANK U=$PYTHONUNBUFFERED '
              'C=[$CUDA_VISIBLE_DEVICES] w=$workers g=$gpus F=$FOO"; if [ "$RANK" = 0 ]; then sleep 2; fi', check=True)
    job = arena.job("envs")
    lines = {}
    gpus = set()
    for inst in job["instances"]:
        out = arena.run("logs", "envs", "-i", inst["name"], check=True).stdout.strip()
        lines[inst["name"]] = out
        gpus.update(inst["gpuIndices"])
    ports = {line.split()[0] for line in lines.values()}
    assert len(ports) == 1 and next(iter(ports)).startswith("M=127.0.0.1:")
    assert "W=3 R=0 L=0 U=1" in lines["envs-master-0"]
    assert "R=1" in lines["envs-worker-0"] and "R=2" in lines["envs-worker-1"]
    assert all("w=3 g=1 F=bar" in v for v in lines.values())
    assert len(gpus) == 3  # three distinct device indices, one per replica
    devices = sorted(v.split("C=[")[1].split("]")[0] for v in lines.values())
    assert sorted(map(str, gpus)) == devices


def test_gpus_zero_sets_cuda_visible_devices_empty(arena):
    arena.run("submit", "py", "--name", "nogpu", "--wait", 'echo "C=[$CUDA_VISIBLE_DEVICES] N=$NVIDIA_VISIBLE_DEVICES"',
              check=True)
    assert arena.run("logs", "nogpu", check=True).stdout.strip() == "C=[] N=void"


def test_failing_worker_restarts_retry_times_then_fails(arena):
    cmd = 'if [ "$RANK" = 0 ]; then sleep 60; else echo attempt; exit 3; fi'
    r = arena.run("submit", "py", "--name", "flaky", "--workers", "2", "--retry", "2", "--wait", cmd)
    assert r.returncode == 1
    job = arena.job("flaky")
    assert job["status"] == "FAILED" and job["phase"] == "Failed"
    assert job["restarts"] == 2
    worker = next(i for i in job["instances"] if i["task"] == "worker")
    assert worker["restarts"] == 2 and worker["exitCode"] == 3
    assert "backoff limit" in job["reason"]
    restarting = [e for e in job["events"] if e["reason"] == "Restarting"]
    assert sum(e["count"] for e in restarting) == 2  # one event, counted (as Kubernetes aggregates repeats)
    log = arena.run("logs", "flaky", "-i", "flaky-worker-0", check=True).stdout
    assert log.count("attempt") == 3
    master = next(i for i in job["instances"] if i["task"] == "master")
    assert not psutil.pid_exists(master["pid"]) or psutil.Process(master["pid"]).status() == psutil.STATUS_ZOMBIE


def _tree(pid: int) -> list[psutil.Process]:
    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def test_delete_running_job_kills_every_replica_process(arena):
    arena.run("submit", "py", "--name", "sleepy", "--workers", "3", "sleep 300 & sleep 300; wait", check=True)
    job = arena.wait_status("sleepy", "RUNNING")
    deadline = time.monotonic() + 30  # RUNNING once the shims run; their shells fork the sleeps a moment later
    while len(procs := [p for i in job["instances"] for p in _tree(i["pid"])]) < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(procs) >= 9  # shim, shell and two sleeps per replica
    r = arena.run("delete", "sleepy", check=True)
    assert "deleted successfully" in r.stderr
    gone, alive = psutil.wait_procs(procs, timeout=5)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert arena.run("get", "sleepy").returncode == 1


def test_delete_processes_every_name_and_reports_missing(arena):
    arena.run("submit", "py", "--name", "one", "true", check=True)
    arena.run("submit", "py", "--name", "two", "true", check=True)
    r = arena.run("delete", "one", "missing", "two")
    assert r.returncode == 1
    assert "missing" in r.stderr and r.stderr.count("deleted successfully") == 2
    assert arena.json("list") == []


def test_daemon_kill9_job_finishes_with_complete_logs(arena):
    cmd = 'for i in $(seq 1 20); do echo "line $i"; sleep 0.15; done'
    arena.run("submit", "py", "--name", "survivor", "--workers", "2", cmd, check=True)
    arena.wait_status("survivor", "RUNNING")
    pid = arena.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(5) if psutil.pid_exists(pid) else None
    time.sleep(0.5)
    job = arena.wait_status("survivor", "SUCCEEDED", "FAILED", timeout=60)  # any command restarts the daemon
    assert arena.daemon_pid() != pid
    assert job["status"] == "SUCCEEDED", job
    for inst in ("survivor-master-0", "survivor-worker-0"):
        out = arena.run("logs", "survivor", "-i", inst, check=True).stdout.splitlines()
        assert out == [f"line {i}" for i in range(1, 21)]


def test_lost_replica_is_reported_failed_with_reason(arena):
    arena.run("submit", "py", "--name", "lost", "sleep 300", check=True)
    job = arena.wait_status("lost", "RUNNING")
    os.killpg(job["instances"][0]["pid"], signal.SIGKILL)
    job = arena.wait_status("lost", "FAILED", timeout=30)
    assert job["instances"][0]["reason"].startswith("shim vanished")
    assert any(e["reason"] == "ReplicaLost" for e in job["events"])


def test_logs_tail_since_timestamps_and_follow(arena):
    arena.run("submit", "py", "--name", "talk", 'for i in 1 2 3 4 5; do echo "n$i"; sleep 0.2; done', check=True)
    follow = arena.run("logs", "talk", "-f", timeout=60, check=True).stdout.split()
    assert follow == ["n1", "n2", "n3", "n4", "n5"]
    assert arena.run("logs", "talk", "--tail", "2", check=True).stdout.split() == ["n4", "n5"]
    stamped = arena.run("logs", "talk", "--timestamps", check=True).stdout.splitlines()
    assert all(line.split(" ")[0].endswith("Z") for line in stamped)
    assert arena.run("logs", "talk", "--since", "1h", check=True).stdout.split() == follow
    assert arena.run("logs", "talk", "--since-time", "2999-01-01T00:00:00Z", check=True).stdout == ""
    assert arena.run("logs", "talk", "-c", "talk-master-0", check=True).stdout.split() == follow  # the replica itself
    assert arena.run("logs", "talk", "--type", "pytorchjob", "--tail", "1", check=True).stdout.split() == ["n5"]


def test_logs_refuses_what_the_local_engine_does_not_have(arena):
    arena.run("submit", "py", "--name", "one", "--wait", "echo hi", check=True)
    bad = arena.run("logs", "one", "-c", "sidecar")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "-c/--container 'sidecar'" in bad.stderr and "not supported by the local engine" in bad.stderr
    other = arena.run("logs", "one", "--type", "tfjob")
    assert other.returncode == 1 and "Not found training job one in namespace default" in other.stderr


def test_list_get_output_formats_and_prune(arena):
    arena.run("submit", "py", "--name", "done1", "--wait", "true", check=True)
    arena.run("submit", "py", "--name", "bad1", "--wait", "exit 4")
    arena.run("submit", "py", "--name", "run1", "sleep 300", check=True)
    arena.run("submit", "py", "--name", "other", "-n", "team", "sleep 300", check=True)
    arena.wait_status("run1", "RUNNING")
    table = arena.run("list", check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)", "GPU(Allocated)", "NODE"]
    assert {line.split()[0] for line in table[1:]} == {"done1", "bad1", "run1"}
    assert "NAMESPACE" in arena.run("list", "-A", check=True).stdout
    assert arena.run("list", "-o", "name", check=True).stdout.split() == ["pytorchjob/run1", "pytorchjob/bad1",
                                                                          "pytorchjob/done1"]
    assert "QUEUE" in arena.run("list", "-o", "wide", check=True).stdout
    assert "status: SUCCEEDED" in arena.run("get", "done1", "-o", "yaml", check=True).stdout
    assert arena.job("bad1")["status"] == "FAILED"
    r = arena.run("prune", "--since", "0s", check=True)
    assert "done1" in r.stdout and "bad1" in r.stdout and "run1" not in r.stdout
    assert {j["name"] for j in arena.json("list", "-A")} == {"run1", "other"}


def test_namespaces_are_separate(arena):
    arena.run("submit", "py", "--name", "same", "-n", "a", "true", check=True)
    arena.run("submit", "py", "--name", "same", "-n", "b", "true", check=True)
    assert [j["namespace"] for j in arena.json("list", "-n", "a")] == ["a"]
    assert len(arena.json("list", "-A")) == 2
