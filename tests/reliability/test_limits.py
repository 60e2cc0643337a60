"""Limits, set under `limits:` in $ARENA_HOME/config: a job, a namespace, a request or a crowd of connections
that would stall the daemon for everyone is refused with one line naming the limit and its key."""
from __future__ import annotations

import json
import socket
import time

import psutil
import pytest

from arena import config
from arena.errors import InvalidSpec
from arena.limits import Limits
from arena.spec import pytorchjob

from .raw import error_line, exchange, job_count, plan_body, request


def write_config(arena, **limits: object) -> None:  # type: ignore[no-untyped-def]
    arena.home.mkdir(parents=True, exist_ok=True)
    (arena.home / "config").write_text("limits:\n" + "".join(f"  {k}: {v}\n" for k, v in limits.items()))


def refused(proc, key: str) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"limits.{key}" in lines[0], lines[0]
    return lines[0]


def test_a_hundred_thousand_workers_are_refused_before_planning(arena):
    proc = arena.run("submit", "py", "--name", "huge", "--workers", "100000", "true", timeout=60)
    assert "100000 replicas" in refused(proc, "replicas_per_job")
    assert arena.store_snapshot() == ([], [])


def test_a_million_replicas_in_a_job_file_are_refused(arena, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("kind: volcanojob\nname: million\ntasks:\n  - name: worker\n    replicas: 1000000\n"
                   "    command: 'true'\n")
    refused(arena.run("submit", "volcanojob", "-f", str(job), timeout=60), "replicas_per_job")
    assert arena.store_snapshot() == ([], [])


def test_a_five_thousand_task_volcanojob_is_refused(arena, tmp_path):
    tasks = "".join(f"  - name: t{i}\n    command: 'true'\n" for i in range(5000))
    job = tmp_path / "job.yaml"
    job.write_text(f"kind: volcanojob\nname: tasks\ntasks:\n{tasks}")
    assert "5000 tasks" in refused(arena.run("submit", "volcanojob", "-f", str(job), timeout=120), "tasks_per_job")
    assert arena.store_snapshot() == ([], [])


def test_limits_come_from_the_config_file_and_bind_the_socket_too(arena):
    write_config(arena, replicas_per_job=2)
    assert str(arena.home / "config") in refused(arena.run("submit", "py", "--name", "three", "--workers", "3",
                                                           "true"), "replicas_per_job")
    arena.run("submit", "py", "--name", "two", "--workers", "2", "true", check=True)
    body = json.dumps(plan_body(pytorchjob.build(name="sock", command="true", workers=3))).encode()
    status, data = request(arena.home / "arenad.sock", "POST", "/v1/jobs", body)
    assert status == 400 and "limits.replicas_per_job" in error_line(data)
    assert job_count(arena.home) == 1


def test_jobs_per_namespace(arena):
    write_config(arena, jobs_per_namespace=2)
    arena.run("submit", "py", "--name", "a", "true", check=True)
    arena.run("submit", "py", "--name", "b", "true", check=True)
    refused(arena.run("submit", "py", "--name", "c", "true"), "jobs_per_namespace")
    arena.run("submit", "py", "--name", "c", "-n", "other", "true", check=True)


def test_a_body_over_the_limit_is_refused_without_being_kept(arena):
    write_config(arena, request_bytes=4096)
    arena.run("daemon", "start", check=True)
    sock = arena.home / "arenad.sock"
    status, data = request(sock, "POST", "/v1/jobs", b"x" * 1_000_000)
    assert status == 413 and "limits.request_bytes" in error_line(data)
    status, data = exchange(sock, b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n")
    assert status == 413 and "limits.request_bytes" in error_line(data)
    assert arena.run("list", check=True).returncode == 0


def test_connections_beyond_the_limit_get_a_one_line_503(arena):
    write_config(arena, connections=4)
    arena.run("daemon", "start", check=True)
    sock = arena.home / "arenad.sock"
    idle = []
    for _ in range(4):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(sock))
        idle.append(s)
    daemon = psutil.Process(arena.daemon_pid())
    sockets = getattr(daemon, "net_connections", None) or daemon.connections  # psutil >= 6 renamed it
    deadline = time.monotonic() + 20
    while len(sockets(kind="unix")) < 5 and time.monotonic() < deadline:  # the listener + the 4 accepted
        time.sleep(0.05)
    status, data = request(sock, "GET", "/v1/ping")
    assert status == 503 and "limits.connections" in error_line(data)
    idle.pop().close()
    time.sleep(0.3)
    assert arena.run("list").returncode == 0
    for s in idle:
        s.close()


def test_idle_connections_hold_no_thread(arena):
    """Before, each connection had its own thread: hundreds of idle ones meant hundreds of threads."""
    arena.run("daemon", "start", check=True)
    sock = arena.home / "arenad.sock"
    idle = []
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(sock))
        idle.append(s)
    time.sleep(0.5)
    threads = psutil.Process(arena.daemon_pid()).num_threads()
    assert threads < 40, threads
    assert arena.run("list", timeout=30).returncode == 0
    for s in idle:
        s.close()


def test_limits_in_the_config_file_are_checked_and_named():
    limits = config.limits({"limits": {"log_bytes_per_replica": "1Mi", "request_bytes": 2048}})
    assert (limits.log_bytes_per_replica, limits.request_bytes) == (2**20, 2048)
    assert config.limits({}).log_bytes_per_replica == Limits().log_bytes_per_replica
    with pytest.raises(InvalidSpec, match="limits.replica_per_job"):
        config.limits({"limits": {"replica_per_job": 3}})
    with pytest.raises(InvalidSpec, match="limits.workers .*1 or more"):
        config.limits({"limits": {"workers": 0}})
