"""The serving proxy's HTTP/1.1 relay: framing, and answers of every shape relayed byte for byte.

A scripted replica (an asyncio server in the test's own loop) answers each path with fixed bytes; the
proxy runs in the same loop on a loopback port of its own, so each test is self-contained.
"""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from arena.engines.local import native
from arena.engines.local.serving import http1
from arena.engines.local.serving import proxy as proxy_mod
from arena.engines.local.serving import routes as routes_mod
from arena.engines.local.serving.routes import Backend, Listener, Route, Routes, Status, VersionRoute

CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n"
HEAD_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
LARGE = b"HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n" + bytes(range(250)) * 16000


# ---- framing ----------------------------------------------------------------------------------------
def test_framing_reads_length_chunked_keep_alive_and_expect() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\nExpect: 100-Continue\r\n\r\nbody"
    assert http1.framing(head, len(head) - 4, http11=True) == (12, True, True)
    head = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n"
    assert http1.framing(head, len(head), http11=True) == (http1.CHUNKED, False, False)
    head = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    assert http1.framing(head, len(head), http11=False) == (http1.UNDECLARED, True, False)
    assert http1.framing(b"GET / HTTP/1.0\r\n\r\n", 18, http11=False)[1] is False
    for bad in (b"-1", b"5, 5", b"x"):
        with pytest.raises(ValueError):
            http1.framing(b"POST / HTTP/1.1\r\nContent-Length: " + bad + b"\r\n\r\n", 40, http11=True)


def test_chunks_end_where_the_body_ends_whatever_the_pieces() -> None:
    body = CHUNKED[CHUNKED.index(b"\r\n\r\n") + 4:]
    whole = body + b"NEXT"
    assert http1.Chunks().feed(whole) == len(body)
    chunks = http1.Chunks()
    ends = [chunks.feed(whole[i:i + 1]) for i in range(len(whole))]  # one byte at a time
    assert ends.index(1) == len(body) - 1 and ends.count(-1) == len(ends) - 1
    for bad in (b"zz\r\n", b"-5\r\n"):
        with pytest.raises(ValueError):
            http1.Chunks().feed(bad)


# ---- the relay ----------------------------------------------------------------------------------------
async def replica(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers by path: fixed bytes of each framing, else `<path> <body length>` with a Content-Length."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ")[:2]
            length, _, _ = http1.framing(head, len(head), http11=True)
            body = await reader.readexactly(max(length, 0))
            if method == b"HEAD":
                writer.write(HEAD_ANSWER)
            elif path == b"/chunked":
                writer.write(CHUNKED)
            elif path == b"/large":
                writer.write(LARGE)
                await writer.drain()
            elif path == b"/nocontent":
                writer.write(NO_CONTENT)
            elif path == b"/interim":
                writer.write(INTERIM + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            elif path == b"/upgrade":  # then an echo of raw bytes, as a WebSocket server would talk its own protocol
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
                while data := await reader.read(65536):
                    writer.write(data)
                writer.close()
                return
            elif path == b"/connection":  # which replica connection answered
                text = b"%d" % id(writer)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(text) + text)
            elif path == b"/badlength":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx")
            elif path == b"/extra":  # more bytes than the answer declares: a confused replica
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n")
            elif path == b"/close":
                writer.write(UNTIL_CLOSE)
                writer.close()
                return
            else:
                text = path + b" %d" % len(body)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(text) + text)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


@pytest.fixture(autouse=True, params=["lane", "python"])
def relay_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every scenario through the fast lane (fastlane.c, handing the unusual back) and through the Python
    relay alone."""
    if request.param == "lane" and native._compiler() is None:
        pytest.skip("no C compiler: the proxy runs without its fast lane")
    monkeypatch.setenv("ARENA_PROXY_LANE", "1" if request.param == "lane" else "0")
    return str(request.param)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def through_proxy(tmp_path: Path, scenario: Callable[[Client], Awaitable[None]], replicas: int = 1,
                  handlers: list[Callable[..., Awaitable[None]]] | None = None) -> proxy_mod.Proxy:
    """Run `scenario` with a client connected to a proxy in front of `replicas` scripted replicas
    (0: one replica that is never ready; `handlers`: each replica's own script). Returns the proxy, stopped."""
    ran: list[proxy_mod.Proxy] = []

    async def main() -> None:
        scripts = handlers or [replica] * max(replicas, 1)
        servers = [await asyncio.start_server(h, "127.0.0.1", 0) for h in scripts]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        if replicas == 0:
            servers[0].close()
            await servers[0].wait_closed()
        listen = free_port()
        backends = [Backend(f"b{i}", http=p) for i, p in enumerate(ports)]
        routes_mod.write(tmp_path / "routes.json", Routes(1, [Route("ns/a", "127.0.0.1", [
            Listener(listen, "http", "restful")], [VersionRoute("v1", None, backends=backends)])]))
        proxy = proxy_mod.Proxy(tmp_path)
        ran.append(proxy)
        task = asyncio.get_running_loop().create_task(proxy.run())
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            status = routes_mod.read(tmp_path / "status.json", Status)
            if isinstance(status, Status) and status.serial == 1 and len(status.ready) == replicas:
                break
            assert asyncio.get_running_loop().time() < deadline, "the proxy did not become ready"
            await asyncio.sleep(0.02)
        assert (proxy.lane is not None) == (os.environ["ARENA_PROXY_LANE"] == "1")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # a slow reader is felt by the proxy soon
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", listen))
        client = await asyncio.open_connection(sock=sock)
        try:
            await asyncio.wait_for(scenario(client), 20)
        finally:
            client[1].close()
            proxy.stopping.set()
            await task
            for s in servers:
                s.close()

    asyncio.run(main())
    return ran[0]


async def answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length, _, _ = http1.framing(head, len(head), http11=True)
    return head + await reader.readexactly(max(length, 0))


async def answers_without_a_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A chunked answer, a HEAD's, a 204, and an answer after an interim 100 (which is not the answer)."""
    writer.write(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await reader.readexactly(len(CHUNKED)) == CHUNKED
    writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await reader.readexactly(len(HEAD_ANSWER)) == HEAD_ANSWER
    writer.write(b"DELETE /nocontent HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await reader.readexactly(len(NO_CONTENT)) == NO_CONTENT
    writer.write(b"GET /interim HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await answer(reader)).endswith(b"\r\n\r\nok")


def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        reader, writer = client
        writer.write(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n")
        assert [(await answer(reader)).split(b"\r\n\r\n")[1] for _ in range(3)] == [b"/one 0", b"/two 3", b"/three 0"]

    through_proxy(tmp_path, scenario)


def test_answers_of_every_framing_are_relayed_byte_for_byte(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        reader, writer = client
        await answers_without_a_length(reader, writer)
        body = b"z" * 300_000  # more than one read on each side
        writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body)
                     + body + b"\r\n0\r\n\r\n")
        assert (await answer(reader)).endswith(b"/big 0")  # the scripted replica reads no chunked body
        writer.write(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.2)  # a slow reader: the proxy stops reading the replica until it catches up
        assert await reader.readexactly(len(LARGE)) == LARGE
        assert (await answer(reader)).endswith(b"/after 0")
        writer.write(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await reader.read() == UNTIL_CLOSE  # then the proxy closes the client's connection too

    through_proxy(tmp_path, scenario)


def test_bad_requests_and_no_ready_replica_are_answered_by_the_proxy(tmp_path: Path) -> None:
    async def no_replica(client: Client) -> None:
        reader, writer = client
        for _ in range(2):  # the connection stays open for the next request
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await answer(reader)).startswith(b"HTTP/1.1 503 ")

    through_proxy(tmp_path, no_replica, replicas=0)

    async def malformed(client: Client) -> None:
        reader, writer = client
        writer.write(b"NONSENSE\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")

    through_proxy(tmp_path, malformed)


def test_client_connection_close_is_honoured(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        reader, writer = client
        writer.write(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = await reader.read()
        assert got.endswith(b"/last 0")

    through_proxy(tmp_path, scenario)


def test_an_upgraded_connection_becomes_a_tunnel(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        reader, writer = client
        writer.write(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
        for message in (b"ping", b"GET / HTTP/1.1\r\n\r\n"):  # bytes both ways, not parsed any more
            writer.write(message)
            assert await reader.readexactly(len(message)) == message

    through_proxy(tmp_path, scenario)


def test_whole_requests_go_on_one_pooled_replica_connection(tmp_path: Path) -> None:
    """The short paths (a whole request in one read, a whole answer with a Content-Length) keep what the
    general path keeps: answers in order, byte for byte, and the replica connection reused."""
    async def scenario(client: Client) -> None:
        reader, writer = client
        seen = set()
        for i in range(30):
            body = b"x" * i
            writer.write(b"POST /n%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body)
            assert (await answer(reader)).endswith(b"/n%d %d" % (i, len(body)))
            writer.write(b"GET /connection HTTP/1.1\r\nHost: x\r\n\r\n")
            seen.add((await answer(reader)).split(b"\r\n\r\n")[1])
        assert len(seen) == 1

    through_proxy(tmp_path, scenario)


def test_a_request_in_pieces_is_read_whole_before_it_is_sent(tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        reader, writer = client
        for piece in (b"POST /pieces HTTP/1.1\r\nHo", b"st: x\r\nContent-Length: 5\r\n\r\n", b"ab", b"cde"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)  # separate reads on the proxy's side (the answer does not depend on it)
        assert (await answer(reader)).endswith(b"/pieces 5")

    through_proxy(tmp_path, scenario)


def test_malformed_lengths_are_refused_on_either_side(tmp_path: Path) -> None:
    async def bad_request(client: Client) -> None:
        reader, writer = client
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\nx")
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")

    for sub in ("request", "answer", "extra"):  # a proxy each, with its own status file
        (tmp_path / sub).mkdir()
    through_proxy(tmp_path / "request", bad_request)

    async def bad_answer(client: Client) -> None:
        reader, writer = client
        writer.write(b"GET /badlength HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 502 ")

    through_proxy(tmp_path / "answer", bad_answer)

    async def extra_bytes(client: Client) -> None:
        reader, writer = client
        writer.write(b"GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")  # the answer only; that replica connection goes
        assert await answer(reader) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        writer.write(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await answer(reader) == b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n/next 0"

    through_proxy(tmp_path / "extra", extra_bytes)


def test_the_lane_relays_the_usual_exchanges_itself_and_hands_back_the_rest(tmp_path: Path, relay_path: str) -> None:
    """With the fast lane, the usual exchanges never reach Python, whatever the answer's framing, a slow
    reader included; the first unusual request (a chunked body) hands the connection back, and it goes on."""
    async def scenario(client: Client) -> None:
        reader, writer = client
        for i in range(20):
            writer.write(b"POST /n%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, i) + b"y" * i)
            assert (await answer(reader)).endswith(b"/n%d %d" % (i, i))
        await answers_without_a_length(reader, writer)
        writer.write(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.2)  # a slow reader: the lane stops reading the replica until it catches up
        assert await reader.readexactly(len(LARGE)) == LARGE
        writer.write(b"GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")  # a confused replica: its connection goes
        assert (await answer(reader)).endswith(b"\r\n\r\nok")
        writer.write(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await answer(reader)).endswith(b"/after 0")
        assert handed == [0]
        writer.write(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert (await answer(reader)).endswith(b"/c 0")
        writer.write(b"GET /then HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await answer(reader)).endswith(b"/then 0")

    handed = [0]
    orig = proxy_mod.Proxy.handoff

    def counting(self: proxy_mod.Proxy, fd: int, number: int, data: bytes) -> None:
        handed[0] += 1
        orig(self, fd, number, data)

    proxy_mod.Proxy.handoff = counting  # type: ignore[method-assign]
    try:
        through_proxy(tmp_path, scenario)
    finally:
        proxy_mod.Proxy.handoff = orig  # type: ignore[method-assign]
    assert handed[0] == (1 if relay_path == "lane" else 0)


async def dropping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A replica that dies on every request: reads it, then closes without a byte of answer."""
    try:
        await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


def test_a_replica_failing_before_it_answers_costs_the_client_nothing(tmp_path: Path) -> None:
    """Sent to a replica that closes without answering, a request is retried on the other (by the Python
    relay, after the lane hands the connection back), and the failing replica is taken out."""
    async def scenario(client: Client) -> None:
        reader, writer = client
        for i in range(10):
            writer.write(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            assert (await answer(reader)).endswith(b"/r%d 0" % i)

    proxy = through_proxy(tmp_path, scenario, replicas=2, handlers=[dropping, replica])
    assert not proxy.health["b0"].ready and proxy.health["b1"].ready


def test_a_removed_listeners_port_is_free_once_the_proxy_says_it_applied_the_routes(tmp_path: Path) -> None:
    """The daemon returns from `serve delete` when the proxy's status shows the new routes: by then the
    listener (the fast lane's too) must be closed, so that the port can be bound again at once."""
    async def main() -> None:
        listen = free_port()
        routes_mod.write(tmp_path / "routes.json", Routes(1, [Route("ns/a", "127.0.0.1", [
            Listener(listen, "http", "restful")], [VersionRoute("v1", None, backends=[Backend("b0", http=1)])])]))
        proxy = proxy_mod.Proxy(tmp_path)
        task = asyncio.get_running_loop().create_task(proxy.run())

        async def applied(serial: int) -> None:
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                status = routes_mod.read(tmp_path / "status.json", Status)
                if isinstance(status, Status) and status.serial == serial:
                    return
                assert asyncio.get_running_loop().time() < deadline, f"serial {serial} not applied"
                await asyncio.sleep(0.005)

        try:
            for serial in range(2, 12, 2):  # listen, stop listening, five times over
                await applied(serial - 1)
                routes_mod.write(tmp_path / "routes.json", Routes(serial, []))
                await applied(serial)
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", listen))  # EADDRINUSE if a listener were still open
                    s.listen(1)
                routes_mod.write(tmp_path / "routes.json", Routes(serial + 1, [Route("ns/a", "127.0.0.1", [
                    Listener(listen, "http", "restful")], [VersionRoute("v1", None, backends=[])])]))
        finally:
            proxy.stopping.set()
            await task

    asyncio.run(main())
