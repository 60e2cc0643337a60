"""Benchmarks of the CLI and the local engine (issue: foundation). Prints numbers, writes JSON.

    .venv/bin/python bench/bench_local.py [--only startup,list,latency,ddp,memory,throughput]

Each part uses its own ARENA_HOME under a temporary directory and stops its daemon.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ARENA = str(Path(sys.executable).parent / "arena")
RESULTS = ROOT / "bench" / "results"


def timed(cmd: list[str], env: dict[str, str] | None, runs: int, check: bool = False) -> dict:
    """Wall time of a whole command (start-up included, output discarded); `check` fails the benchmark on a
    non-zero exit, for commands whose failure would make the number meaningless. env None: this one's."""
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=check)
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1), "runs": runs}


class Home:
    def __init__(self, capacity: str = "cpu=64,memory=256Gi,nvidia.com/gpu=64") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="arena-bench-"))
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # replicas find the venv's python
        self.env = dict(os.environ, ARENA_HOME=str(self.dir), ARENA_LOCAL_CAPACITY=capacity, PATH=path)
        os.environ.update(ARENA_HOME=str(self.dir), ARENA_LOCAL_CAPACITY=capacity, PATH=path)
        from arena import Client

        self.client = Client(home=self.dir)

    def daemon_pid(self) -> int:
        return int((self.dir / "arenad.lock").read_text())

    def close(self) -> None:
        try:
            pid = self.daemon_pid()
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(5)
        except (OSError, ValueError, psutil.Error):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def fill(home: Home, n: int) -> float:
    """Submit n one-replica `true` jobs back to back; return completed jobs per second."""
    t = time.perf_counter()
    for i in range(n):
        home.client.submit_pytorchjob(name=f"j{i}", command="true")
    while True:
        jobs = home.client.list()
        if sum(1 for j in jobs if j.finished) == n:
            break
        time.sleep(0.05)
    return n / (time.perf_counter() - t)


def bench_startup(runs: int) -> dict:
    env = dict(os.environ)
    out = {
        "python -c pass": timed([sys.executable, "-c", "pass"], env, runs),
        "arena --help": timed([ARENA, "--help"], env, runs),
        "arena version": timed([ARENA, "version"], env, runs),
    }
    if shutil.which("kubectl"):
        out["kubectl version --client"] = timed(["kubectl", "version", "--client"], env, runs)
        out["ratio arena version / kubectl"] = round(out["arena version"]["median_ms"]
                                                     / out["kubectl version --client"]["median_ms"], 2)
    return out


def bench_list_and_memory(n: int, runs: int) -> dict:
    home = Home()
    try:
        home.client.list()  # starts the daemon
        time.sleep(0.5)
        idle = psutil.Process(home.daemon_pid()).memory_info().rss
        rate = fill(home, n)
        listing = timed([ARENA, "list"], home.env, runs)
        listing_json = timed([ARENA, "list", "-o", "json"], home.env, runs)
        full = psutil.Process(home.daemon_pid()).memory_info().rss
        return {"jobs": n, "arena list": listing, "arena list -o json": listing_json,
                "throughput_jobs_per_s": round(rate, 1),
                "daemon_rss_idle_mb": round(idle / 2**20, 1), f"daemon_rss_{n}_finished_mb": round(full / 2**20, 1)}
    finally:
        home.close()


def to_running(home: Home, prefix: str, runs: int, submit: Callable[[str], object]) -> dict:
    """Milliseconds from `submit(name)` until the job is RUNNING, over `runs` jobs named PREFIX-R; each is
    deleted before the next so that every sample starts from an idle node."""
    samples = []
    for r in range(runs):
        name = f"{prefix}-{r}"
        t = time.perf_counter()
        submit(name)
        while home.client.get(name, events=False).status != "RUNNING":
            time.sleep(0.002)
        samples.append((time.perf_counter() - t) * 1000)
        home.client.delete(name)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1), "runs": runs}


def bench_latency(sizes: list[int], runs: int) -> dict:
    home = Home()
    out = {}
    try:
        home.client.list()
        for size in sizes:
            out[f"{size} replicas"] = to_running(
                home, f"lat{size}", runs,
                lambda name: home.client.submit_pytorchjob(name=name, workers=size, command="sleep 30"))
        from arena.spec import tfjob

        out["tfjob 1 chief + 2 ps + 4 workers"] = to_running(
            home, "tf", runs,
            lambda name: home.client.submit(tfjob.build(name=name, namespace="default", chief=True, ps=2, workers=4,
                                                        command="sleep 30")))
    finally:
        home.close()
    return out


def bench_ddp(runs: int) -> dict:
    home = Home()
    script = "examples/pytorch/ddp_digits.py"
    arena_s, torchrun_s = [], []
    try:
        home.client.list()
        torchrun = str(Path(sys.executable).parent / "torchrun")
        for r in range(runs):
            t = time.perf_counter()
            done = subprocess.run([ARENA, "submit", "py", "--name", f"ddp{r}", "--workers", "2", "--wait",
                                   f"python {script}"], env=home.env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                for inst in (f"ddp{r}-master-0", f"ddp{r}-worker-0"):
                    print(subprocess.run([ARENA, "logs", f"ddp{r}", "-i", inst, "--tail", "15"], env=home.env,
                                         capture_output=True, text=True).stdout, file=sys.stderr)
                raise SystemExit(f"ddp{r} failed: {done.stderr.strip().splitlines()[-1:]}")
            arena_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([torchrun, "--nproc-per-node", "2", script], cwd=ROOT, check=True, capture_output=True)
            torchrun_s.append(time.perf_counter() - t)
    finally:
        home.close()
    a, b = statistics.median(arena_s), statistics.median(torchrun_s)
    return {"arena submit --wait s": round(a, 2), "torchrun --nproc-per-node 2 s": round(b, 2),
            "ratio": round(a / b, 3), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="startup,list,latency,ddp")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    # Bytecode as after a normal install: this workplace sets PYTHONDONTWRITEBYTECODE, which would make
    # every measured CLI start recompile Arena from source.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "arena")], check=False)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if "startup" in parts:
        results["startup"] = bench_startup(args.runs * 2)
        print(json.dumps({"startup": results["startup"]}, indent=2), flush=True)
    if "list" in parts:
        results["list_memory_throughput"] = bench_list_and_memory(args.jobs, args.runs)
        print(json.dumps({"list_memory_throughput": results["list_memory_throughput"]}, indent=2), flush=True)
    if "latency" in parts:
        results["submit_to_running"] = bench_latency([2, 8], args.runs)
        print(json.dumps({"submit_to_running": results["submit_to_running"]}, indent=2), flush=True)
    if "ddp" in parts:
        results["ddp"] = bench_ddp(max(1, args.runs // 5))
        print(json.dumps({"ddp": results["ddp"]}, indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "local.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged.update(results)  # parts not run this time keep their last numbers
    out.write_text(json.dumps(merged, indent=2))
    print(f"wrote {RESULTS / 'local.json'}")


if __name__ == "__main__":
    main()
