"""Every benchmark of the project as a part of `python -m bench`: each turns one script's raw samples into
judged figures, with the targets the issues set. The scripts stay runnable on their own; serving and
Kubernetes are run as subprocesses and read back from the JSON they write, so that a change to them (or a
crash) costs one part, not the run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures import Figure, figure, peer, target

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Part:
    name: str
    title: str
    about: str
    run: Callable[[bool], list[Figure]]


def startup(quick: bool) -> list[Figure]:
    from bench import bench_local

    raw = bench_local.startup(8 if quick else 20)
    s, binary = raw["samples_ms"], raw["kubectl"]
    kube = (peer("kubectl version --client", s["kubectl version --client"]) if binary else
            peer("kubectl version --client", missing="not built by scripts/cluster, not on PATH"))
    p = "startup"
    return [
        figure(p, "python -c pass (the interpreter alone)", "ms", s["python -c pass"]),
        figure(p, "arena version", "ms", s["arena version"], goal=target("<=", 1.0, of_peer=True), versus=kube,
               note=f"peer: kubectl {binary}" if binary else ""),
        figure(p, "arena --help", "ms", s["arena --help"]),
        figure(p, "arena submit pytorchjob --workers 3 --dry-run -o yaml (local plan)", "ms",
               s["arena submit pytorchjob --dry-run -o yaml"], goal=target("<", 100)),
    ]


def ddp(quick: bool) -> list[Figure]:
    from bench import bench_local

    raw = bench_local.ddp(1 if quick else 3)
    p, torchrun = "ddp", "torchrun --nproc-per-node 2"
    return [
        figure(p, "DDP digits, 2 workers, script without its thread setting: arena submit --wait", "s",
               raw["arena, no thread setting"], versus=peer(torchrun, raw["torchrun, no thread setting"]),
               goal=target("<=", 1.03, of_peer=True)),
        figure(p, "DDP digits, 2 workers, the example's own thread setting: arena submit --wait", "s",
               raw["arena, thread setting"], versus=peer(torchrun, raw["torchrun, thread setting"])),
    ]


# A user watching the queue, not a load generator: each `arena list` costs a good part of one core for
# ~70 ms, so a faster pace would mostly measure the lister's own drag on the burst.
LIST_EVERY = 0.5


def jobs(quick: bool) -> list[Figure]:
    from bench import bench_local

    bursts, per_burst = (2, 500) if quick else (5, 1000)
    raw = bench_local.jobs(bursts, per_burst, list_runs=5 if quick else 10, list_at=1000, list_every=LIST_EVERY)
    p, done = "jobs", raw["finished_jobs"]
    rss_name = f"daemon RSS after {done:,} finished jobs" + (" (quick run; the target is for 5,000)" if quick else "")
    fs = raw["filesystem"]
    figs = [
        figure(p, "making a job's folders and files in the bursts' ARENA_HOME, per inode (the filesystem's state)",
               "µs", [fs["new_inode_us"]],
               note=f"first probe {fs['new_inode_us_first']:,.0f} µs; waited {fs['waited_s']:.0f} s for the kernel "
                    "to forget recent deletions (see the notes)"),
        figure(p, f"throughput, one-replica `true` jobs, bursts of {per_burst:,}", "jobs/s", raw["jobs_per_s"],
               goal=target(">=", 150),
               note="one sample per burst, from the first submit to the last recorded finish; later bursts start "
                    "with the earlier bursts' jobs still in the store"),
        figure(p, "arena list during the bursts (whole command)", "ms", raw["list_during_burst_ms"],
               goal=target("<", 200, stat="p99"),
               note=f"one `arena list` started every {LIST_EVERY * 1000:.0f} ms while the jobs stream, each in a "
                    "session of its own (another terminal's)"),
    ]
    if "list_ms" in raw:
        figs += [figure(p, f"arena list, {raw['list_jobs']:,} jobs in the store", "ms", raw["list_ms"],
                        goal=target("<", 100)),
                 figure(p, f"arena list -o json, {raw['list_jobs']:,} jobs", "ms", raw["list_json_ms"])]
    figs += [figure(p, "daemon RSS, idle", "MB", raw["rss_idle_mb"]),
             figure(p, rss_name, "MB", raw["rss_finished_mb"], goal=target("<", 80))]
    sw = bench_local.sweep(300 if quick else 1000)
    figs.append(figure(p, f"a sweep: {sw['jobs']:,} one-replica `true` jobs asking for 1 CPU each, on {sw['cores']} "
                          "CPUs", "jobs/s", [sw["jobs_per_s"]],
                       versus=peer("the bursts above (nothing waits)", raw["jobs_per_s"]),
                       note=f"{sw['cores']} run at a time, the rest wait in the queue; the daemon's CPU: "
                            f"{sw['daemon_cpu_ms_per_job']:.1f} ms a job"))
    return figs


def latency(quick: bool) -> list[Figure]:
    from bench import bench_local

    raw = bench_local.latency(5 if quick else 10)
    p = "latency"
    return [
        figure(p, "submit → all RUNNING, 2 replicas", "ms", raw["2 replicas"]),
        figure(p, "submit → all RUNNING, 8 replicas", "ms", raw["8 replicas"], goal=target("<", 100)),
        figure(p, "submit → all RUNNING, tfjob 1 chief + 2 ps + 4 workers", "ms",
               raw["tfjob 1 chief + 2 ps + 4 workers"]),
    ]


def logs(quick: bool) -> list[Figure]:
    from bench import bench_logs

    size = 100 if quick else 500
    raw = bench_logs.run(size, 2 if quick else 3)
    s, p = raw["samples"], "logs"
    bad = [f"{name}: exit {r['rc']}" for name, runs in s.items() for r in runs if r["rc"] != 0]
    if bad:
        raise RuntimeError(bad[0])

    def ms(name: str) -> list[float]:
        return [r["seconds"] * 1000 for r in s[name]]

    tail = "arena logs --tail 5"
    return [
        figure(p, f"{tail}, {raw['file_mb']:,.0f} MB log", "ms", ms(tail), goal=target("<", 1000),
               versus=peer("tail -n 5 on the file", ms("tail -n 5 (the file, directly)"))),
        figure(p, f"{tail}, peak RSS of the command", "MB", [r["max_rss_mb"] for r in s[tail]],
               goal=target("<", 50)),
        figure(p, "arena logs --tail 5 --since 1h", "ms", ms("arena logs --tail 5 since 1h")),
        figure(p, "arena logs --since 1m (prints 60,000 lines)", "ms", ms("arena logs --since 1m")),
        figure(p, "arena get (start-up and round trip, for scale)", "ms",
               ms("arena get (start-up and round trip, for scale)")),
    ]


SCENARIOS = {
    "steady": "cycle, steady state (jobs carry last cycle's reasons)",
    "steady_sla": "cycle, steady, every queue head past the starvation SLA",
    "busy": "cycle, first over the backlog, 56 of 64 GPUs busy",
    "idle": "cycle, first over the backlog, idle machine",
}


def scheduler(quick: bool) -> list[Figure]:
    from bench import bench_scheduler

    raw = bench_scheduler.run(5 if quick else 15)
    figs = [figure("scheduler", title, "ms", raw[key]["samples_ms"], goal=target("<", 50))
            for key, title in SCENARIOS.items()]
    figs.append(figure("scheduler", "queue_report (for arena top queue), busy snapshot", "ms",
                       raw["report"]["samples_ms"]))
    return figs


def script(name: str, args: list[str], output: str, timeout: float) -> dict[str, Any]:
    """Run bench/NAME as its own process and read the JSON it writes; the file must be this run's."""
    path = RESULTS / output
    started = time.time()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"{name} exited {done.returncode}: {last}")
    if not path.is_file() or path.stat().st_mtime < started:
        raise RuntimeError(f"{name} wrote no {path.relative_to(ROOT)}")
    return json.loads(path.read_text())


def serving(quick: bool) -> list[Figure]:
    seconds, samples = ("1", "2") if quick else ("2", "4")
    got = script("bench_serving.py", ["--seconds", seconds, "--samples", samples], "serving.json", timeout=400)
    by_conn: dict[int, list[dict[str, Any]]] = {}
    for r in got["runs"]:
        by_conn.setdefault(int(r["connections"]), []).append(r)
    names, missing = got.get("peers", {}), got.get("peers_missing", {})
    p, figs = "serving", []
    for c, rs in sorted(by_conn.items()):
        conns = f"{c} connection{'s' if c > 1 else ''}"
        ratios = [r.get("throughput_ratio", r["proxy"]["rps"] / max(r["direct"]["rps"], 0.1)) * 100 for r in rs]
        shares = {label: [r["peer_ratios"][label] * 100 for r in rs if label in r.get("peer_ratios", {})]
                  for label in names}
        floor = ("c_forwarder" if shares.get("c_forwarder") else
                 "go_bytecopy" if shares.get("go_bytecopy") else None)
        figs += [
            figure(p, f"proxy overhead at p50, {conns}", "ms", [r["overhead_p50_ms"] for r in rs],
                   goal=target("<", 0.5),
                   note=f"one sample per direct/proxied pair of {seconds} s runs, back to back" if c == min(by_conn)
                   else ""),
            figure(p, f"proxy throughput as a share of direct, {conns}", "%", ratios, goal=target(">=", 80),
                   versus=peer(names[floor], shares[floor]) if floor else None,
                   note=("each round's own ratio; peer: the same share for a byte forwarder that parses nothing"
                         if c == min(by_conn) else "")),
            figure(p, f"requests/s through the proxy, {conns}", "req/s", [r["proxy"]["rps"] for r in rs],
                   versus=peer("direct to the replica", [r["direct"]["rps"] for r in rs])),
            figure(p, f"p99 latency through the proxy, {conns}", "ms", [r["proxy"]["p99_ms"] for r in rs],
                   versus=peer("direct to the replica", [r["direct"]["p99_ms"] for r in rs])),
        ]
        cpu = [r["proxy"]["proxy_cpu_us_per_request"] for r in rs if "proxy_cpu_us_per_request" in r.get("proxy", {})]
        if cpu:
            figs.append(figure(p, f"proxy CPU per request, {conns}", "µs", cpu))
        for label, values in shares.items():
            if values:
                figs.append(figure(p, f"{names[label]}: throughput as a share of direct, {conns}", "%", values))
    for label, why in missing.items():
        figs.append(figure(p, f"peer {label}: throughput as a share of direct", "%", stats={},
                           note=f"not measured: {why}"))
    return figs


def kubernetes(quick: bool) -> list[Figure]:
    args = ["--jobs", "1000", "--runs", "3", "--plan-iterations", "50"] if quick else ["--jobs", "5000", "--runs", "5"]
    got = script("bench_kubernetes.py", args, "kubernetes.json", timeout=540)
    lst, p = got["list"], "kubernetes"
    warm = {"runs": lst.get("runs"), "min": _ms(lst.get("min_s")), "median": _ms(lst.get("median_s")),
            "max": _ms(lst.get("max_s"))}
    size = f"{lst.get('jobs', 0):,} jobs, {lst.get('pods', 0):,} pods"
    figs = [
        figure(p, f"list against a loopback API server, {size}, warm", "ms", stats=warm, goal=target("<", 1500)),
        figure(p, f"list, {size}, cold (first call)", "ms", stats={"runs": 1, "median": _ms(lst.get("cold_s"))}),
        figure(p, "API requests per job kind for one list", "",
               stats={"runs": 1, "median": lst.get("requests_per_kind")}, goal=target("<=", 2)),
    ]
    for kind, r in got.get("dry_run", {}).items():
        figs.append(figure(p, f"arena submit {kind} --dry-run -o yaml --engine kubernetes", "ms",
                           stats={"runs": r.get("runs"), "min": r.get("min_ms"), "median": r.get("median_ms"),
                                  "max": r.get("max_ms")}, goal=target("<", 100)))
    return figs


def cluster(quick: bool) -> list[Figure]:
    """`list` against a real kube-apiserver (the control plane scripts/cluster builds) with 2,000 jobs."""
    jobs = "500" if quick else "2000"
    path = RESULTS / "kubernetes_cluster.json"
    started = time.time()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_kubernetes.py"), "--cluster",
                           "--cluster-jobs", jobs, "--runs", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                                                 f"{os.environ.get('PATH', '')}"))
    if done.returncode != 0 or not path.is_file() or path.stat().st_mtime < started:
        last = (done.stdout.strip() or done.stderr.strip() or "no output").splitlines()[0]
        raise RuntimeError(last)
    got, p = json.loads(path.read_text()), "cluster"
    size = f"{got['jobs']:,} jobs, {got['server']}"
    return [
        figure(p, f"list against a real API server, {size}, warm", "ms",
               stats={"runs": got["runs"], "min": _ms(got["min_s"]), "median": _ms(got["median_s"]),
                      "max": _ms(got["max_s"])}, goal=target("<", 1500)),
        figure(p, f"list, {size}, cold (first call)", "ms", stats={"runs": 1, "median": _ms(got["cold_s"])}),
        figure(p, "LIST requests per job kind for one list (cold)", "",
               stats={"runs": 1, "median": got["list_requests_per_kind"]}, goal=target("<=", 2)),
        figure(p, f"whole `arena list --engine kubernetes`, {size}", "ms",
               stats={"runs": got["runs"], "min": got["arena_list_min_ms"], "median": got["arena_list_median_ms"]}),
    ]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


PARTS = (
    Part("startup", "CLI start-up",
         "Whole commands, start-up included, with Arena's bytecode compiled as after an install; the commands "
         "run interleaved, one of each per round. Peer: `kubectl version --client` (the one scripts/cluster "
         "builds when present, else the one on PATH).", startup),
    Part("ddp", "DDP training against torchrun",
         "examples/pytorch/ddp_digits.py with 2 workers: `arena submit pytorchjob --workers 2 --wait` (whole "
         "command, the daemon already up, the machine's real capacity) against `torchrun --nproc-per-node 2` on "
         "the same script and arguments, interleaved run by run; once with `--no-set-threads` (the script leaves "
         "torch's threads to the launcher, as most scripts do) and once with the example's own "
         "`torch.set_num_threads`.", ddp),
    Part("jobs", "Job throughput, list under load, daemon memory",
         "Bursts of one-replica `true` jobs submitted back to back through the SDK into one daemon, while another "
         f"thread runs `arena list` every {LIST_EVERY * 1000:.0f} ms, each in a session of its own as a command "
         "typed in another terminal; `arena list` is then timed on the idle "
         "daemon with 1,000 jobs in the store, and the daemon's RSS is read idle and after every job has "
         "finished. Then a sweep in a daemon of its own whose capacity is 2 CPUs: jobs asking for one CPU each, "
         "submitted back to back, two running at a time and the rest waiting in the queue.", jobs),
    Part("latency", "Submit to running",
         "From the SDK's submit call until `get` reports RUNNING (every replica started), `sleep 30` replicas; "
         "each job is deleted before the next.", latency),
    Part("logs", "Logs on a big replica log",
         "One replica's log grown to hundreds of MB of shim-format lines; each `arena logs` command timed whole, "
         "with its peak RSS, interleaved with `tail -n 5` on the same file.", logs),
    Part("scheduler", "Scheduler cycle",
         "One pure scheduling cycle in process: 10,000 pending jobs in 100 queues on a declared 64-GPU machine "
         "(bench/bench_scheduler.py).", scheduler),
    Part("serving", "Serving proxy against direct",
         "bench/bench_serving.py, run as its own process: a trivial `custom` HTTP server driven directly and "
         "through the local proxy with the same keep-alive load, in pairs of runs back to back.", serving),
    Part("kubernetes", "Kubernetes engine",
         "bench/bench_kubernetes.py, run as its own process: `list` against a loopback API server holding "
         "thousands of jobs of every kind and their pods (no cluster needed), and the dry-run command per kind.",
         kubernetes),
    Part("cluster", "Kubernetes engine against a real API server",
         "bench/bench_kubernetes.py --cluster, as its own process: etcd and kube-apiserver built by scripts/cluster, "
         "2,000 jobs of every kind created through the API, then `list` through the engine and the whole "
         "command; the requests come from the API server's own metrics.", cluster),
)


def named(names: list[str]) -> list[Part]:
    """The parts asked for, in run order; ValueError naming an unknown one."""
    known = {p.name for p in PARTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--only: unknown part {unknown[0]!r} (known: {', '.join(p.name for p in PARTS)})")
    return [p for p in PARTS if p.name in names]
