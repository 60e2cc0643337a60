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
  (per-request balancing, a pool of keep-alive connections to the replicas; the usual exchange on a native
  thread, `fastlane.c`, everything else in `relay.py`, with the framing in `http1.py`), gRPC ports at the
  TCP level (per connection: HTTP/2 streams stay on the connection they were
  opened on, as behind a Kubernetes Service);
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
import signal
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from arena.engines.local.serving import fastlane
from arena.engines.local.serving import routes as routes_mod
from arena.engines.local.serving.relay import CONNECT_TIMEOUT, Downstream, Pool
from arena.engines.local.serving.routes import Backend, Listener, Route, Routes, Status, VersionRoute

PERIOD = 0.5  # seconds between readiness probes of a replica
PROBE_TIMEOUT = 1.0
FAILURES = 2  # consecutive failed probes before a replica counts as not ready
WATCH = 0.1  # seconds between looks at routes.json
CHUNK = 256 * 1024  # gRPC: bytes read at a time


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
    """A serving name's versions, its round-robin position and its open client connections."""

    __slots__ = ("key", "versions", "weighted", "rr", "connections", "usable")

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
        self.connections: set[asyncio.BaseTransport] = previous.connections if previous else set()
        # per target: (Proxy.epoch, each version with its usable replicas), computed once per change
        self.usable: dict[str, tuple[int, list[tuple[Version, list[Backend]]]]] = {}


class LaneServer:
    """A REST listener the fast lane accepts on: what `Proxy.servers` keeps, closed the same way."""

    def __init__(self, lane: fastlane.Lane, fd: int) -> None:
        self.lane = lane
        self.fd = fd

    def close(self) -> None:
        self.lane.unlisten(self.fd)


class Proxy:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.routes_path = directory / "routes.json"
        self.status_path = directory / "status.json"
        self.serial = -1
        self.stamp: tuple[int, int] | None = None
        self.services: dict[str, Service] = {}
        self.health: dict[str, Health] = {}
        self.servers: dict[tuple[str, int], tuple[asyncio.AbstractServer | LaneServer, str, Listener]] = {}
        self.errors: dict[str, str] = {}
        self.pool = Pool()
        self.epoch = 0  # grows whenever which replicas may receive requests changes
        self.probing: set[str] = set()
        self.dirty = True
        self.stopping = asyncio.Event()
        self.routes: list[Route] = []
        self.lane: fastlane.Lane | None = None
        self.lane_keys: list[tuple[str, str]] = []  # (serving name, target) at the lane's number for it

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
        self.pool.keep_only({b.http for r in new.routes for v in r.versions for b in v.backends})
        await self.listen(self.wanted())
        for key in [k for k in list(self.services) if not any(r.key == k for r in new.routes)]:
            self.services.pop(key, None)
        self.serial = new.serial
        self.dirty = True
        self.changed()
        for b in seen:
            if not self.health[b].seen:
                self.probe_soon(b)

    async def listen(self, wanted: dict[tuple[str, int], tuple[str, Listener]]) -> None:
        closed = False
        for addr, (server, key, _) in list(self.servers.items()):
            if addr not in wanted or wanted[addr][0] != key:
                server.close()
                closed = True
                del self.servers[addr]
                if key not in {k for k, _ in wanted.values()}:
                    self.drop_connections(key)
        if closed and self.lane is not None:
            self.lane.sync()  # the lane's listeners are closed before this one binds or the daemon hears of it
        errors: dict[str, str] = {}
        for addr, (key, listener) in wanted.items():
            if addr in self.servers:
                continue
            try:
                server = await self.serve(addr, key, listener)
            except OSError as exc:
                errors[f"{addr[0]}:{addr[1]}"] = exc.strerror or str(exc)
                continue
            self.servers[addr] = (server, key, listener)
        if errors != self.errors:
            self.errors = errors
            self.dirty = True

    async def serve(self, addr: tuple[str, int], key: str, listener: Listener) -> asyncio.AbstractServer:
        """A REST listener relays per request (`relay.Downstream`); a gRPC one pipes whole connections."""
        loop = asyncio.get_running_loop()
        target = listener.target
        if listener.protocol == "http" and self.lane is not None:
            return self.lane_listen(addr, key, target)
        if listener.protocol == "http":
            return await loop.create_server(lambda: Downstream(self, key, target), addr[0], addr[1],
                                            reuse_address=True, backlog=1024)

        def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> object:
            return self.tcp_client(reader, writer, key, target)

        return await asyncio.start_server(tcp, addr[0], addr[1], reuse_address=True, backlog=1024)

    def drop_connections(self, key: str) -> None:
        svc = self.services.get(key)
        for t in list(svc.connections if svc else ()):
            t.close()
        if self.lane is not None:
            for number, (k, _) in enumerate(self.lane_keys):
                if k == key:
                    self.lane.drop(number)

    # ---- the fast lane --------------------------------------------------------------------------
    def changed(self) -> None:
        """Which replicas may take requests changed: the balancer's lists, and the lane's table."""
        self.epoch += 1
        self.sync_lane()

    def lane_listen(self, addr: tuple[str, int], key: str, target: str) -> LaneServer:
        """A REST listener whose connections the lane accepts (OSError as `create_server` raises it)."""
        assert self.lane is not None
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        if (key, target) not in self.lane_keys:
            self.lane_keys.append((key, target))
        server = LaneServer(self.lane, self.lane.listen(sock, self.lane_keys.index((key, target))))
        self.sync_lane()
        return server

    def sync_lane(self) -> None:
        """The lane's table: per listener's name and target, each version's weight and usable replica ports
        (as `pick` sees them), and every replica port still routed (idle connections to others close)."""
        if self.lane is None or not self.lane_keys:
            return
        ports = sorted({b.http for r in self.routes for v in r.versions for b in v.backends if b.http})
        lines = ["K " + " ".join(map(str, ports))]
        for number, (key, target) in enumerate(self.lane_keys):
            svc = self.services.get(key)
            if svc is None:
                continue
            usable = self.usable(svc, target, set())
            lines.append(f"R {number} {int(svc.weighted)} {len(usable)}")
            lines += [f"V {v.weight or 0} {len(bs)} " + " ".join(str(b.http) for b in bs) for v, bs in usable]
        self.lane.table("\n".join(lines) + "\n")

    def handoff(self, fd: int, number: int, data: bytes) -> None:
        """A connection the lane gives back (see fastlane.py): the Python relay owns it from now on."""
        sock = socket.socket(fileno=fd)
        if not 0 <= number < len(self.lane_keys):
            sock.close()
            return
        key, target = self.lane_keys[number]
        asyncio.get_running_loop().create_task(self.adopt(sock, key, target, data))

    async def adopt(self, sock: socket.socket, key: str, target: str, data: bytes) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: Downstream(self, key, target, data), sock)
        except OSError:
            sock.close()

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
                    self.changed()
            else:
                h.fails += 1
                if h.ready and h.fails >= FAILURES:
                    h.ready = False
                    self.dirty = True
                    self.changed()
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
            self.changed()

    # ---- balancing ----------------------------------------------------------------------------
    def pick(self, svc: Service, target: str, exclude: set[str]) -> Backend | None:
        """The replica for the next request (or connection): None when no usable one is left."""
        if exclude:  # a retry: a list of its own, without the replicas already tried
            usable = self.usable(svc, target, exclude)
        else:  # the hot path: the lists change only with readiness or routes
            cached = svc.usable.get(target)
            if cached is None or cached[0] != self.epoch:
                cached = svc.usable[target] = (self.epoch, self.usable(svc, target, exclude))
            usable = cached[1]
        if svc.weighted:
            total = 0
            best: tuple[Version, list[Backend]] | None = None
            for v, bs in usable:
                if not v.weight or not bs:
                    continue
                v.current += v.weight
                total += v.weight
                if best is None or v.current > best[0].current:
                    best = (v, bs)
            if best is None:
                return None
            best[0].current -= total
            v, bs = best
            v.rr += 1
            return bs[v.rr % len(bs)]
        pool = usable[0][1] if len(usable) == 1 else [b for _, bs in usable for b in bs]
        if not pool:
            return None
        svc.rr += 1
        return pool[svc.rr % len(pool)]

    def usable(self, svc: Service, target: str, exclude: set[str]) -> list[tuple[Version, list[Backend]]]:
        """Each version with its replicas that may take a request: ready, not draining, not yet tried."""
        def ok(b: Backend) -> bool:
            h = self.health.get(b.id)
            return (not b.draining and b.id not in exclude and h is not None and h.ready
                    and bool(b.http if target == "restful" else b.grpc))

        return [(v, [b for b in v.backends if ok(b)]) for v in svc.versions]

    # ---- TCP (gRPC) -----------------------------------------------------------------------------
    async def tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str,
                         target: str) -> None:
        svc = self.services.get(key)
        if svc is None:
            writer.close()
            return
        svc.connections.add(writer.transport)
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
            svc.connections.discard(writer.transport)
            writer.close()
            if upstream is not None:
                upstream[1].close()

    # ---- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.lane = fastlane.Lane.start(self.handoff, loop)
        if self.lane is not None:
            print("arena serving proxy: REST requests take the fast lane", flush=True)
        tasks = [loop.create_task(self.watch()), loop.create_task(self.probes())]
        await self.stopping.wait()
        for t in tasks:
            t.cancel()
        for server, _, _ in self.servers.values():
            server.close()
        for svc in self.services.values():
            for t in list(svc.connections):
                t.close()
        self.pool.close()
        if self.lane is not None:
            self.lane.close()
            self.lane = None


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
