"""`arena serve`: serving jobs, as upstream Arena spells them (SERVING.md).

    arena serve custom|tensorflow|triton|kserve [flags] [COMMAND...]   submit (--dry-run prints the plan)
    arena serve list|get|delete|logs                                   read and remove
    arena serve attach JOB [-i INSTANCE] [-- COMMAND...]               a shell (or a command) where it serves
    arena serve update TYPE --name N [flags]                           rolling update
    arena serve traffic-split --name N -v V1:80 -v V2:20               each version's share of requests

The type parsers are generated from `arena.serving.options.FLAGS`; only the invoked one is built. Tables and
texts follow upstream (`NAME TYPE VERSION DESIRED AVAILABLE ADDRESS PORTS GPU`), `-o json|yaml` print
upstream's ServingJobInfo fields first.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from arena.cli.parser import Parser, add_global, info

if TYPE_CHECKING:
    from arena.serving.views import ServingView

VERBS: dict[str, tuple[str, ...]] = {
    "list": ("ls",), "get": (), "delete": ("del",), "logs": ("log",), "attach": (), "update": (),
    "traffic-split": ("trs", "traffic-router", "traffic-router-split", "traffic-shift", "traffic-shifting"),
}


def _types() -> list[Any]:
    from arena.serving import types

    return types.all()


def _wanted(argv: list[str] | None) -> str | None:
    """The word after `serve` (a type or a verb), to build only its parser; None builds them all."""
    words = [w for w in (argv or []) if not w.startswith("-")]
    if "serve" in words:
        i = words.index("serve")
        return words[i + 1] if i + 1 < len(words) else None
    return None


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    from arena.cli import parser as parser_mod
    from arena.serving import options, types

    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    verbs = p.add_subparsers(dest="verb", metavar="COMMAND", required=True, parser_class=Parser)
    add_global(p)
    wanted = _wanted(parser_mod.ARGV)
    type_names = {n for t in types.all() for n in t.names}
    verb_names = {n for v, al in VERBS.items() for n in (v, *al)}
    for t in types.all():  # only the invoked type's parser (start-up time); all of them for help or completion
        if wanted in verb_names or (wanted in type_names and wanted not in t.names):
            continue
        tp = verbs.add_parser(t.name, aliases=list(t.aliases), help=f"serve with {t.alias} ({t.label})")
        _type_flags(tp, options.flags_for(t.name))
        tp.add_argument("command", nargs="*", help="the command each replica runs (default: the type's server)")
        tp.add_argument("--dry-run", action="store_true", help="print the plan (what would be started), start nothing")
        tp.add_argument("-o", "--output", choices=("json", "yaml", "name"), default=None,
                        help="with --dry-run: json|yaml; else the submitted job as json|yaml|name")
        add_global(tp)
        tp.set_defaults(func=run_submit, serve_type=t.name)
    if wanted in type_names:
        return
    lp = verbs.add_parser("list", aliases=["ls"], help="list serving jobs")
    lp.add_argument("-A", "--all-namespaces", "--allNamespaces", dest="all_namespaces", action="store_true")
    lp.add_argument("-T", "--type", default=None, help="only this serving type")
    lp.add_argument("-o", "--output", choices=("wide", "json", "yaml"), default=None)
    add_global(lp)
    lp.set_defaults(func=run_list)
    gp = verbs.add_parser("get", help="show a serving job and its instances")
    gp.add_argument("job")
    gp.add_argument("-v", "--version", default=None, help="the version (needed when there are several)")
    gp.add_argument("-T", "--type", default=None, help="serving type")
    gp.add_argument("-o", "--output", choices=("wide", "json", "yaml"), default=None)
    add_global(gp)
    gp.set_defaults(func=run_get)
    dp = verbs.add_parser("delete", aliases=["del"], help="delete serving jobs (their replicas stop, ports free)")
    dp.add_argument("jobs", nargs="+", metavar="JOB")
    dp.add_argument("-v", "--version", default=None, help="the version (needed when there are several)")
    dp.add_argument("-T", "--type", default=None, help="serving type")
    add_global(dp)
    dp.set_defaults(func=run_delete)
    gl = verbs.add_parser("logs", aliases=["log"], help="print an instance's log")
    gl.add_argument("job")
    gl.add_argument("-v", "--version", default=None)
    gl.add_argument("-T", "--type", default=None)
    gl.add_argument("-f", "--follow", action="store_true")
    gl.add_argument("--since", default=None, help="only lines newer than a duration, e.g. 5m")
    gl.add_argument("--since-time", default=None, help="only lines after an RFC3339 time")
    gl.add_argument("-t", "--tail", type=int, default=-1, help="the last N lines (-1: all)")
    gl.add_argument("--timestamps", action="store_true")
    gl.add_argument("-i", "--instance", default=None, help="the instance (needed when there are several)")
    gl.add_argument("-c", "--container", default=None,
                    help="the container (default: the main one; locally an instance is one process)")
    add_global(gl)
    gl.set_defaults(func=run_logs)
    from arena.cli.attach import AttachParser

    ap = verbs.add_parser("attach", help="run a shell (or -- COMMAND) where an instance serves",
                          usage="arena serve attach JOB [-v VERSION] [-i INSTANCE] [-c CONTAINER] [-- COMMAND...]")
    ap.__class__ = AttachParser
    ap.add_argument("job")
    ap.add_argument("-v", "--version", default=None)
    ap.add_argument("-T", "--type", default=None)
    ap.add_argument("-i", "--instance", default=None, help="the instance (needed when there are several)")
    ap.add_argument("-c", "--container", default=None, help="the container (default: the main one)")
    add_global(ap)
    ap.set_defaults(func=run_attach, command=[])
    up = verbs.add_parser("update", help="update a serving job (rolling: new replicas are ready before old go)")
    utypes = up.add_subparsers(dest="update_type", metavar="TYPE", required=True, parser_class=Parser)
    for t in types.all():
        ut = utypes.add_parser(t.name, help=f"update a {t.alias} serving job")
        _type_flags(ut, options.flags_for(t.name, update=True))
        add_global(ut)
        ut.set_defaults(func=run_update, serve_type=t.name)
    tp = verbs.add_parser("traffic-split", aliases=list(VERBS["traffic-split"]),
                          help="split a name's requests between its versions")
    tp.add_argument("--name", required=True, help="the serving job's name")
    tp.add_argument("-v", "--version-weight", dest="version_weight", action="append", default=[],
                    help="VERSION:WEIGHT (repeatable; the weights sum to 100)")
    add_global(tp)
    tp.set_defaults(func=run_traffic)


def _type_flags(p: argparse.ArgumentParser, flags: list[Any]) -> None:
    for f in flags:
        kw: dict[str, Any] = {"dest": "command_flag" if f.dest == "command" else f.dest, "help": f.help}
        if f.kind != "bool":
            kw["metavar"] = f.dest.upper()
        if f.kind == "list":
            kw.update(action="append", default=[])
        elif f.kind == "bool":
            kw.update(action="store_true")
        elif f.kind == "int":
            kw.update(type=int)
        p.add_argument(*f.spellings, **kw)


def _opts(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"func", "verb", "serve_type", "update_type", "dry_run", "output", "namespace", "engine", "config",
            "context", "arena_namespace", "loglevel", "pprof", "trace", "helm_binary"}
    return {k: v for k, v in vars(args).items() if k not in skip and not k.startswith("_")}


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from arena.cli.context import client_for

    return client_for(args)


# ---- submit -----------------------------------------------------------------------------------------
def run_submit(args: argparse.Namespace) -> int:
    from arena.serving import types

    client = _client(args)
    spec = client.serve_spec(args.serve_type, **_opts(args))
    if args.dry_run:
        fmt = args.output if args.output in ("json", "yaml") else "yaml"
        print(client.serve_plan(spec).text(fmt), end="")
        return 0
    view = client.serve_submit(spec)
    t = types.get(spec.type)
    if args.output in ("json", "yaml"):
        from arena.cli.output import dump

        dump(view, args.output)
        return 0
    if args.output == "name":
        print(f"{t.label}/{view.name}")
        return 0
    print(f"{t.label}/{view.name}-{view.version} created" if not t.versionless else f"{t.label}/{view.name} created")
    info(f"The Job {view.name} has been submitted successfully")
    info(f"You can run `arena serve get {view.name} --type {t.label} -n {view.namespace}` to check the job status")
    if view.ip and view.ip != "N/A":
        info(f"It answers at {view.ip} ({view.ports_text}) once an instance is ready")
    return 0


# ---- list / get -------------------------------------------------------------------------------------
def _traffic(views: list[ServingView]) -> dict[int, tuple[str, str]]:
    """(ADDRESS, PORTS) per row, with traffic weights as upstream decorates them: `addr(w%)`, N/A at weight 0."""
    out: dict[int, tuple[str, str]] = {}
    for i, v in enumerate(views):
        if v.weight is None:
            out[i] = (v.ip, v.ports_text)
        elif v.weight == 0:
            out[i] = ("N/A", "N/A")
        elif v.weight == 100:
            out[i] = (v.ip, v.ports_text)
        else:
            out[i] = (f"{v.ip}({v.weight}%)", v.ports_text)
    return out


def _gpu(v: ServingView) -> str:
    return f"{v.requestGPUs:g}"


def run_list(args: argparse.Namespace) -> int:
    from arena.cli.output import dump, table

    views = _client(args).serve_list(all_namespaces=args.all_namespaces, type=args.type)
    if args.output in ("json", "yaml"):
        dump(views, args.output)
        return 0
    decorated = _traffic(views)
    gpus = any(v.requestGPUs for v in views)
    headers = (["NAMESPACE"] if args.all_namespaces else []) + \
        ["NAME", "TYPE", "VERSION", "DESIRED", "AVAILABLE", "ADDRESS", "PORTS"] + (["GPU"] if gpus else [])
    rows = []
    for i, v in enumerate(views):
        address, ports = decorated[i]
        rows.append(([v.namespace] if args.all_namespaces else []) +
                    [v.name, v.type, v.version, v.desiredInstances, v.availableInstances, address, ports] +
                    ([_gpu(v)] if gpus else []))
    table(headers, rows)
    return 0


def run_get(args: argparse.Namespace) -> int:
    from arena.cli.output import dump, table

    v = _client(args).serve_get(args.job, version=args.version, type=args.type)
    if args.output in ("json", "yaml"):
        dump(v, args.output)
        return 0
    lines = [("Name:", v.name), ("Namespace:", v.namespace), ("Type:", v.type), ("Version:", v.version),
             ("Desired:", v.desiredInstances), ("Available:", v.availableInstances), ("Age:", v.age),
             ("Address:", v.ip), ("Port:", v.ports_text if v.endpoints else "")]
    if v.modelName:
        lines.append(("ModelName:", v.modelName))
    if v.modelVersion:
        lines.append(("ModelVersion:", v.modelVersion))
    if v.requestGPUs:
        lines.append(("GPU:", _gpu(v)))
    if v.weight is not None:
        lines.append(("Weight:", f"{v.weight}%"))
    if v.message:
        lines.append(("Message:", v.message))
    width = max(len(k) for k, _ in lines) + 2
    out = [f"{k.ljust(width)}{val}" for k, val in lines]
    if v.traffic:  # kserve: upstream's predictor traffic lines (its spelling, "Precent")
        latest = max(v.traffic)
        out.append("")
        for rev, pct in sorted(v.traffic.items(), reverse=True):
            tag = "Latest" if rev == latest else "Prev"
            out += [f"{tag + 'Revision:':<20}{rev}", f"{tag + 'Precent:':<20}{pct}"]
    sys.stdout.write("\n".join(out) + "\n\nInstances:\n")
    gpus = any(i.gpuIndices or i.requestGPUs for i in v.instances)  # device indices locally, counts on a cluster
    headers = ["NAME", "STATUS", "AGE", "READY", "RESTARTS"] + (["GPU"] if gpus else []) + ["NODE"]
    rows = [[i.name, i.status, i.age, f"{i.readyContainers}/{i.totalContainers}", i.restartCount] +
            ([",".join(map(str, i.gpuIndices)) or f"{i.requestGPUs:g}"] if gpus else []) + [i.nodeName]
            for i in v.instances]
    table(headers, rows, indent="  ", underline=True)
    return 0


# ---- delete / logs ----------------------------------------------------------------------------------
def run_delete(args: argparse.Namespace) -> int:
    from arena.serving.errors import ServingNotFound

    client = _client(args)
    for name in args.jobs:
        try:
            gone = client.serve_delete(name, version=args.version, type=args.type)
        except ServingNotFound:
            info(f"The serving job '{name}' does not exist,skip to delete it.")
            continue
        except Exception as exc:  # the daemon's error comes back untyped: recognise "not found" by its type name
            if "Not found serving job" in str(exc):
                info(f"The serving job '{name}' does not exist,skip to delete it.")
                continue
            raise
        for v in gone:
            info(f"The serving job {v.name} with version {v.version} has been deleted successfully")
    return 0


def run_logs(args: argparse.Namespace) -> int:
    since = None
    if args.since:
        import time

        from arena.spec import duration

        since = time.time() - duration.parse_seconds(args.since, "--since")
    elif args.since_time:
        from datetime import datetime

        from arena.errors import InvalidSpec

        try:
            since = datetime.fromisoformat(args.since_time.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise InvalidSpec("--since-time", f"{args.since_time!r} is not an RFC3339 time") from None
    client = _client(args)
    for line in client.serve_logs(args.job, version=args.version, type=args.type, instance=args.instance,
                                  follow=args.follow, tail=args.tail, since=since, timestamps=args.timestamps,
                                  container=args.container):
        sys.stdout.write(line + "\n")
        if args.follow:
            sys.stdout.flush()
    return 0


def run_attach(args: argparse.Namespace) -> int:
    return _client(args).serve_attach(args.job, version=args.version, type=args.type, instance=args.instance,
                                      container=args.container, command=list(getattr(args, "command", None) or []))


# ---- update / traffic-split ---------------------------------------------------------------------------
def run_update(args: argparse.Namespace) -> int:
    opts = _opts(args)
    opts.pop("command", None)  # the root parser's command word ("serve"): update takes --command only
    client = _client(args)
    v = client.serve_update(args.serve_type, **opts)
    info(f"The serving job {v.name} with version {v.version} has been updated successfully")
    return 0


def run_traffic(args: argparse.Namespace) -> int:
    views = _client(args).serve_traffic_split(args.name, args.version_weight)
    info(f"Succeed to split the traffic for serving job {args.name}")
    for v in views:
        info(f"  version {v.version}: {v.weight if v.weight is not None else 0}%")
    for message in dict.fromkeys(v.message for v in views if v.message):  # e.g. a cluster without Istio
        info(message)
    return 0
