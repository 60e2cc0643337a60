"""Nothing a replica starts outlives it: every spawn pattern × delete, eviction and `daemon stop --stop-jobs`.

The replica's command starts one process of each pattern that escapes a naive kill of its process group:
a background job, a double fork (re-parented away from the shell), a `setsid` child (its own session and
group), a double-forked `setsid` daemon, and a child that ignores SIGTERM. After the replica is stopped,
none of them may run. Each case runs twice: with the replica in its own cgroup (when this machine allows
one) and with cgroups off (`ARENA_CGROUPS=0`: process group plus the ARENA_REPLICA_UID marker).
"""
from __future__ import annotations

import random

import pytest

from arena.engines.local import supervisor

from .conftest import running, wait_until

pytestmark = pytest.mark.e2e


def patterns(base: int) -> tuple[str, set[tuple[str, ...]]]:
    """A replica command starting every pattern, and the argv of each process it leaves (unique durations)."""
    s = [f"{base}{i}" for i in range(7)]
    cmd = (f"sleep {s[1]} & "                                            # background
           f"(sleep {s[2]} &) ; "                                         # double fork
           f"setsid sh -c 'sleep {s[3]}' & "                              # new session
           f"(setsid sh -c 'sleep {s[4]} & sleep {s[5]}' &) ; "           # double-forked setsid daemon
           f"sh -c 'trap \"\" TERM; sleep {s[6]}' & "                     # ignores SIGTERM (inherited by sleep)
           f"sleep {s[0]}")                                               # the main process
    return cmd, {("sleep", x) for x in s}


MODES = ["cgroup", "marker"]


def _setup(arena, mode: str, capacity: str = "cpu=4,memory=8Gi") -> None:  # type: ignore[no-untyped-def]
    if mode == "cgroup" and getattr(supervisor, "cgroup_root", lambda: "n/a")() is None:
        pytest.skip("this machine gives no cgroup v2 this user may create (the marker mode covers it)")
    arena.env["ARENA_LOCAL_CAPACITY"] = capacity
    if mode == "marker":
        arena.env["ARENA_CGROUPS"] = "0"


def _started(arena, name: str, argvs: set[tuple[str, ...]]) -> None:  # type: ignore[no-untyped-def]
    arena.wait_status(name, "RUNNING")
    found = wait_until(lambda: {tuple(p.cmdline()) for p in running(argvs)} == argvs or None, 15)
    assert found, f"not every pattern started: {[p.cmdline() for p in running(argvs)]}"


def _survivors(argvs: set[tuple[str, ...]], timeout: float = 0.0) -> list[list[str]]:
    wait_until(lambda: not running(argvs), timeout)
    return [p.cmdline() for p in running(argvs)]


@pytest.mark.parametrize("mode", MODES)
def test_delete_ends_every_descendant(arena, mode: str) -> None:  # type: ignore[no-untyped-def]
    _setup(arena, mode)
    cmd, argvs = patterns(random.randrange(10_000, 99_999))
    arena.run("submit", "py", "--name", "orph", "--workers", "2", cmd, check=True)
    _started(arena, "orph", argvs)
    arena.run("delete", "orph", check=True)  # returns once the job's processes are gone
    assert _survivors(argvs) == []


@pytest.mark.parametrize("mode", MODES)
def test_eviction_ends_every_descendant(arena, mode: str) -> None:  # type: ignore[no-untyped-def]
    _setup(arena, mode, capacity="cpu=2,memory=8Gi")
    cmd, argvs = patterns(random.randrange(10_000, 99_999))
    arena.run("submit", "py", "--name", "victim", "--cpu", "2", cmd, check=True)
    _started(arena, "victim", argvs)
    arena.run("submit", "py", "--name", "boss", "--cpu", "2", "--priority", "high", "sleep 600", check=True)
    arena.wait_status("boss", "RUNNING", timeout=60)  # it only runs once the victim's replica released its CPUs
    assert arena.job("victim")["status"] in ("QUEUING", "PENDING")
    assert _survivors(argvs, timeout=10) == []


@pytest.mark.parametrize("mode", MODES)
def test_daemon_stop_with_jobs_ends_every_descendant(arena, mode: str) -> None:  # type: ignore[no-untyped-def]
    _setup(arena, mode)
    cmd, argvs = patterns(random.randrange(10_000, 99_999))
    arena.run("submit", "py", "--name", "orph", cmd, check=True)
    _started(arena, "orph", argvs)
    arena.run("daemon", "stop", "--stop-jobs", check=True)
    assert _survivors(argvs, timeout=10) == []


def test_lost_shim_leaves_nothing(arena) -> None:  # type: ignore[no-untyped-def]
    """A shim killed with -9 cannot end its replica's processes itself: the daemon does, and reports it lost."""
    import os
    import signal

    cmd, argvs = patterns(random.randrange(10_000, 99_999))
    arena.run("submit", "py", "--name", "lost", "--retry", "0", cmd, check=True)
    _started(arena, "lost", argvs)
    os.kill(arena.job("lost")["instances"][0]["pid"], signal.SIGKILL)
    job = arena.wait_status("lost", "FAILED", timeout=30)
    assert job["instances"][0]["reason"].startswith("shim vanished")
    assert _survivors(argvs, timeout=10) == []
