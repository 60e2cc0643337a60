"""Reading replica logs written by the shim: `<RFC3339 timestamp> <text>` per line."""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path


def parse_line(raw: bytes) -> tuple[float | None, str, str]:
    """(epoch seconds, RFC3339 timestamp, text) of one stored line."""
    text = raw.decode(errors="replace").rstrip("\n")
    stamp, sep, rest = text.partition(" ")
    if sep and stamp.endswith("Z") and "T" in stamp:
        try:
            ts = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            return ts, stamp, rest
        except ValueError:
            pass
    return None, "", text


def read(path: Path, tail: int = -1, since: float | None = None, timestamps: bool = False,
         follow: bool = False, done: Callable[[], bool] | None = None, poll: float = 0.2) -> Iterator[str]:
    """Yield formatted lines; with `follow`, keep reading until `done()` and the file is drained."""
    def fmt(raw: bytes) -> str | None:
        ts, stamp, text = parse_line(raw)
        if since is not None and ts is not None and ts < since:
            return None
        return f"{stamp} {text}" if timestamps and stamp else text

    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if not follow:
            return
        while not path.exists():
            if done is not None and done():
                return
            time.sleep(poll)
        f = open(path, "rb")
    with f:
        lines = f.readlines()
        pending = b""
        if lines and not lines[-1].endswith(b"\n"):
            pending = lines.pop()
        chosen = [x for x in (fmt(r) for r in lines) if x is not None]
        if tail >= 0:
            chosen = list(deque(chosen, maxlen=tail))
        yield from chosen
        if not follow:
            return
        finishing = False
        while True:
            chunk = f.read()
            if chunk:
                data = pending + chunk
                parts = data.split(b"\n")
                pending = parts.pop()
                for raw in parts:
                    out = fmt(raw + b"\n")
                    if out is not None:
                        yield out
                continue
            if finishing:
                if pending:
                    out = fmt(pending)
                    if out is not None:
                        yield out
                return
            if done is not None and done():
                finishing = True  # one more read to drain what was written before the exit
                continue
            time.sleep(poll)

