"""Every output format in one place (kubectl's printer idea): tables, json, yaml, name."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any, TextIO


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None, indent: str = "",
          underline: bool = False) -> None:
    """kubectl-style columns: left aligned, padded to the widest cell, three spaces apart."""
    rows = list(rows)
    columns(headers, list(zip(*rows)) if rows else [() for _ in headers], out, indent, underline)


def columns(headers: Sequence[str], cols: Sequence[Sequence[Any]], out: TextIO | None = None, indent: str = "",
            underline: bool = False) -> None:
    """`table` given its columns."""
    (out or sys.stdout).write(render_columns(headers, cols, indent, underline))


def render_columns(headers: Sequence[str], cols: Sequence[Sequence[Any]], indent: str = "",
                   underline: bool = False) -> str:
    """The text of `columns`: every step is one C-level pass over a column (`map`, `zip`, `join`), so that a
    list of thousands of jobs prints in milliseconds."""
    texts = [[h, *(["-" * len(h)] if underline else []), *map(str, col)] for h, col in zip(headers, cols)]
    padded = [list(map(str.ljust, col, repeat(max(map(len, col))))) for col in texts[:-1]] + texts[-1:]
    lines: Iterable[str] = map("   ".join, zip(*padded))
    if indent:
        lines = (indent + line for line in lines)
    return "\n".join(map(str.rstrip, lines)) + "\n"


def emit(obj: Any, fmt: str | None, name: Callable[[Any], str] | None = None, out: TextIO | None = None) -> bool:
    """The machine formats every command shares: json/yaml of `obj`, and `-o name` (one `name(item)` line
    per item of a list, or for `obj` itself) when `name` is given.

    Returns True when it printed, so that the caller stops; False leaves the human format to the caller."""
    if fmt in ("json", "yaml"):
        dump(obj, fmt, out)
        return True
    if fmt == "name" and name is not None:
        items = obj if isinstance(obj, list) else [obj]
        (out or sys.stdout).write("".join(name(item) + "\n" for item in items))
        return True
    return False


def dump(obj: Any, fmt: str, out: TextIO | None = None) -> None:
    import msgspec

    out = out or sys.stdout
    data = msgspec.to_builtins(obj)
    if fmt == "json":
        out.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")
    elif fmt == "yaml":
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        out.write(yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False))
    else:  # pragma: no cover - callers check
        raise ValueError(fmt)
