"""`arena attach JOB [-i INSTANCE] [-c CONTAINER] [-- COMMAND...]`: a shell, or a command, where a job runs.

Upstream execs into the job's pod (`kubectl exec -it … sh`). Here the same on a cluster; on the local
engine, where a replica is a process, the command runs in the replica's environment and working
directory. The chief instance by default, as `arena logs` picks it; the exit code is the command's.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from arena.cli.parser import Parser, add_global


class AttachParser(Parser):
    """Everything after the first `--` is the command, untouched (its own flags included)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        tokens = list(args or [])
        command: list[str] = []
        if "--" in tokens:
            at = tokens.index("--")
            tokens, command = tokens[:at], tokens[at + 1:]
        parsed, extra = super().parse_known_args(tokens, namespace)
        parsed.command = command
        return parsed, extra


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_,
                       usage="arena attach JOB [-i INSTANCE] [-c CONTAINER] [-- COMMAND...]")
    if isinstance(p, Parser):
        p.__class__ = AttachParser
    p.add_argument("job", metavar="JOB")
    p.add_argument("-i", "--instance", default=None, help="instance name (default: the chief)")
    p.add_argument("-c", "--container", default=None, help="container of the instance (default: its main one)")
    p.add_argument("-T", "--type", default=None, help="job type")
    add_global(p)
    p.set_defaults(func=run, command=[])


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for

    return client_for(args).attach(args.job, instance=args.instance, container=args.container,
                                   command=list(getattr(args, "command", None) or []), kind=args.type or None)
