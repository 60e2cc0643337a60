"""The serving proxy's fast lane (`fastlane.c`): the common HTTP/1.1 exchange relayed by a native thread.

Why: at one keep-alive connection the client, the proxy and the replica run one after another, so the
proxy's interpreter work per request (about 45 µs on two cores) is on every request's path. A one-thread
epoll forwarder in C costs a fraction of it (`bench/bench_serving.py` measures both), and issue 13 asks the
proxy to carry 80 % of the direct rate. The lane does what the Python relay's short paths do, without Python;
everything else (pipelining, `Expect`, `Upgrade`, a request cut across reads, a replica that fails before it
answers, no ready replica) is handed back, connection and unread bytes, to the Python relay at a request
boundary, which then owns that connection as it owned every connection before.

The lane is compiled once per source version (`native.built`) and loaded with ctypes; its thread never calls
into Python. Commands go to it on a socket (listen, stop listening, drop a name's connections, the table of
replicas each listener may use); hand-offs come back on another, read by the proxy's event loop.
`ARENA_PROXY_LANE=0` (or no C compiler) leaves every connection to the Python relay.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import socket
from collections.abc import Callable
from pathlib import Path

from arena.engines.local import native

SOURCE = Path(__file__).with_name("fastlane.c")
NAME = "arena-fastlane.so"
CFLAGS = ("-O2", "-std=gnu11", "-Wall", "-shared", "-fPIC", "-pthread")
BUFFER = 4 * 1024 * 1024  # socket buffers both ways: neither side ever waits on the other's reading


def wanted() -> bool:
    return os.environ.get("ARENA_PROXY_LANE", "1").strip() not in ("0", "false", "no", "off")


class Lane:
    """The running lane: `listen`, `unlisten`, `drop` and `table` send it commands; `on_handoff(fd, lane_key,
    data)` is called on `loop` for each connection it hands back."""

    def __init__(self, library: Path, on_handoff: Callable[[int, int, bytes], None],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.lib = ctypes.CDLL(str(library))
        self.on_handoff = on_handoff
        self.loop = loop
        self.commands, lane_commands = socket.socketpair()
        lane_handoffs, self.handoffs = socket.socketpair()
        for s in (self.commands, lane_commands, lane_handoffs, self.handoffs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        self.handoffs.setblocking(False)
        if self.lib.fl_start(lane_commands.detach(), lane_handoffs.detach()) != 0:
            raise OSError("the serving fast lane did not start")
        self.pending = b""
        self.last_table = ""
        self.seq = 0
        self.lib.fl_sync.argtypes = (ctypes.c_longlong, ctypes.c_int)
        loop.add_reader(self.handoffs.fileno(), self.readable)

    @classmethod
    def start(cls, on_handoff: Callable[[int, int, bytes], None], loop: asyncio.AbstractEventLoop) -> Lane | None:
        """The lane, or None (not wanted, no compiler, or it would not load: the Python relay does it all)."""
        if not wanted():
            return None
        library = native.built(SOURCE, NAME, CFLAGS)
        if library is None:
            return None
        try:
            return cls(library, on_handoff, loop)
        except OSError:
            return None

    def send(self, text: str) -> None:
        self.commands.sendall(text.encode())

    def listen(self, sock: socket.socket, lane_key: int) -> int:
        """The lane accepts on `sock` from now on, and owns its descriptor (returned, for `unlisten`)."""
        fd = sock.detach()
        self.send(f"L {fd} {lane_key}\n")
        return fd

    def unlisten(self, fd: int) -> None:
        self.send(f"U {fd}\n")

    def sync(self, timeout: float = 1.0) -> bool:
        """Wait until the lane has carried out every command sent so far (a listener it was told to close is
        closed, its port free): what the proxy acknowledges to the daemon must be true."""
        self.seq += 1
        self.send(f"B {self.seq}\n")
        return self.lib.fl_sync(self.seq, int(timeout * 1000)) == 0

    def drop(self, lane_key: int) -> None:
        self.send(f"D {lane_key}\n")

    def table(self, text: str) -> None:
        """Which replica ports each listener may send to (see fastlane.c); sent only when it changed."""
        if text != self.last_table:
            self.last_table = text
            self.send(f"T\n{text}E\n")

    def close(self) -> None:
        """Stop the lane and wait until it has closed every connection and listener it owned."""
        self.loop.remove_reader(self.handoffs.fileno())
        try:
            self.send("Q\n")
        except OSError:
            pass
        self.lib.fl_join()
        self.commands.close()
        self.handoffs.close()

    def readable(self) -> None:
        """Hand-offs waiting on the socket: `H fd key n` and n bytes each."""
        try:
            while True:
                chunk = self.handoffs.recv(1 << 20)
                if not chunk:  # the lane ended (only `close` ends it): nothing more will come
                    self.loop.remove_reader(self.handoffs.fileno())
                    break
                self.pending += chunk
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            end = self.pending.find(b"\n")
            if end < 0:
                return
            _, fd, key, n = self.pending[:end].split(b" ")
            size = int(n)
            if len(self.pending) < end + 1 + size:
                return
            data = self.pending[end + 1:end + 1 + size]
            self.pending = self.pending[end + 1 + size:]
            self.on_handoff(int(fd), int(key), data)
