"""`arenad`: the local engine's daemon. A JSON API on a Unix socket, a reconcile loop, a reaper.

Started on demand by the first command that needs it. It is a child subreaper
(PR_SET_CHILD_SUBREAPER) so orphaned grandchildren of replicas are reaped at once, and it
holds an exclusive lock so that exactly one daemon serves a given `$ARENA_HOME`. Replicas' shims are forked
by its spawner process (`spawnlink`), whose notes of their exits wake the reconcile loop.

Before serving it checks that the store can be trusted (`integrity`): a damaged one stops it with one line
naming the file and `arena daemon repair`, instead of serving an empty or rolled-back store.

The socket is served by one I/O thread and a bounded pool of workers (`limits.workers`): the I/O thread
accepts (asking the kernel who connects: only this user and root are served), reads each request whole
(bodies above `limits.request_bytes` are refused without being kept), and hands complete requests to the
pool; an idle keep-alive connection costs no thread. At most `limits.connections` are open at once; more
are answered with a one-line 503. The listen backlog is the kernel's maximum, so a crowd of clients that
start together all get in.
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import queue
import selectors
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from arena import __version__
from arena import config as arena_config
from arena.engines.local import heap, integrity, native, node, ownership, spawnlink
from arena.engines.local.api import Api, Encoded, route
from arena.engines.local.core import Core, assemble
from arena.engines.local.paths import Paths
from arena.engines.local.store import is_disk_full
from arena.errors import ArenaError, DiskFull, InvalidSpec, JobNotFound, NotOwner, QueueNotFound, StoreDamaged, \
    to_payload
from arena.limits import Limits

PR_SET_CHILD_SUBREAPER = 36
TICK = 0.25  # seconds between reconciles when nothing wakes the loop
IDLE_TIMEOUT = 600.0  # seconds a keep-alive connection may sit idle before the daemon closes it
HEADER_LIMIT = 64 * 1024  # bytes of request line and headers
IO_TIMEOUT = 30.0  # seconds a worker waits on a client that reads or writes nothing
START_ERROR = "arenad: error: "  # the last log line of a daemon that refused to start (the client shows it)
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           413: "Content Too Large", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable", 507: "Insufficient Storage"}


def log(text: str) -> None:
    """A line in arenad.log; never raises (the disk may be full)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


# ---- answers -----------------------------------------------------------------------------------
def quick(req: Request) -> bool:
    """A request a reconcile pass steps aside for (`courtesy`): a job read or a submit, none of which takes the
    loop's lock."""
    return req.target.startswith("/v1/jobs") and (req.method == "GET" or (
        req.method == "POST" and req.target.split("?", 1)[0] == "/v1/jobs"))


def status_of(exc: ArenaError) -> int:
    if isinstance(exc, (JobNotFound, QueueNotFound)):
        return 404
    if isinstance(exc, DiskFull):
        return 507
    if isinstance(exc, StoreDamaged):
        return 503
    return 400 if exc.exit_code == 2 else 409


def error_body(exc: ArenaError) -> bytes:
    return msgspec.json.encode({"error": to_payload(exc)})


def response(status: int, body: bytes, close: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nServer: arenad/{__version__}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + body


def answer(api: Api, method: str, target: str, body: bytes) -> tuple[int, bytes]:
    """One request, carried out: (status, JSON body). Every failure is a one-line error, never a traceback."""
    try:
        url = urlsplit(target)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        result = route(api, method, parts, q, body)
        return 200, result if isinstance(result, Encoded) else msgspec.json.encode(result)
    except ArenaError as exc:
        return status_of(exc), error_body(exc)
    except Exception as exc:  # keep serving; report and log
        if is_disk_full(exc):
            return 507, error_body(DiskFull(str(api.paths.home)))
        try:
            traceback.print_exc()
        except (OSError, ValueError):
            pass
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return 500, error_body(ArenaError(f"daemon error: {text}"))


# ---- the socket --------------------------------------------------------------------------------
class BadRequest(Exception):
    def __init__(self, status: int, err: ArenaError) -> None:
        self.status = status
        self.err = err


class Conn:
    """One client connection: what has been read of its next request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.last = time.monotonic()


class Request(msgspec.Struct):
    method: str
    target: str
    length: int
    keep_alive: bool
    head_end: int  # where the body starts in the connection's buffer


def parse_head(buf: bytearray, end: int) -> Request:
    try:
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(400, InvalidSpec("request", "is not an HTTP/1.1 request line")) from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, InvalidSpec("request", f"malformed header line {line[:80]!r}"))
        headers[key.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest(400, InvalidSpec("request", "chunked bodies are not supported; send Content-Length"))
    try:
        length = int(headers.get("content-length") or 0)
    except ValueError:
        raise BadRequest(400, InvalidSpec("request", "Content-Length is not a number")) from None
    if length < 0:
        raise BadRequest(400, InvalidSpec("request", "Content-Length is negative"))
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return Request(method.upper(), target, length, keep, end + 4)


class Server:
    """The API socket: one I/O thread (accept, read whole requests) and a bounded pool of workers."""

    def __init__(self, path: Path, api: Api, limits: Limits) -> None:
        self.path = path
        self.api = api
        self.courtesy = api.repo.courtesy  # quick requests are marked: a reconcile pass steps aside for them
        self.limits = limits
        path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self.listener.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self.listener.listen(max(socket.SOMAXCONN, 4096))  # the kernel caps it at net.core.somaxconn
        self.listener.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="api")
        self.returned: queue.SimpleQueue[Conn] = queue.SimpleQueue()
        self.conns: set[Conn] = set()
        self.mu = threading.Lock()
        self.stopping = threading.Event()

    # ---- the I/O thread -----------------------------------------------------------------------
    def serve_forever(self) -> None:
        try:
            while not self.stopping.is_set():
                for key, _ in self.sel.select(timeout=1.0):
                    if key.fileobj is self.listener:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        self._returns()
                    else:
                        self._readable(key.data)
                self._sweep()
        finally:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.pool.shutdown(wait=True)  # requests in progress are answered
            with self.mu:
                for conn in list(self.conns):
                    conn.sock.close()
                self.conns.clear()
            self.path.unlink(missing_ok=True)

    def shutdown(self) -> None:
        self.stopping.set()
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: the rest wait in the backlog
                log(f"arenad: accept: {exc}")
                time.sleep(0.1)  # the listener stays readable: do not spin on it
                return
            uid = ownership.peer_uid(sock)
            if not ownership.allowed(uid):
                self._reject(sock, 403, ArenaError(f"connection refused: user {uid} may not use the daemon of "
                                                   f"user {os.getuid()}"))
                continue
            with self.mu:
                full = len(self.conns) >= self.limits.connections
            if full:
                self._reject(sock, 503, ArenaError(
                    f"the daemon has {self.limits.connections} connections open, its limit "
                    f"({self.limits.key('connections', self.api.config_path)}); retry shortly"))
                continue
            sock.settimeout(IO_TIMEOUT)
            conn = Conn(sock)
            with self.mu:
                self.conns.add(conn)
            self.sel.register(sock, selectors.EVENT_READ, conn)

    def _reject(self, sock: socket.socket, status: int, err: ArenaError) -> None:
        try:
            sock.settimeout(1.0)
            sock.sendall(response(status, error_body(err), close=True))
        except OSError:
            pass
        sock.close()

    def _readable(self, conn: Conn) -> None:
        try:
            chunk = conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        conn.buf += chunk
        conn.last = time.monotonic()
        self._dispatch(conn)

    def _dispatch(self, conn: Conn) -> None:
        """Hand a complete request to the pool; refuse a malformed or oversized one."""
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.buf) > HEADER_LIMIT:
                self._refuse(conn, 431, InvalidSpec("request", f"headers exceed {HEADER_LIMIT} bytes"), 0)
            return
        try:
            req = parse_head(conn.buf, end)
        except BadRequest as exc:
            self._refuse(conn, exc.status, exc.err, 0)
            return
        if req.length > self.limits.request_bytes:
            err = InvalidSpec("request", f"body of {req.length} bytes exceeds the limit of "
                                         f"{self.limits.request_bytes} "
                                         f"({self.limits.key('request_bytes', self.api.config_path)})")
            self._refuse(conn, 413, err, req.head_end + req.length - len(conn.buf))
            return
        if len(conn.buf) < req.head_end + req.length:
            return
        self.sel.unregister(conn.sock)
        if quick(req):
            self.courtesy.begin()
        try:
            self.pool.submit(self._serve, conn, req)
        except RuntimeError:  # the pool is shut down: the daemon is stopping
            if quick(req):
                self.courtesy.end()
            raise

    def _refuse(self, conn: Conn, status: int, err: ArenaError, unread: int) -> None:
        """Answer with the error and close. A body still on its way is then read and dropped (never kept), so
        that a client still sending it is not cut off with a reset before it reads the answer."""
        self.sel.unregister(conn.sock)
        self.pool.submit(self._refused, conn, status, err, unread)

    def _refused(self, conn: Conn, status: int, err: ArenaError, unread: int) -> None:
        scratch = bytearray(256 * 1024)
        try:
            conn.sock.sendall(response(status, error_body(err), close=True))
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.settimeout(2.0)  # a client that sends nothing more is not waited for
            while unread > 0:
                n = conn.sock.recv_into(scratch, min(unread, len(scratch)))
                if not n:
                    break
                unread -= n
        except OSError:
            pass
        self._close(conn)

    # ---- the workers --------------------------------------------------------------------------
    def _serve(self, conn: Conn, req: Request) -> None:
        body = bytes(conn.buf[req.head_end:req.head_end + req.length])
        del conn.buf[:req.head_end + req.length]
        try:
            status, data = answer(self.api, req.method, req.target, body)
            try:
                conn.sock.sendall(response(status, data, close=not req.keep_alive))
            except OSError:
                self._close(conn)
                return
        finally:
            if quick(req):
                self.courtesy.end()
        if not req.keep_alive or self.stopping.is_set():
            self._close(conn)
            return
        conn.last = time.monotonic()
        self.returned.put(conn)
        self._wake()

    def _returns(self) -> None:
        """Connections whose answer went out wait for their next request again (one may already be here)."""
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                conn = self.returned.get_nowait()
            except queue.Empty:
                return
            self.sel.register(conn.sock, selectors.EVENT_READ, conn)
            if conn.buf:
                self._dispatch(conn)

    def _close(self, conn: Conn) -> None:
        with self.mu:
            self.conns.discard(conn)
        try:
            conn.sock.close()
        except OSError:
            pass

    def _drop(self, conn: Conn) -> None:
        """Close a connection the I/O thread watches."""
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        self._close(conn)

    def _sweep(self) -> None:
        """Close keep-alive connections idle past IDLE_TIMEOUT (a client reconnects on its next call)."""
        cutoff = time.monotonic() - IDLE_TIMEOUT
        for key in list(self.sel.get_map().values()):
            conn = key.data
            if isinstance(conn, Conn) and conn.last < cutoff:
                self._drop(conn)


# ---- the threads -------------------------------------------------------------------------------
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


def _loop(core: Core, stop: threading.Event, paths: Paths) -> None:
    """Reconcile on every wake-up and tick; back the store up now and then. Nothing stops this thread: an
    error is logged (once a minute while the disk is full) and the next pass runs."""
    backed_up, changes = time.monotonic(), core.repo.changes
    trimmed = changes
    full_logged = 0.0
    while not stop.is_set():
        if not core.loop.wake.wait(TICK) and core.repo.changes != trimmed:  # the first idle tick after work
            trimmed = core.repo.changes
            heap.trim()
        core.loop.wake.clear()
        try:
            core.loop.reconcile()
        except Exception as exc:
            if isinstance(exc, DiskFull) or is_disk_full(exc):
                if time.monotonic() - full_logged > 60:
                    full_logged = time.monotonic()
                    log(f"arenad: {DiskFull(str(paths.home))}")
            else:
                try:
                    traceback.print_exc()
                except (OSError, ValueError):
                    pass
            time.sleep(0.2)
        if time.monotonic() - backed_up > integrity.BACKUP_EVERY and core.repo.changes != changes:
            backed_up, changes = time.monotonic(), core.repo.changes
            _backup(core, paths)


def _backup(core: Core, paths: Paths) -> None:
    try:
        integrity.backup(core.repo.store, paths)
    except (OSError, sqlite3.Error) as exc:
        log(f"arenad: could not back up the store: {exc}")


def _become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass


def _open(paths: Paths) -> tuple[Core, Limits]:
    """The checked store and the engine on it; StoreDamaged (or another ArenaError) when it must not serve."""
    cfg = arena_config.load(paths.home / "config")
    limits = arena_config.limits(cfg, paths.home / "config")
    problem = integrity.quick_check(paths.db)
    if problem is not None:
        raise StoreDamaged(str(paths.db), problem)
    try:
        core = assemble(paths, node.detect(cfg), cfg)
    except sqlite3.DatabaseError as exc:
        if is_disk_full(exc):
            raise DiskFull(str(paths.home)) from None
        raise StoreDamaged(str(paths.db), str(exc)) from None
    try:
        integrity.verify(paths, core.repo)
    except BaseException:
        core.close()
        raise
    return core, limits


_HELD: IO[str] | None = None


def serve(home: Path) -> int:
    heap.limit_arenas()  # before any thread starts
    paths = Paths(home)
    try:
        ownership.check(paths)
    except (NotOwner, ArenaError) as exc:
        log(f"{START_ERROR}{exc}")
        return 3
    paths.ensure()
    global _HELD
    lock = _HELD = open(paths.lock, "a+")  # held until this process exits: `arena daemon stop` waits for it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another daemon serves this home
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    try:
        core, limits = _open(paths)
    except ArenaError as exc:
        log(f"{START_ERROR}{exc}")
        return 3
    _backup(core, paths)  # the last good store
    core.api.quarantine_unreadable()
    _become_subreaper()
    spawnlink.configure(paths.home, core.loop.wake.set)  # shims are started by it; their exits wake the loop
    if native.shim_path() is None:
        log(f"replicas run under the Python shim: {native.why_not()}")
    server = Server(paths.socket, core.api, limits)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()
        server.shutdown()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        core.loop.reconcile()  # re-adopt before answering
    except Exception:  # the loop thread carries on; serving must start regardless
        try:
            traceback.print_exc()
        except (OSError, ValueError):
            pass
    threading.Thread(target=_reaper, args=(core, stop), daemon=True, name="reaper").start()
    threading.Thread(target=_loop, args=(core, stop, paths), daemon=True, name="reconcile").start()
    if (paths.home / "serving" / "state.json").exists():  # `arena serve` jobs to resume (engines/local/serving)
        from arena.engines.local.serving.manager import start as start_serving

        start_serving(core.api, stop)
    log(f"arenad {__version__} pid {os.getpid()} serving {paths.socket} capacity={core.api.capacity}")
    try:
        server.serve_forever()
    finally:
        stop.set()
        with core.loop.mu:
            core.repo.store.checkpoint()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arenad", description="Arena's local engine daemon")
    parser.add_argument("--home", default=None, help="state directory (default $ARENA_HOME or ~/.arena)")
    args = parser.parse_args(argv)
    home = Path(args.home).expanduser() if args.home else arena_config.home()
    return serve(home)


if __name__ == "__main__":
    sys.exit(main())
