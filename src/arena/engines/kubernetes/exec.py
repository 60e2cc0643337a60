"""`arena attach` on a cluster: exec into a job's pod over the API server's WebSocket, as `kubectl exec`.

lightkube has no exec, and no WebSocket client is among Arena's dependencies, so this speaks the two
small protocols itself, over the same TLS context and credentials lightkube uses:

- RFC 6455 WebSocket, client side: the HTTP/1.1 Upgrade, masked frames out, frames in (fragments,
  ping/pong, close);
- Kubernetes' stream protocol `v5.channel.k8s.io` (or `v4.channel.k8s.io` from older servers): every
  binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the final Status (JSON, with
  the exit code), 4 terminal resize (JSON `{"Width", "Height"}`), 255 close a channel (v5 only: stdin's
  end of file).

The command's exit code is the process's: `arena attach job -- false` exits 1, like `kubectl exec`.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from arena.errors import ArenaError, EngineUnavailable, InvalidSpec

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DEFAULT_COMMAND = ("sh",)  # upstream's default


class WebSocket:
    """A minimal RFC 6455 client connection: enough for the API server's exec stream."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket, protocol: str) -> None:
        self.sock = sock
        self.protocol = protocol
        self._buf = b""
        self._send_lock = threading.Lock()

    # ---- handshake ------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, headers: dict[str, str], context: ssl.SSLContext | None,
                timeout: float = 30.0) -> WebSocket:
        parts = urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise EngineUnavailable(f"cannot reach the Kubernetes API server at {host}:{port}: {exc}") from None
        sock: socket.socket | ssl.SSLSocket = raw
        if secure:
            ctx = context or ssl.create_default_context()
            try:
                ctx.set_alpn_protocols(["http/1.1"])
            except NotImplementedError:
                pass
            try:
                sock = ctx.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                raise EngineUnavailable(f"TLS with the Kubernetes API server at {host}:{port} failed: {exc}") from None
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
                   f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                   f"Sec-WebSocket-Protocol: {', '.join(PROTOCOLS)}"]
        request += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(request) + "\r\n\r\n").encode())
        ws = cls(sock, "")
        status, reply_headers, body = ws._read_handshake()
        if status != 101:
            sock.close()
            raise _http_error(status, body)
        ws.protocol = reply_headers.get("sec-websocket-protocol", PROTOCOLS[-1])
        sock.settimeout(None)
        return ws

    def _read_handshake(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EngineUnavailable("the API server closed the connection during the exec handshake")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise EngineUnavailable(f"unexpected answer to the exec request: {lines[0]!r}") from None
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if status != 101:
            length = int(headers.get("content-length") or 0)
            body = self._buf
            self.sock.settimeout(5)
            try:
                while len(body) < length:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
        return status, headers, body

    # ---- frames ---------------------------------------------------------------------------
    def _recv_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv(self) -> tuple[int, bytes]:
        """The next whole message: (opcode, payload); control frames are returned as they come."""
        opcode, message = None, b""
        while True:
            b0, b1 = self._recv_exactly(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._recv_exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._recv_exactly(8))[0]
            mask = self._recv_exactly(4) if b1 & 0x80 else b""
            payload = self._recv_exactly(length)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            if op >= OP_CLOSE:  # control frames may come between fragments
                return op, payload
            if op != OP_CONT:
                opcode = op
            message += payload
            if fin:
                return opcode if opcode is not None else OP_BINARY, message

    def send(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        with self._send_lock:
            self.sock.sendall(header + mask + masked)

    def close(self) -> None:
        try:
            self.send(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def _http_error(status: int, body: bytes) -> ArenaError:
    try:
        message = json.loads(body).get("message") or ""
    except (ValueError, AttributeError):
        message = body.decode(errors="replace").strip()
    if status == 403:
        from arena.engines.kubernetes.api import PermissionDenied

        return PermissionDenied(f"no permission to exec into pods: {message}" if message else
                                "no permission to exec into pods")
    if status == 404:
        return InvalidSpec("--instance", message or "no such pod")
    return ArenaError(f"exec failed: HTTP {status}" + (f": {message}" if message else ""))


def exit_code(status: dict[str, Any]) -> int:
    """The exit code in the API server's final Status: 0 on Success, the ExitCode cause, else 1."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                break
    return 1


def exec_url(server: str, namespace: str, pod: str, container: str | None, command: Sequence[str],
             stdin: bool, tty: bool) -> str:
    query: list[tuple[str, str]] = [("command", c) for c in command]
    if container:
        query.append(("container", container))
    query += [("stdin", str(stdin).lower()), ("stdout", "true"), ("stderr", str(not tty).lower()),
              ("tty", str(tty).lower())]
    return f"{server.rstrip('/')}/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/exec?{urlencode(query)}"


def credentials(config: Any) -> tuple[dict[str, str], ssl.SSLContext | None]:
    """The Authorization header and TLS context lightkube would use for this kubeconfig context."""
    import httpx2
    from lightkube.config.client_adapter import user_auth, verify_cluster
    from lightkube.core.exceptions import ConfigError

    headers: dict[str, str] = {}
    try:
        auth = user_auth(config.user)
        if auth is not None:  # run the auth flow on a probe request: token, token file, exec plugin, basic
            prepared = next(auth.sync_auth_flow(httpx2.Request("GET", str(config.cluster.server))))
            if "Authorization" in prepared.headers:
                headers["Authorization"] = prepared.headers["Authorization"]
        context = None
        if str(config.cluster.server).startswith("https"):
            context = verify_cluster(config.cluster, config.user, config.abs_file)
    except ConfigError as exc:
        raise EngineUnavailable(f"kubeconfig credentials: {exc}") from None
    except (OSError, ssl.SSLError) as exc:  # a certificate file that cannot be read
        raise EngineUnavailable(f"kubeconfig TLS settings: {exc}") from None
    return headers, context


def stream(config: Any, namespace: str, pod: str, container: str | None, command: Sequence[str], *,
           tty: bool, stdin: IO[bytes] | None, stdout: IO[bytes], stderr: IO[bytes],
           size: tuple[int, int] | None = None) -> int:
    """Run `command` in the pod, copying the streams until it ends; its exit code."""
    headers, context = credentials(config)
    url = exec_url(str(config.cluster.server), namespace, pod, container, command or DEFAULT_COMMAND,
                   stdin is not None, tty)
    ws = WebSocket.connect(url, headers, context)
    v5 = ws.protocol == "v5.channel.k8s.io"
    if tty and size:
        ws.send(OP_BINARY, bytes([RESIZE]) + json.dumps({"Width": size[0], "Height": size[1]}).encode())
    if stdin is not None:
        threading.Thread(target=_pump, args=(ws, stdin, v5), daemon=True).start()
    code = 0
    try:
        while True:
            try:
                op, data = ws.recv()
            except (ConnectionError, OSError):
                break
            if op == OP_CLOSE:
                break
            if op == OP_PING:
                ws.send(OP_PONG, data)
                continue
            if op not in (OP_TEXT, OP_BINARY) or not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDOUT:
                stdout.write(payload)
                stdout.flush()
            elif channel == STDERR:
                stderr.write(payload)
                stderr.flush()
            elif channel == ERROR and payload:
                try:
                    code = exit_code(json.loads(payload))
                except ValueError:
                    stderr.write(payload)
                    code = 1
    finally:
        ws.close()
    return code


def _pump(ws: WebSocket, source: IO[bytes], v5: bool) -> None:
    """Copy stdin to channel 0; at its end, close the channel (v5) so that `cat` and friends finish."""
    try:
        fd: int | None = source.fileno()
    except (OSError, ValueError, AttributeError):  # an in-memory stream
        fd = None
    try:
        while True:
            chunk = os.read(fd, 65536) if fd is not None else source.read(65536)
            if not chunk:
                break
            ws.send(OP_BINARY, bytes([STDIN]) + chunk)
    except (OSError, ValueError):
        pass
    finally:
        if v5:
            try:
                ws.send(OP_BINARY, bytes([CLOSE, STDIN]))
            except OSError:
                pass


def _terminal_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (OSError, ValueError):
        return None
    return size.columns, size.lines


def attach(engine: Any, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
           container: str | None = None, command: Sequence[str] = ()) -> int:
    """`arena attach`: the job's chief pod (or `-i`), its main container (or `-c`), a shell (or the command),
    with a terminal when this one is a terminal. The pod is chosen as `arena logs` chooses it."""
    from arena.engines.kubernetes.engine import default_container, pick_pod

    k, _, _ = engine._one(namespace, name, kind)
    pod = pick_pod(k, name, engine._pods(namespace, k, name), instance)
    if pod.status.phase != "Running":
        raise ArenaError(f"pod {pod.metadata.name} of job {name} is {pod.status.phase or 'Pending'}, not Running: "
                         "there is nothing to attach to")
    return on_terminal(engine.api.config, namespace, pod.metadata.name, container or default_container(pod), command)


def on_terminal(config: Any, namespace: str, pod: str, container: str | None, command: Sequence[str]) -> int:
    """Exec `command` (default: a shell) in the pod's container with this process's stdin, stdout and stderr,
    through a terminal in raw mode when this one is a terminal; the command's exit code."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    restore = _raw_terminal() if interactive else None
    try:
        return stream(config, namespace, pod, container, list(command) or list(DEFAULT_COMMAND), tty=interactive,
                      stdin=sys.stdin.buffer, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer,
                      size=_terminal_size() if interactive else None)
    finally:
        if restore is not None:
            restore()


def _raw_terminal() -> Any:
    """Put this terminal in raw mode (keys go to the remote shell as typed); the function that restores it."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
