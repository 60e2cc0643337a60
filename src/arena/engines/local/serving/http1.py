"""HTTP/1.1 framing as the serving proxy needs it: where a message ends, and whether its connection may stay.

The proxy relays heads and bodies byte for byte; it reads only what framing needs (the request line, the
status, `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`), so nothing here parses every header.
Pure functions and one small incremental scanner, no I/O: the relay (`relay.py`) feeds them bytes.
"""
from __future__ import annotations

import re

HEAD_LIMIT = 64 * 1024  # a head longer than this is refused (a client) or a bad answer (a replica)
LINE_LIMIT = 4 * 1024  # a chunk-size or trailer line longer than this is malformed
NO_BODY_STATUS = (204, 304)

# One regex over the raw head instead of a parse of every header: it runs twice per proxied request.
_FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding|connection|expect)[ \t]*:[ \t]*([^\r\n]*)", re.I)

CHUNKED = -1  # framing()'s length of a chunked body
UNDECLARED = -2  # no Content-Length and not chunked: a request has no body, an answer ends with the connection

REASONS = {400: "Bad Request", 502: "Bad Gateway", 503: "Service Unavailable"}


def framing(data: bytes | bytearray, head_end: int, http11: bool) -> tuple[int, bool, bool]:
    """(body length or CHUNKED or UNDECLARED, whether the sender keeps the connection, whether it expects
    `100 Continue`) of the head ending at `head_end` in `data`, read in place. `http11`: the head's version
    is HTTP/1.1 (keep-alive unless `Connection: close`; 1.0 only with `Connection: keep-alive`).
    ValueError for a Content-Length that is not a length."""
    found = _FRAMING.findall(data, 0, head_end)
    if len(found) == 1 and len(found[0][0]) == 14:  # a Content-Length alone, the usual head: no loop
        value = found[0][1].strip()
        if not value.isdigit():
            raise ValueError(value)
        return int(value), http11, False
    length = UNDECLARED
    keep = http11
    chunked = expect = False
    for name, value in found:
        value = value.strip().lower()
        first = name[0] | 0x20
        if first == 0x74:  # transfer-encoding
            chunked = b"chunked" in value
        elif first == 0x65:  # expect
            expect = value == b"100-continue"
        elif len(name) == 14:  # content-length
            if not value.isdigit():  # also refuses "-1", "+1" and lists ("5, 5")
                raise ValueError(value)
            length = int(value)
        else:  # connection
            keep = b"close" not in value if http11 else b"keep-alive" in value
    return (CHUNKED if chunked else length), keep, expect


def strip_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    return b"\r\n".join(line for line in lines if line.partition(b":")[0].strip().lower() != name)


def error_answer(status: int, text: str, close: bool) -> bytes:
    """A short plain-text answer of the proxy's own (no replica to ask, or a malformed message)."""
    body = (text + "\n").encode()
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n"
            ).encode() + body


class Chunks:
    """Finds where a chunked body ends, fed piece by piece as it arrives (the pieces are relayed untouched).

    `feed(data, start)` returns the offset in `data` just past the body's last byte (its trailers' empty
    line), or -1 when the body goes on in the next piece; ValueError when the framing is malformed."""

    __slots__ = ("left", "line", "trailers")

    def __init__(self) -> None:
        self.left = 0  # bytes of chunk data (and its CRLF) still to pass over
        self.line = b""  # the start of a size or trailer line cut by the end of the last piece
        self.trailers = False

    def feed(self, data: bytes | bytearray, start: int = 0) -> int:
        i, n = start, len(data)
        while i < n:
            if self.left:
                step = min(self.left, n - i)
                i += step
                self.left -= step
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self.line += data[i:]
                if len(self.line) > LINE_LIMIT:
                    raise ValueError("chunk line too long")
                return -1
            line = self.line + data[i:j + 1] if self.line else data[i:j + 1]
            self.line = b""
            i = j + 1
            if self.trailers:
                if not line.strip():
                    return i
                continue
            size = int(line.split(b";", 1)[0].strip(), 16)  # ValueError when it is not hexadecimal
            if size < 0:
                raise ValueError("negative chunk size")
            if size == 0:
                self.trailers = True
            else:
                self.left = size + 2
        return -1
