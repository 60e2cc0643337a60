"""Benchmark of `arena logs` on a big replica log (issue 11: --tail/--since read from the end). Prints numbers,
writes JSON.

    .venv/bin/python bench/bench_logs.py [--size-mb 500] [--runs 3] [--compare-head]

A job runs in a temporary ARENA_HOME; its log is then grown to the given size with shim-format lines, and
`arena logs --tail 5`, `--since 1m` and `--tail 5 --since 1h` are timed end to end (the whole command: start-up,
the daemon round trip, the read), with the peak RSS of the command; `tail -n 5` on the same file is the peer.
`--compare-head` also times the reader of the last commit (git HEAD) on the same file, in its own process.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ARENA = str(Path(sys.executable).parent / "arena")
RESULTS = ROOT / "bench" / "results"

_MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE).returncode
elapsed = time.perf_counter() - t
print(rc, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall time and peak RSS of one command, run from a small parent so that only its own RSS is counted."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True, check=True)
    rc, elapsed, rss_kib = out.stdout.split()
    return {"rc": int(rc), "seconds": round(float(elapsed), 3), "max_rss_mb": round(int(rss_kib) / 1024, 1)}


def grow(path: Path, size: int) -> int:
    """Append shim-format lines (one per millisecond, ending about now) until the log holds `size` bytes."""
    text = "x" * 100
    n = size // 137  # about the size of one line: ends near now
    start = time.time() - n / 1000
    i = 0
    with open(path, "a") as f:
        while f.tell() < size:
            block = []
            for _ in range(20_000):
                ts = start + i / 1000
                block.append(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z {i} {text}\n")
                i += 1
            f.write("".join(block))
    return i


def head_reader(tmp: Path) -> Path | None:
    """The last commit's `arena/logs.py`, as a module file of its own (None outside a git checkout)."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:src/arena/logs.py"], capture_output=True,
                                text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = tmp / "head_logs.py"
    path.write_text(source)
    return path


LABELS = (("tail 5", ["--tail", "5"]), ("since 1m", ["--since", "1m"]),
          ("tail 5 since 1h", ["--tail", "5", "--since", "1h"]))


def run(size_mb: int, runs: int, compare_head: bool = False) -> dict:
    """Grow one job's log to `size_mb` and time each `arena logs` variant `runs` times (interleaved), with
    `tail -n 5` on the same file as the peer of `--tail 5`. Returns samples: seconds and peak RSS per run."""
    home = Path(tempfile.mkdtemp(prefix="arena-bench-logs-"))
    env = dict(os.environ, ARENA_HOME=str(home), ARENA_LOCAL_CAPACITY="cpu=4,memory=8Gi",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    results: dict = {"size_mb": size_mb, "runs": runs}
    try:
        subprocess.run([ARENA, "submit", "py", "--name", "big", "--wait", "echo first"], env=env, check=True,
                       capture_output=True)
        view = json.loads(subprocess.run([ARENA, "get", "big", "-o", "json"], env=env, check=True,
                                         capture_output=True, text=True).stdout)
        log = Path(view["instances"][0]["logPath"])
        results["lines"] = grow(log, size_mb * 2**20)
        results["file_mb"] = round(log.stat().st_size / 2**20, 1)
        commands = {f"arena logs --{label}": [ARENA, "logs", "big", *extra] for label, extra in LABELS}
        commands["arena get (start-up and round trip, for scale)"] = [ARENA, "get", "big"]
        commands["tail -n 5 (the file, directly)"] = ["tail", "-n", "5", str(log)]
        samples: dict[str, list[dict]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, cmd in commands.items():
                samples[name].append(measure(cmd, env))
        results["samples"] = samples
        if compare_head:
            reader = head_reader(home)
            if reader is not None:
                code = (f"import importlib.util, pathlib; s = importlib.util.spec_from_file_location('h', {str(reader)!r});"
                        f" m = importlib.util.module_from_spec(s); s.loader.exec_module(m);"
                        f" print(list(m.read(pathlib.Path({str(log)!r}), tail=5))[-1][:20])")
                results["HEAD reader, --tail 5 (in process)"] = measure([sys.executable, "-c", code], env)
    finally:
        subprocess.run([ARENA, "daemon", "stop"], env=env, capture_output=True, timeout=60, check=False)
        try:
            pid = int((home / "arenad.lock").read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(5)
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        shutil.rmtree(home, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-head", action="store_true")
    args = parser.parse_args()
    results = run(args.size_mb, args.runs, args.compare_head)
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_logs.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
