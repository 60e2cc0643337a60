"""The local engine's serving proxy: one stable loopback address per serving name, in front of its replicas.

    python -m arena.engines.local.serving.proxy --dir $ARENA_HOME/serving

A sidecar process of the daemon (started, watched and stopped by `manager.Manager`), not a thread in it:

- it has its own interpreter lock, so its hot path never waits on the daemon's reconcile loop, API
  threads or SQLite, and theirs never wait on it (the bench's p50/p99 depend on it);
- it lives in its own session, like replicas, so serving goes on while the daemon restarts or is upgraded
  (the daemon can be killed at any moment; the requests in flight are not);
- a fault in it cannot take the daemon down; the daemon starts it again.

It reads `routes.json` (what to listen on and where the replicas are) when it changes and writes
`status.json` (which replicas are ready, which serial it applied). Per serving name it

- listens at the name's loopback address on each endpoint port: REST ports as an HTTP/1.1 reverse proxy
  (per-request balancing, keep-alive to the replicas), gRPC ports at the TCP level (per connection: HTTP/2
  streams stay on the connection they were opened on, as behind a Kubernetes Service);
- probes every replica (its server's health endpoint, else a TCP connect) every `PERIOD` seconds; only
  ready replicas receive requests (AVAILABLE counts them); a replica that refuses or drops a connection is
  taken out at once, until its probe passes again;
- balances over the ready replicas of every version, or, after `arena serve traffic-split`, first picks
  the version by weight (smooth weighted round-robin: exact shares, evenly interleaved), then a replica
  of it round-robin;
- retries a request on another replica when the one it was sent to fails before answering (refused,
  reset, closed): a replica killed mid-request costs the client nothing but time. Once the first byte of
  an answer has been relayed, the answer is the client's, as it came.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from arena.engines.local.serving import routes as routes_mod
from arena.engines.local.serving.routes import Backend, Listener, Route, Routes, Status, VersionRoute

PERIOD = 0.5  # seconds between readiness probes of a replica
PROBE_TIMEOUT = 1.0
FAILURES = 2  # consecutive failed probes before a replica counts as not ready
CONNECT_TIMEOUT = 2.0
WATCH = 0.1  # seconds between looks at routes.json
HEAD_LIMIT = 64 * 1024
CHUNK = 256 * 1024
WHOLE = 1024 * 1024  # answers up to this size are relayed in one write

NO_BODY_STATUS = (204, 304)


class Health:
    """One replica's readiness, as its probes (and failed requests) tell it."""

    __slots__ = ("ready", "fails", "action", "path", "port", "seen")

    def __init__(self, action: str, path: str, port: int) -> None:
        self.ready = False
        self.fails = 0
        self.action = action
        self.path = path
        self.port = port
        self.seen = 0


class Version:
    """A version's replicas and its share of traffic (smooth weighted round-robin state)."""

    __slots__ = ("name", "weight", "current", "backends", "rr")

    def __init__(self, route: VersionRoute) -> None:
        self.name = route.version
        self.weight = route.weight
        self.current = 0
        self.backends = sorted(route.backends, key=lambda b: b.id)
        self.rr = 0


class Service:
    __slots__ = ("key", "versions", "weighted", "rr", "connections")

    def __init__(self, route: Route, previous: Service | None) -> None:
        self.key = route.key
        old = {v.name: v for v in previous.versions} if previous else {}
        self.versions = []
        for vr in route.versions:
            v = Version(vr)
            if vr.version in old:  # keep the round-robin positions across a routes change
                v.current, v.rr = old[vr.version].current, old[vr.version].rr
            self.versions.append(v)
        self.weighted = any(v.weight is not None for v in self.versions)
        self.rr = previous.rr if previous else 0
        self.connections: set[asyncio.StreamWriter] = previous.connections if previous else set()


class Proxy:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.routes_path = directory / "routes.json"
        self.status_path = directory / "status.json"
        self.serial = -1
        self.stamp: tuple[int, int] | None = None
        self.services: dict[str, Service] = {}
        self.health: dict[str, Health] = {}
        self.servers: dict[tuple[str, int], tuple[asyncio.AbstractServer, str, Listener]] = {}
        self.errors: dict[str, str] = {}
        self.pools: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.probing: set[str] = set()
        self.dirty = True
        self.stopping = asyncio.Event()

    # ---- routes -------------------------------------------------------------------------------
    async def watch(self) -> None:
        while not self.stopping.is_set():
            try:
                st = self.routes_path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp is not None and stamp != self.stamp:
                found = routes_mod.read(self.routes_path, Routes)
                if isinstance(found, Routes):
                    self.stamp = stamp
                    await self.apply(found)
            elif self.errors:
                await self.listen(self.wanted())  # a port that was taken may be free now
            if self.dirty:
                self.write_status()
            await asyncio.sleep(WATCH)

    def wanted(self) -> dict[tuple[str, int], tuple[str, Listener]]:
        return {(r.address, listener.port): (r.key, listener) for r in self.routes for listener in r.listeners}

    async def apply(self, new: Routes) -> None:
        self.routes = new.routes
        self.services = {r.key: Service(r, self.services.get(r.key)) for r in new.routes}
        seen: set[str] = set()
        for r in new.routes:
            for v in r.versions:
                for b in v.backends:
                    port = (b.http if v.probe_port == "restful" else b.grpc) or b.http or b.grpc
                    h = self.health.get(b.id)
                    if h is None or (h.action, h.path, h.port) != (v.probe, v.probe_path, port):
                        self.health[b.id] = Health(v.probe, v.probe_path, port)
                        self.dirty = True
                    seen.add(b.id)
        for gone in set(self.health) - seen:
            del self.health[gone]
            self.dirty = True
        live_ports = {b.http for r in new.routes for v in r.versions for b in v.backends}
        for port in [p for p in self.pools if p not in live_ports]:
            for _, w in self.pools.pop(port):
                w.close()
        await self.listen(self.wanted())
        for key in [k for k in list(self.services) if not any(r.key == k for r in new.routes)]:
            self.services.pop(key, None)
        self.serial = new.serial
        self.dirty = True
        for b in seen:
            if not self.health[b].seen:
                self.probe_soon(b)

    async def listen(self, wanted: dict[tuple[str, int], tuple[str, Listener]]) -> None:
        for addr, (server, key, _) in list(self.servers.items()):
            if addr not in wanted or wanted[addr][0] != key:
                server.close()
                del self.servers[addr]
                if key not in {k for k, _ in wanted.values()}:
                    self.drop_connections(key)
        errors: dict[str, str] = {}
        for addr, (key, listener) in wanted.items():
            if addr in self.servers:
                continue
            handler = self.http_client if listener.protocol == "http" else self.tcp_client

            def bound(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str = key,
                      listener: Listener = listener, handler=handler) -> object:  # type: ignore[no-untyped-def]
                return handler(reader, writer, key, listener.target)

            try:
                server = await asyncio.start_server(bound, addr[0], addr[1], reuse_address=True, backlog=1024,
                                                    limit=HEAD_LIMIT)
            except OSError as exc:
                errors[f"{addr[0]}:{addr[1]}"] = exc.strerror or str(exc)
                continue
            self.servers[addr] = (server, key, listener)
        if errors != self.errors:
            self.errors = errors
            self.dirty = True

    def drop_connections(self, key: str) -> None:
        svc = self.services.get(key)
        for w in list(svc.connections if svc else ()):
            w.close()

    def write_status(self) -> None:
        status = Status(serial=self.serial, pid=os.getpid(), ready=sorted(k for k, h in self.health.items() if h.ready),
                        errors=dict(self.errors))
        try:
            routes_mod.write(self.status_path, status)
            self.dirty = False
        except OSError:
            pass

    # ---- readiness ----------------------------------------------------------------------------
    async def probes(self) -> None:
        while not self.stopping.is_set():
            for bid in list(self.health):
                self.probe_soon(bid)
            await asyncio.sleep(PERIOD)

    def probe_soon(self, bid: str) -> None:
        if bid not in self.probing:
            self.probing.add(bid)
            asyncio.get_running_loop().create_task(self.probe(bid))

    async def probe(self, bid: str) -> None:
        try:
            h = self.health.get(bid)
            if h is None:
                return
            ok = await self.check(h)
            h.seen += 1
            if ok:
                h.fails = 0
                if not h.ready:
                    h.ready = True
                    self.dirty = True
            else:
                h.fails += 1
                if h.ready and h.fails >= FAILURES:
                    h.ready = False
                    self.dirty = True
        finally:
            self.probing.discard(bid)

    async def check(self, h: Health) -> bool:
        if not h.port:
            return False
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", h.port), PROBE_TIMEOUT)
            if h.action != "httpGet":
                return True
            writer.write(f"GET {h.path} HTTP/1.1\r\nHost: 127.0.0.1:{h.port}\r\nUser-Agent: arena-probe\r\n"
                         "Connection: close\r\n\r\n".encode())
            line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT)
            parts = line.split()
            return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
        except (OSError, asyncio.TimeoutError, ValueError):
            return False
        finally:
            if writer is not None:
                writer.close()

    def failed(self, b: Backend) -> None:
        """A replica refused or dropped a request: out of the pool until its probe passes again."""
        h = self.health.get(b.id)
        if h is not None and h.ready:
            h.ready = False
            h.fails = FAILURES
            self.dirty = True

    # ---- balancing ----------------------------------------------------------------------------
    def pick(self, svc: Service, target: str, exclude: set[str]) -> Backend | None:
        def usable(b: Backend) -> bool:
            h = self.health.get(b.id)
            return (not b.draining and b.id not in exclude and h is not None and h.ready
                    and bool(b.http if target == "restful" else b.grpc))

        if svc.weighted:
            candidates = [(v, [b for b in v.backends if usable(b)]) for v in svc.versions if v.weight]
            candidates = [(v, bs) for v, bs in candidates if bs]
            if not candidates:
                return None
            total = 0
            best: tuple[Version, list[Backend]] | None = None
            for v, bs in candidates:
                v.current += v.weight or 0
                total += v.weight or 0
                if best is None or v.current > best[0].current:
                    best = (v, bs)
            assert best is not None
            best[0].current -= total
            v, bs = best
            v.rr += 1
            return bs[v.rr % len(bs)]
        pool = [b for v in svc.versions for b in v.backends if usable(b)]
        if not pool:
            return None
        svc.rr += 1
        return pool[svc.rr % len(pool)]

    # ---- HTTP ---------------------------------------------------------------------------------
    async def http_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str,
                          target: str) -> None:
        svc = self.services.get(key)
        if svc is None:
            writer.close()
            return
        svc.connections.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
                    return
                first, headers = scan(head)
                parts = first.split(b" ")
                if len(parts) != 3 or not parts[0]:
                    await respond(writer, 400, "malformed request line", close=True)
                    return
                method, proto = parts[0], parts[2]
                if headers.get(b"expect") == b"100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = strip_header(head, b"expect")
                try:
                    body = await read_body(reader, headers)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError, OSError):
                    return
                conn = headers.get(b"connection", b"")
                keep = (b"close" not in conn) if proto == b"HTTP/1.1" else (b"keep-alive" in conn)
                svc = self.services.get(key)
                if svc is None:
                    await respond(writer, 503, f"serving job {key} was deleted", close=True)
                    return
                relayed_keep = await self.forward(svc, target, method, head + body, writer)
                if not (keep and relayed_keep):
                    return
        finally:
            svc.connections.discard(writer)
            writer.close()

    async def forward(self, svc: Service, target: str, method: bytes, request: bytes,
                      client: asyncio.StreamWriter) -> bool:
        """Send `request` to a ready replica and relay its answer; False when the client connection must close."""
        tried: set[str] = set()
        while True:
            b = self.pick(svc, target, tried)
            if b is None:
                await respond(client, 503, f"no ready replica of serving job {svc.key}", close=False)
                return True
            fresh_retry = False
            while True:
                conn = await self.connect(b.http, fresh=fresh_retry)
                if conn is None:
                    break
                reader, writer, reused = conn
                try:
                    writer.write(request)
                    if writer.transport.get_write_buffer_size() > CHUNK:
                        await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                    while head[9:10] == b"1" and not head.startswith(b"HTTP/1.1 101"):  # 1xx: not the answer
                        head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
                    writer.close()
                    if reused and not fresh_retry:  # a stale keep-alive connection: once more, on a new one
                        fresh_retry = True
                        continue
                    break
                return await self.relay(head, reader, writer, b.http, method, client)
            self.failed(b)
            tried.add(b.id)

    async def connect(self, port: int, fresh: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool] | None:
        pool = self.pools.get(port)
        while pool and not fresh:
            reader, writer = pool.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=HEAD_LIMIT),
                                                    CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            return None
        return reader, writer, False

    async def relay(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int,
                    method: bytes, client: asyncio.StreamWriter) -> bool:
        first, headers = scan(head)
        status = int(first[9:12]) if first[9:12].isdigit() else 0
        if not first.startswith(b"HTTP/1.") or not status:
            writer.close()
            await respond(client, 502, "malformed answer from the replica", close=True)
            return False
        conn = headers.get(b"connection", b"")
        backend_keep = (b"close" not in conn) if first.startswith(b"HTTP/1.1") else (b"keep-alive" in conn)
        framed = True
        try:
            if method == b"HEAD" or status in NO_BODY_STATUS or 100 <= status < 200:
                client.write(head)
            elif b"chunked" in headers.get(b"transfer-encoding", b""):
                client.write(head)
                await relay_chunked(reader, client)
            elif b"content-length" in headers and int(headers[b"content-length"]) <= WHOLE:
                # one write for head and body: no small segment waits on a delayed ACK
                client.write(head + await reader.readexactly(int(headers[b"content-length"])))
            elif b"content-length" in headers:
                client.write(head)
                remaining = int(headers[b"content-length"])
                while remaining > 0:
                    data = await reader.read(min(remaining, CHUNK))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", remaining)
                    client.write(data)
                    remaining -= len(data)
                    if client.transport.get_write_buffer_size() > CHUNK:
                        await client.drain()
            else:  # delimited by the close of the connection
                client.write(head)
                framed = False
                while data := await reader.read(CHUNK):
                    client.write(data)
                    await client.drain()
            if client.transport.get_write_buffer_size() > CHUNK:
                await client.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            writer.close()
            return False
        if framed and backend_keep:
            self.pools.setdefault(port, []).append((reader, writer))
        else:
            writer.close()
        return framed and backend_keep  # the client reads the same headers: it keeps the connection iff they allow

    # ---- TCP (gRPC) -----------------------------------------------------------------------------
    async def tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str,
                         target: str) -> None:
        svc = self.services.get(key)
        if svc is None:
            writer.close()
            return
        svc.connections.add(writer)
        upstream = None
        try:
            tried: set[str] = set()
            while upstream is None:
                b = self.pick(svc, target, tried)
                if b is None:
                    return
                try:
                    upstream = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", b.grpc), CONNECT_TIMEOUT)
                except (OSError, asyncio.TimeoutError):
                    self.failed(b)
                    tried.add(b.id)
            up_reader, up_writer = upstream
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            svc.connections.discard(writer)
            writer.close()
            if upstream is not None:
                upstream[1].close()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        self.routes: list[Route] = []
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        tasks = [loop.create_task(self.watch()), loop.create_task(self.probes())]
        await self.stopping.wait()
        for t in tasks:
            t.cancel()
        for server, _, _ in self.servers.values():
            server.close()
        for svc in self.services.values():
            for w in list(svc.connections):
                w.close()


# ---- HTTP/1.1 helpers -------------------------------------------------------------------------------
_HEADERS = re.compile(rb"\r\n(content-length|transfer-encoding|connection|expect)[ \t]*:[ \t]*([^\r\n]*)", re.I)


def scan(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """(first line, the framing headers the proxy reads: name -> lower-case value). A regex over the raw head
    instead of a parse of every header: this runs twice per request."""
    end = head.find(b"\r\n")
    return head[:end], {m.group(1).lower(): m.group(2).strip().lower() for m in _HEADERS.finditer(head, end)}


def strip_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    return b"\r\n".join(line for line in lines if line.partition(b":")[0].strip().lower() != name)


async def read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, up to the empty line
                    line = await reader.readuntil(b"\r\n")
                    parts.append(line)
                    if line == b"\r\n":
                        return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    length = headers.get(b"content-length")
    if length:
        n = int(length)
        if n < 0:
            raise ValueError(n)
        return await reader.readexactly(n) if n else b""
    return b""


async def relay_chunked(reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        client.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                line = await reader.readuntil(b"\r\n")
                client.write(line)
                if line == b"\r\n":
                    return
        client.write(await reader.readexactly(size + 2))
        if client.transport.get_write_buffer_size() > CHUNK:
            await client.drain()


async def respond(writer: asyncio.StreamWriter, status: int, text: str, close: bool) -> None:
    reason = {400: "Bad Request", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
    body = (text + "\n").encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n".encode() + body)
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arena-serving-proxy", description="Arena's local serving proxy")
    parser.add_argument("--dir", required=True, help="$ARENA_HOME/serving")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        import uvloop  # comes with the 'serving' extra (kserve's server uses it): a faster event loop

        uvloop.install()
    except ImportError:
        pass
    print(f"arena serving proxy pid {os.getpid()} started {time.strftime('%Y-%m-%dT%H:%M:%S')}", flush=True)
    asyncio.run(Proxy(Path(args.dir)).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
