"""Named crash points, for the tests that prove a crash at the worst moment loses nothing.

`crash("submit-committed")` kills the daemon on the spot (SIGKILL, as `kill -9` would) when the environment
the daemon was started with names that point in `ARENA_FAULT` (comma-separated names). Each point fires once
per `$ARENA_HOME`: a marker file is written first, so the daemon a client restarts afterwards carries on.
Without `ARENA_FAULT` this is one dictionary lookup.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

_ARMED = frozenset(filter(None, os.environ.get("ARENA_FAULT", "").split(",")))


def crash(point: str, home: str | Path) -> None:
    if point not in _ARMED:
        return
    marker = Path(home) / f".fault-{point}"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
