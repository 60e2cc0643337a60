"""Reading replica logs written by the shim: `<RFC3339 timestamp> <text>` per line.

Logs can be large (a chatty replica writes gigabytes before rotation), so nothing here reads a whole
file: `--tail N` walks back from the end block by block, `--since` bisects the file on its timestamps
(the shim writes them in order), and `-f` keeps reading where it stopped. Memory stays a few blocks
whatever the size of the file. A rotated log (`<log>.1`, the older part the shim kept) is read before
the current one.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

BLOCK = 64 * 1024


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


def _stamp_of(raw: bytes) -> float | None:
    return parse_line(raw[:40] + b" ")[0] if raw[:1].isdigit() else None


# ---- positions in a file, found without reading it whole ----------------------------------------------
def complete_end(f: BinaryIO, size: int) -> int:
    """The offset just past the last complete line (a line still being written is not read yet)."""
    pos = size
    while pos > 0:
        step = min(BLOCK, pos)
        f.seek(pos - step)
        block = f.read(step)
        i = block.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def tail_start(f: BinaryIO, end: int, n: int) -> tuple[int, int]:
    """(offset where the last `n` lines before `end` start, how many lines that is): fewer than `n` when the
    file holds fewer, starting at 0. Reads blocks backwards from the end."""
    if n <= 0:
        return end, 0
    seen = 0  # newlines seen from the end: the k-th ends the k-th last line
    pos = end
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        f.seek(pos)
        block = f.read(step)
        i = len(block)
        while True:
            i = block.rfind(b"\n", 0, i)
            if i < 0:
                break
            seen += 1
            if seen == n + 1:
                return pos + i + 1, n
    return 0, seen


def _line_start_at_or_before(f: BinaryIO, x: int, lo: int) -> int:
    """The start of the line holding offset `x`; `lo` is a line start at or before it."""
    pos = x
    while pos > lo:
        step = min(BLOCK, pos - lo)
        f.seek(pos - step)
        i = f.read(step).rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return lo


def _line_at(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.readline(min(end - start, 1 << 20) or 1)


def since_start(f: BinaryIO, end: int, since: float) -> int:
    """The offset of the first line stamped at or after `since` (`end` if none), by bisection over line starts:
    every line before `lo` is older, the line at `hi` is not (or `hi` is the end)."""
    lo, hi = 0, end
    while lo < hi:
        s = _line_start_at_or_before(f, (lo + hi) // 2, lo)
        line = _line_at(f, s, hi)
        ts = _stamp_of(line)
        if ts is not None and ts >= since:
            hi = s
        else:
            lo = s + max(len(line), 1)
    return lo


def _last_stamp(f: BinaryIO, end: int) -> float | None:
    start, found = tail_start(f, end, 1)
    return _stamp_of(_line_at(f, start, end)) if found else None


# ---- reading ----------------------------------------------------------------------------------------
def _parts(path: Path) -> list[Path]:
    """The log's files, oldest first: the rotated part, then the current file."""
    older = path.with_name(path.name + ".1")
    return [p for p in (older, path) if p.exists()]


def read(path: Path, tail: int = -1, since: float | None = None, timestamps: bool = False,
         follow: bool = False, done: Callable[[], bool] | None = None, poll: float = 0.2) -> Iterator[str]:
    """Yield formatted lines; with `follow`, keep reading until `done()` and the file is drained."""
    def fmt(raw: bytes) -> str | None:
        ts, stamp, text = parse_line(raw)
        if since is not None and ts is not None and ts < since:
            return None
        return f"{stamp} {text}" if timestamps and stamp else text

    while not path.exists():
        if not follow or (done is not None and done()):
            return
        time.sleep(poll)
    files = [open(p, "rb") for p in _parts(path)]
    try:
        ends = [complete_end(f, os.fstat(f.fileno()).st_size) for f in files]
        starts = [0] * len(files)
        if since is not None:  # skip what is older than `since`: whole files, then bisect the first one kept
            for i, (f, end) in enumerate(zip(files, ends)):
                last = _last_stamp(f, end)
                if last is not None and last < since:
                    starts[i] = end
                    continue
                starts[i] = since_start(f, end, since)
                break
        if tail >= 0:  # only the last `tail` lines: walk back from the newest file
            need = tail
            for i in reversed(range(len(files))):
                start, found = tail_start(files[i], ends[i], need)
                starts[i] = max(starts[i], start)
                need -= found
                if need <= 0:
                    for j in range(i):
                        starts[j] = ends[j]
                    break
        for f, start, end in zip(files, starts, ends):
            f.seek(start)
            pos = start
            while pos < end:
                raw = f.readline(end - pos)
                if not raw:
                    break
                pos += len(raw)
                out = fmt(raw)
                if out is not None:
                    yield out
        if not follow:
            return
        current = files[-1]
        current.seek(ends[-1])
        yield from _follow(path, current, fmt, done, poll)
    finally:
        for f in files:
            f.close()


def _follow(path: Path, f: BinaryIO, fmt: Callable[[bytes], str | None], done: Callable[[], bool] | None,
            poll: float) -> Iterator[str]:
    """Stream what is appended from `f`'s position on, a block at a time (never rereading), across rotations:
    when the shim has moved the file aside, the rest of the old one is read, then the new one from its start."""
    pending = b""
    finishing = False
    opened: list[BinaryIO] = []
    try:
        while True:
            chunk = f.read(BLOCK)
            if chunk:
                parts = (pending + chunk).split(b"\n")
                pending = parts.pop()
                for raw in parts:
                    out = fmt(raw + b"\n")
                    if out is not None:
                        yield out
                continue
            try:
                rotated = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if rotated:  # drained the old file: go on with the new one
                if pending:
                    out = fmt(pending)
                    pending = b""
                    if out is not None:
                        yield out
                f = open(path, "rb")
                opened.append(f)
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
    finally:
        for g in opened:
            g.close()
