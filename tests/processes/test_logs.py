"""Replica logs: bounded on disk by the shim (rotation with a marker line, long lines cut), read from the end in
constant memory (`--tail`, `--since`), and followed without rereading, across rotations.

Memory is measured with tracemalloc (what the reader allocates), never time: bench/bench_logs.py prints how
long `arena logs --tail 5` takes on a 500 MB log, and its RSS.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from arena import logs
from arena.engines.local import shim

SHIM = Path(shim.__file__)
MiB = 2**20


def stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z "


def big_log(path: Path, size: int, start: float = 1_700_000_000.0) -> int:
    """A shim-format log of about `size` bytes, one line per millisecond; returns its number of lines."""
    line = "x" * 90
    block = []
    n = 0
    with open(path, "w") as f:
        written = 0
        while written < size:
            text = f"{stamp(start + n / 1000)}{n} {line}\n"
            block.append(text)
            written += len(text)
            n += 1
            if len(block) == 10_000:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))
    return n


def peak_allocated(fn) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("biglog") / "master-0.log"
    return path, big_log(path, 96 * MiB)


def test_tail_reads_from_the_end_in_constant_memory(big: tuple[Path, int]) -> None:
    path, n = big
    out, peak = peak_allocated(lambda: list(logs.read(path, tail=5)))
    assert [line.split()[0] for line in out] == [str(i) for i in range(n - 5, n)]  # type: ignore[union-attr]
    assert peak < 2 * MiB, f"tail allocated {peak / MiB:.1f} MiB on a {path.stat().st_size / MiB:.0f} MiB log"


def test_since_bisects_in_constant_memory(big: tuple[Path, int]) -> None:
    path, n = big
    since = 1_700_000_000.0 + (n - 3) / 1000 - 1e-4  # the last three lines
    out, peak = peak_allocated(lambda: list(logs.read(path, since=since)))
    assert [line.split()[0] for line in out] == [str(i) for i in range(n - 3, n)]  # type: ignore[union-attr]
    assert peak < 2 * MiB
    out, peak = peak_allocated(lambda: list(logs.read(path, since=since - 1, tail=2, timestamps=True)))
    assert [line.split()[1] for line in out] == [str(n - 2), str(n - 1)]  # type: ignore[union-attr]
    assert peak < 2 * MiB


def test_follow_starts_at_the_tail_and_reads_only_what_is_new(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    big_log(path, 8 * MiB)
    done = threading.Event()

    def produce() -> None:
        for i in range(5):
            time.sleep(0.02)
            with open(path, "a") as f:
                f.write(f"{stamp(time.time())}new{i}\n")
        done.set()

    threading.Thread(target=produce).start()
    out, peak = peak_allocated(lambda: list(logs.read(path, tail=1, follow=True, done=done.is_set, poll=0.01)))
    assert out[1:] == [f"new{i}" for i in range(5)]  # type: ignore[index]
    assert peak < 2 * MiB


def run_shim(tmp_path: Path, script: str, log_bytes: int) -> Path:
    status = tmp_path / "status"
    status.mkdir(exist_ok=True)
    log = tmp_path / "r.log"
    subprocess.run([sys.executable, "-I", "-S", str(SHIM), "--lock", str(status / "r.lock"), "--pid",
                    str(status / "r.pid"), "--exit", str(status / "r.exit"), "--log", str(log), "--log-bytes",
                    str(log_bytes), "--", "sh", "-c", script], check=True, timeout=60)
    return log


def test_the_shim_rotates_a_log_past_its_limit_with_a_marker(tmp_path: Path) -> None:
    log = run_shim(tmp_path, "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done", 16 * 1024)
    older = log.with_name(log.name + ".1")
    assert older.exists()
    assert log.stat().st_size + older.stat().st_size <= 16 * 1024 + 200  # the cap, give or take the marker line
    first = log.read_text().splitlines()[0]
    assert "arena: log rotated" in first and "r.log.1" in first
    lines = [line for line in logs.read(log) if not line.startswith("arena: log rotated")]
    assert lines[-1] == "line 2999"
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 3000))  # the newest part, in order, no gap between the two files


def test_the_shim_cuts_a_line_without_end(tmp_path: Path) -> None:
    log = run_shim(tmp_path, "head -c 200000 /dev/zero | tr '\\0' x; echo; echo after", 0)
    lines = list(logs.read(log))
    assert [len(x) for x in lines] == [65536, 65536, 65536, 200000 - 3 * 65536, 5]
    assert lines[-1] == "after"


def test_follow_goes_on_across_rotations(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.mkdir()
    log = tmp_path / "r.log"
    script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); sleep 0.003; done"
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(SHIM), "--lock", str(status / "r.lock"), "--pid",
                             str(status / "r.pid"), "--exit", str(status / "r.exit"), "--log", str(log),
                             "--log-bytes", "4096", "--", "sh", "-c", script])
    try:
        deadline = time.monotonic() + 10
        while not log.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        got = [x for x in logs.read(log, follow=True, done=lambda: proc.poll() is not None, poll=0.002)]
    finally:
        proc.wait(30)
    rotations = [x for x in got if x.startswith("arena: log rotated")]
    lines = [x for x in got if not x.startswith("arena: log rotated")]
    assert len(rotations) >= 3
    assert lines == [f"line {i}" for i in range(300)]
