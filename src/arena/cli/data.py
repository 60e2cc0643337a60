"""`arena data create|list|delete`: named data volumes (directories) for `-d NAME:/mount/path`."""
from __future__ import annotations

import argparse
import time

from arena.cli.parser import add_global, add_output


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    ops = p.add_subparsers(dest="op", metavar="create|list|delete", required=True)
    c = ops.add_parser("create", help="create a data volume backed by a directory")
    c.add_argument("volume", metavar="NAME")
    c.add_argument("--path", required=True, help="absolute directory (created if missing)")
    c.add_argument("--description", default="")
    ls = ops.add_parser("list", aliases=["ls"], help="list data volumes")
    ls.add_argument("-A", "--all-namespaces", "--allNamespaces", dest="all_namespaces", action="store_true",
                    help="every namespace (kubernetes engine)")
    add_output(ls, ("json", "yaml", "name"))
    d = ops.add_parser("delete", help="delete a data volume (its directory is kept)")
    d.add_argument("volume", metavar="NAME")
    for q in (c, ls, d):
        add_global(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for
    from arena.cli.output import emit, table
    from arena.spec.duration import short_human

    client = client_for(args)
    if args.op == "create":
        client.data("create", args.volume, args.path, args.description)
        print(f"data/{args.volume} created")
        return 0
    if args.op == "delete":
        client.data("delete", args.volume)
        print(f"data/{args.volume} deleted")
        return 0
    vols = client.data("list", all_namespaces=args.all_namespaces)
    if emit(vols, args.output):
        return 0
    if args.output == "name":  # not emit's -o name: this one prints an (empty) line when there are no volumes
        print("\n".join(f"data/{v.name}" for v in vols))
        return 0
    now = time.time()
    headers = ["NAME", "PATH", "DESCRIPTION", "AGE"]
    rows = [[v.name, v.path or "-", v.description or "-", short_human(now - v.created) if v.created else "-"]
            for v in vols]
    if any(v.access_modes for v in vols):  # Bound PersistentVolumeClaims: upstream's columns
        headers = ["NAME", "ACCESSMODE", "DESCRIPTION", "OWNER", "AGE"]
        rows = [[v.name, ",".join(v.access_modes), v.description or "-", v.owner or "-",
                 short_human(now - v.created) if v.created else "-"] for v in vols]
    if args.all_namespaces:
        headers.insert(0, "NAMESPACE")
        rows = [[v.namespace or "-", *r] for v, r in zip(vols, rows)]
    table(headers, rows)
    return 0
