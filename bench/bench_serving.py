"""Benchmark of the local serving proxy: a trivial `custom` HTTP server, direct vs through the proxy.

    .venv/bin/python bench/bench_serving.py [--seconds 5] [--connections 1,8]

Serves `tests/serving/echo_server.py` (one replica) with `arena serve custom` in a temporary ARENA_HOME,
then, in the same run, drives the replica's own port and the job's stable address with the same load:
`C` keep-alive connections, each sending its next request when the last answer is in (asyncio, raw
HTTP/1.1, so the client costs little of the two cores). Prints requests per second and p50/p99 latency per
target and the proxy's overhead; writes bench/results/serving.json. Not a test: nothing is asserted.
The issue's targets (2 cores): overhead under 0.5 ms at p50, at least 80 % of the direct throughput.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARENA = str(Path(sys.executable).parent / "arena")
ECHO = ROOT / "tests" / "serving" / "echo_server.py"
RESULTS = ROOT / "bench" / "results"
BODY = b'{"instances": [[0.0, 0.25, 0.5, 0.75]]}'


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


async def drive(host: str, port: int, connections: int, seconds: float) -> dict:
    warm: list[float] = []
    await asyncio.gather(*(connection(host, port, time.perf_counter() + 0.5, warm) for _ in range(connections)))
    latencies: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(connection(host, port, start + seconds, latencies) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": sum(counts), "rps": round(sum(counts) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 3),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3)}


def arena(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ARENA, *args], env=env, capture_output=True, text=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", default="1,8")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    home = Path(tempfile.mkdtemp(prefix="arena-bench-serving-"))
    env = {**os.environ, "ARENA_HOME": str(home)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results: dict = {"cores": os.cpu_count(), "client_loop": loop_name, "seconds": args.seconds, "runs": []}
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
        direct = ("127.0.0.1", view["instances"][0]["ports"]["PORT"])
        proxied = (view["ip"], port)
        print(f"{'connections':>11}  {'target':<7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for c in (int(x) for x in args.connections.split(",")):
            row = {"connections": c}
            for label, (host, p) in (("direct", direct), ("proxy", proxied)):
                r = asyncio.run(drive(host, p, c, args.seconds))
                row[label] = r
                print(f"{c:>11}  {label:<7} {r['rps']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8}")
            row["overhead_p50_ms"] = round(row["proxy"]["p50_ms"] - row["direct"]["p50_ms"], 3)
            row["throughput_ratio"] = round(row["proxy"]["rps"] / row["direct"]["rps"], 3)
            print(f"{'':>11}  proxy overhead at p50: {row['overhead_p50_ms']} ms; throughput "
                  f"{row['throughput_ratio'] * 100:.0f} % of direct")
            results["runs"].append(row)
    finally:
        subprocess.run([ARENA, "serve", "delete", "bench"], env=env, capture_output=True)
        subprocess.run([ARENA, "daemon", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
