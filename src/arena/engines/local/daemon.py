"""`arenad`: the local engine's daemon. A JSON API on a Unix socket, a reconcile loop, a reaper.

Started on demand by the first command that needs it. It is a child subreaper
(PR_SET_CHILD_SUBREAPER) so orphaned grandchildren of replicas are reaped at once, and it
holds an exclusive lock so that exactly one daemon serves a given `$ARENA_HOME`.
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import signal
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import msgspec

from arena import __version__
from arena import config as arena_config
from arena.engines.local import node
from arena.engines.local.paths import Paths
from arena.engines.local.runtime import Runtime
from arena.errors import ArenaError, InvalidSpec, to_payload
from arena.spec import job as jobspec

PR_SET_CHILD_SUBREAPER = 36
TICK = 0.25  # seconds between reconciles when nothing wakes the loop


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(BaseHTTPRequestHandler):
    server_version = f"arenad/{__version__}"
    protocol_version = "HTTP/1.1"
    runtime: Runtime  # set on the class by serve()
    started: float = 0.0

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI owns the terminal
        pass

    def address_string(self) -> str:  # Unix sockets have no peer address
        return "local"

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}") if n else {}

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            result = route(self.runtime, method, parts, q, self._body() if method in ("POST", "PUT", "PATCH") else {})
            self._send(200, result if isinstance(result, Encoded) else msgspec.json.encode(result))
        except ArenaError as exc:
            self._send(400 if exc.exit_code == 2 else 404 if "not found" in str(exc) else 409,
                       msgspec.json.encode({"error": to_payload(exc)}))
        except Exception as exc:  # keep serving; report and log
            traceback.print_exc()
            self._send(500, msgspec.json.encode({"error": {"type": "ArenaError", "message": f"daemon error: {exc}",
                                                           "exit_code": 1}}))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")


class Encoded(bytes):
    """An answer already encoded as JSON (from a cache)."""


def route(rt: Runtime, method: str, parts: list[str], q: dict[str, str], body: dict) -> Any:
    """The API: /v1/ping, /v1/jobs[/<ns>/<name>], /v1/prune, /v1/node."""
    if parts[:1] != ["v1"]:
        raise ArenaError(f"unknown path /{'/'.join(parts)}")
    parts = parts[1:]
    if parts == ["ping"]:
        return {"version": __version__, "pid": os.getpid(), "started": Handler.started, "home": str(rt.paths.home),
                "capacity": msgspec.to_builtins(rt.capacity)}
    if parts == ["jobs"] and method == "POST":
        try:
            spec = msgspec.convert(body["spec"], jobspec.JobSpec)
        except (msgspec.ValidationError, KeyError) as exc:
            raise InvalidSpec("spec", str(exc)) from None
        return rt.submit(spec, body.get("base_env") or {}, body.get("staged_code"))
    if parts == ["jobs"] and method == "GET":
        ns = None if q.get("all") == "1" else q.get("namespace", "default")
        return Encoded(rt.list_encoded(ns, q.get("kind") or None))
    if len(parts) == 3 and parts[0] == "jobs":
        ns, name = parts[1], parts[2]
        if method == "GET":
            return rt.get(ns, name, events=q.get("events", "1") == "1", with_spec=q.get("spec") == "1")
        if method == "DELETE":
            rt.delete(ns, name)
            return {"deleted": name, "namespace": ns}
    if parts == ["prune"] and method == "POST":
        ns = None if body.get("all") else body.get("namespace", "default")
        return rt.prune(float(body["since"]), ns)
    if parts and parts[0] == "queues":
        if len(parts) == 1:
            if method == "POST":
                return rt.queue_op("create", body.get("name", ""), body)
            return rt.queue_list()
        name = parts[1]
        if len(parts) == 3 and method == "POST" and parts[2] in ("open", "close"):
            return rt.queue_op(parts[2], name, body)
        if len(parts) == 2:
            if method == "GET":
                return rt.queue_list(name)
            if method == "PUT":
                return rt.queue_op("update", name, body)
            if method == "DELETE":
                return rt.queue_op("delete", name, body)
    if parts and parts[0] == "data":
        if method == "POST":
            return rt.data("create", body.get("name", ""), body.get("path", ""), body.get("description", ""))
        if method == "DELETE" and len(parts) == 2:
            return rt.data("delete", parts[1])
        return rt.data("list")
    if parts == ["node"]:
        return rt.node()
    raise ArenaError(f"unknown API call {method} /v1/{'/'.join(parts)}")


def _reaper(rt: Runtime, stop: threading.Event) -> None:
    """Reap every child and adopted orphan; an exit wakes the reconcile loop at once."""
    while not stop.is_set():
        try:
            pid, _ = os.waitpid(-1, 0)
            if pid:
                rt.wake.set()
        except ChildProcessError:
            time.sleep(0.05)
        except InterruptedError:
            continue


def _loop(rt: Runtime, stop: threading.Event) -> None:
    while not stop.is_set():
        rt.wake.wait(TICK)
        rt.wake.clear()
        try:
            rt.reconcile()
        except Exception:
            traceback.print_exc()
            time.sleep(0.2)


def _become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass


def serve(home: Path) -> int:
    paths = Paths(home)
    paths.ensure()
    lock = open(paths.lock, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another daemon serves this home
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    cfg = arena_config.load(home / "config")
    rt = Runtime(paths, node.detect(cfg), cfg)
    _become_subreaper()
    paths.socket.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = _Server(str(paths.socket), Handler)
    finally:
        os.umask(old_umask)
    os.chmod(paths.socket, 0o600)
    Handler.runtime = rt
    Handler.started = time.time()
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rt.reconcile()  # re-adopt before answering
    threading.Thread(target=_reaper, args=(rt, stop), daemon=True, name="reaper").start()
    threading.Thread(target=_loop, args=(rt, stop), daemon=True, name="reconcile").start()
    print(f"arenad {__version__} pid {os.getpid()} serving {paths.socket} capacity={rt.capacity}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        stop.set()
        server.server_close()
        paths.socket.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arenad", description="Arena's local engine daemon")
    parser.add_argument("--home", default=None, help="state directory (default $ARENA_HOME or ~/.arena)")
    args = parser.parse_args(argv)
    home = Path(args.home).expanduser() if args.home else arena_config.home()
    return serve(home)


if __name__ == "__main__":
    sys.exit(main())
