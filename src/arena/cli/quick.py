"""`arena list` in its plain forms, answered without the parser, the SDK or pathlib.

`arena list` is the command people run over and over while their jobs start, often while a burst of them does:
then the machine is busy and every millisecond of CPU the command needs is several of waiting. The full path's
argparse, client, engine, pathlib and socket and json packages are two fifths of an empty list's CPU and a
quarter of a 5,000-job one's (bench/notes.md); a plain list needs none of them. So `list`/`ls`, with at most
`-A`, `-n NAMESPACE` and `-o wide`, on the local engine without a config file, is answered here: the daemon's
rows (`engines.local.summaries`, the same checks and request as the transport's) printed as the same table
(`jobtable`). Anything else, and anything unexpected on the way (no daemon yet, an answer from another version,
an error to word), goes to the full command, which does it all again and says what it has to say: this path
prints a whole table or nothing.
"""
from __future__ import annotations

import os
import sys

ALL_NAMESPACES = frozenset(("-A", "--all-namespaces", "--allNamespaces"))
WIDE = frozenset(("-owide", "--output=wide"))  # and `-o wide`, `--output wide`
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")  # a namespace sent as is, with no quoting


def list_jobs(argv: list[str], given: dict) -> int | None:
    """The exit status of `arena list` answered here; None when the full command must answer instead.

    `argv` is the command line without the global flags, which `given` holds."""
    flags = _flags(argv[1:]) if argv[0] in ("list", "ls") and not set(given) - {"namespace"} else None
    if flags is None:
        return None
    all_namespaces, wide = flags
    from arena import config
    from arena.errors import ArenaError

    home = config.home_dir()
    if os.path.lexists(os.path.join(home, "config")):
        return None  # YAML to read: the full command reads it
    try:
        if config.engine_name(None, {}) != "local":
            return None
    except ArenaError:  # a bad ARENA_ENGINE: worded by the full command
        return None
    namespace = config.namespace(given.get("namespace"), {})
    if not all_namespaces and not _NAME_CHARS.issuperset(namespace):
        return None
    from arena.engines.local import summaries

    rows = summaries.fetch(home, None if all_namespaces else namespace)
    if rows is None:
        return None
    import time

    from arena.cli.jobtable import headers, summary_columns
    from arena.cli.output import render_columns

    try:
        text = render_columns(headers(all_namespaces, wide), summary_columns(rows, time.time(), all_namespaces, wide))
    except (TypeError, ValueError, AttributeError):  # a value no summary holds
        return None
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `arena list | head`: as the full command
        return 0
    return 0


def _flags(rest: list[str]) -> tuple[bool, bool] | None:
    """(all namespaces, wide) of the flags after `list`, in the spellings recognised here; None for any other
    flag or value (which argparse may accept, abbreviated or in another form: the full command parses it)."""
    all_namespaces = wide = False
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok in ALL_NAMESPACES:
            all_namespaces = True
        elif tok in WIDE:
            wide = True
        elif tok in ("-o", "--output") and rest[i + 1:i + 2] == ["wide"]:
            wide = True
            i += 1
        else:
            return None
        i += 1
    return all_namespaces, wide
