"""HTTP over the daemon's Unix socket, starting the daemon on demand."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from arena.engines.local.paths import Paths
from arena.errors import DaemonError, from_payload


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Transport:
    def __init__(self, home: Path, timeout: float = 120.0, autostart: bool = True) -> None:
        self.paths = Paths(home)
        self.timeout = timeout
        self.autostart = autostart
        self._conn: _UnixConnection | None = None

    def _connection(self) -> _UnixConnection:
        if self._conn is None:
            conn = _UnixConnection(str(self.paths.socket), self.timeout)
            try:
                conn.connect()
            except (FileNotFoundError, ConnectionRefusedError):
                if not self.autostart:
                    raise DaemonError(f"the local daemon is not running (no socket at {self.paths.socket})") from None
                self.start_daemon()
                conn.connect()
            self._conn = conn
        return self._conn

    def request(self, method: str, path: str, body: Any = None, type: Any = None) -> Any:
        """One API call; with `type`, the JSON answer is decoded straight into it (msgspec)."""
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.close()
                if attempt:
                    raise DaemonError(f"lost the connection to the local daemon: {exc}") from None
        if resp.status >= 400:
            out = json.loads(data) if data else None
            raise from_payload((out or {}).get("error", {"message": f"HTTP {resp.status}"}))
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
        self.paths.ensure()
        log = open(self.paths.daemon_log, "ab")
        env = dict(os.environ)
        env["ARENA_HOME"] = str(self.paths.home)
        subprocess.Popen([sys.executable, "-m", "arena.engines.local.daemon", "--home", str(self.paths.home)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                         env=env, cwd=str(self.paths.home))
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.alive():
                return
            time.sleep(0.01)
        raise DaemonError(f"the local daemon did not start; see {self.paths.daemon_log}")
