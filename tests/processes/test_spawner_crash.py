"""Shims are forked by the spawner process; a `kill -9` of it, or of the daemon, during a burst loses nothing.

100 one-replica jobs, each printing 20 lines, are submitted back to back while the daemon (or the spawner) is
killed with -9 twice: every job ends SUCCEEDED with its whole log, no replica is reported lost, no shim is
left holding a replica, and a spawner whose daemon died does not linger.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from arena.engines.local import shim as shimlib
from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.spawnlink import PID_FILE

JOBS = 100
LINES = [f"line {i}" for i in range(1, 21)]
COMMAND = "for i in $(seq 1 20); do echo \"line $i\"; done"


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _gone(pid: int, timeout: float = 30) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def _kill9(pid: int | None) -> int:
    assert pid and psutil.pid_exists(pid), pid
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    return pid


def _wait(pred: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _burst(arena, kill: Callable[[], None], at: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    from arena import Client

    arena.run("list", check=True)  # the daemon, started with the test's environment
    client = Client(home=arena.home)
    for i in range(JOBS):
        client.submit_pytorchjob(name=f"b{i}", command=COMMAND, retry=0)
        if i in at:
            kill()
    jobs = _wait(lambda: (lambda js: js if sum(1 for j in js if j.finished) == JOBS else None)(client.list()),
                 240, "every job to finish")
    assert sorted(j.name for j in jobs) == sorted(f"b{i}" for i in range(JOBS))  # type: ignore[union-attr]
    for job in jobs:  # type: ignore[union-attr]
        assert job.status == "SUCCEEDED", (job.name, job.status, job.reason)
        view = client.get(job.name)
        assert all(not inst.reason.startswith("shim vanished") for inst in view.instances), view.instances
        assert list(client.logs(job.name)) == LINES, job.name
        for inst in view.instances:  # nothing holds the replica any more: no shim left over
            files = ReplicaFiles.of(view.jobDir, inst.name.removeprefix(f"{job.name}-"))
            assert shimlib.lock_holder(str(files.lock)) is None, inst.name
            assert not shimlib.marked(f"{view.uuid}/{inst.name.removeprefix(f'{job.name}-')}"), inst.name


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform != "linux", reason="the local engine's process hygiene is Linux's")
def test_kill9_of_the_daemon_during_a_burst_loses_nothing(arena) -> None:  # type: ignore[no-untyped-def]
    spawners: list[int] = []

    def kill() -> None:
        spawner = _pid(arena.home / PID_FILE)
        _kill9(arena.daemon_pid())
        if spawner:
            spawners.append(spawner)

    _burst(arena, kill, (30, 65))
    assert len(spawners) == 2
    for pid in spawners:  # its daemon gone, the spawner ended (its shims did not)
        assert _gone(pid), f"the spawner {pid} outlived its daemon"


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform != "linux", reason="the local engine's process hygiene is Linux's")
def test_kill9_of_the_spawner_during_a_burst_loses_nothing(arena) -> None:  # type: ignore[no-untyped-def]
    killed: list[int] = []
    daemons: set[int | None] = set()

    def kill() -> None:
        daemons.add(arena.daemon_pid())
        pid = _wait(lambda: _pid(arena.home / PID_FILE) not in (None, *killed), 30, "a fresh spawner")
        killed.append(_kill9(_pid(arena.home / PID_FILE)))

    _burst(arena, kill, (30, 65))
    assert len(killed) == 2
    assert daemons == {arena.daemon_pid()}  # the daemon itself carried on
    assert _pid(arena.home / PID_FILE) not in killed  # and started another spawner for the jobs after
