"""The local daemon's job summaries, fetched with nothing but the interpreter's core modules.

A plain `arena list` (`arena.cli.quick`) asks for these on every run. It does what the engine's transport does
for the same request (the home's owner checked, the same GET, the same answer) with none of what the
transport loads: no pathlib, no `socket` wrappers, no `json` package (which loads `re` and `enum`); and it
never starts a daemon or words an error: it answers None and the caller takes the full path, which does.
"""
from __future__ import annotations

import os

from arena.summary import FIELDS


def fetch(home: str, namespace: str | None) -> list[list] | None:
    """The rows of `namespace`'s jobs (every namespace's for None), each the values of `summary.FIELDS` in order;
    None when the daemon is not there, not ours, busy, failing, or of another version."""
    from arena.engines.local import ownership
    from arena.engines.local.paths import SOCKET, STORE
    from arena.engines.local.wire import TIMEOUT, Connection
    from arena.errors import ArenaError

    sock, store = os.path.join(home, SOCKET), os.path.join(home, STORE)
    query = "all=1" if namespace is None else f"namespace={namespace}"  # callers send names that need no quoting
    try:
        ownership.check_files(home, sock, store)
        conn = Connection(sock, TIMEOUT)
        try:
            status, body = conn.exchange("GET", f"/v1/jobs?{query}&view=summary", None)
        finally:
            conn.close()
        if status != 200:
            return None
        doc = _decode(body.decode())
        rows = doc["rows"]
        if tuple(doc["fields"]) != FIELDS or not set(map(type, rows)) <= {list} or not set(map(len, rows)) <= {
                len(FIELDS)}:
            return None  # another version's daemon: `summary.from_wire` matches its fields by name
        return rows
    except (ArenaError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError, StopIteration):
        return None


class _Defaults:
    """What the standard library's C scanner reads of a decoder: `json.loads`'s defaults (a NaN, which the daemon
    never sends, fails on the missing parse_constant)."""

    strict = True
    object_hook = object_pairs_hook = parse_constant = None
    parse_float, parse_int = float, int


def _decode(text: str) -> dict:
    """`json.loads(text)` by `_json`, the C scanner `json` is built on: `json`'s own modules load `re` and
    `enum`, a tenth of a plain list's time, for patterns the C scanner does not use."""
    try:
        from _json import make_scanner
    except ImportError:  # an interpreter without the accelerator
        import json

        return json.loads(text)
    doc, end = make_scanner(_Defaults())(text, 0)
    if end != len(text):
        raise ValueError("extra data after the document")
    return doc
