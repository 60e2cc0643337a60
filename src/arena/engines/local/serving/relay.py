"""The serving proxy's HTTP/1.1 relay: client connections, replica connections, and the pool of idle ones.

Written as asyncio Protocols (callbacks on the event loop's own buffers), not streams: a proxied request
costs a handful of Python calls on each side and one write per answer, which is what keeps the proxy near
the replica's own throughput on two cores (`bench/bench_serving.py`). Streams cost several coroutine
switches, buffer copies and drain checks per message on top of that. At one connection the proxy's Python
is on the critical path twice per request, on caches the other processes left cold, so the usual shapes
(a whole request, a whole answer with a Content-Length, each in one read) take short paths of their own
(`Downstream.data_received`, `Upstream.answer`); everything else goes through the general scanner.

One exchange at a time per client connection (HTTP/1.1 has no multiplexing): a request is read whole (so it
can be retried on another replica), sent on an idle keep-alive connection to the picked replica (or a new
one), and the answer is relayed as it arrives, head and body untouched. Until the answer's first byte is
relayed, a replica that refuses, resets or closes costs the client nothing: a stale pooled connection is
replaced by a new one to the same replica, a failing replica is taken out (`Proxy.failed`) and the request
goes to the next one. After that, the answer is the client's, as it came. Pipelined requests wait in the
client's buffer; reading pauses when that backlog, or the client's unsent answer, grows.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from arena.engines.local.serving import http1

if TYPE_CHECKING:
    from arena.engines.local.serving.proxy import Proxy
    from arena.engines.local.serving.routes import Backend

CONNECT_TIMEOUT = 2.0
BACKLOG = 256 * 1024  # a client's unread pipelined bytes above this pause its reading

# what an Upstream is reading
IDLE, HEAD, LENGTH, CHUNKED, UNTIL_CLOSE, TUNNEL = range(6)


class Pool:
    """Idle keep-alive connections to replicas, by replica port (the newest reused first)."""

    __slots__ = ("idle",)

    def __init__(self) -> None:
        self.idle: dict[int, list[Upstream]] = {}

    def take(self, port: int) -> Upstream | None:
        idle = self.idle.get(port)
        while idle:
            up = idle.pop()
            if not up.closed:
                return up
        return None

    def put(self, up: Upstream) -> None:
        self.idle.setdefault(up.port, []).append(up)

    def discard(self, up: Upstream) -> None:
        idle = self.idle.get(up.port)
        if idle and up in idle:
            idle.remove(up)

    def keep_only(self, ports: set[int]) -> None:
        """Close the idle connections to replicas no longer routed to."""
        for port in [p for p in self.idle if p not in ports]:
            for up in self.idle.pop(port):
                up.transport.close()

    def close(self) -> None:
        self.keep_only(set())


class Downstream(asyncio.Protocol):
    """One client connection on a REST listener of a serving name."""

    # slots: the hot path reads and writes these on every request, on caches its wake-up left cold
    __slots__ = ("proxy", "key", "target", "transport", "buf", "head_end", "body_end", "chunks", "scanned",
                 "rewritten", "request", "method", "keep", "backend", "tried", "upstream", "connecting", "tunnel",
                 "reading_paused", "writing_paused", "eof", "closed", "preload")

    def __init__(self, proxy: Proxy, key: str, target: str, preload: bytes = b"") -> None:
        self.proxy = proxy
        self.preload = preload  # bytes the fast lane read and did not relay (see fastlane.py)
        self.key = key
        self.target = target  # "restful" or "grpc": which replica port
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.buf: bytes | bytearray = b""
        # the request being read from buf
        self.head_end = -1
        self.body_end = -1
        self.chunks: http1.Chunks | None = None
        self.scanned = 0
        self.rewritten: bytes | None = None  # the head to forward, when it differs from the one received
        # the exchange in flight
        self.request: bytes | None = None
        self.method = b""
        self.keep = True
        self.backend: Backend | None = None
        self.tried: set[str] = set()
        self.upstream: Upstream | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.tunnel: Upstream | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.eof = False
        self.closed = False

    # ---- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        svc = self.proxy.services.get(self.key)
        if svc is None:
            transport.close()
            return
        svc.connections.add(transport)
        if self.preload:
            data, self.preload = self.preload, b""
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self.request is None and not self.buf and self.tunnel is None:
            # The usual case on a short path (it is most of the proxy's time per request): the read holds
            # exactly one request with a Content-Length or no body, and nothing waits before it, so it is
            # sent as it came. Anything else is read piece by piece by `advance`.
            end = data.find(b"\r\n\r\n") + 4
            line = data[:data.find(b"\r\n")].split(b" ") if end > 3 else []
            if len(line) == 3 and line[0]:
                try:
                    length, keep, expect = http1.framing(data, end, line[2] == b"HTTP/1.1")
                except ValueError:
                    length, expect = http1.CHUNKED, True  # advance() refuses it
                if not expect and len(data) == end + (length if length > 0 else 0) and length != http1.CHUNKED:
                    self.method = line[0]
                    self.keep = keep
                    self.request = data
                    if self.tried:
                        self.tried.clear()
                    self.dispatch()
                    return
        if self.tunnel is not None:
            self.tunnel.transport.write(data)
            return
        if not self.buf:
            self.buf = data
        else:
            if isinstance(self.buf, bytes):
                self.buf = bytearray(self.buf)
            self.buf += data
        if self.request is None:
            self.advance()
        elif len(self.buf) > BACKLOG and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        if self.tunnel is not None:
            if self.tunnel.transport.can_write_eof():
                self.tunnel.transport.write_eof()
            return True
        if self.request is None:
            return False  # nothing in flight: close
        return True  # the answer still goes back on the open half

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        svc = self.proxy.services.get(self.key)
        if svc is not None:
            svc.connections.discard(self.transport)
        for up in (self.upstream, self.tunnel):
            if up is not None:
                up.down = None  # an answer cut short cannot be reused
                up.transport.close()
        self.upstream = self.tunnel = None

    def pause_writing(self) -> None:
        self.writing_paused = True
        up = self.upstream or self.tunnel
        if up is not None:
            up.pause()

    def resume_writing(self) -> None:
        self.writing_paused = False
        up = self.upstream or self.tunnel
        if up is not None:
            up.resume()

    # ---- requests -----------------------------------------------------------------------------------
    def advance(self) -> None:
        """Read the next request from the buffer; once it is whole, send it."""
        buf = self.buf
        if self.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > http1.HEAD_LIMIT:
                    self.refuse(400, "request head too long")
                elif self.eof:
                    self.transport.close()
                return
            self.head_end = head_end = end + 4
            parts = buf[:buf.find(b"\r\n")].split(b" ")
            if len(parts) != 3 or not parts[0]:
                self.refuse(400, "malformed request line")
                return
            self.method = parts[0]
            try:
                length, self.keep, expect = http1.framing(buf, head_end, parts[2] == b"HTTP/1.1")
            except ValueError:
                self.refuse(400, "malformed Content-Length")
                return
            if length == http1.CHUNKED:
                self.chunks = http1.Chunks()
                self.scanned = head_end
            else:
                self.body_end = head_end + max(length, 0)
            if expect:  # answered here: the replica gets the body at once
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.rewritten = http1.strip_header(bytes(buf[:head_end]), b"expect")
        if self.chunks is not None:
            try:
                end = self.chunks.feed(buf, self.scanned)
            except ValueError:
                self.refuse(400, "malformed chunked body")
                return
            if end < 0:
                self.scanned = len(buf)
                if self.eof:
                    self.transport.close()
                return
            self.body_end = end
            self.chunks = None
        body_end = self.body_end
        if len(buf) < body_end:
            if self.eof:
                self.transport.close()
            return
        if self.rewritten is not None:
            request = self.rewritten + buf[self.head_end:body_end]
            self.rewritten = None
        elif body_end == len(buf) and isinstance(buf, bytes):
            request = buf  # the usual case: one read, one whole request, no copy
        else:
            request = bytes(buf[:body_end])
        self.buf = buf[body_end:] if body_end < len(buf) else b""
        self.head_end = self.body_end = -1
        self.request = request
        self.tried.clear()
        self.dispatch()

    def dispatch(self) -> None:
        """Send the request to the next replica the balancer picks (or answer 503 when there is none)."""
        proxy = self.proxy
        svc = proxy.services.get(self.key)
        if svc is None:
            self.refuse(503, f"serving job {self.key} was deleted")
            return
        b = proxy.pick(svc, self.target, self.tried)
        if b is None:
            self.transport.write(http1.error_answer(503, f"no ready replica of serving job {svc.key}", close=False))
            # the next pipelined request on the next turn of the loop, not deeper in this stack
            asyncio.get_running_loop().call_soon(self.answered, True)
            return
        self.backend = b
        up = proxy.pool.take(b.http)
        if up is not None:
            up.send(self, True)
        else:
            self.connecting = asyncio.get_running_loop().create_task(self.connect(b.http))

    async def connect(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        pool = self.proxy.pool
        try:
            _, up = await asyncio.wait_for(loop.create_connection(lambda: Upstream(pool, port), "127.0.0.1", port),
                                           CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            self.connecting = None
            if not self.closed:
                self.upstream_failed(reused=False)
            return
        self.connecting = None
        if self.closed:
            up.transport.close()
        else:
            up.send(self, reused=False)

    def upstream_failed(self, reused: bool) -> None:
        """The replica failed before the first byte of its answer: try again, the client sees nothing."""
        self.upstream = None
        b = self.backend
        assert b is not None
        if reused:  # a keep-alive connection the replica had closed: once more, on a new one
            self.connecting = asyncio.get_running_loop().create_task(self.connect(b.http))
            return
        self.proxy.failed(b)
        self.tried.add(b.id)
        self.dispatch()

    def answered(self, keep: bool) -> None:
        """The answer is relayed whole: the next request, or the end of the connection."""
        self.upstream = None
        self.request = None
        if not (keep and self.keep) or self.closed:
            self.transport.close()  # after what is still buffered is sent
            return
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        if self.buf or self.eof:
            self.advance()

    def refuse(self, status: int, text: str) -> None:
        self.transport.write(http1.error_answer(status, text, close=True))
        self.transport.close()
        self.buf = b""

    def become_tunnel(self, up: Upstream) -> None:
        """101 Switching Protocols: from now on, bytes both ways, untouched."""
        self.upstream = None
        self.request = None
        self.tunnel = up
        if self.buf:
            up.transport.write(self.buf)
            self.buf = b""
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a replica's REST port: sends a request, relays its answer."""

    __slots__ = ("pool", "port", "transport", "down", "reused", "started", "state", "buf", "left", "chunks", "keep",
                 "paused", "closed")

    def __init__(self, pool: Pool, port: int) -> None:
        self.pool = pool
        self.port = port
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.down: Downstream | None = None
        self.reused = False
        self.started = False  # a byte of the answer went to the client: no retry any more
        self.state = IDLE
        self.buf = b""
        self.left = 0
        self.chunks: http1.Chunks | None = None
        self.keep = False
        self.paused = False
        self.closed = False

    def send(self, down: Downstream, reused: bool) -> None:
        assert down.request is not None
        self.down = down
        self.reused = reused
        self.started = False
        self.state = HEAD
        down.upstream = self
        if down.writing_paused:
            self.pause()
        self.transport.write(down.request)

    def pause(self) -> None:
        if not self.paused and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    # ---- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:  # only a tunnel writes more than one request's bytes here
        if self.state == TUNNEL and self.down is not None and not self.down.reading_paused:
            self.down.reading_paused = True
            self.down.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.state == TUNNEL and self.down is not None and self.down.reading_paused:
            self.down.reading_paused = False
            self.down.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        down = self.down
        if down is None:  # bytes nobody asked for: this connection cannot be trusted with a request
            self.transport.close()
            return
        state = self.state
        if state == HEAD and not self.buf and self.answer(down, data):
            return
        if state == HEAD:
            self.head(down, self.buf + data if self.buf else data)
        elif state == TUNNEL:
            down.transport.write(data)
        else:
            self.body(down, data, 0)

    def eof_received(self) -> bool:
        if self.state == TUNNEL and self.down is not None and self.down.transport.can_write_eof():
            self.down.transport.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        down, self.down = self.down, None
        if down is None:
            self.pool.discard(self)
        elif not self.started:
            down.upstream_failed(self.reused)
        elif self.state == UNTIL_CLOSE:
            down.answered(False)  # the close is the end of this answer
        else:
            down.upstream = down.tunnel = None
            down.transport.close()  # cut short: the client sees it as it came

    # ---- answers ------------------------------------------------------------------------------------
    def answer(self, down: Downstream, data: bytes) -> bool:
        """The usual answer on a short path: `data` is exactly one whole final answer (not 1xx, 204 or 304,
        to a request other than HEAD) with a Content-Length, so it is relayed as it came and the connection
        goes back to the pool. False, with nothing done, for anything else, which `head` and `body` read
        piece by piece."""
        code = data[9:12]
        if not (code.isdigit() and code[0] > 0x31 and data.startswith(b"HTTP/1.") and down.method != b"HEAD"
                and code != b"204" and code != b"304"):
            return False
        end = data.find(b"\r\n\r\n") + 4
        if end < 4:
            return False
        try:
            length, keep, _ = http1.framing(data, end, data[7] == 0x31)  # HTTP/1.1
        except ValueError:
            return False
        if length < 0 or len(data) != end + length:
            return False
        self.started = True
        down.transport.write(data)
        self.down = None
        self.state = IDLE
        if keep:
            if self.paused:
                self.resume()
            self.pool.put(self)
        else:
            self.transport.close()
        down.answered(keep)
        return True

    def head(self, down: Downstream, buf: bytes) -> None:
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > http1.HEAD_LIMIT:
                    self.bad_answer(down)
                else:
                    self.buf = buf
                return
            if buf[9:10] == b"1" and not buf.startswith(b"HTTP/1.1 101"):  # 1xx: not the answer yet
                buf = buf[end + 4:]
                continue
            break
        self.buf = b""
        head_end = end + 4
        status = int(buf[9:12]) if buf[9:12].isdigit() else 0
        if not buf.startswith(b"HTTP/1.") or not status:
            self.bad_answer(down)
            return
        try:
            length, self.keep, _ = http1.framing(buf, head_end, buf.startswith(b"HTTP/1.1"))
        except ValueError:
            self.bad_answer(down)
            return
        self.started = True
        if status == 101:
            self.state = TUNNEL
            down.transport.write(buf)
            down.become_tunnel(self)
            return
        if down.method == b"HEAD" or status in http1.NO_BODY_STATUS or status < 200:
            self.state = LENGTH
            self.left = 0
        elif length >= 0:
            self.state = LENGTH
            self.left = length
        elif length == http1.CHUNKED:
            self.state = CHUNKED
            self.chunks = http1.Chunks()
        else:
            self.state = UNTIL_CLOSE
            self.keep = False
        self.body(down, buf, head_end)

    def body(self, down: Downstream, data: bytes, start: int) -> None:
        """Relay `data` (its answer's bytes from `start` on are body) and notice where the answer ends."""
        state = self.state
        if state == LENGTH:
            if len(data) - start >= self.left:
                end = start + self.left
                self.left = 0
            else:
                self.left -= len(data) - start
                end = -1
        elif state == CHUNKED:
            assert self.chunks is not None
            try:
                end = self.chunks.feed(data, start)
            except ValueError:
                down.transport.write(data)
                self.transport.close()  # connection_lost cuts the client's connection too
                return
        else:
            end = -1
        if end < 0:
            down.transport.write(data)
            return
        down.transport.write(data if end == len(data) else data[:end])
        reusable = self.keep and end == len(data)  # bytes after the answer: a confused replica
        self.state = IDLE
        self.chunks = None
        self.down = None
        if reusable:
            self.resume()
            self.pool.put(self)
        else:
            self.transport.close()
        down.answered(self.keep)

    def bad_answer(self, down: Downstream) -> None:
        self.down = None
        self.transport.close()
        down.upstream = None
        down.refuse(502, "malformed answer from the replica")
