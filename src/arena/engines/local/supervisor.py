"""Process operations on replicas: spawn through the shim, check, signal.

The daemon never waits on a replica itself: the shim's exit file is the source of truth,
so the same code adopts replicas started by an earlier daemon.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import psutil

SHIM = Path(__file__).with_name("shim.py")


class Processes(Protocol):
    """What the daemon's rooms do to processes: this module, or a fake in tests (no process started)."""

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, pid_file: Path, exit_file: Path,
              log_file: Path) -> tuple[int, float]: ...

    def alive(self, pid: int | None, ctime: float | None) -> bool: ...

    def read_exit(self, path: Path) -> dict | None: ...

    def read_pid(self, path: Path) -> int | None: ...

    def signal_tree(self, pid: int | None, ctime: float | None, sig: int) -> None: ...

    def group_alive(self, pid: int | None) -> bool: ...

    def any_group_alive(self, pids: Iterable[int | None]) -> bool: ...


def spawn(argv: list[str], env: dict[str, str], cwd: str, pid_file: Path, exit_file: Path,
          log_file: Path) -> tuple[int, float]:
    """Start a replica under its shim in a new session; return (pid, create time)."""
    for f in (pid_file, exit_file):
        f.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SHIM), str(pid_file), str(exit_file), str(log_file), "--", *argv],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    try:
        ctime = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        ctime = 0.0
    return proc.pid, ctime


def alive(pid: int | None, ctime: float | None) -> bool:
    """True while the shim process (the same one, not a reused pid) is running."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if ctime and abs(p.create_time() - ctime) > 0.05:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def read_exit(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def signal_tree(pid: int | None, ctime: float | None, sig: int) -> None:
    """Signal the replica's process group and every descendant that left it."""
    if not pid:
        return
    procs: list[psutil.Process] = []
    try:
        root = psutil.Process(pid)
        if not ctime or abs(root.create_time() - ctime) <= 0.05:
            procs = root.children(recursive=True)
    except psutil.Error:
        pass
    try:
        os.killpg(pid, sig)  # the shim leads its own session and group
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def group_alive(pid: int | None) -> bool:
    """True while any process of the replica's group still runs (zombies excepted)."""
    return any_group_alive((pid,))


def any_group_alive(pids: Iterable[int | None]) -> bool:
    """True while any process of any of these groups runs (zombies excepted).

    One walk over the process table for all groups: a delete polls every replica of a job every
    few milliseconds, and a walk per replica made that cost grow with the job's size.
    """
    groups: set[int] = set()
    for pid in pids:
        if not pid:
            continue
        try:
            os.killpg(pid, 0)  # cheap: no such group, no process to look for
        except (ProcessLookupError, PermissionError):
            continue
        groups.add(pid)
    if not groups:
        return False
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) in groups and p.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


TERM = signal.SIGTERM
KILL = signal.SIGKILL
