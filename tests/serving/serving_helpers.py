"""Helpers of the serving tests: a free port, waiting for AVAILABLE, a keep-alive client, a load thread."""
from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ECHO = f"{sys.executable} {Path(__file__).with_name('echo_server.py')}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(arena: Any, name: str, version: str, port: int, *flags: str, command: str = ECHO) -> dict:
    arena.run("serve", "custom", "--name", name, "--version", version, "--restful-port", str(port), *flags,
              command, check=True)
    return get(arena, name, version)


def get(arena: Any, name: str, version: str | None = None) -> dict:
    args = ["serve", "get", name] + (["-v", version] if version else [])
    return arena.json(*args)  # type: ignore[no-any-return]


def wait_available(arena: Any, name: str, version: str | None, n: int, timeout: float = 60,
                   pred: Any = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = get(arena, name, version)
        if job["availableInstances"] >= n and (pred is None or pred(job)):
            return job
        if time.monotonic() > deadline:
            logs = {i["name"]: Path(i["logPath"]).read_text()[-500:] for i in job["instances"] if i["logPath"]
                    and Path(i["logPath"]).exists()}
            raise AssertionError(f"{name} {version}: {job['availableInstances']}/{n} available: "
                                 f"{[(i['name'], i['status']) for i in job['instances']]} {job['message']} {logs}")
        time.sleep(0.2)


class Client:
    """A keep-alive HTTP client that reconnects, as a load balancer's user would."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, body: bytes = b'{"instances": [[1, 2]]}') -> tuple[int, dict]:
        try:
            self.conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            raise
        return r.status, (json.loads(data) if r.status == 200 else {"error": data.decode()})


class Load:
    """Requests in a loop on another thread, every answer and failure recorded."""

    def __init__(self, host: str, port: int) -> None:
        self.client = Client(host, port)
        self.answers: list[dict] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = self.client.post()
            except Exception as exc:  # noqa: BLE001 - every failure is the test's business
                self.failures.append(repr(exc))
                continue
            (self.answers if status == 200 else self.failures).append(body if status == 200 else f"{status} {body}")

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def server_of(instance: dict) -> psutil.Process:
    """The replica's server: the deepest process under its shim."""
    procs = psutil.Process(instance["pid"]).children(recursive=True)
    return next(p for p in reversed(procs) if "echo_server.py" in " ".join(p.cmdline()))


def home_processes(home: Path) -> list[str]:
    """Processes of this ARENA_HOME other than the daemon itself: replicas, shims, the proxy."""
    out = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
        except psutil.Error:
            continue
        if "arena.engines.local.daemon" in cmd:
            continue
        if str(home) in cmd or str(home) in env.get("ARENA_JOB_DIR", ""):
            out.append(f"{p.pid} {cmd}")
    return out


