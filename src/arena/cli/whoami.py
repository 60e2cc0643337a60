"""`arena whoami`: the user Arena acts as, as upstream prints it — `{"Name", "Id", "IsAdminUser"}` — plus
`IsolateUser`: whether the namespace shows each non-admin user only their own jobs.

On a cluster, the Kubernetes user of the kubeconfig (or the service account), its Id the md5 that
upstream writes into the `arena.kubeflow.org/uid` label; locally, the operating-system user.
"""
from __future__ import annotations

import argparse

from arena.cli.parser import add_global


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    add_global(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import msgspec

    from arena.cli.context import client_for

    print(msgspec.json.encode(client_for(args).whoami()).decode())
    return 0
