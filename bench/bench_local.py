"""Benchmarks of the CLI and the local engine. Each function returns raw samples; `python -m bench` turns them
into the report's figures, and this script's own `main` prints them as JSON.

    .venv/bin/python bench/bench_local.py [--only startup,jobs,latency,ddp] [--quick]

Each part uses its own ARENA_HOME under a temporary directory and stops its daemon. The directories are removed
when the process exits, not between parts: deleting a part's thousands of files would slow the next part's
file creations for minutes on some filesystems (machine.settle_filesystem).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

if __package__:
    from bench import machine
else:  # run as a script: its folder is first on the path
    import machine

ROOT = Path(__file__).resolve().parent.parent
ARENA = str(Path(sys.executable).parent / "arena")
RESULTS = ROOT / "bench" / "results"
DDP_SCRIPT = "examples/pytorch/ddp_digits.py"
BIG_CAPACITY = "cpu=64,memory=256Gi,nvidia.com/gpu=64"  # so that 8-replica jobs and bursts never queue
_LEFT: list[Path] = []  # temporary homes, removed at exit


def leave(directory: str | Path) -> None:
    """Remove a temporary home when the process exits (see the module's docstring)."""
    if not _LEFT:
        atexit.register(_remove_left)
    _LEFT.append(Path(directory))


def _remove_left() -> None:
    for d in _LEFT:
        shutil.rmtree(d, ignore_errors=True)
    for parent in {d.parent for d in _LEFT}:  # the next run waits until the kernel has forgotten these
        machine.deleted(parent)


def run_ms(cmd: list[str], env: dict[str, str] | None, check: bool = False, own_session: bool = False) -> float:
    """Wall time of one whole command in milliseconds, start-up included, output discarded. `own_session`: as
    a command typed in another terminal runs, in a session of its own (with the kernel's autogroups, its own
    share of the CPU, not one taken from this process's)."""
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=check,
                   start_new_session=own_session)
    return (time.perf_counter() - t) * 1000


def timed(cmd: list[str], env: dict[str, str] | None, runs: int, check: bool = False) -> dict[str, Any]:
    """Wall time of a whole command over `runs` runs; `check` fails the benchmark on a non-zero exit, for
    commands whose failure would make the number meaningless. env None: this process's. bench_kubernetes.py
    imports this: keep the keys."""
    samples = [run_ms(cmd, env, check) for _ in range(runs)]
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1), "runs": runs, "samples": [round(s, 2) for s in samples]}


def compile_bytecode() -> None:
    """Bytecode as after a normal install: this workplace sets PYTHONDONTWRITEBYTECODE, which would make every
    measured CLI start recompile Arena from source."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "arena")], check=False,
                   stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Home:
    """A throw-away ARENA_HOME with its own daemon; `capacity` None keeps the machine's real capacity."""

    def __init__(self, capacity: str | None = BIG_CAPACITY) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="arena-bench-"))
        # replicas find the venv's python
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        extra = {"ARENA_HOME": str(self.dir), "PATH": path}
        if capacity:
            extra["ARENA_LOCAL_CAPACITY"] = capacity
        self.env = {k: v for k, v in os.environ.items() if k != "ARENA_LOCAL_CAPACITY"} | extra
        # The SDK client starts the daemon from this process: it must inherit the same environment.
        self._saved = {k: os.environ.get(k) for k in (*extra, "ARENA_LOCAL_CAPACITY")}
        os.environ.pop("ARENA_LOCAL_CAPACITY", None)
        os.environ.update(extra)
        from arena import Client

        self.client = Client(home=self.dir)

    def daemon_pid(self) -> int:
        return int((self.dir / "arenad.lock").read_text().split()[0])

    def daemon_rss_mb(self) -> float:
        return psutil.Process(self.daemon_pid()).memory_info().rss / 2**20

    def close(self) -> None:
        subprocess.run([ARENA, "daemon", "stop", "--stop-jobs"], env=self.env, capture_output=True, timeout=60,
                       check=False)
        try:
            pid = self.daemon_pid()
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(5)
        except (OSError, ValueError, psutil.Error):
            pass
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        leave(self.dir)


# ---- start-up -------------------------------------------------------------------------------------------------

def kubectl() -> tuple[str, str] | None:
    """The peer for start-up and where it came from: the kubectl built by scripts/cluster when there, else
    the one on PATH."""
    try:
        bin_dir = subprocess.run([str(ROOT / "scripts" / "cluster"), "--bin-dir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
        built = Path(bin_dir) / "kubectl"
        if built.is_file() and os.access(built, os.X_OK):
            return str(built), "built by scripts/cluster"
    except (OSError, subprocess.SubprocessError):
        pass
    found = shutil.which("kubectl")
    return (found, f"{found}, on PATH") if found else None


def startup(runs: int) -> dict[str, Any]:
    """Samples (ms) of each start-up command, interleaved run by run so that drift in the machine's load
    touches every command alike."""
    home = tempfile.mkdtemp(prefix="arena-bench-startup-")
    env = dict(os.environ, ARENA_HOME=home)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "arena version": [ARENA, "version"],
        "arena --help": [ARENA, "--help"],
        "arena submit pytorchjob --dry-run -o yaml": [ARENA, "submit", "pytorchjob", "--name", "d", "--workers", "3",
                                                      "--dry-run", "-o", "yaml", "python train.py"],
    }
    peer = kubectl()
    origin = ""
    if peer:
        commands["kubectl version --client"] = [peer[0], "version", "--client"]
        said = subprocess.run(commands["kubectl version --client"], capture_output=True, text=True).stdout
        origin = f"{said.splitlines()[0].removeprefix('Client Version: ') if said else 'kubectl'}, {peer[1]}"
    try:
        for cmd in commands.values():  # warm the page cache; fail early on a broken command
            subprocess.run(cmd, env=env, capture_output=True, check=True)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, cmd in commands.items():
                samples[name].append(run_ms(cmd, env))
    finally:
        leave(home)
    return {"samples_ms": samples, "kubectl": origin}


# ---- job bursts: throughput, list during the burst, list with many jobs, daemon memory --------------------------

class Lister(threading.Thread):
    """Runs `arena list` at a steady pace (one start every `every` seconds, back to back when slower) while
    `active` is set, recording each command's wall time: what a user watching the queue sees. Each command runs
    in a session of its own, as one typed in another terminal than the submitting script's does: in this
    process's session it would share one CPU share with the thread that submits the burst."""

    def __init__(self, env: dict[str, str], every: float) -> None:
        super().__init__(daemon=True)
        self.env, self.every = env, every
        self.active = threading.Event()
        self.stopped = threading.Event()
        self.samples: list[float] = []

    def run(self) -> None:
        while not self.stopped.is_set():
            if not self.active.wait(0.05):
                continue
            t = time.perf_counter()
            ms = run_ms([ARENA, "list"], self.env, own_session=True)
            if self.active.is_set():
                self.samples.append(ms)
            self.stopped.wait(max(0.0, self.every - (time.perf_counter() - t)))


def burst(home: Home, prefix: str, n: int, deadline_s: float) -> float:
    """Submit n one-replica `true` jobs back to back; return jobs per second, from the first submit to the
    last job's recorded finish."""
    t0 = time.time()
    for i in range(n):
        home.client.submit_pytorchjob(name=f"{prefix}{i}", command="true")
    last = f"{prefix}{n - 1}"
    deadline = time.monotonic() + deadline_s
    while not home.client.get(last, events=False).finished:
        if time.monotonic() > deadline:
            raise RuntimeError(f"burst {prefix}: job {last} not finished after {deadline_s:.0f} s")
        time.sleep(0.02)
    return n / max(finished_at(home, prefix, n, deadline, f"burst {prefix}", 0.1) - t0, 1e-9)


def finished_at(home: Home, prefix: str, n: int, deadline: float, what: str, every: float) -> float:
    """When the last of the n jobs named `prefix...` finished, once all have (each must have succeeded)."""
    while True:
        mine = [j for j in home.client.list() if j.name.startswith(prefix)]
        if len(mine) == n and all(j.finished for j in mine):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {sum(not j.finished for j in mine)} jobs not finished")
        time.sleep(every)
    failed = [j.name for j in mine if j.status != "SUCCEEDED"]
    if failed:
        raise RuntimeError(f"{what}: {len(failed)} jobs did not succeed (first: {failed[0]})")
    return max(j.finishTime or 0.0 for j in mine)


def jobs(bursts: int, per_burst: int, list_runs: int, list_at: int, list_every: float) -> dict[str, Any]:
    """`bursts` bursts of `per_burst` jobs in one home, `arena list` timed during them; after `list_at` jobs,
    `arena list` timed on the idle daemon; the daemon's RSS idle and after every job finished."""
    home = Home()
    lister = Lister(home.env, list_every)
    out: dict[str, Any] = {"jobs_per_s": [], "list_during_burst_ms": [], "per_burst": per_burst}
    try:
        home.client.list()  # starts the daemon
        out["filesystem"] = machine.settle_filesystem(home.dir)
        time.sleep(0.5)
        out["rss_idle_mb"] = [home.daemon_rss_mb()]
        lister.start()
        done = 0
        for b in range(bursts):
            lister.active.set()
            out["jobs_per_s"].append(burst(home, f"b{b}-", per_burst, deadline_s=max(120.0, per_burst / 5)))
            lister.active.clear()
            done += per_burst
            if done == list_at:
                out["list_jobs"] = done
                out["list_ms"] = timed([ARENA, "list"], home.env, list_runs)["samples"]
                out["list_json_ms"] = timed([ARENA, "list", "-o", "json"], home.env, list_runs)["samples"]
        lister.stopped.set()
        lister.join(10)
        out["list_during_burst_ms"] = lister.samples
        out["finished_jobs"] = done
        rss = []
        for _ in range(5):
            rss.append(home.daemon_rss_mb())
            time.sleep(0.2)
        out["rss_finished_mb"] = rss
    finally:
        lister.stopped.set()
        home.close()
    return out


def sweep(n: int, cores: int = 2) -> dict[str, Any]:
    """A sweep on a small machine: n one-replica `true` jobs, each asking for one CPU, on a capacity of `cores`
    CPUs, so that `cores` run at a time and the rest wait in the queue. Jobs per second from the first submit to
    the last recorded finish, and the daemon's CPU per job: with a backlog, every submit and every exit wakes a
    scheduling pass over everything waiting."""
    home = Home(capacity=f"cpu={cores},memory=64Gi")
    try:
        home.client.list()  # starts the daemon
        daemon = psutil.Process(home.daemon_pid())
        cpu0 = sum(daemon.cpu_times()[:2])
        t0 = time.time()
        for i in range(n):
            home.client.submit_pytorchjob(name=f"s{i}", command="true", cpu="1")
        end = finished_at(home, "s", n, time.monotonic() + max(300.0, n / 2), "sweep", 0.2)
        return {"jobs": n, "cores": cores, "jobs_per_s": n / max(end - t0, 1e-9),
                "daemon_cpu_ms_per_job": (sum(daemon.cpu_times()[:2]) - cpu0) / n * 1000}
    finally:
        home.close()


# ---- submit -> running ----------------------------------------------------------------------------------------

def to_running(home: Home, prefix: str, runs: int, submit: Callable[[str], object]) -> list[float]:
    """Milliseconds from `submit(name)` until the job is RUNNING, over `runs` jobs named PREFIX-R; each is
    deleted before the next so that every sample starts from an idle node."""
    samples = []
    for r in range(runs):
        name = f"{prefix}-{r}"
        t = time.perf_counter()
        submit(name)
        deadline = time.monotonic() + 60
        while (view := home.client.get(name, events=False)).status != "RUNNING":
            if view.finished or time.monotonic() > deadline:
                raise RuntimeError(f"{name} is {view.status}, not RUNNING: {view.reason or 'no reason given'}")
            time.sleep(0.002)
        samples.append((time.perf_counter() - t) * 1000)
        home.client.delete(name)
    return samples


def latency(runs: int) -> dict[str, list[float]]:
    home = Home()
    out: dict[str, list[float]] = {}
    try:
        home.client.list()
        for size in (2, 8):
            out[f"{size} replicas"] = to_running(
                home, f"lat{size}", runs,
                lambda name, size=size: home.client.submit_pytorchjob(name=name, workers=size, command="sleep 30"))
        out["tfjob 1 chief + 2 ps + 4 workers"] = to_running(
            home, "tf", runs,
            lambda name: home.client.submit_tfjob(name=name, chief=True, ps=2, workers=4, command="sleep 30"))
    finally:
        home.close()
    return out


# ---- DDP against torchrun -------------------------------------------------------------------------------------

def ddp(runs: int) -> dict[str, list[float]]:
    """Seconds of `arena submit pytorchjob --workers 2 --wait` and of `torchrun --nproc-per-node 2` on the same
    script with the same arguments, with and without the script's own thread setting, interleaved run by run.
    The local engine keeps the machine's real capacity here: the thread contract depends on it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run([sys.executable, "-c", "import torch, sklearn.datasets"], env=env, check=True)  # warm caches
    home = Home(capacity=None)
    home.env = {k: v for k, v in home.env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    torchrun = str(Path(sys.executable).parent / "torchrun")
    variants = {"no thread setting": ["--no-set-threads"], "thread setting": []}
    out: dict[str, list[float]] = {f"{who}, {v}": [] for v in variants for who in ("arena", "torchrun")}
    try:
        home.client.list()
        for r in range(runs):
            for variant, args in variants.items():
                name = f"ddp{r}-{'n' if args else 't'}"
                t = time.perf_counter()
                done = subprocess.run([ARENA, "submit", "pytorchjob", "--name", name, "--workers", "2", "--wait",
                                       " ".join(["python", DDP_SCRIPT, *args])],
                                      env=home.env, cwd=ROOT, capture_output=True, text=True)
                elapsed = time.perf_counter() - t
                if done.returncode != 0:
                    tail = subprocess.run([ARENA, "logs", name, "--tail", "5"], env=home.env, capture_output=True,
                                          text=True).stdout.strip().splitlines()
                    raise RuntimeError(f"arena job {name} failed: {(done.stderr.strip().splitlines() or tail)[-1:]}")
                out[f"arena, {variant}"].append(elapsed)
                t = time.perf_counter()
                subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(free_port()), DDP_SCRIPT,
                                *args], env=env, cwd=ROOT, check=True, capture_output=True)
                out[f"torchrun, {variant}"].append(time.perf_counter() - t)
    finally:
        home.close()
    return out


# ---- this script on its own -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="startup,jobs,latency,ddp")
    parser.add_argument("--quick", action="store_true", help="fewer runs and jobs")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    compile_bytecode()
    q = args.quick
    results: dict[str, Any] = {}
    if "startup" in parts:
        results["startup"] = startup(8 if q else 20)
    if "jobs" in parts:
        results["jobs"] = jobs(2 if q else 5, 500 if q else 1000, 5 if q else 10, 1000, 0.5)
        results["sweep"] = sweep(300 if q else 1000)
    if "latency" in parts:
        results["latency"] = latency(5 if q else 10)
    if "ddp" in parts:
        results["ddp"] = ddp(1 if q else 3)
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "local.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
