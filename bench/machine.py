"""What the numbers were measured on: a benchmark figure means nothing without the machine and its load."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def version(dist: str) -> str:
    """A package's installed version without importing it (importing torch costs seconds)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def commit() -> str:
    """HEAD's short hash, '+changes' when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+changes" if dirty else "")


def loop_ms(n: int = 1_000_000, runs: int = 3) -> float:
    """The best of `runs` timings of one fixed pure-Python loop: the machine's speed at that moment. This VM's
    changes by hours (2-4x between phases), and every figure with it; a run's figures compare with another
    run's only at a similar value."""
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, (time.perf_counter() - t) * 1000)
    return round(best, 1)


def describe() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "arena": version("arena-ml"),
        "commit": commit(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "loop_ms_start": loop_ms(),
    }


# ---- the filesystem's state -----------------------------------------------------------------------------------
# On ext4 without a journal (this VM's root filesystem), the kernel skips inodes freed in the last minutes when it
# allocates one (`recently_deleted`), scanning past each of them: after a test suite or a benchmark deletes
# thousands of files, every file or folder created in the same block group costs 0.5-1.3 ms of CPU instead of
# ~40 us, for up to six minutes. A job makes seven, so a burst then runs at about half its rate: what is
# measured is the previous run's cleanup, not Arena. See bench/notes.md.
SETTLED_US = 200.0  # CPU us per new inode below which the filesystem counts as settled
SETTLE_LIMIT_S = 420.0  # the kernel forgets a deletion after at most 360 s
SETTLE_STEP_S = 15.0
# A run's bursts make ~35,000 inodes, spread over several block groups; the probe's hundred land in one. After the
# previous run deleted its homes, the probe read 26-58 us while the bursts met that run's freed inodes in the next
# groups (three runs in a row on /tmp: 241, 194, 167 and 282, 192, 161 jobs/s; on tmpfs 281, 295, 310). So a run
# also waits out the kernel's window (`recently_deleted`: 60 s, 300 s while the inode's table block is dirty) after
# the last deletion of a benchmark's homes, which `deleted` notes in the temporary directory.
FORGET_S = 300.0
DELETED_MARK = "arena-bench-deleted"


def _mark(directory: str | Path | None) -> Path:
    return Path(directory or tempfile.gettempdir()) / DELETED_MARK


def deleted(directory: str | Path | None = None) -> None:
    """Note that this run has just deleted its temporary homes (see FORGET_S)."""
    try:
        _mark(directory).touch()
    except OSError:
        pass


def deletion_left_s(directory: str | Path | None = None) -> float:
    """Seconds until the kernel has forgotten the last deletion noted by `deleted` (0: none, or long ago)."""
    try:
        age = time.time() - _mark(directory).stat().st_mtime
    except OSError:
        return 0.0
    return max(0.0, FORGET_S - age)


def new_inode_us(directory: Path, jobs: int = 25) -> float:
    """CPU microseconds per inode made as the daemon makes a job's, in a new folder under `directory`: a folder
    holding a `logs/` folder, and a file in each (left there: deleting them would itself slow the next creations).
    Folders, not only files: ext4 places a new folder in a block group of its choosing, a file in its folder's,
    so a probe of files alone can find one quiet group while the jobs' folders land in busy ones."""
    d = Path(tempfile.mkdtemp(prefix="probe-", dir=directory))
    t = time.process_time()
    for i in range(jobs):
        job = d / f"job{i}"
        os.makedirs(job / "logs")
        with open(job / "record", "wb"), open(job / "logs" / "log", "wb"):
            pass
    return (time.process_time() - t) / (jobs * 4) * 1e6


def settle_filesystem(directory: Path) -> dict[str, Any]:
    """Wait (at most SETTLE_LIMIT_S) until making a job's folders and files under `directory` costs what it does
    on a quiet filesystem, and the last deletion of a benchmark's homes is forgotten; return the cost per inode
    found first, the cost when done and the seconds waited."""
    first = cost = new_inode_us(directory)
    start = time.monotonic()
    while (cost > SETTLED_US or deletion_left_s(directory.parent) > 0) and time.monotonic() - start < SETTLE_LIMIT_S:
        time.sleep(SETTLE_STEP_S)
        cost = new_inode_us(directory)
    return {"new_inode_us_first": round(first, 1), "new_inode_us": round(cost, 1),
            "waited_s": round(time.monotonic() - start, 1)}
