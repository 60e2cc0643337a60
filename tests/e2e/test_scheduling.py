"""Scheduling scenarios through the real CLI and daemon, on declared capacity."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


def with_capacity(arena, spec: str):
    arena.env["ARENA_LOCAL_CAPACITY"] = spec
    return arena


def test_gang_waits_with_gpu_reason_and_starts_nothing(arena):
    with_capacity(arena, "cpu=8,memory=16Gi,nvidia.com/gpu=1")
    arena.run("submit", "py", "--name", "small", "--gpus", "1", "sleep 300", check=True)
    arena.wait_status("small", "RUNNING")
    arena.run("submit", "py", "--name", "gang", "--workers", "4", "--gpus", "1", "sleep 300", check=True)
    time.sleep(1.5)
    job = arena.job("gang")
    assert job["status"] in ("QUEUING", "PENDING")
    assert "nvidia.com/gpu" in job["reason"]
    assert all(i["pid"] is None and i["status"] == "Pending" for i in job["instances"])
    wide = arena.run("list", "-o", "wide", check=True).stdout
    assert "nvidia.com/gpu" in next(line for line in wide.splitlines() if line.startswith("gang"))
    assert any("nvidia.com/gpu" in e["message"] for e in job["events"] if e["type"] == "Warning")
    text = arena.run("get", "gang", check=True).stdout
    assert "Reason:" in text and "To start:" in text


def test_gang_starts_all_at_once_when_room_frees(arena):
    with_capacity(arena, "cpu=8,memory=16Gi,nvidia.com/gpu=4")
    arena.run("submit", "py", "--name", "hog", "--gpus", "2", "sleep 300", check=True)
    arena.wait_status("hog", "RUNNING")
    arena.run("submit", "py", "--name", "gang", "--workers", "4", "--gpus", "1", "sleep 300", check=True)
    time.sleep(1)
    job = arena.job("gang")
    assert job["status"] == "QUEUING" and "4 nvidia.com/gpu, 2 free" in job["reason"]
    arena.run("delete", "hog", check=True)
    job = arena.wait_status("gang", "RUNNING")
    gpus = sorted(g for i in job["instances"] for g in i["gpuIndices"])
    assert gpus == [0, 1, 2, 3]


def _gpu_alloc(arena) -> dict[str, int]:
    return {q["name"]: int(q["allocated"].get("nvidia.com/gpu", "0")) for q in arena.json("queue", "list")}


def test_weights_one_to_three_converge_under_backlog(arena):
    with_capacity(arena, "cpu=16,memory=32Gi,nvidia.com/gpu=4")
    arena.run("queue", "create", "qa", "--weight", "1", check=True)
    arena.run("queue", "create", "qb", "--weight", "3", check=True)
    # Hold the machine while the backlog is submitted, then let both queues compete for it.
    arena.run("submit", "py", "--name", "blocker", "--gpus", "4", "sleep 300", check=True)
    arena.wait_status("blocker", "RUNNING")
    for i in range(6):
        for q in ("qa", "qb"):
            arena.run("submit", "py", "--name", f"{q}-{i}", "--queue", q, "--gpus", "1", "sleep 3", check=True)
    arena.run("delete", "blocker", check=True)
    seen = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        alloc = _gpu_alloc(arena)
        seen.append((alloc.get("qa", 0), alloc.get("qb", 0)))
        if seen[-1] == (1, 3) and len(seen) > 3 and seen[-2] == (1, 3):
            break
        time.sleep(0.3)
    assert seen[-1] == (1, 3), seen


def test_reclaim_evicts_and_requeues(arena):
    with_capacity(arena, "cpu=16,memory=32Gi,nvidia.com/gpu=4")
    arena.run("queue", "create", "qa", "--weight", "1", check=True)
    arena.run("queue", "create", "qb", "--weight", "1", check=True)
    for i in range(4):
        arena.run("submit", "py", "--name", f"a{i}", "--queue", "qa", "--gpus", "1", "sleep 300", check=True)
    for i in range(4):
        arena.wait_status(f"a{i}", "RUNNING")
    arena.run("submit", "py", "--name", "b0", "--queue", "qb", "--gpus", "2", "sleep 300", check=True)
    arena.wait_status("b0", "RUNNING", timeout=30)
    jobs = {j["name"]: j for j in arena.json("list")}
    evicted = [n for n in ("a0", "a1", "a2", "a3") if jobs[n]["status"] != "RUNNING"]
    assert len(evicted) == 2, jobs
    victim = arena.job(evicted[0])
    assert victim["status"] == "QUEUING"
    assert any(e["reason"] == "Evicted" and "reclaim" in e["message"] for e in victim["events"])


def test_no_reclaim_from_non_reclaimable_queue(arena):
    with_capacity(arena, "cpu=16,memory=32Gi,nvidia.com/gpu=2")
    arena.run("queue", "create", "keep", "--no-reclaimable", check=True)
    arena.run("queue", "create", "want", check=True)
    arena.run("submit", "py", "--name", "k0", "--queue", "keep", "--gpus", "2", "sleep 300", check=True)
    arena.wait_status("k0", "RUNNING")
    arena.run("submit", "py", "--name", "w0", "--queue", "want", "--gpus", "1", "sleep 300", check=True)
    time.sleep(2)
    assert arena.job("k0")["status"] == "RUNNING" and arena.job("w0")["status"] == "QUEUING"


def test_priority_preempts_inside_a_queue(arena):
    with_capacity(arena, "cpu=16,memory=32Gi,nvidia.com/gpu=2")
    arena.run("submit", "py", "--name", "lo", "--priority", "low", "--gpus", "2", "sleep 300", check=True)
    arena.wait_status("lo", "RUNNING")
    arena.run("submit", "py", "--name", "hi", "--priority", "high", "--gpus", "2", "sleep 300", check=True)
    arena.wait_status("hi", "RUNNING", timeout=30)
    lo = arena.job("lo")
    assert lo["status"] == "QUEUING"
    assert any(e["reason"] == "Evicted" for e in lo["events"])


def test_queue_lifecycle_and_errors(arena):
    assert arena.run("queue", "create", "BAD").returncode == 2
    arena.run("queue", "create", "q1", "--capability", "cpu=2,nvidia.com/gpu=1", check=True)
    assert arena.run("queue", "create", "q1").returncode == 2
    assert arena.run("queue", "create", "q2", "--capability", "gpu=lots").returncode == 2
    arena.run("queue", "close", "q1", check=True)
    r = arena.run("submit", "py", "--name", "x", "--queue", "q1", "true")
    assert r.returncode == 2 and "closed" in r.stderr
    arena.run("queue", "open", "q1", check=True)
    arena.run("submit", "py", "--name", "x", "--queue", "q1", "--wait", "true", check=True)
    arena.run("queue", "update", "q1", "--weight", "5", check=True)
    assert arena.json("queue", "get", "q1")[0]["weight"] == 5
    assert arena.run("queue", "delete", "default").returncode == 2
    arena.run("queue", "delete", "q1", check=True)
    assert arena.run("queue", "get", "q1").returncode == 2
    r = arena.run("submit", "py", "--name", "y", "--queue", "nope", "true")
    assert r.returncode == 2 and "--queue" in r.stderr


def test_kueue_queue_maps_onto_the_same_queues(arena):
    arena.run("queue", "create", "lq", check=True)
    arena.run("submit", "py", "--name", "kq", "--kueue-queue", "lq", "--wait", "true", check=True)
    assert arena.job("kq")["queue"] == "lq"


def test_policy_task_completed_completes_job_through_cli(arena):
    r = arena.run("submit", "volcanojob", "--name", "pol", "--task", "master:1=sleep 1; echo master done",
                  "--task", "worker:2=sleep 300", "--policy", "master:TaskCompleted=CompleteJob", "--wait")
    assert r.returncode == 0, r.stderr
    job = arena.job("pol")
    assert job["status"] == "SUCCEEDED" and job["phase"] in ("Completing", "Completed")
    job = arena.wait_for("pol", lambda j: j["transitions"][-1]["phase"] == "Completed")
    workers = [i for i in job["instances"] if i["task"] == "worker"]
    assert all(i["status"] == "Error" for i in workers)  # stopped by a signal: kubectl's word for it
    assert "TaskCompleted" in job["reason"] and "CompleteJob" in job["reason"]
    assert [t["phase"] for t in job["transitions"]][-2:] == ["Completing", "Completed"]


def test_policy_pod_failed_restart_job_counts_max_retry_through_cli(arena):
    r = arena.run("submit", "vj", "--name", "rj", "--task", "w:1=exit 3", "--policy", "PodFailed=RestartJob",
                  "--max-retry", "2", "--wait")
    assert r.returncode == 1
    job = arena.job("rj")
    assert job["status"] == "FAILED" and job["retries"] == 2 and "maxRetry (2)" in job["reason"]


def test_appwrapper_admission_grace_resets_then_fails_when_pods_never_all_run(arena):
    with_capacity(arena, "cpu=8,memory=16Gi,nvidia.com/gpu=1")
    r = arena.run("submit", "aw", "--name", "awg", "--inner-type", "volcano", "--replicas", "2", "--min-available",
                  "1", "--gpus", "1", "--admission-grace-period", "1s", "--warmup-grace-period", "2s",
                  "--retry-limit", "1", "--retry-pause-period", "1s", "sleep 300")
    assert r.returncode == 0, r.stderr
    job = arena.wait_status("awg", "FAILED", timeout=60)
    assert "InsufficientPodsReady" in job["reason"] and "retryLimit (1)" in job["reason"]
    resets = [e for e in job["events"] if e["reason"] == "Resetting"]
    assert len(resets) == 1 and "admission grace period (1s)" in resets[0]["message"]
    assert [t["phase"] for t in job["transitions"]].count("Resetting") == 1
