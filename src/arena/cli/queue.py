"""`arena queue create|list|get|update|delete|open|close` (Volcano Queue semantics)."""
from __future__ import annotations

import argparse

from arena.cli.parser import add_global, add_output

OPS = ("create", "list", "get", "update", "delete", "open", "close")


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    ops = p.add_subparsers(dest="op", metavar="|".join(OPS), required=True)
    for op in OPS:
        q = ops.add_parser(op, aliases=["ls"] if op == "list" else [], help=f"{op} queues" if op == "list" else f"{op} a queue")
        if op != "list":
            q.add_argument("queue", metavar="NAME")
        if op in ("create", "update"):
            q.add_argument("--weight", type=int, default=None, help="share weight (default 1)")
            q.add_argument("--capability", default=None, help="hard cap, e.g. cpu=8,memory=32Gi,nvidia.com/gpu=2")
            q.add_argument("--guarantee", default=None, help="reserved resources, same form as --capability")
            q.add_argument("--reclaimable", dest="reclaimable", action="store_true", default=None,
                           help="its jobs may be reclaimed by queues below their share (default)")
            q.add_argument("--no-reclaimable", dest="reclaimable", action="store_false")
            q.add_argument("--dry-run", action="store_true",
                           help="print what would be created or changed (-o json|yaml), change nothing")
        if op == "create":
            q.add_argument("--state", choices=("Open", "Closed"), default="Open")
            q.add_argument("--kueue", action="store_true",
                           help="kubernetes engine: create a Kueue ClusterQueue + ResourceFlavor + LocalQueue")
        if op in ("list", "get", "create", "update", "open", "close"):
            add_output(q, ("wide", "json", "yaml", "name"))
        add_global(q)
        q.set_defaults(func=run)


def _pairs(text: str | None, field: str) -> dict[str, str] | None:
    if text is None:
        return None
    from arena.spec.keyvalue import parse_csv_pairs

    return parse_csv_pairs(text, field)


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for

    client = client_for(args)
    op = "list" if args.op == "ls" else args.op
    if op == "list":
        show(client.queues(), args.output)
        return 0
    if op == "get":
        show(client.queues(args.queue), args.output)
        return 0
    fields: dict = {}
    if op in ("create", "update"):
        fields = {"weight": args.weight, "capability": _pairs(args.capability, "--capability"),
                  "guarantee": _pairs(args.guarantee, "--guarantee"), "reclaimable": args.reclaimable}
        if op == "create":
            fields["state"] = args.state
            fields["weight"] = 1 if args.weight is None else args.weight
            if args.kueue:
                fields["kueue"] = True
    if getattr(args, "dry_run", False):
        from arena.cli.output import dump

        planned = client.queue_plan(op, args.queue, **fields)
        if args.output == "json":
            dump(planned if len(planned) != 1 else planned[0], "json")
            return 0
        for i, doc in enumerate(planned):  # a YAML stream, as `submit --dry-run` prints manifests
            if i:
                print("---")
            dump(doc, "yaml")
        return 0
    result = client.queue(op, args.queue, **fields)
    if getattr(args, "output", None):
        show(result, args.output)
    else:
        print(f"queue/{args.queue} {'deleted' if op == 'delete' else op + ('d' if op.endswith('e') else 'ed')}")
    return 0


def _res(d: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items()) or "-"


def show(queues: list, fmt: str | None) -> None:
    from arena.cli.output import emit, table

    if emit(queues, fmt, name=lambda q: f"queue/{q.name}"):
        return
    headers = ["NAME", "STATE", "WEIGHT", "RECLAIMABLE", "PENDING", "RUNNING", "ALLOCATED(GPU)", "DESERVED(GPU)",
               "CAPABILITY"]
    rows = [[q.name, q.state, q.weight or "-", "-" if q.reclaimable is None else str(q.reclaimable).lower(),
             q.pending, q.running, q.allocated.get("nvidia.com/gpu", "0"),
             q.deserved.get("nvidia.com/gpu", "-"), _res(q.capability)] for q in queues]
    if fmt == "wide":
        headers += ["GUARANTEE", "ALLOCATED", "DESERVED"]
        rows = [r + [_res(q.guarantee), _res(q.allocated), _res(q.deserved)] for r, q in zip(rows, queues)]
    table(headers, rows)
