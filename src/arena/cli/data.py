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

    engine = client_for(args).engine
    if args.op == "create":
        engine.data("create", args.volume, args.path, args.description)  # type: ignore[attr-defined]
        print(f"data/{args.volume} created")
        return 0
    if args.op == "delete":
        engine.data("delete", args.volume)  # type: ignore[attr-defined]
        print(f"data/{args.volume} deleted")
        return 0
    vols = engine.data("list")  # type: ignore[attr-defined]
    if emit(vols, args.output):
        return 0
    if args.output == "name":  # not emit's -o name: this one prints an (empty) line when there are no volumes
        print("\n".join(f"data/{v['name']}" for v in vols))
        return 0
    now = time.time()
    table(["NAME", "PATH", "DESCRIPTION", "AGE"],
          [[v["name"], v["path"], v["description"] or "-", short_human(now - v["created"])] for v in vols])
    return 0
