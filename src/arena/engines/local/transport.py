"""HTTP over the daemon's Unix socket, starting the daemon on demand.

The daemon is ours and always answers with Content-Length, so a minimal HTTP/1.1 exchange over
the socket is enough; it keeps `http.client` (and the email parser it imports, ~20 ms) out of
CLI start-up.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from arena.engines.local.paths import Paths
from arena.errors import DaemonError, from_payload


class _Connection:
    """One keep-alive HTTP/1.1 connection to the daemon's socket."""

    def __init__(self, path: str, timeout: float) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exactly(self, n: int) -> bytes:
        parts, have = [self.buf[:n]], len(self.buf[:n])
        self.buf = self.buf[n:]
        while have < n:
            chunk = self.sock.recv(max(65536, n - have))
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            parts.append(chunk[: n - have])
            self.buf = chunk[n - have:]
            have += len(parts[-1])
        return b"".join(parts)

    def exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body or b'')}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip())
        return status, self._read_exactly(length)


class Transport:
    def __init__(self, home: Path, timeout: float = 120.0, autostart: bool = True) -> None:
        self.paths = Paths(home)
        self.timeout = timeout
        self.autostart = autostart
        self._conn: _Connection | None = None

    def _connection(self) -> _Connection:
        if self._conn is None:
            try:
                self._conn = _Connection(str(self.paths.socket), self.timeout)
            except (FileNotFoundError, ConnectionRefusedError):
                if not self.autostart:
                    raise DaemonError(f"the local daemon is not running (no socket at {self.paths.socket})") from None
                self.start_daemon()
                self._conn = _Connection(str(self.paths.socket), self.timeout)
        return self._conn

    def request(self, method: str, path: str, body: Any = None, type: Any = None) -> Any:
        """One API call; with `type`, the JSON answer is decoded straight into it (msgspec)."""
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            conn = self._connection()
            try:
                status, data = conn.exchange(method, path, payload)
                break
            except (ConnectionError, OSError, ValueError, IndexError) as exc:
                self.close()
                if attempt:
                    raise DaemonError(f"lost the connection to the local daemon: {exc}") from None
        if status >= 400:
            out = json.loads(data) if data else None
            raise from_payload((out or {}).get("error", {"message": f"HTTP {status}"}))
        if type is not None:
            import msgspec

            return msgspec.json.decode(data, type=type)
        return json.loads(data) if data else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def alive(self) -> bool:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(str(self.paths.socket))
            s.close()
            return True
        except OSError:
            return False

    def start_daemon(self, wait: float = 15.0) -> None:
        """Start `arenad` detached (own session, output to arenad.log) and wait for its socket."""
        import subprocess  # only here: most CLI runs find the daemon up and never pay for the import

        self.paths.ensure()
        log = open(self.paths.daemon_log, "ab")
        env = dict(os.environ)
        env["ARENA_HOME"] = str(self.paths.home)
        proc = subprocess.Popen([sys.executable, "-m", "arena.engines.local.daemon", "--home", str(self.paths.home)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True, env=env, cwd=str(self.paths.home))
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.alive():
                return
            if proc.poll() is not None and not self.alive():  # died (or another daemon won the lock)
                time.sleep(0.05)
                if self.alive():
                    return
                raise DaemonError(f"the local daemon exited at start: {self._last_log_line()} "
                                  f"(see {self.paths.daemon_log})")
            time.sleep(0.01)
        raise DaemonError(f"the local daemon did not start; see {self.paths.daemon_log}")

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.paths.daemon_log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"
