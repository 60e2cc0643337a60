"""`arena daemon stop` leaves running jobs running (the next daemon re-adopts them); `--stop-jobs` ends them,
and no process of theirs is left."""
from __future__ import annotations

import time

import psutil


def job_processes(home) -> list[psutil.Process]:  # type: ignore[no-untyped-def]
    """Live processes started for a job under `home` (their environment names its job folder)."""
    found = []
    for p in psutil.process_iter():
        try:
            if str(home) in p.environ().get("ARENA_JOB_DIR", "") and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


def daemon_running(pid: int | None) -> bool:
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    return bool(pid)


def test_stop_keeps_jobs_and_stop_jobs_ends_them(arena):
    arena.run("submit", "py", "--name", "long", "--workers", "2", "sleep 300", check=True)
    arena.wait_status("long", "RUNNING")
    assert len(arena.job("long")["instances"]) == 2
    arena.run("daemon", "stop", check=True)
    assert job_processes(arena.home), "the replicas must outlive a plain stop"
    assert arena.job("long")["status"] == "RUNNING"  # re-adopted by the daemon this command started

    stop = arena.run("daemon", "stop", "--stop-jobs")
    assert stop.returncode == 0, stop.stderr
    assert "default/long" in stop.stdout
    assert not daemon_running(arena.daemon_pid())
    assert not job_processes(arena.home)
    job = arena.job("long")
    assert job["status"] == "FAILED" and "--stop-jobs" in job["reason"], job
