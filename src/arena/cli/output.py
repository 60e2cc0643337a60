"""Every output format in one place (kubectl's printer idea): tables, json, yaml, name."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import msgspec


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None, indent: str = "",
          underline: bool = False) -> None:
    """kubectl-style columns: left aligned, padded to the widest cell, three spaces apart."""
    out = out or sys.stdout
    data = [[c if type(c) is str else str(c) for c in r] for r in rows]
    all_rows = [list(headers)] + ([["-" * len(h) for h in headers]] if underline else []) + data
    widths = [max(map(len, column)) for column in zip(*all_rows)]
    line = indent + "   ".join(f"{{:<{w}}}" for w in widths)  # one format per row: a list of thousands of jobs
    out.write("\n".join([line.format(*r).rstrip() for r in all_rows]) + "\n")


def node_column(job: Any) -> str:
    """The NODE column of `list` and `top job`, upstream's: the node IP of the chief instance, N/A when it has
    none yet; locally the machine's loopback once the job is admitted (a list carries no instances there)."""
    if job.instances:  # a list carries none: thousands of rows go straight to the last line
        chief = next((i for i in job.instances if i.chief), None)
        if chief is not None and chief.nodeIP:
            return chief.nodeIP
    return "127.0.0.1" if job.engine == "local" and job.status != "QUEUING" else "N/A"


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
