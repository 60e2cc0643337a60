"""Exactly-once submit: a client that loses the answer to its submit (the daemon crashed right after the
commit, or the connection broke) retries with the same idempotency key and gets the job it created, not
"already exists"."""
from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from arena.spec import pytorchjob

from .raw import error_line, job_count, plan_body, request


def _read_request(conn: socket.socket) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next((int(ln.split(b":", 1)[1]) for ln in head.split(b"\r\n")[1:]
                   if ln.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_response(up: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += up.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(int(ln.split(b":", 1)[1]) for ln in head.split(b"\r\n")[1:] if ln.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += up.recv(65536)
    return head + b"\r\n\r\n" + body


class LosingProxy:
    """Sits on the daemon's socket path; forwards every request, but drops the connection instead of passing
    on the daemon's answer to the first submit (the answer is lost after the daemon committed the job)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "arenad.sock"
        self.real = home / "arenad.real.sock"
        self.path.rename(self.real)  # the daemon keeps listening on the renamed socket
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        self.dropped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                req = _read_request(conn)
                if req is None:
                    return
                up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                up.connect(str(self.real))
                with up:
                    up.sendall(req)
                    answer = _read_response(up)
                with self.lock:
                    drop = req.startswith(b"POST /v1/jobs ") and self.dropped == 0
                    self.dropped += drop
                if drop:
                    return  # the job is committed; its answer never arrives
                conn.sendall(answer)

    def close(self) -> None:
        self.server.close()
        self.path.unlink(missing_ok=True)
        self.real.rename(self.path)


def test_a_retried_submit_returns_the_job_it_created(arena):
    arena.run("daemon", "start", check=True)
    proxy = LosingProxy(arena.home)
    try:
        proc = arena.run("submit", "py", "--name", "once", "echo ran")
    finally:
        proxy.close()
    assert proxy.dropped == 1
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert [j["name"] for j in arena.json("list")] == ["once"]  # type: ignore[union-attr]
    assert arena.wait_status("once", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
    assert arena.run("logs", "once", check=True).stdout.splitlines() == ["ran"]


def test_a_daemon_killed_right_after_the_commit(arena):
    arena.env["ARENA_FAULT"] = "submit-committed"  # the daemon this CLI starts kills itself once, after the commit
    proc = arena.run("submit", "py", "--name", "crash", "echo ran")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert (arena.home / ".fault-submit-committed").exists()  # it did crash there
    assert [j["name"] for j in arena.json("list")] == ["crash"]  # type: ignore[union-attr]
    assert arena.wait_status("crash", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
    assert arena.run("logs", "crash", check=True).stdout.splitlines() == ["ran"]


def test_the_same_key_returns_the_same_job_and_only_for_it(arena):
    arena.run("daemon", "start", check=True)
    sock = arena.home / "arenad.sock"
    body = plan_body(pytorchjob.build(name="keyed", command="true"), key="k-0123456789abcdef")
    first = request(sock, "POST", "/v1/jobs", json.dumps(body).encode())
    again = request(sock, "POST", "/v1/jobs", json.dumps(body).encode())
    assert first[0] == again[0] == 200, (first, again)
    assert json.loads(first[1])["name"] == json.loads(again[1])["name"] == "keyed"
    other = plan_body(pytorchjob.build(name="other", command="true"), key="k-0123456789abcdef")
    status, data = request(sock, "POST", "/v1/jobs", json.dumps(other).encode())
    assert status == 400 and "key" in error_line(data)
    unkeyed = request(sock, "POST", "/v1/jobs", json.dumps(plan_body(pytorchjob.build(name="keyed",
                                                                                      command="true"))).encode())
    assert unkeyed[0] == 400 and "already exist" in error_line(unkeyed[1])
    assert job_count(arena.home) == 1
    # Neither the repeat nor the refused submits left a folder behind: one job, one folder.
    assert [p.name.split(".")[0] for p in (arena.home / "jobs" / "default").iterdir()] == ["keyed"]
