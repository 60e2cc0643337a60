"""One keep-alive HTTP/1.1 exchange at a time with the local daemon, over its Unix socket.

The daemon is ours and always answers with Content-Length, so a minimal HTTP/1.1 exchange is enough: it keeps
`http.client` (and the email parser it imports, ~20 ms) out of every command's start. It is built on `_socket`,
the module `socket` wraps: the wrapper's enums and helpers cost milliseconds of every start and give a Unix
socket nothing more; the errors are the same `OSError`s.
"""
from __future__ import annotations

import _socket

TIMEOUT = 120.0  # seconds a call waits for the daemon's answer


class Connection:
    """One keep-alive HTTP/1.1 connection to the daemon's socket."""

    def __init__(self, path: str, timeout: float) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
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
        try:
            self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        except (BrokenPipeError, ConnectionResetError) as exc:  # refused at the door: its answer may be there
            try:
                self.sock.settimeout(1.0)
                lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
            except OSError:
                raise exc from None
        else:
            lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip())
        return status, self._read_exactly(length)
