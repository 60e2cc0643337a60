"""version, completion, daemon management, SDK round trip."""
from __future__ import annotations

import fcntl

import pytest

pytestmark = pytest.mark.e2e


def test_version(arena):
    assert arena.run("version", "--short", check=True).stdout.strip().startswith("v")
    assert "Version:" in arena.run("version", check=True).stdout
    assert arena.daemon_pid() is None  # version never needs the daemon


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(arena, shell):
    out = arena.run("completion", shell, check=True).stdout
    for word in ("submit", "pytorchjob", "queue", "-l namespace" if shell == "fish" else "--namespace"):
        assert word in out


def test_daemon_start_status_stop_keeps_jobs(arena):
    assert arena.run("daemon", "status").returncode == 1
    arena.run("daemon", "start", check=True)
    assert "arenad running" in arena.run("daemon", "status", check=True).stdout
    arena.run("submit", "py", "--name", "keeps", "sleep 3; echo done", check=True)
    arena.wait_status("keeps", "RUNNING")
    arena.run("daemon", "stop", check=True)
    with open(arena.home / "arenad.lock", "a+") as lock:  # the daemon has exited, not just closed its socket
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert arena.run("daemon", "status").returncode == 1
    job = arena.wait_status("keeps", "SUCCEEDED", timeout=30)  # the next command restarts and re-adopts
    assert job["instances"][0]["exitCode"] == 0
    assert arena.run("logs", "keeps", check=True).stdout.strip() == "done"
    assert (arena.home / "arenad.sock").stat().st_mode & 0o777 == 0o600
    assert arena.home.stat().st_mode & 0o777 == 0o700


def test_sdk_round_trip(arena, monkeypatch):
    for k, v in arena.env.items():
        if k.startswith("ARENA_"):
            monkeypatch.setenv(k, v)
    from arena import Client
    from arena.errors import JobNotFound

    c = Client(home=arena.home)
    view = c.submit_pytorchjob(name="sdk", workers=2, command='echo "rank $RANK"')
    assert view.name == "sdk" and view.status in ("QUEUING", "PENDING", "RUNNING", "SUCCEEDED")
    done = c.wait("sdk", timeout=60)
    assert done.status == "SUCCEEDED" and [i.task for i in done.instances] == ["master", "worker"]
    assert list(c.logs("sdk")) == ["rank 0"]
    assert [j.name for j in c.list()] == ["sdk"]
    c.delete("sdk")
    with pytest.raises(JobNotFound):
        c.get("sdk")


def test_top_node_job_queue(arena):
    arena.env["ARENA_LOCAL_CAPACITY"] = "cpu=4,memory=8Gi,nvidia.com/gpu=2"
    arena.run("submit", "py", "--name", "tj", "--gpus", "1", "--cpu", "500m", "--memory", "1Gi", "--workers", "2",
              "sleep 300", check=True)
    arena.wait_status("tj", "RUNNING")
    (node,) = arena.json("top", "node")  # every node: here the one machine
    assert (node["gpu_total"], node["gpu_allocated"], node["cpu_allocated"], node["memory_allocated"]) == \
        (2, 2, 1000, 2 * 2**30)
    text = arena.run("top", "node", "-d", check=True).stdout
    assert "Allocated/Total GPUs In Cluster:" in text and "2/2 (100.0%)" in text
    per_job = arena.run("top", "job", "tj", check=True).stdout
    assert "Allocated/Requested GPUs of Job: 2/2" in per_job and "GPU(DeviceIndex)" in per_job
    assert "Total Allocated/Requested GPUs of Training Jobs: 2/2" in arena.run("top", "job", check=True).stdout
    queues = {q["name"]: q for q in arena.json("top", "queue")}
    assert queues["default"]["allocated"]["nvidia.com/gpu"] == "2" and queues["default"]["running"] == 1
