"""`arena list | get | logs | delete | prune`."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from arena.cli.parser import add_global, add_output, info
from arena.spec.duration import short_human  # cheap: `arena.spec` loads its job types on first use

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:  # `list` loads no view (msgspec): it prints summaries
    from typing import TypeVar

    from arena.summary import JobSummary
    from arena.views import JobView

    T = TypeVar("T")


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    if name == "list":
        p.add_argument("-A", "--all-namespaces", "--allNamespaces", dest="all_namespaces", action="store_true")
        p.add_argument("-T", "--type", default=None, help="only jobs of this type")
        add_output(p)
        p.set_defaults(func=run_list)
    elif name == "get":
        p.add_argument("job")
        p.add_argument("-T", "--type", default=None, help="job type")
        p.add_argument("-e", "--events", action="store_true", help="also list the job's events")
        p.add_argument("-g", "--gpus", action="store_true",
                       help="also show each instance's GPUs: duty cycle and memory (NVML locally, Prometheus on a "
                            "cluster when configured, else N/A)")
        add_output(p)
        p.set_defaults(func=run_get)
    elif name == "logs":
        p.add_argument("job")
        p.add_argument("-T", "--type", default=None, help="job type")
        p.add_argument("-f", "--follow", action="store_true", help="keep printing until the instance finishes")
        p.add_argument("-t", "--tail", type=int, default=-1, help="print only the last N lines")
        p.add_argument("--since", default=None, help="only lines newer than a duration, e.g. 5m")
        p.add_argument("--since-time", default=None, help="only lines after an RFC3339 time")
        p.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
        p.add_argument("-i", "--instance", default=None, help="instance name (default: the chief)")
        p.add_argument("-c", "--container", default=None, help="container of the instance (default: its main one)")
        p.set_defaults(func=run_logs)
    elif name == "delete":
        p.add_argument("jobs", nargs="+", metavar="JOB")
        p.add_argument("-T", "--type", default=None, help="job type")
        p.set_defaults(func=run_delete)
    elif name == "logviewer":
        p.add_argument("job")
        p.add_argument("-T", "--type", default=None, help="job type")
        p.set_defaults(func=run_logviewer)
    elif name == "prune":
        p.add_argument("-s", "--since", required=True, help="delete finished jobs older than this, e.g. 1h")
        p.add_argument("-A", "--all-namespaces", "--allNamespaces", dest="all_namespaces", action="store_true")
        p.set_defaults(func=run_prune)
    add_global(p)


def _kind(args: argparse.Namespace) -> str | None:
    if not getattr(args, "type", None):
        return None
    from arena import kinds

    return kinds.canonical(args.type, "--type")


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from arena.cli.context import client_for

    return client_for(args)


def run_list(args: argparse.Namespace) -> int:
    from arena.cli.jobtable import headers, summary_columns
    from arena.cli.output import columns

    client = _client(args)
    if args.output in ("json", "yaml"):  # upstream's documents: the full views
        emit_jobs(client.list(all_namespaces=args.all_namespaces, kind=_kind(args)), args.output)
        return 0
    jobs = client.list_summaries(all_namespaces=args.all_namespaces, kind=_kind(args))
    if emit_jobs(jobs, args.output):  # -o name
        return 0
    wide = args.output == "wide"
    columns(headers(args.all_namespaces, wide), summary_columns(jobs, time.time(), args.all_namespaces, wide))
    return 0


def emit_jobs(jobs: JobView | list[JobView] | list[JobSummary], fmt: str | None,
              gpu_metrics: dict | None = None) -> bool:
    """-o json|yaml as upstream's `TrainingJobInfo` (one, or a list: of full views), -o name as KIND/NAME (views or
    summaries); False for tables."""
    from arena.cli.output import emit

    if fmt in ("json", "yaml"):
        from arena.views import job_info

        now = time.time()
        doc = [job_info(j, now) for j in jobs] if isinstance(jobs, list) else job_info(jobs, now, gpu_metrics)
        return emit(doc, fmt)
    return emit(jobs, fmt, name=_kind_name)


def _kind_name(v: JobView | JobSummary) -> str:
    """A job as `-o name` prints it (kubectl's KIND/NAME), so that it can be piped to another command."""
    return f"{v.kind}/{v.name}"


def _fmt_time(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "N/A"


def run_get(args: argparse.Namespace) -> int:
    from arena.cli.jobtable import duration
    from arena.cli.output import table

    client = _client(args)
    view = client.get(args.job, events=True, with_spec=args.output in ("json", "yaml"), kind=_kind(args))
    metrics = gpu_metrics(client, view) if args.gpus else None
    if emit_jobs(view, args.output, metrics):
        return 0
    now = time.time()
    out = sys.stdout
    fields = [("Name", view.name), ("Status", view.status), ("Namespace", view.namespace),
              ("Priority", view.priority), ("Trainer", view.trainer), ("Duration", duration(view, now)),
              ("CreateTime", _fmt_time(view.creationTimestamp))]
    if view.finished:
        fields.append(("EndTime", _fmt_time(view.finishTime)))
    fields += [("Engine", view.engine), ("Phase", view.phase), ("Queue", view.queue)]
    if view.restarts:
        fields.append(("Restarts", view.restarts))
    if view.reason:
        fields.append(("Reason", view.reason))
    if view.status in ("QUEUING", "PENDING") and view.position:
        fields.append(("Position", view.position))
    if view.status in ("QUEUING", "PENDING") and view.waiting:
        from arena.engines.local.hints import hint

        if text := hint(view.waiting):
            fields.append(("To start", text))
    if view.tensorboard:
        fields.append(("Tensorboard", view.tensorboard))
    width = max(len(k) for k, _ in fields) + 2
    for k, v in fields:
        out.write(f"{(k + ':').ljust(width)}{v}\n")
    out.write("\nInstances:\n")
    rows = []
    for i in view.instances:
        age = short_human(now - i.startTime) if i.startTime else "0s"
        rows.append([i.name, i.status, age, str(i.chief).lower(), i.requestGPUs,
                     i.node if i.status != "Pending" or i.startTime else "N/A",
                     ",".join(map(str, i.gpuIndices)) or "-", i.restarts])
    # upstream's six columns first, in its order (scripts cut them by position); ours after them
    headers = ["NAME", "STATUS", "AGE", "IS_CHIEF", "GPU(Requested)", "NODE", "GPU(Index)", "RESTARTS"]
    if any(i.cpuAffinity for i in view.instances):  # pinned replicas (the CPU contract): their cores
        headers.append("CPUS")
        for row, i in zip(rows, view.instances):
            row.append(",".join(map(str, i.cpuAffinity)) or "-")
    table(headers, rows, indent="  ", underline=True)
    if args.gpus and view.status != "SUCCEEDED" and view.requestGPUs > 0:
        print_gpus(view, metrics or {})
    if view.transitions:
        out.write("\nPhases:\n")
        table(["TIME", "PHASE", "REASON"], [[_fmt_time(t.ts), t.phase, t.reason] for t in view.transitions],
              indent="  ", underline=True)
    if args.events:
        out.write("\nEvents:\n")
        table(["SOURCE", "TYPE", "AGE", "MESSAGE"],
              [[e.source or f"{view.kind}/{view.name}", e.type, short_human(now - e.ts),
                f"[{e.reason}] {e.message}" + (f" (x{e.count})" if e.count > 1 else "")]
               for e in view.events], indent="  ", underline=True)
    return 0


def gpu_metrics(client, view: JobView) -> dict:  # type: ignore[no-untyped-def]
    """The job's live GPU figures, or N/A (`{}`) after a warning when their source fails."""
    return optional_metrics(lambda: client.gpu_metrics(view), {})


def optional_metrics(read: Callable[[], T], without: T) -> T:
    """Live GPU figures from `read`; when their source fails (Prometheus down), a warning and `without`, as
    upstream: the rest of the command's answer does not depend on them."""
    from arena.errors import ArenaError, InvalidSpec

    try:
        return read()
    except InvalidSpec:  # a bad prometheus_service in the config is bad input: exit 2
        raise
    except ArenaError as exc:
        sys.stderr.write(f"arena: warning: no GPU metrics: {exc}\n")
        return without


def print_gpus(view: JobView, metrics: dict) -> None:
    """`get -g`'s GPUs section, as upstream prints it: one row per GPU of each instance (N/A without figures)."""
    from arena.cli.output import table

    rows = []
    for i in view.instances:
        devices = metrics.get(i.name) or {}
        node = f"{i.node}({i.nodeIP or i.ip or 'N/A'})"
        if not devices:
            index = ",".join(map(str, i.gpuIndices)) or "N/A"
            rows.append([i.name, node, i.requestGPUs, index, "N/A", "N/A"])
        for device, m in sorted(devices.items()):
            rows.append([i.name, node, i.requestGPUs, device, f"{m.gpuDutyCycle:.1f}%",
                         f"{m.usedGPUMemory / 2**20:.1f}/{m.totalGPUMemory / 2**20:.1f}(MiB)"])
    sys.stdout.write("\nGPUs:\n")
    table(["INSTANCE", "NODE(IP)", "GPU(Requested)", "GPU(IndexId)", "GPU(DutyCycle)", "GPU Memory(Used/Total)"],
          rows, indent="  ", underline=True)
    allocated = sum(i.requestGPUs for i in view.instances if i.status == "Running")
    sys.stdout.write(f"\n  Allocated/Requested GPUs of Job: {allocated}/{view.requestGPUs}\n")


def run_logs(args: argparse.Namespace) -> int:
    from arena.spec.duration import parse_seconds

    since = None
    if args.since:
        since = time.time() - parse_seconds(args.since, "--since")
    if args.since_time:
        since = _parse_rfc3339(args.since_time)
    client = _client(args)
    for line in client.logs(args.job, instance=args.instance, follow=args.follow, tail=args.tail, since=since,
                            timestamps=args.timestamps, kind=_kind(args), container=args.container):
        sys.stdout.write(line + "\n")
        if args.follow:
            sys.stdout.flush()
    return 0


def _parse_rfc3339(text: str) -> float:
    from datetime import datetime

    from arena.errors import InvalidSpec

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidSpec("--since-time", f"{text!r} is not an RFC3339 time, e.g. 2026-01-02T15:04:05Z") from None


def run_delete(args: argparse.Namespace) -> int:
    from arena.errors import ArenaError

    client = _client(args)
    kind = _kind(args)
    failed = 0
    for name in args.jobs:
        try:
            client.delete(name, kind=kind)
            info(f"The training job {name} has been deleted successfully")
        except ArenaError as exc:
            sys.stderr.write(f"arena: error: {exc}\n")
            failed = max(failed, exc.exit_code)
    return failed


def run_prune(args: argparse.Namespace) -> int:
    client = _client(args)
    now = time.time()
    pruned = client.prune(args.since, all_namespaces=args.all_namespaces)
    if not pruned:
        print("No job need to be deleted")
    for v in pruned:
        print(f"Delete {v.kind} {v.name} with Age {short_human(now - (v.finishTime or v.creationTimestamp))}")
    return 0


def run_logviewer(args: argparse.Namespace) -> int:
    from arena.errors import ArenaError

    view = _client(args).get(args.job, events=False, kind=_kind(args))
    if not view.tensorboard:
        raise ArenaError(f"job {view.name!r} has no TensorBoard (submit it with --tensorboard --logdir DIR)")
    print(f"Your tensorboard will be available on: {view.tensorboard}")
    return 0
