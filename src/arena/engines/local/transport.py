"""HTTP over the daemon's Unix socket, starting the daemon on demand.

Each thread has its own connection (an SDK used from many threads never interleaves two requests on one
socket). Before the first connection the home, socket and store must be the user's (`ownership`). When no
daemon answers, one client at a time starts it (a lock file), and the others wait for it: a crowd of
commands started together with no daemon running all get through. A connection refused or deferred (a full
backlog, a daemon still starting) is tried again for a while before it counts as a failure.
"""
from __future__ import annotations

import _socket
import errno
import json
import os
import sys
import time
from _thread import _local as thread_local  # what `threading.local` is: the threading module costs ms to load
from pathlib import Path

from arena.engines.local.paths import Paths
from arena.engines.local.wire import TIMEOUT, Connection
from arena.errors import DaemonError, JobNotFound, from_payload

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

RETRIES = 3  # new connections tried at least, after one is lost mid-call
RETRY_WINDOW = 30.0  # seconds a call keeps trying after the last daemon it reached died under it
MAX_ATTEMPTS = 40  # new connections tried at most: a daemon that dies on every try is not tried forever
CONNECT_WAIT = 30.0  # seconds to keep trying to connect to a daemon that exists but does not accept yet
START_ERROR = "arenad: error: "  # how a daemon that refused to start says why, as its last log line


class Transport:
    def __init__(self, home: Path, timeout: float = TIMEOUT, autostart: bool = True) -> None:
        self.paths = Paths(home)
        self.timeout = timeout
        self.autostart = autostart
        self._local = thread_local()  # this thread's connection
        self._trusted = False

    def check_ownership(self) -> None:
        """The home, socket and store must be ours (or root's): checked once, before anything is sent."""
        if not self._trusted:
            from arena.engines.local import ownership

            ownership.check(self.paths)
            self._trusted = True

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _connect(self) -> Connection:
        self.check_ownership()
        deadline = time.monotonic() + CONNECT_WAIT
        started = False
        pause = 0.01
        while True:
            try:
                return Connection(str(self.paths.socket), self.timeout)
            except (FileNotFoundError, ConnectionRefusedError):
                if not self.autostart:
                    raise DaemonError(f"the local daemon is not running (no socket at {self.paths.socket})") from None
                if not started:
                    self.start_daemon()
                    started = True
                    continue
            except OSError as exc:  # EAGAIN: the backlog is full while the daemon catches up
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR) and not isinstance(exc, TimeoutError):
                    raise DaemonError(f"cannot connect to the local daemon at {self.paths.socket}: {exc}") from None
            if time.monotonic() > deadline:
                raise DaemonError(f"the local daemon at {self.paths.socket} does not accept connections; "
                                  f"see {self.paths.daemon_log}")
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def request(self, method: str, path: str, body: Any = None, type: Any = None) -> Any:
        """One API call; with `type`, the JSON answer is decoded straight into it (msgspec).

        A connection lost mid-call is tried once more on a new one (the daemon may have crashed and is
        restarted): a submit carries its idempotency key, so the retry returns the job the first attempt
        created, and a delete whose first attempt went through counts as done."""
        payload = json.dumps(body).encode() if body is not None else None
        retried = False
        deadline = None
        attempt = 0
        while True:
            conn = self._connection()
            try:
                status, data = conn.exchange(method, path, payload)
                break
            except (ConnectionError, OSError, ValueError, IndexError) as exc:
                self.close()
                retried = True
                attempt += 1
                # Several crashes in a row (a daemon killed again while it restarts) are still one call: each
                # lost connection came from a daemon that was up, so keep trying while they keep coming back.
                if attempt > MAX_ATTEMPTS or (attempt > RETRIES and deadline is not None
                                              and time.monotonic() > deadline):
                    raise DaemonError(f"lost the connection to the local daemon: {exc}") from None
                deadline = time.monotonic() + RETRY_WINDOW
                time.sleep(min(0.05 * 2**attempt, 0.5))  # a crashed daemon's socket may still take a connection
        if status >= 400:
            try:
                out = json.loads(data) if data else None
            except ValueError:
                out = None
            err = from_payload((out or {}).get("error", {"message": f"HTTP {status}"}))
            if retried and method == "DELETE" and isinstance(err, JobNotFound):
                return None
            raise err
        if type is not None:
            import msgspec

            return msgspec.json.decode(data, type=type)
        return json.loads(data) if data else None

    def close(self) -> None:
        """Close this thread's connection."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def alive(self) -> bool:
        try:
            s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(str(self.paths.socket))
            s.close()
            return True
        except OSError:
            return False

    def wait_exited(self, wait: float = 30.0) -> bool:
        """Whether the daemon has let go of this home within `wait` seconds: its lock (`arenad.lock`) is free.

        Its socket closes first and its store is checkpointed after that (the write-ahead log folded into the
        database), so a caller that goes on to touch the store's files (a copy, a repair, a test that damages
        them) waits for the lock, which the daemon holds until it exits."""
        deadline = time.monotonic() + wait
        while self._daemon_lock_held():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def start_daemon(self, wait: float = 30.0) -> None:
        """Start `arenad` detached (own session, output to arenad.log) and wait for its socket.

        One client at a time (`arenad.start` is locked meanwhile); one that finds the daemon up once it has
        the lock starts nothing."""
        import fcntl
        import subprocess  # only here: most CLI runs find the daemon up and never pay for the import

        self.check_ownership()
        self.paths.ensure()
        with open(self.paths.home / "arenad.start", "a+") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX)
            if self.alive():
                return
            deadline = time.monotonic() + wait
            proc = self._spawn(subprocess)
            while time.monotonic() < deadline:
                if self.alive():
                    return
                code = proc.poll()
                if code is not None and code < 0 and not self.alive():
                    proc = self._spawn(subprocess)  # killed by a signal while starting: not a refusal, start again
                    continue
                if code is not None and not self.alive():
                    if code != 0:
                        line = self._last_log_line()
                        if line.startswith(START_ERROR):
                            raise DaemonError(line[len(START_ERROR):])
                        raise DaemonError(f"the local daemon exited at start: {line} (see {self.paths.daemon_log})")
                    if not self._daemon_lock_held():  # the daemon that held the lock has gone: start ours
                        proc = self._spawn(subprocess)
                time.sleep(0.01)
        raise DaemonError(f"the local daemon did not start; see {self.paths.daemon_log}")

    def _spawn(self, subprocess: Any) -> Any:
        log = open(self.paths.daemon_log, "ab")
        env = dict(os.environ)
        env["ARENA_HOME"] = str(self.paths.home)
        try:
            return subprocess.Popen([sys.executable, "-m", "arena.engines.local.daemon", "--home",
                                     str(self.paths.home)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True, env=env, cwd=str(self.paths.home))
        finally:
            log.close()

    def _daemon_lock_held(self) -> bool:
        import fcntl

        try:
            with open(self.paths.lock, "a+") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                return False
        except OSError:
            return False

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.paths.daemon_log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"
