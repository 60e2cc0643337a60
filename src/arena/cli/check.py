"""`arena check`: are the operators' CRDs installed and their operators running, and which job
types can run on this cluster.

Always asks the cluster (the kubernetes engine), whatever --engine says: the local engine needs no
operators. Exit code 1 when no job type can run, so scripts can gate on it.
"""
from __future__ import annotations

import argparse

from arena.cli.parser import add_global, add_output


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    add_output(p, ("wide", "json", "yaml"))
    add_global(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for
    from arena.cli.output import emit, table

    client = client_for(args, engine="kubernetes")
    report = client.engine.check()  # type: ignore[attr-defined]
    if emit(report, args.output):
        return 0 if any(k.ready for k in report.kinds) else 1
    print(f"API server:  {report.server} ({report.version})\n")
    table(["RESOURCE", "API VERSION", "INSTALLED"],
          [[r.resource, r.apiVersion, "yes" if r.installed else "no"] for r in report.resources])
    print()
    if report.operators and report.operators[0].found is None:
        print("Operators:   unknown (no permission to list deployments cluster-wide)\n")
    elif report.operators:
        table(["OPERATOR", "DEPLOYMENT", "READY"],
              [[o.name, ", ".join(o.deployments) or "-", o.ready if o.found else "not found"] for o in report.operators])
        print()
    table(["JOB TYPE", "READY", "NOTES"],
          [[k.kind, "yes" if k.ready else "no",
            ", ".join(k.variants) if k.ready else ", ".join(k.missing)] for k in report.kinds])
    print(f"\nQueues: {', '.join(report.queues) or 'none (no Volcano Queue or Kueue CRDs with a running operator)'}")
    return 0 if any(k.ready for k in report.kinds) else 1
