"""`arena top node | job`: GPU (and CPU/memory) allocation, with live GPU figures (NVML locally, Prometheus on a
cluster) when present."""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from arena.cli.parser import add_global, add_output

if TYPE_CHECKING:  # annotations only: keep start-up light
    from arena.client import Client
    from arena.views import NodeView


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    what = p.add_subparsers(dest="what", metavar="node|job|queue", required=True)
    qu = what.add_parser("queue", help="weight, deserved share, allocation, capability, pending and running jobs")
    n = what.add_parser("node", help="node capacity and allocation")
    n.add_argument("nodes", nargs="*")
    n.add_argument("-d", "--details", action="store_true", help="per-GPU allocation, memory and utilisation")
    n.add_argument("-m", "--gpu-mode", default=None, type=_gpu_mode, metavar="MODE",
                   help="only nodes of this GPU mode: n|none, e|exclusive, t|topology, s|share")
    n.add_argument("--metric", action="store_true",
                   help="each GPU's memory and duty cycle (with -d): Prometheus on a cluster, NVML locally")
    j = what.add_parser("job", help="GPU use per job, or per instance of one job")
    j.add_argument("job", nargs="?")
    j.add_argument("-A", "--all-namespaces", dest="all_namespaces", action="store_true")
    j.add_argument("-i", "--instance", default=None, help="with a job: only this instance")
    j.add_argument("-T", "--type", default=None, help="only jobs of this type")
    for sp, fn in ((n, run_node), (j, run_job), (qu, run_queue)):
        sp.add_argument("-r", "--refresh", action="store_true", help="redraw every 2 seconds")
        add_output(sp, ("wide", "json", "yaml"))
        add_global(sp)
        sp.set_defaults(func=_refreshing(fn))


# upstream's node types (`types.NodeTypeSlice`): shorthand, alias, name -> the mode NodeView reports
_GPU_MODES = {"n": "none", "none": "none", "normal": "none", "e": "exclusive", "exclusive": "exclusive",
              "gpuexclusive": "exclusive", "t": "topology", "topology": "topology", "gputopology": "topology",
              "s": "share", "share": "share", "gpushare": "share"}


def _gpu_mode(text: str) -> str:
    mode = _GPU_MODES.get(text.lower())
    if mode is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a GPU mode: n|none, e|exclusive, t|topology, s|share")
    return mode


def _kind(args: argparse.Namespace) -> str | None:
    if not getattr(args, "type", None):
        return None
    from arena import kinds

    return kinds.canonical(args.type, "--type")


def _refreshing(fn):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        if not args.refresh:
            return fn(args)
        while True:
            print(f"---- {datetime.now().strftime('%Y-%m-%d %H:%M:%S')} ----")
            fn(args)
            sys.stdout.flush()
            time.sleep(2)
    return run


def run_node(args: argparse.Namespace) -> int:
    """Upstream's columns and GPU math (unhealthy = capacity - allocatable) for every node the engine has:
    the machine itself locally, each Node on a cluster; CPU and memory allocation next to them."""
    from arena.cli.context import client_for
    from arena.cli.output import emit, table
    from arena.spec.quantity import format_cpu, format_memory

    client = client_for(args)
    nodes = client.nodes(args.nodes)
    if args.metric:
        nodes = _node_metrics(client, nodes)
    if args.gpu_mode:
        nodes = [n for n in nodes if n.mode == args.gpu_mode]
    if emit(nodes, args.output):
        return 0
    unhealthy = any(n.gpu_unhealthy for n in nodes)
    headers = ["NAME", "IPADDRESS", "ROLE", "STATUS", "GPU(Total)", "GPU(Allocated)"] + \
        (["UNHEALTHY"] if unhealthy else []) + ["CPU(Allocated/Total)", "MEMORY(Allocated/Total)"]
    table(headers, [[n.name, n.ip, n.role, n.status, n.gpu_total, n.gpu_allocated]
                    + ([n.gpu_unhealthy] if unhealthy else [])
                    + [f"{format_cpu(n.cpu_allocated)}/{format_cpu(n.cpu_milli)}",
                       f"{format_memory(n.memory_allocated)}/{format_memory(n.memory)}"] for n in nodes])
    total, alloc = sum(n.gpu_total for n in nodes), sum(n.gpu_allocated for n in nodes)
    _print_cluster_gpus(alloc, total)
    if unhealthy:
        print(f"Unhealthy/Total GPUs In Cluster: {sum(n.gpu_unhealthy for n in nodes)}/{total}")
    if args.details:
        for n in nodes:
            print(f"\nName:    {n.name}\nStatus:  {n.status}\nRole:    {n.role}\nType:    {n.mode}\nAddress: {n.ip}")
            if args.metric:
                _print_metric_details(n)
                continue
            if n.instances:
                table(["NAMESPACE", "NAME", "STATUS", "GPU(Requested)"],
                      [[i.namespace, i.name, i.status, i.gpus] for i in n.instances], indent="  ")
            if n.gpus:  # per device, from NVML
                rows = []
                for g in n.gpus:
                    mem = _gpu_memory(g) if g.get("memory_total") else "N/A"
                    util = f"{g['utilization']:.1f}%" if g.get("utilization") is not None else "N/A"
                    rows.append([g["index"], g.get("name") or "-", "yes" if g["allocated"] else "no", mem, util])
                table(["INDEX", "NAME", "ALLOCATED", "MEMORY(Used/Total)", "DUTY_CYCLE"], rows, indent="  ")
    return 0


def _node_metrics(client: Client, nodes: list[NodeView]) -> list[NodeView]:
    """The nodes with their GPUs' figures, or without them after a warning, as `get -g` does: the allocation
    figures do not depend on them."""
    from arena.cli.jobs import optional_metrics

    return optional_metrics(lambda: client.node_metrics(nodes), nodes)


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def _print_metric_details(n: NodeView) -> None:
    """`top node -d --metric` for one node, upstream's layout (`gpuexclusive.go`): instances with the GPUs each
    holds, then one row per GPU, whose used memory and duty cycle count only while a job holds it; N/A for a GPU
    without figures (no Prometheus, no NVML)."""
    from arena.cli.output import table

    with_figures = [g for g in n.gpus if g.get("memory_total") is not None]
    holders = [i for i in n.instances if i.gpus]  # upstream lists the pods that request GPUs
    if holders:
        devices = any(g.get("pods") for g in n.gpus)  # which GPU each pod holds: Prometheus' pod labels
        print("Instances:")
        table(["NAMESPACE", "NAME", "STATUS", "GPU(Requested)"] + (["GPU(Allocated)"] if devices else []),
              [[i.namespace, i.name, i.status, i.gpus]
               + ([",".join(f"gpu{g['index']}" for g in n.gpus if f"{i.namespace}/{i.name}" in g.get("pods", ()))
                   or "N/A"] if devices else []) for i in holders], indent="  ")
    rows, total, used = [], 0.0, 0.0
    for g in n.gpus:
        if g.get("memory_total") is None:
            rows.append([g["index"], "N/A", "N/A", "N/A", "N/A"])
            continue
        mine = bool(g.get("allocated"))
        total += g["memory_total"]
        used += (g["memory_used"] or 0) if mine else 0
        rows.append([g["index"], _gib(g["memory_total"]), _gib(g["memory_total"] if mine else 0),
                     _gib((g["memory_used"] or 0) if mine else 0),
                     f"{(g.get('utilization') or 0) if mine else 0:.1f}%"])
    if rows:
        print("GPUs:")
        table(["INDEX", "MEMORY(Total)", "MEMORY(Allocated)", "MEMORY(Used)", "DUTY_CYCLE"], rows, indent="  ")
    per_gpu = total / len(with_figures) if with_figures else 0.0
    summary = [("Total GPUs", n.gpu_total), ("Allocated GPUs", n.gpu_allocated), ("Unhealthy GPUs", n.gpu_unhealthy)]
    if with_figures:
        summary += [("Total GPU Memory", _gib(total)), ("Allocated GPU Memory", _gib(n.gpu_allocated * per_gpu)),
                    ("Used GPU Memory", _gib(used))]
    else:
        summary += [("Total GPU Memory", "N/A"), ("Allocated GPU Memory", "N/A"), ("Used GPU Memory", "N/A")]
    print("GPU Summary:")
    print("".join(f"  {(k + ':').ljust(22)}{v}\n" for k, v in summary), end="")


def _print_cluster_gpus(allocated: int, total: int) -> None:
    """The summary under `top node`'s table, the same for the local node and a cluster (upstream's text)."""
    print("---------------------------------------------------------------------------------------------------")
    print("Allocated/Total GPUs In Cluster:")
    print(f"{allocated}/{total} ({100 * allocated / total if total else 0:.1f}%)")


def _gpu_memory(gpu: dict) -> str:
    """An NVML device's memory as `top` shows it in both the node and the job views: used/total in MiB."""
    return f"{gpu['memory_used'] / 2**20:.1f}/{gpu['memory_total'] / 2**20:.1f}(MiB)"


# `list`'s columns, AGE where list says DURATION (upstream's `top job`)
JOB_HEADERS = ["NAME", "STATUS", "TRAINER", "AGE", "GPU(Requested)", "GPU(Allocated)", "NODE"]


def run_job(args: argparse.Namespace) -> int:
    """Upstream's `top job`: every job's GPUs (requested, allocated) or one job's per instance, with the
    live figures of each GPU (NVML locally, Prometheus on a cluster; N/A without)."""
    from arena.cli.context import client_for
    from arena.cli.jobs import _fmt_time, emit_jobs, gpu_metrics
    from arena.cli.jobtable import duration, headers, summary_columns
    from arena.cli.output import columns, table

    client = client_for(args)
    now = time.time()
    if args.job:
        view = client.get(args.job, events=False, kind=_kind(args))
        if args.instance and not any(args.instance in (i.name, f"{i.task}-{i.index}") for i in view.instances):
            from arena.errors import InvalidSpec

            names = ", ".join(i.name for i in view.instances)
            raise InvalidSpec("--instance", f"{args.instance!r} is not an instance of job {view.name} ({names})")
        instances = [i for i in view.instances if not args.instance or args.instance in (i.name, f"{i.task}-{i.index}")]
        metrics = gpu_metrics(client, view) if any(i.requestGPUs for i in instances) else {}
        if emit_jobs(view, args.output, metrics):
            return 0
        fields = [("Name", view.name), ("Status", view.status), ("Namespace", view.namespace),
                  ("Priority", view.priority), ("Trainer", view.trainer), ("Duration", duration(view, now)),
                  ("CreateTime", _fmt_time(view.creationTimestamp))]
        if view.finished:
            fields.append(("EndTime", _fmt_time(view.finishTime)))
        width = max(len(k) for k, _ in fields) + 2
        print("".join(f"{(k + ':').ljust(width)}{v}\n" for k, v in fields))
        print("Instances:")
        rows = []
        for i in instances:
            devices = metrics.get(i.name) or {}
            index = ",".join(sorted(devices)) or ",".join(map(str, i.gpuIndices)) or "N/A"
            duty = ",".join(f"{m.gpuDutyCycle:.1f}%" for _, m in sorted(devices.items())) or "N/A"
            memory = ",".join(f"{m.usedGPUMemory / 2**20:.1f}/{m.totalGPUMemory / 2**20:.1f}(MiB)"
                              for _, m in sorted(devices.items())) or "N/A"
            rows.append([i.name, i.status, i.requestGPUs, i.node, index, duty, memory])
        table(["NAME", "STATUS", "GPU(Request)", "NODE", "GPU(DeviceIndex)", "GPU(DutyCycle)",
               "GPU_MEMORY(Used/Total)"], rows, indent="  ")
        print(f"\nGPUs:\n  Allocated/Requested GPUs of Job: {view.allocatedGPUs}/{view.requestGPUs}")
        return 0
    if args.output in ("json", "yaml"):
        views = client.list(all_namespaces=args.all_namespaces, kind=_kind(args))
        emit_jobs(sorted(views, key=lambda j: -j.requestGPUs), args.output)
        return 0
    jobs = sorted(client.list_summaries(all_namespaces=args.all_namespaces, kind=_kind(args)),
                  key=lambda j: -j.requestGPUs)
    if emit_jobs(jobs, args.output):  # -o name
        return 0
    columns(headers(args.all_namespaces, base=JOB_HEADERS), summary_columns(jobs, now, args.all_namespaces))
    # Upstream's totals (`displayWithNoMetric`) sum RUNNING jobs only, both figures: a pending job's request is
    # not GPUs in use, and scripts read this line as the GPUs the namespace holds.
    running = [j for j in jobs if j.status == "RUNNING"]
    print(f"\nTotal Allocated/Requested GPUs of Training Jobs: {sum(j.allocatedGPUs for j in running)}/"
          f"{sum(j.requestGPUs for j in running)}")
    return 0


def run_queue(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for
    from arena.cli.queue import show

    show(client_for(args).queues(), args.output or "wide")
    return 0
