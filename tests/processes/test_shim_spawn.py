"""How a shim starts its replica (`posix_spawn`, stepping into the replica's cgroup and out again): the
replica is in its own cgroup from its start and the shim is not; the signals Python ignores are the
replica's defaults again; the create time the daemon records is psutil's."""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from arena.engines.local import shim as shimlib
from arena.engines.local import spawnlink, supervisor
from arena.engines.local.paths import ReplicaFiles

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process handling")


@pytest.fixture
def link(tmp_path: Path) -> Iterator[spawnlink.Link]:
    lk = spawnlink.Link(tmp_path, lambda: None)
    yield lk
    lk.close()


def _files(tmp_path: Path, name: str) -> ReplicaFiles:
    job = tmp_path / "jobs" / name
    (job / "status").mkdir(parents=True)
    (job / "logs").mkdir()
    return ReplicaFiles.of(job, "master-0")


def _wait(pred, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := pred()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def _cgroup(pid: int) -> str:
    return next(line[3:].strip() for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if line.startswith("0::"))


def test_the_replica_is_in_its_cgroup_and_the_shim_is_not(link: spawnlink.Link, tmp_path: Path) -> None:
    root = supervisor.cgroup_root()
    if root is None:
        pytest.skip("no cgroup v2 this user may create here")
    files = _files(tmp_path, "cg")
    tag = f"test{os.getpid()}x{time.monotonic_ns()}/master-0"
    cg = root / tag
    cg.mkdir(parents=True)
    try:
        argv = ["--lock", str(files.lock), "--pid", str(files.pid), "--exit", str(files.exit), "--log", str(files.log),
                "--cgroup", str(cg), "--marker", tag, "--", "sleep", "30"]
        shim = link.spawn(argv, {"PATH": os.environ["PATH"]}, "/")
        members = _wait(lambda: shimlib.cgroup_members(str(cg)))
        (replica,) = members
        assert psutil.Process(replica).ppid() == shim and psutil.Process(replica).cmdline() == ["sleep", "30"]
        assert _cgroup(replica).endswith(tag)
        assert not _cgroup(shim).endswith(tag)  # a cgroup.kill of the replica leaves its shim to record the exit
        shimlib.cgroup_kill(str(cg))
        assert _wait(lambda: supervisor.read_exit(files.exit))["code"] == 128 + signal.SIGKILL
        assert not cg.exists()  # the shim removed it
    finally:
        shimlib.cgroup_kill(str(cg))
        _wait(lambda: not shimlib.cgroup_members(str(cg)))
        shimlib.cgroup_remove(str(cg))
        shimlib.cgroup_remove(str(cg.parent))


def test_sigpipe_is_the_replicas_default_again(link: spawnlink.Link, tmp_path: Path) -> None:
    files = _files(tmp_path, "pipe")
    argv = ["--lock", str(files.lock), "--pid", str(files.pid), "--exit", str(files.exit), "--log", str(files.log),
            "--", "sh", "-c", "grep SigIgn /proc/$$/status"]
    link.spawn(argv, {"PATH": os.environ["PATH"]}, "/")
    assert _wait(lambda: supervisor.read_exit(files.exit))["code"] == 0
    ignored = int(files.log.read_text().split()[-1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)) and not ignored & (1 << (signal.SIGXFSZ - 1))


def test_the_recorded_create_time_is_psutils() -> None:
    me = os.getpid()
    assert abs(supervisor._ctime(me) - psutil.Process(me).create_time()) < 1e-6
    assert supervisor.alive(me, psutil.Process(me).create_time())
    assert not supervisor.alive(me, psutil.Process(me).create_time() - 5)  # a reused pid is not this process
