"""`arenad`: the local engine's daemon. A JSON API on a Unix socket, a reconcile loop, a reaper.

Started on demand by the first command that needs it. It is a child subreaper
(PR_SET_CHILD_SUBREAPER) so orphaned grandchildren of replicas are reaped at once, and it
holds an exclusive lock so that exactly one daemon serves a given `$ARENA_HOME`.
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
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
from arena.engines.local.api import Api, Encoded, route
from arena.engines.local.core import Core, assemble
from arena.engines.local.paths import Paths
from arena.errors import ArenaError, to_payload

PR_SET_CHILD_SUBREAPER = 36
TICK = 0.25  # seconds between reconciles when nothing wakes the loop


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(BaseHTTPRequestHandler):
    server_version = f"arenad/{__version__}"
    protocol_version = "HTTP/1.1"
    api: Api  # set on the class by serve()

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

    def _body(self) -> bytes:
        """The raw body; `api.decode` turns it into the endpoint's typed request (and bounds its size)."""
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            result = route(self.api, method, parts, q, self._body() if method in ("POST", "PUT", "PATCH") else b"")
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


def _reaper(core: Core, stop: threading.Event) -> None:
    """Reap every child and adopted orphan; an exit wakes the reconcile loop at once."""
    while not stop.is_set():
        try:
            pid, _ = os.waitpid(-1, 0)
            if pid:
                core.loop.wake.set()
        except ChildProcessError:
            time.sleep(0.05)
        except InterruptedError:
            continue


def _loop(core: Core, stop: threading.Event) -> None:
    while not stop.is_set():
        core.loop.wake.wait(TICK)
        core.loop.wake.clear()
        try:
            core.loop.reconcile()
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
    core = assemble(paths, node.detect(cfg), cfg)
    _become_subreaper()
    paths.socket.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = _Server(str(paths.socket), Handler)
    finally:
        os.umask(old_umask)
    os.chmod(paths.socket, 0o600)
    Handler.api = core.api
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    core.loop.reconcile()  # re-adopt before answering
    threading.Thread(target=_reaper, args=(core, stop), daemon=True, name="reaper").start()
    threading.Thread(target=_loop, args=(core, stop), daemon=True, name="reconcile").start()
    print(f"arenad {__version__} pid {os.getpid()} serving {paths.socket} capacity={core.api.capacity}", flush=True)
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
