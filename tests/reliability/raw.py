"""Talking to a real daemon as anyone who can open its socket would: raw HTTP bytes, raw JSON bodies."""
from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import msgspec

from arena.engines.local import planner
from arena.engines.local.plan import Inputs
from arena.spec.job import JobSpec


def exchange(sock_path: Path, data: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send raw bytes, read one HTTP answer: (status, body). Raises on a silent close or a hang past `timeout`."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at the door (e.g. over the connection limit): its answer is already in the socket
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed without an answer after {buf[:200]!r}")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        length = next(int(ln.split(":", 1)[1]) for ln in lines[1:] if ln.lower().startswith("content-length:"))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest[:length]
    finally:
        s.close()


def request(sock_path: Path, method: str, path: str, body: bytes | None = None, timeout: float = 10.0
            ) -> tuple[int, bytes]:
    data = body or b""
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    return exchange(sock_path, head.encode() + data, timeout)


def plan_body(spec: JobSpec, **extra: object) -> dict:
    """The body `arena submit` sends for `spec` (its plan, planned here)."""
    plan = planner.plan(spec, Inputs(base_env={"PATH": "/usr/bin:/bin"}, cwd="/tmp"))
    return {"plan": msgspec.to_builtins(plan), **extra}


def error_line(body: bytes) -> str:
    """The one-line message of an error answer (asserting it is one)."""
    err = json.loads(body)["error"]
    message = err["message"]
    assert "\n" not in message and "Traceback" not in message, message
    return message


def job_count(home: Path) -> int:
    db = home / "arena.db"
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    finally:
        con.close()
