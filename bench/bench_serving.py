"""Benchmark of the local serving proxy: a trivial `custom` HTTP server, direct vs through the proxy.

    .venv/bin/python bench/bench_serving.py [--seconds 2] [--connections 1,8] [--samples 3]

Serves `tests/serving/echo_server.py` (one replica) with `arena serve custom` in a temporary ARENA_HOME,
then, in the same run, drives the replica's own port and the job's stable address with the same load:
`C` keep-alive connections, each sending its next request when the last answer is in (asyncio, raw
HTTP/1.1, so the client costs little of the two cores). The same client process drives both targets and the
direct target is the very replica the proxy forwards to.

Each sample is one direct run and one proxied run back to back, their order alternating from sample to
sample, so that a change in the machine's load (other processes on the same cores) weighs on both alike;
`throughput_ratio` and `overhead_p50_ms` are computed per sample and summarised (min/median/max). Next to
the rates, the CPU time per request of the proxy, the replica and the client: unlike the rates, those hardly
depend on what else runs on the machine, so they show where a change in the ratio comes from.

Peers, in the same samples and the same rotation, forwarding to the same replica (`bench/peers/`, built here
when the toolchain is on PATH, skipped and said so when not): Go's `net/http/httputil.ReverseProxy`, the
standard library's HTTP reverse proxy; Go's `io.Copy` each way (a byte forwarder); and, at one connection, a
one-thread epoll byte forwarder in C, which parses nothing and makes no choice per request: the floor of one
more user-space hop on this machine, which no HTTP proxy can beat at one connection (one thread serialises
several connections, so it is no floor at more).

`measure()` returns the figures as a dict; `main()` prints them and writes bench/results/serving.json.
Not a test: nothing is asserted. The issue's targets (2 cores): overhead under 0.5 ms at p50, at least 80 %
of the direct throughput.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARENA = str(Path(sys.executable).parent / "arena")
ECHO = ROOT / "tests" / "serving" / "echo_server.py"
PEERS = ROOT / "bench" / "peers"
RESULTS = ROOT / "bench" / "results"
BODY = b'{"instances": [[0.0, 0.25, 0.5, 0.75]]}'
WARM_S = 0.5  # each run starts with this much unmeasured load (connections opened, caches warm)


# ---- the load -----------------------------------------------------------------------------------------
async def connection(host: str, port: int, until: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    request = (f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    done = 0
    while time.perf_counter() < until:
        t = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - t) * 1000)
        done += 1
    writer.close()
    return done


async def drive(host: str, port: int, connections: int, seconds: float) -> dict[str, Any]:
    """`connections` closed-loop keep-alive clients for `seconds`: requests/s and latency percentiles."""
    warm: list[float] = []
    warmed = await asyncio.gather(*(connection(host, port, time.perf_counter() + WARM_S, warm)
                                    for _ in range(connections)))
    latencies: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(connection(host, port, start + seconds, latencies) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": sum(counts), "warm_up_requests": sum(warmed), "rps": round(sum(counts) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 3),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3)}


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (this process when `pid` is None); 0 when it is gone."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system


def run_once(target: tuple[str, int], connections: int, seconds: float, pids: dict[str, int | None]) -> dict[str, Any]:
    """One measured run; with the CPU microseconds per request each process in `pids` spent during it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = asyncio.run(drive(*target, connections, seconds))
    total = max(result["requests"] + result["warm_up_requests"], 1)
    for name, pid in pids.items():
        result[f"{name}_cpu_us_per_request"] = round((cpu_seconds(pid) - before[name]) / total * 1e6, 1)
    return result


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 3), "max": max(values)}


# ---- the serving job ----------------------------------------------------------------------------------
def arena(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args], env=env, capture_output=True, text=True, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_job() -> Iterator[tuple[tuple[str, int], tuple[str, int], dict[str, int | None]]]:
    """A one-replica `custom` echo server in a temporary ARENA_HOME: (direct address, proxied address, pids
    of the proxy and the replica); deleted, with its daemon, afterwards."""
    home = Path(tempfile.mkdtemp(prefix="arena-bench-serving-"))
    env = {**os.environ, "ARENA_HOME": str(home)}
    port = free_port()
    try:
        arena(env, "serve", "custom", "--name", "bench", "--version", "v1", "--restful-port", str(port),
              f"{sys.executable} {ECHO}")
        deadline = time.monotonic() + 60
        while True:
            view = json.loads(arena(env, "serve", "get", "bench", "-o", "json").stdout)
            if view["availableInstances"] == 1:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the replica did not become ready: {view}")
            time.sleep(0.2)
        direct = ("127.0.0.1", int(view["instances"][0]["ports"]["PORT"]))
        proxy_pid = json.loads((home / "serving" / "proxy.json").read_text())["pid"]
        yield direct, (view["ip"], port), {"proxy": proxy_pid, "replica": replica_pid(direct), "client": None}
    finally:
        subprocess.run([ARENA, "serve", "delete", "bench"], env=env, capture_output=True)
        subprocess.run([ARENA, "daemon", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def replica_pid(direct: tuple[str, int]) -> int | None:
    """The echo server says which process answered (`pid`)."""
    with socket.create_connection(direct, timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    try:
        return int(json.loads(data.partition(b"\r\n\r\n")[2])["pid"])
    except (ValueError, KeyError):
        return None


# ---- the peers ----------------------------------------------------------------------------------------
# name: (source, toolchain, the build command's arguments between the toolchain and the output path)
PEER_BUILDS: dict[str, tuple[str, str, list[str]]] = {
    "relay": ("relay.go", "go", ["build", "-o"]),
    "forward": ("forward.c", "cc", ["-O2", "-Wall", "-o"]),
}
# label: (binary, its arguments for (listen port, the replica's port)), in the report's order
PEER_RUNS: dict[str, tuple[str, Callable[[int, int], list[str]]]] = {
    "go_reverseproxy": ("relay", lambda listen, to: ["-mode", "http", "-listen", f"127.0.0.1:{listen}",
                                                     "-to", f"127.0.0.1:{to}"]),
    "go_bytecopy": ("relay", lambda listen, to: ["-mode", "tcp", "-listen", f"127.0.0.1:{listen}",
                                                 "-to", f"127.0.0.1:{to}"]),
    "c_forwarder": ("forward", lambda listen, to: [str(listen), str(to)]),
}
ONE_CONNECTION_ONLY = {"c_forwarder"}
PEER_NAMES = {
    "go_reverseproxy": "Go net/http/httputil.ReverseProxy",
    "go_bytecopy": "Go io.Copy byte forwarder",
    "c_forwarder": "C epoll byte forwarder (the floor of one hop)",
}


def build_peer(name: str) -> tuple[Path | None, str]:
    """The peer's binary, built once per source version in the user's cache; (None, why) without its
    toolchain or when the build fails."""
    source, tool, args = PEER_BUILDS[name]
    if shutil.which(tool) is None:
        return None, f"{tool} is not on PATH"
    text = (PEERS / source).read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arena-bench" / "peers"
    binary = cache / f"{name}-{hashlib.sha256(text + ' '.join(args).encode()).hexdigest()[:16]}"
    if binary.is_file():
        return binary, ""
    cache.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    done = subprocess.run([tool, *args, str(tmp), str(PEERS / source)], capture_output=True, text=True,
                          cwd=PEERS, timeout=600)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        return None, f"{tool} failed: {last}"
    tmp.rename(binary)
    return binary, ""


@contextmanager
def peers(direct: tuple[str, int]) -> Iterator[tuple[dict[str, tuple[tuple[str, int], int]], dict[str, str]]]:
    """Every peer that could be built, running and forwarding to `direct`: ({label: (address, pid)},
    {label: why it is missing})."""
    running: dict[str, tuple[tuple[str, int], int]] = {}
    missing: dict[str, str] = {}
    procs: list[subprocess.Popen[bytes]] = []
    built = {name: build_peer(name) for name in PEER_BUILDS}
    try:
        for label, (name, argv) in PEER_RUNS.items():
            binary, why = built[name]
            if binary is None:
                missing[label] = why
                continue
            port = free_port()
            proc = subprocess.Popen([str(binary), *argv(port, direct[1])], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            procs.append(proc)
            if not wait_listening(("127.0.0.1", port), proc):
                missing[label] = f"did not listen: {(proc.stderr.read() if proc.stderr else b'').decode()[-200:]}"
                continue
            running[label] = (("127.0.0.1", port), proc.pid)
        yield running, missing
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def wait_listening(addr: tuple[str, int], proc: subprocess.Popen[bytes], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(addr, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ---- the benchmark ------------------------------------------------------------------------------------
def measure(seconds: float = 2.0, connections: Sequence[int] = (1, 8), samples: int = 3,
            report: Callable[[str], None] | None = None, with_peers: bool = True) -> dict[str, Any]:
    """Direct, proxied and peer runs, `samples` rounds per connection count: every run in `runs`, and per
    connection count the min/median/max of each figure in `summary`."""
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    say = report or (lambda line: None)
    results: dict[str, Any] = {"cores": os.cpu_count(), "client_loop": loop_name, "seconds": seconds,
                               "samples": samples, "load_average_start": round(os.getloadavg()[0], 2),
                               "runs": [], "summary": {}, "peers": {}, "peers_missing": {}}
    with serving_job() as (direct, proxied, pids), peers(direct) if with_peers else nullpeers() as (others, missing):
        results["peers"] = {label: PEER_NAMES[label] for label in others}
        results["peers_missing"] = missing
        for label, why in missing.items():
            say(f"peer {PEER_NAMES[label]}: not measured ({why})")
        say(f"{'connections':>11}  {'target':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  CPU us/request "
            "(forwarder, replica, client)")
        for c in connections:
            rows = []
            for i in range(samples):
                row: dict[str, Any] = {"connections": c, "sample": i + 1}
                order = [("direct", direct, None), ("proxy", proxied, pids["proxy"]),
                         *((label, addr, pid) for label, (addr, pid) in others.items()
                           if c == 1 or label not in ONE_CONNECTION_ONLY)]
                order = order[i % len(order):] + order[:i % len(order)]  # each target first in turn
                for label, target, forwarder in order:
                    watched = {"replica": pids["replica"], "client": None}
                    if forwarder is not None:
                        watched["forwarder"] = forwarder
                    r = row[label] = run_once(target, c, seconds, watched)
                    if label == "proxy":  # the name this figure always had
                        r["proxy_cpu_us_per_request"] = r["forwarder_cpu_us_per_request"]
                    say(f"{c:>11}  {label:<15} {r['rps']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8}  "
                        f"{r['forwarder_cpu_us_per_request'] if forwarder else '-'}, "
                        f"{r['replica_cpu_us_per_request']}, {r['client_cpu_us_per_request']}")
                row["overhead_p50_ms"] = round(row["proxy"]["p50_ms"] - row["direct"]["p50_ms"], 3)
                row["throughput_ratio"] = round(row["proxy"]["rps"] / max(row["direct"]["rps"], 0.1), 3)
                row["peer_ratios"] = {label: round(row[label]["rps"] / max(row["direct"]["rps"], 0.1), 3)
                                      for label in others if label in row}
                say(f"{'':>11}  overhead at p50 {row['overhead_p50_ms']} ms; throughput "
                    f"{row['throughput_ratio'] * 100:.0f} % of direct"
                    + "".join(f", {label} {v * 100:.0f} %" for label, v in row["peer_ratios"].items())
                    + f"; load average {os.getloadavg()[0]:.2f}")
                rows.append(row)
            results["runs"] += rows
            results["summary"][str(c)] = {
                "throughput_ratio": summary([r["throughput_ratio"] for r in rows]),
                "overhead_p50_ms": summary([r["overhead_p50_ms"] for r in rows]),
                **{f"{label}_{k}": summary([r[label][k] for r in rows])
                   for label in ("direct", "proxy") for k in ("rps", "p50_ms", "p99_ms")},
                "proxy_cpu_us_per_request": summary([r["proxy"]["proxy_cpu_us_per_request"] for r in rows]),
                "replica_cpu_us_per_request": summary([r["direct"]["replica_cpu_us_per_request"] for r in rows]),
                "client_cpu_us_per_request": summary([r["direct"]["client_cpu_us_per_request"] for r in rows]),
                **{f"{label}_throughput_ratio": summary([r["peer_ratios"][label] for r in rows])
                   for label in rows[0]["peer_ratios"]},
                **{f"{label}_cpu_us_per_request": summary([r[label]["forwarder_cpu_us_per_request"] for r in rows])
                   for label in rows[0]["peer_ratios"]},
            }
    results["load_average_end"] = round(os.getloadavg()[0], 2)
    return results


@contextmanager
def nullpeers() -> Iterator[tuple[dict[str, tuple[tuple[str, int], int]], dict[str, str]]]:
    yield {}, {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds of each run")
    parser.add_argument("--connections", default="1,8", help="comma-separated connection counts")
    parser.add_argument("--samples", type=int, default=3, help="rounds of runs per connection count")
    parser.add_argument("--no-peers", action="store_true", help="measure direct and proxied runs only")
    args = parser.parse_args(argv)
    try:
        conns = [int(x) for x in args.connections.split(",")]
    except ValueError:
        parser.exit(2, "--connections: comma-separated whole numbers, e.g. 1,8\n")
    if args.samples < 1 or args.seconds <= 0 or not conns or min(conns) < 1:
        parser.exit(2, "--samples, --seconds and --connections must be positive\n")
    results = measure(args.seconds, conns, args.samples, report=lambda line: print(line, flush=True),
                      with_peers=not args.no_peers)
    print(f"load average {results['load_average_start']} at the start, {results['load_average_end']} at the end "
          f"({results['cores']} cores)")
    for c, s in results["summary"].items():
        ratio, over = s["throughput_ratio"], s["overhead_p50_ms"]
        print(f"{c} connection(s): throughput {ratio['median'] * 100:.0f} % of direct (min {ratio['min'] * 100:.0f}, "
              f"max {ratio['max'] * 100:.0f}); overhead at p50 {over['median']} ms (min {over['min']}, max "
              f"{over['max']}); proxy CPU {s['proxy_cpu_us_per_request']['median']} us/request"
              + "".join(f"; {PEER_NAMES[label]} {s[f'{label}_throughput_ratio']['median'] * 100:.0f} %"
                        for label in results["peers"] if f"{label}_throughput_ratio" in s))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
