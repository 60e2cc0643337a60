"""The spawner process on its own (no daemon), starting the native shim or forking the Python one: either is the
shim `python shim.py` would be (each test runs with both).

It runs the command in the given directory with exactly the given environment, records the exit and the
log, shows in `ps` as `arena-shim <options> -- <command>`; a missing directory is refused as `Popen` refuses
it; a spawner killed with -9 is replaced at the next start, and the shims it forked run on; requests in
flight are answered in order and, resent after a spawner died, run their replica once. The shim starts its
replica with `posix_spawn`, in the replica's cgroup from its start while the shim is not in it, with the
signals Python ignores back to their defaults; the create time the daemon records is psutil's.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from arena.engines.local import shim as shimlib
from arena.engines.local import native, spawnlink, supervisor
from arena.engines.local.paths import ReplicaFiles

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the spawner forks Linux shims")


@pytest.fixture(params=["native", "python"])
def link(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[spawnlink.Link]:
    """A spawner starting the native shim (posix_spawn), or forking the Python one: the same behaviour."""
    if request.param == "python":
        monkeypatch.setenv("ARENA_SHIM", "python")
    elif native.shim_path() is None:
        pytest.skip("no C compiler: no native shim")
    native.shim_path.cache_clear()
    woken: list[int] = []
    lk = spawnlink.Link(tmp_path, lambda: woken.append(1))
    yield lk
    lk.close()
    native.shim_path.cache_clear()


def test_a_native_shim_that_cannot_be_run_sends_the_spawner_down_the_fork_path(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "removed-arena-shim"
    gone.write_text("")
    gone.chmod(0o755)
    monkeypatch.setenv("ARENA_SHIM", str(gone))
    native.shim_path.cache_clear()
    assert native.shim_path() == gone  # what the spawner is started with
    lk = spawnlink.Link(tmp_path, lambda: None)
    try:
        gone.unlink()  # after the spawner was told of it: as if the cache were cleaned meanwhile
        for name in ("first", "second"):
            files = _files(tmp_path, name)
            lk.spawn(_argv(files, "sh", "-c", f"echo {name}"), {"PATH": os.environ["PATH"]}, str(tmp_path))
            assert _exit(files)["code"] == 0 and _lines(files) == [name]
    finally:
        lk.close()
        native.shim_path.cache_clear()


def _files(tmp_path: Path, name: str) -> ReplicaFiles:
    job = tmp_path / "jobs" / name
    (job / "status").mkdir(parents=True)
    (job / "logs").mkdir()
    return ReplicaFiles.of(job, "master-0")


def _argv(files: ReplicaFiles, *cmd: str) -> list[str]:
    return ["--lock", str(files.lock), "--pid", str(files.pid), "--exit", str(files.exit), "--log", str(files.log),
            "--", *cmd]


def _exit(files: ReplicaFiles, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (ex := supervisor.read_exit(files.exit)) is None:
        assert time.monotonic() < deadline, "the shim recorded no exit"
        time.sleep(0.02)
    return ex


def _lines(files: ReplicaFiles) -> list[str]:
    return [line.split(" ", 1)[1] for line in files.log.read_text().splitlines()]


def test_a_forked_shim_runs_the_command_in_its_directory_with_its_environment(link: spawnlink.Link,
                                                                               tmp_path: Path) -> None:
    files = _files(tmp_path, "env")
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "ONLY_THIS": "yes"}
    pid = link.spawn(_argv(files, "sh", "-c", 'pwd; echo "$ONLY_THIS ${HOME:-no-home}"; sleep 0.5; exit 3'),
                     env, str(work))
    deadline = time.monotonic() + 10
    while "arena-shim" not in (cmd := psutil.Process(pid).cmdline()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cmd[:3] == ["arena-shim", "--lock", str(files.lock)], cmd
    assert os.getpgid(pid) == os.getsid(pid) == pid  # its own session and group
    assert _exit(files)["code"] == 3
    assert _lines(files) == [str(work), "yes no-home"]
    assert supervisor.read_pid(files.pid) == pid


def test_values_that_are_not_utf8_reach_the_replica_as_the_bytes_they_were(link: spawnlink.Link,
                                                                          tmp_path: Path) -> None:
    """An environment value with surrogate escapes (bytes that are not UTF-8) cannot go the fast encoder's
    way; it goes the escaped way and arrives as the same bytes, beside plain non-ASCII text."""
    files = _files(tmp_path, "bytes")
    odd = os.fsdecode(b"caf\xe9")  # latin-1 bytes: a lone surrogate once decoded
    env = {"PATH": os.environ["PATH"], "ODD": odd, "TEXT": "déjà ☃"}
    link.spawn(_argv(files, "sh", "-c", 'printf "%s|%s" "$ODD" "$TEXT" > out'), env, str(tmp_path))
    assert _exit(files)["code"] == 0
    assert (tmp_path / "out").read_bytes() == b"caf\xe9|" + "déjà ☃".encode()


def test_a_missing_directory_is_refused_as_popen_refuses_it(link: spawnlink.Link, tmp_path: Path) -> None:
    files = _files(tmp_path, "nodir")
    with pytest.raises(OSError) as info:
        link.spawn(_argv(files, "true"), {"PATH": os.environ["PATH"]}, str(tmp_path / "gone"))
    assert info.value.errno == errno.ENOENT and info.value.filename == str(tmp_path / "gone")
    assert not files.exit.exists() and not files.pid.exists()  # nothing started


def test_a_killed_spawner_is_replaced_and_its_shims_run_on(link: spawnlink.Link, tmp_path: Path) -> None:
    first = _files(tmp_path, "first")
    env = {"PATH": os.environ["PATH"]}
    link.spawn(_argv(first, "sh", "-c", "sleep 0.5; echo survived"), env, "/")
    spawner = int((tmp_path / spawnlink.PID_FILE).read_text())
    os.kill(spawner, signal.SIGKILL)
    psutil.Process(spawner).wait(10) if psutil.pid_exists(spawner) else None
    second = _files(tmp_path, "second")
    link.spawn(_argv(second, "echo", "fresh"), env, "/")  # the dead socket is noticed; a new spawner forks it
    assert int((tmp_path / spawnlink.PID_FILE).read_text()) != spawner
    assert _exit(second)["code"] == 0 and _lines(second) == ["fresh"]
    assert _exit(first)["code"] == 0 and _lines(first) == ["survived"]  # the orphaned shim finished its replica


def test_requests_in_flight_are_answered_in_order(link: spawnlink.Link, tmp_path: Path) -> None:
    """A pass sends every start, then reads the pids: each ticket gets its own shim's pid."""
    env = {"PATH": os.environ["PATH"]}
    jobs = [_files(tmp_path, f"p{i}") for i in range(5)]
    tickets = [link.send(_argv(f, "sh", "-c", f"echo {i}"), env, "/") for i, f in enumerate(jobs)]
    pids = [link.result(t) for t in tickets]
    assert len(set(pids)) == 5
    for i, f in enumerate(jobs):
        assert _exit(f)["code"] == 0 and _lines(f) == [str(i)]
        assert supervisor.read_pid(f.pid) == pids[i]


def test_requests_in_flight_when_the_spawner_dies_run_once(link: spawnlink.Link, tmp_path: Path) -> None:
    """The spawner is killed with requests sent and unanswered: they go to a fresh spawner, and each replica
    runs once, even one whose first shim had already finished (its exit file tells the second shim so)."""
    env = {"PATH": os.environ["PATH"]}
    runs = tmp_path / "runs"
    runs.mkdir()
    link.spawn(_argv(_files(tmp_path, "warm"), "true"), env, "/")  # the spawner is up
    spawner = int((tmp_path / spawnlink.PID_FILE).read_text())
    jobs = [_files(tmp_path, f"k{i}") for i in range(4)]
    tickets = [link.send(_argv(f, "sh", "-c", f"echo ran >> {runs}/{i}"), env, "/") for i, f in enumerate(jobs)]
    for f in jobs[:2]:  # the first starts have run to their end before the spawner dies
        _exit(f)
    os.kill(spawner, signal.SIGKILL)
    psutil.Process(spawner).wait(10) if psutil.pid_exists(spawner) else None
    with link.mu:  # as if its answers were lost with it: the requests are still in flight
        link.pending.extend(t for t in tickets if t not in link.pending)
        for t in tickets:
            t.answer = None
        link.broken = True
    pids = [link.result(t) for t in tickets]
    assert all(pids)
    for i, f in enumerate(jobs):
        assert _exit(f)["code"] == 0
        assert (runs / str(i)).read_text() == "ran\n", f"replica {i} ran more than once or never"


# ---- how a shim starts its replica: posix_spawn, stepping into the replica's cgroup and out again ----------
def _wait(pred, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := pred()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def _execed(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


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
        # The shim is in the cgroup only for the instant of the spawn: wait until that is over, and until the
        # replica's exec has finished (for an instant its command line reads empty).
        (replica,) = _wait(lambda: (lambda m: m if len(m) == 1 and shim not in m and _execed(m[0]) else None)(
            shimlib.cgroup_members(str(cg))))
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


def test_many_requests_in_flight_neither_side_blocks(link: spawnlink.Link, tmp_path: Path) -> None:
    """More requests than may be in flight (a pass binding a long backlog): every one is answered."""
    env = {"PATH": os.environ["PATH"], "PAD": "x" * 4096}  # large requests fill the socket sooner
    jobs = [_files(tmp_path, f"m{i}") for i in range(spawnlink.IN_FLIGHT * 2 + 5)]
    tickets = [link.send(_argv(f, "true"), env, "/") for f in jobs]
    assert len(link.pending) <= spawnlink.IN_FLIGHT
    assert len({link.result(t) for t in tickets}) == len(jobs)
    for f in jobs:
        assert _exit(f)["code"] == 0


@pytest.mark.parametrize("which", ["native", "python"])
def test_without_a_spawner_the_daemon_starts_the_shim_itself(which: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`ARENA_SPAWNER=0`, or a spawner that failed twice: the native shim (or `python shim.py`) started directly."""
    if which == "python":
        monkeypatch.setenv("ARENA_SHIM", "python")
    native.shim_path.cache_clear()
    try:
        if which == "native" and native.shim_path() is None:
            pytest.skip("no C compiler: no native shim")
        files = _files(tmp_path, which)
        work = tmp_path / "work"
        work.mkdir()
        pid = supervisor._popen_shim(_argv(files, "sh", "-c", "pwd; exit 4"), {"PATH": os.environ["PATH"]}, str(work))
        assert _exit(files)["code"] == 4 and _lines(files) == [str(work)]
        assert supervisor.read_pid(files.pid) == pid
    finally:
        native.shim_path.cache_clear()
