"""A crowd at once: 32 CLIs started together with no daemon running, and 64 threads of one SDK client. Exactly
one job per name, every other attempt told "already exists", never a traceback, and a sound store."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from arena.client import Client
from arena.errors import JobExists

ROOT = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"


def integrity_ok(home: Path) -> None:
    con = sqlite3.connect(home / "arena.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_32_clis_at_a_cold_start(arena):
    names = [f"cold{i % 16}" for i in range(32)]  # every name twice
    procs = [subprocess.Popen([str(ARENA), "submit", "py", "--name", name, "sleep 1"], env=arena.env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    outcomes: dict[str, list[int]] = {}
    for name, proc in zip(names, procs):
        out, err = proc.communicate(timeout=180)
        assert "Traceback" not in err and "Traceback" not in out, err
        assert proc.returncode in (0, 2), (name, proc.returncode, out, err)
        if proc.returncode == 2:
            assert len(err.strip().splitlines()) == 1 and "already exist" in err, err
        outcomes.setdefault(name, []).append(proc.returncode)
    assert all(sorted(codes) == [0, 2] for codes in outcomes.values()), outcomes
    jobs = arena.json("list")
    assert sorted(j["name"] for j in jobs) == sorted(set(names))  # type: ignore[union-attr]
    integrity_ok(arena.home)


def test_64_sdk_threads_share_one_client(arena, monkeypatch):
    arena.run("daemon", "start", check=True)
    monkeypatch.setenv("ARENA_LOCAL_CAPACITY", arena.env["ARENA_LOCAL_CAPACITY"])
    client = Client(engine="local", home=arena.home)
    made: list[str] = []
    exists: list[str] = []
    other: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(64)

    def work(i: int) -> None:
        name = f"sdk{i % 32}"
        start.wait()
        try:
            client.submit_pytorchjob(name=name, command="true")
            client.list()
            client.get(name)
            with lock:
                made.append(name)
        except JobExists:
            with lock:
                exists.append(name)
        except BaseException as exc:  # noqa: BLE001 - every other outcome is a failure of the test
            with lock:
                other.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not other, other[:3]
    assert sorted(made) == sorted(f"sdk{i}" for i in range(32))
    assert sorted(exists) == sorted(made)
    integrity_ok(arena.home)


def test_32_clis_connect_while_the_daemon_is_busy(arena):
    """A daemon that cannot accept for a moment (starting, or busy) must not turn a crowd of commands into
    tracebacks: the backlog holds them all, and a client that is still refused tries again."""
    import os
    import signal
    import time

    arena.run("daemon", "start", check=True)
    pid = arena.daemon_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        procs = [subprocess.Popen([str(ARENA), "list"], env=arena.env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(32)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(_connected_or_done(p) for p in procs):
            time.sleep(0.1)  # until every one of them has tried to connect
    finally:
        os.kill(pid, signal.SIGCONT)
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and not err, (proc.returncode, err)


def _connected_or_done(proc: subprocess.Popen) -> bool:
    import psutil

    if proc.poll() is not None:
        return True
    try:
        return bool(psutil.Process(proc.pid).connections(kind="unix"))
    except psutil.Error:
        return proc.poll() is not None
