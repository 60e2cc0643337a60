"""Upstream Arena's persistent flags, accepted anywhere on the command line as cobra accepts them.

cobra lets a persistent flag stand before the command, between `submit` and the kind, after the job
name of `get`/`delete`/`logs`, in `--flag=value` or `--flag value` form, up to a `--`. Upstream's own
Python SDK relies on it: it appends `--config=… --namespace=… --arena-namespace=… --loglevel=…` right
after the command words (`arena submit --namespace=default … pytorchjob --name=x …`).

So `split` takes them out of argv before any parser runs, wherever they stand, and the command's
parser sees only its own flags; `main` puts the values back on the parsed namespace. The parsers
still declare them (`parser.add_global`) so that `--help` lists them. Nothing here imports more than
the standard library's `sys`: this runs on every command's start.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any


class GlobalFlag:
    """One persistent flag. A plain class: a NamedTuple costs a millisecond of every command's start."""

    __slots__ = ("spellings", "dest", "default", "takes_value", "help", "choices")

    def __init__(self, spellings: tuple[str, ...], dest: str, default: Any, takes_value: bool, help: str,
                 choices: tuple[str, ...] = ()) -> None:
        self.spellings = spellings
        self.dest = dest
        self.default = default
        self.takes_value = takes_value
        self.help = help
        self.choices = choices


LOGLEVELS = ("debug", "info", "warn", "warning", "error")

FLAGS: tuple[GlobalFlag, ...] = (
    GlobalFlag(("-n", "--namespace"), "namespace", None, True,
               "namespace (default: config file, then the kubeconfig context's, else 'default')"),
    GlobalFlag(("--engine",), "engine", None, True, "engine: local|kubernetes (default: $ARENA_ENGINE, config "
               "file, else local)", ("local", "kubernetes")),
    GlobalFlag(("--config",), "config", None, True, "kubeconfig path (kubernetes engine; default: $KUBECONFIG, "
               "else ~/.kube/config)"),
    GlobalFlag(("--context",), "context", None, True, "kubeconfig context (kubernetes engine)"),
    GlobalFlag(("--arena-namespace",), "arena_namespace", "arena-system", True,
               "namespace of Arena's system services and its arena-config ConfigMap (kubernetes engine)"),
    GlobalFlag(("--loglevel",), "loglevel", "info", True,
               "debug|info|warn|error; debug shows requests and rendered objects on stderr", LOGLEVELS),
    GlobalFlag(("--pprof",), "pprof", False, False, "write a CPU profile of the command to /tmp/cpu_profile"),
    GlobalFlag(("--trace",), "trace", False, False, "upstream writes a Go runtime trace; accepted, no effect here"),
    GlobalFlag(("--helm-binary",), "helm_binary", False, False,
               "upstream renders with the helm binary; accepted, no effect here (Arena renders manifests itself)"),
)

_BY_SPELLING = {s: f for f in FLAGS for s in f.spellings}
DEFAULTS: dict[str, Any] = {f.dest: f.default for f in FLAGS}
DESTS = frozenset(DEFAULTS)

# pflag's spellings of a boolean's value: --pprof=false
_BOOLS = {"true": True, "1": True, "t": True, "TRUE": True, "True": True, "T": True,
          "false": False, "0": False, "f": False, "FALSE": False, "False": False, "F": False}


class GlobalFlagError(Exception):
    """A global flag without its value, or with a value it does not take (one line, exit 2)."""


def split(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """(argv without the global flags, {dest: value} of those given). The last occurrence wins, as in pflag.

    Tokens after `--` are left alone (cobra stops parsing flags there too).
    """
    rest: list[str] = []
    given: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest.extend(argv[i:])
            break
        name, eq, value = tok.partition("=")
        flag = _BY_SPELLING.get(name)
        if flag is None and tok.startswith("-n") and not tok.startswith("--") and len(tok) > 2:
            flag, name, eq, value = _BY_SPELLING["-n"], "-n", "=", tok[2:]  # pflag's -nVALUE
        if flag is None:
            rest.append(tok)
            i += 1
            continue
        if not flag.takes_value:
            if eq and value not in _BOOLS:
                raise GlobalFlagError(f"{name}: {value!r} is not a boolean (true or false)")
            given[flag.dest] = _BOOLS[value] if eq else True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise GlobalFlagError(f"{name}: needs a value")
            value = argv[i + 1]
            i += 1
        i += 1
        if flag.choices and value not in flag.choices:
            raise GlobalFlagError(f"{name}: {value!r} must be one of {', '.join(flag.choices)}")
        given[flag.dest] = value or flag.default  # `--config=` (upstream's SDK sends it empty): unset
    return rest, given


def apply(values: dict[str, Any]) -> None:
    """Act on the flags that change how the whole command reports: the log level.

    debug turns on Arena's own debug lines and the HTTP client's request log (never headers);
    warn and error silence the INFO lines commands print on stderr."""
    level = values.get("loglevel") or "info"
    from arena.cli import parser

    parser.LOGLEVEL = "warn" if level == "warning" else level
    if level == "debug":
        from arena import debuglog

        debuglog.enable()
    for dest in ("trace", "helm_binary"):
        if values.get(dest):
            flag = next(f for f in FLAGS if f.dest == dest)
            if parser.LOGLEVEL in ("debug", "info"):
                why = flag.help.split("; ")[0]
                sys.stderr.write(f"arena: warning: {flag.spellings[0]} has no effect here: {why}\n")
