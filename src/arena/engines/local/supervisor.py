"""Process operations on replicas: spawn through the shim, find, signal, and clean up after them.

Shims are forked by the spawner process (`spawnlink`, `spawnd.py`) when the daemon runs one, else started
as `python -I -S shim.py`. The daemon never waits on a replica itself: the shim's exit file is the source
of truth, and the lock the shim holds says whether it still runs, so the same code adopts replicas started
by an earlier daemon.

A replica is named by its tag, `<job uid>/<key>`. Its processes are found, in this order of
strength: its own cgroup (`<arena cgroup>/<job uid>/<key>`, on cgroup v2 where this user may create
one — as root, or in a delegated subtree), the shim's process group, and the marker variable
`ARENA_REPLICA_UID=<tag>` that every descendant inherits (a double-forked `setsid` daemon leaves
the group but keeps its environment). `ARENA_CGROUPS=0` in the daemon's environment turns the
cgroup off (the fallback is then what runs; the tests use it).
"""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import psutil

from arena.engines.local import native
from arena.engines.local import shim as shimlib
from arena.engines.local import spawnlink
from arena.engines.local.paths import ReplicaFiles

SHIM = Path(__file__).with_name("shim.py")
MARKER = shimlib.MARKER
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
HANDOVER = 2.0  # seconds a finishing shim (exit recorded) may take to let go of the replica's lock


class Processes(Protocol):
    """What the daemon's rooms do to processes: this module, or a fake in tests (no process started)."""

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
              log_bytes: int = 0) -> tuple[int, float]: ...

    def begin(self, argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
              log_bytes: int = 0) -> Callable[[], tuple[int, float]]: ...

    def shim(self, files: ReplicaFiles, pid: int | None, ctime: float | None) -> int | None: ...

    def alive(self, pid: int | None, ctime: float | None) -> bool: ...

    def read_exit(self, path: Path) -> dict | None: ...

    def read_pid(self, path: Path) -> int | None: ...

    def signal_tree(self, pid: int | None, ctime: float | None, sig: int, tag: str = "") -> None: ...

    def any_alive(self, procs: Iterable[tuple[int | None, str]]) -> bool: ...

    def any_group_alive(self, pids: Iterable[int | None]) -> bool: ...

    def release(self, job_uid: str) -> None: ...


def tag_of(job_uid: str, key: str) -> str:
    """The name of one replica's processes: its marker value and its cgroup's path under Arena's."""
    return f"{job_uid}/{key}"


# ---- cgroup v2 ---------------------------------------------------------------------------------
_ROOT: list[Path | None] = []  # found once per process


def cgroup_root() -> Path | None:
    """Arena's cgroup, `<level>/arena`, at the highest level of this process's cgroup path where this user
    may create one (the hierarchy's root as root; the delegated subtree of a user's service manager).

    The highest level, not this process's own cgroup, so that a daemon restarted from another terminal
    (another cgroup) finds the replicas of the one before it. None: no cgroup v2 we may use."""
    if _ROOT:
        return _ROOT[0]
    _ROOT.append(_find_root())
    if _ROOT[0] is not None:
        sweep(_ROOT[0])
    return _ROOT[0]


STALE = 600.0  # seconds: an empty job cgroup untouched this long is left over (its shims were killed with -9)


def sweep(root: Path, now: float | None = None) -> None:
    """Remove the empty job cgroups nobody touched for `STALE` seconds: what a shim killed with -9 (or a test's
    teardown) could not remove. Populated or recent ones stay: a starting replica's is never taken away."""
    now = time.time() if now is None else now
    try:
        jobs = [d for d in root.iterdir() if d.is_dir()]
    except OSError:
        return
    for d in jobs:
        try:
            stamps = [d.stat().st_mtime] + [k.stat().st_mtime for k in d.iterdir() if k.is_dir()]
        except OSError:
            continue
        if now - max(stamps) > STALE and not shimlib.cgroup_members(str(d)):
            shimlib.cgroup_remove(str(d))


def _find_root() -> Path | None:
    if os.environ.get("ARENA_CGROUPS", "1") in ("0", "false", "off", "no"):
        return None
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    mount = next((Path(m.split()[1]) for m in mounts if len(m.split()) > 2 and m.split()[2] == "cgroup2"), None)
    if mount is None:
        return None
    levels = [mount]
    for part in [p for p in own.split("/") if p and p != ".."]:
        levels.append(levels[-1] / part)
    for level in levels:
        candidate = level / "arena"
        try:
            candidate.mkdir(exist_ok=True)
        except OSError:
            continue
        if os.access(candidate / "cgroup.procs", os.W_OK) and (candidate / "cgroup.kill").exists():
            return candidate
    return None


def cgroup_of(tag: str) -> Path | None:
    root = cgroup_root()
    return root / tag if root is not None and _TAG.fullmatch(tag) else None


# ---- spawn and observe -----------------------------------------------------------------------------
def spawn(argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
          log_bytes: int = 0) -> tuple[int, float]:
    """Start a replica under its shim in a new session; return (pid, create time) of its shim."""
    return begin(argv, env, cwd, files, tag, log_bytes)()


def begin(argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
          log_bytes: int = 0) -> Callable[[], tuple[int, float]]:
    """Start a replica under its shim in a new session without waiting for the fork: the returned call gives
    (pid, create time) of its shim (raising OSError as `spawn` would), so that a pass starting many replicas
    has all their forks in flight at once.

    Idempotent: when a shim of this replica already runs (started by a daemon that stopped before
    recording it), that one is returned and nothing new starts. Should two shims still race (the other
    was between fork and exec), the replica's lock lets exactly one of them run it."""
    holder = shimlib.lock_holder(str(files.lock))
    if holder is not None and read_exit(files.exit) is None:
        found = holder
        return lambda: (found, _ctime(found))
    deadline = time.monotonic() + HANDOVER
    while holder is not None and time.monotonic() < deadline:  # the last run's shim is finishing
        time.sleep(0.01)
        holder = shimlib.lock_holder(str(files.lock))
    for f in (files.pid, files.exit):
        f.unlink(missing_ok=True)
    cg = cgroup_of(tag) if tag else None  # made (and emptied) by the shim, off this thread
    options = ["--lock", str(files.lock), "--pid", str(files.pid), "--exit", str(files.exit), "--log", str(files.log),
               "--log-bytes", str(log_bytes)]
    if tag:
        options += ["--marker", tag]
        env = {**env, MARKER: tag}
    if cg is not None:
        options += ["--cgroup", str(cg)]
    shim_argv = [*options, "--", *argv]
    link = spawnlink.current()
    if link is None:
        pid = _popen_shim(shim_argv, env, cwd)
        return lambda: (pid, _ctime(pid))
    ticket = link.send(shim_argv, env, cwd)

    def result() -> tuple[int, float]:
        try:
            pid = link.result(ticket)
        except spawnlink.SpawnerGone:  # two spawners in a row failed: this one starts the slow way
            pid = _popen_shim(shim_argv, env, cwd)
        return pid, _ctime(pid)
    return result


def _popen_shim(argv: list[str], env: dict[str, str], cwd: str) -> int:
    """Without a spawner: the native shim, else `python -I -S shim.py` (an interpreter start per replica)."""
    exe = native.shim_path()
    proc = subprocess.Popen(
        [native.NAME, *argv] if exe is not None else [sys.executable, "-I", "-S", str(SHIM), *argv],
        executable=exe, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
    return proc.pid


def _ctime(pid: int) -> float:
    stat = _stat(pid)
    return stat[1] if stat is not None else 0.0


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@functools.cache  # read once, as psutil's own create_time reuses it: /proc/stat each time cost 20 µs
def _boot_time() -> float:
    return psutil.boot_time()


def _stat(pid: int) -> tuple[str, float] | None:
    """(state letter, create time as psutil computes it) from one read of /proc/PID/stat: the loop asks this of
    every live replica on every pass, and psutil's Process costs several reads more."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rfind(b")") + 2:].split()
        return fields[0].decode(), int(fields[19]) / _CLOCK_TICKS + _boot_time()
    except (OSError, ValueError, IndexError):
        return None


def shim(files: ReplicaFiles, pid: int | None, ctime: float | None) -> int | None:
    """The pid of the shim running this replica, None when none runs.

    The holder of the replica's lock; else the recorded pid while that same process runs: a shim of an
    earlier version (no lock file), one still starting (not yet locked), or one the lock test missed (F_GETLK
    can report a held lock free while its holder forks the replica). A shim that ended is no longer alive,
    and its exit file, written first, says how."""
    holder = shimlib.lock_holder(str(files.lock))
    if holder is not None:
        return holder
    return pid if alive(pid, ctime) else None


def alive(pid: int | None, ctime: float | None) -> bool:
    """True while the process (the same one, not a reused pid) is running."""
    if not pid:
        return False
    stat = _stat(pid)
    if stat is None or (ctime and abs(stat[1] - ctime) > 0.05):
        return False
    return stat[0] not in ("Z", "X")


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


# ---- signal and wait ---------------------------------------------------------------------------
def signal_tree(pid: int | None, ctime: float | None, sig: int, tag: str = "") -> None:
    """Signal every process of the replica: its cgroup (SIGKILL through `cgroup.kill`), else its marker;
    the shim's process group; and the shim's descendants."""
    procs: list[psutil.Process] = []
    if pid:
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
    if tag:
        cg = cgroup_of(tag)
        shimlib.end_all(str(cg) if cg is not None and cg.exists() else "", tag, 0, os.getpid(), sig)


def any_alive(procs: Iterable[tuple[int | None, str]]) -> bool:
    """True while any process of these replicas runs (zombies excepted): a shim's process group, a member
    of a replica's cgroup, or a process carrying a replica's marker.

    One walk over the process table for all of them: a delete polls every replica of a job every few
    milliseconds, and a walk per replica made that cost grow with the job's size."""
    groups: set[int] = set()
    tags: set[str] = set()
    for pid, tag in procs:
        if tag:
            cg = cgroup_of(tag)
            if cg is not None and shimlib.cgroup_members(str(cg)):
                return True
            tags.add(tag)
        if pid:
            try:
                os.killpg(pid, 0)  # cheap: no such group, no process to look for
                groups.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
    if not groups and not tags:
        return False
    needles = [f"\0{MARKER}={t}\0".encode() for t in tags]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        n = int(name)
        try:
            if groups and os.getpgid(n) in groups and not shimlib.zombie(n):
                return True
            if needles:
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = b"\0" + f.read()
                if any(needle in env for needle in needles) and not shimlib.zombie(n):
                    return True
        except OSError:
            continue
    return False


def group_alive(pid: int | None) -> bool:
    """True while any process of the shim's process group runs (zombies excepted)."""
    return any_alive([(pid, "")])


def any_group_alive(pids: Iterable[int | None]) -> bool:
    """True while any process of these shims' process groups runs (zombies excepted)."""
    return any_alive([(pid, "") for pid in pids])


def release(job_uid: str) -> None:
    """The job is gone: remove its (empty) cgroups."""
    root = cgroup_root()
    if root is not None and re.fullmatch(r"[A-Za-z0-9._-]+", job_uid):
        shimlib.cgroup_remove(str(root / job_uid))


TERM = signal.SIGTERM
KILL = signal.SIGKILL
