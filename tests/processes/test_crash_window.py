"""Bind and spawn are one recoverable step: a daemon killed between them loses nothing and runs nothing twice.

A replica bound by a daemon that died before starting it is started by the next daemon (or released if its
job has ended), never reported lost ("shim vanished", FAILED with an empty log). A shim started by a daemon
that died before recording it is adopted, not started again. Then the same under random `kill -9` of the
daemon while jobs are submitted, scheduled, bound, spawned and exiting: every job reaches the state its exit
codes imply, every log is complete, and no replica ran twice.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from arena.engines.local.core import assemble
from arena.engines.local.node import Capacity
from arena.engines.local.paths import Paths
from arena.spec import pytorchjob, volcanojob

from .conftest import GiB, Engine


class Crash(BaseException):
    """The daemon dies here (a BaseException: nothing on the way catches it, as nothing survives kill -9)."""


def restarted(engine: Engine) -> None:
    """The daemon died: its rooms are gone, the store and the processes stay; a new one takes over."""
    engine.core.close()
    capacity = Capacity(cpu_milli=16000, memory=64 * GiB, gpus=(0, 1, 2, 3), source="declared")
    engine.core = assemble(Paths(engine.core.api.paths.home), capacity, clock=engine.clock, procs=engine.procs)


def crash_in_spawn(engine: Engine, after: bool, skip: int = 0) -> None:
    """The next spawn (after `skip` more) dies before starting the shim (`after`: once the shim started, before
    it is recorded)."""
    spawn = engine.procs.spawn
    left = [skip]

    def dying(*args, **kwargs):  # type: ignore[no-untyped-def]
        if left[0]:
            left[0] -= 1
            return spawn(*args, **kwargs)
        engine.procs.spawn = spawn  # type: ignore[method-assign]
        if after:
            spawn(*args, **kwargs)
        raise Crash

    engine.procs.spawn = dying  # type: ignore[method-assign]


@pytest.mark.parametrize("after", [False, True], ids=["between-bind-and-spawn", "between-spawn-and-record"])
def test_a_crash_around_spawn_neither_loses_nor_repeats_a_replica(engine: Engine, after: bool) -> None:
    engine.submit(pytorchjob.build(name="w", workers=3, command="python train.py"))
    crash_in_spawn(engine, after)
    with pytest.raises(Crash):
        engine.reconcile()
    restarted(engine)
    for _ in range(3):
        engine.reconcile()
        engine.clock.advance(30)  # well past any grace a starting shim once had
    view = engine.get("w")
    assert view.status == "RUNNING", view.reason
    assert all(i.status == "Running" and not i.reason for i in view.instances), view.instances
    names = [s.env["ARENA_REPLICA_NAME"] for s in engine.procs.started]
    assert sorted(names) == ["w-master-0", "w-worker-0", "w-worker-1"]  # each started exactly once
    engine.procs.exit("master-0", 0)
    engine.reconcile()
    assert engine.get("w").status == "SUCCEEDED"


def test_a_crash_before_an_in_place_restart_leaves_it_to_the_next_daemon(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="w", workers=2, retry=5, command="python train.py"))
    engine.reconcile()
    engine.procs.exit("worker-0", 3)
    crash_in_spawn(engine, after=False)
    with pytest.raises(Crash):
        engine.reconcile()  # the exit is recorded, the restart never happens
    restarted(engine)
    engine.reconcile()
    assert starts(engine, "worker-0") == 2
    assert next(i for i in engine.get("w").instances if i.task == "worker").status == "Running"


def test_a_new_run_bound_by_a_dead_daemon_never_reads_the_last_runs_exit(engine: Engine) -> None:
    """RestartJob re-queues the job; the daemon dies between binding the next run and starting it. The last
    run's exit file (code 3) must not be taken for the new run's."""
    engine.submit(volcanojob.build(name="v", task=["worker:1=exit 3"], policy=["PodFailed=RestartJob"], max_retry=5))
    engine.reconcile()
    engine.procs.exit("worker-0", 3)
    crash_in_spawn(engine, after=False)
    with pytest.raises(Crash):
        engine.reconcile()  # re-queued, bound again at once: the daemon dies before starting it
    assert starts(engine, "worker-0") == 1
    restarted(engine)
    engine.reconcile()
    view = engine.get("v")
    assert starts(engine, "worker-0") == 2 and view.status == "RUNNING", (view.reason, view.retries)
    assert view.retries == 1


def starts(engine: Engine, key: str) -> int:
    return sum(1 for s in engine.procs.started if s.env.get("ARENA_REPLICA_NAME", "").endswith(f"-{key}"))


def test_an_unrecorded_shim_of_a_job_that_ended_meanwhile_is_stopped_not_revived(engine: Engine) -> None:
    """The daemon died after starting the worker's shim, before recording it; while it was down the master
    succeeded. The next daemon ends the job first, then finds the worker's shim: it stops it, and the job
    stays SUCCEEDED (it is not marked running again)."""
    engine.submit(pytorchjob.build(name="w", workers=2, command="python train.py"))
    crash_in_spawn(engine, after=True, skip=1)
    with pytest.raises(Crash):
        engine.reconcile()
    engine.procs.exit("master-0", 0)
    restarted(engine)
    engine.reconcile()
    engine.reconcile()
    view = engine.get("w")
    assert view.status == "SUCCEEDED", view.reason
    worker = next(i for i in view.instances if i.task == "worker")
    assert worker.status in ("Terminating", "Error"), worker
    assert not engine.procs.replica("worker-0").alive


def test_a_bound_replica_of_a_job_deleted_meanwhile_is_released(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="w", command="python train.py"))
    crash_in_spawn(engine, after=False)
    with pytest.raises(Crash):
        engine.reconcile()
    restarted(engine)
    engine.api.delete("default", "w")
    engine.reconcile()
    assert engine.procs.started == []
    assert engine.core.repo.job_named("default", "w") is None


# ---- the real daemon ------------------------------------------------------------------------------


def _db(arena) -> sqlite3.Connection:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(arena.home / "arena.db", timeout=30)
    con.row_factory = sqlite3.Row
    return con


def _kill_daemon(arena) -> None:  # type: ignore[no-untyped-def]
    pid = arena.daemon_pid()
    if pid and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)
        try:
            psutil.Process(pid).wait(5)
        except psutil.Error:
            pass


@pytest.mark.e2e
def test_a_replica_left_bound_by_a_dead_daemon_runs_once_after_restart(arena) -> None:  # type: ignore[no-untyped-def]
    """The store as a daemon killed right after its bind transaction leaves it: bound, Starting, no pid, no
    shim. The next daemon starts the replica; before, it waited out a grace period and declared it lost."""
    arena.run("queue", "create", "held", "--capability", "cpu=1", check=True)  # holds the job back: it needs 2
    arena.run("submit", "py", "--name", "gap", "--queue", "held", "--cpu", "2", "--retry", "0", "echo ran once",
              check=True)
    assert arena.job("gap")["status"] == "QUEUING"
    _kill_daemon(arena)
    now = time.time()
    with _db(arena) as con:  # what the bind transaction commits (repo.Tx.bind_replica, job_bound, set_phase)
        con.execute("UPDATE queues SET capability=NULL WHERE name='held'")
        con.execute("UPDATE jobs SET admitted=1, started=?, deployed=?, phase='Pending', status='PENDING'"
                    " WHERE name='gap'", (now, now))
        con.execute("UPDATE replicas SET bound=1, state='Starting', started=?, pid=NULL, pid_ctime=NULL"
                    " WHERE job_uid=(SELECT uid FROM jobs WHERE name='gap')", (now,))
    job = arena.wait_status("gap", "SUCCEEDED", "FAILED", timeout=60)  # any command starts a daemon
    assert job["status"] == "SUCCEEDED", (job["reason"], job["instances"])
    assert arena.run("logs", "gap", check=True).stdout.splitlines() == ["ran once"]


@pytest.mark.e2e
@pytest.mark.parametrize("point", ["replica-bound", "replica-spawned"])
def test_a_daemon_killed_at_the_spawn_step_loses_nothing(arena, point: str) -> None:  # type: ignore[no-untyped-def]
    """`ARENA_FAULT` kills the daemon (SIGKILL) at the named point, once per job."""
    arena.env["ARENA_FAULT"] = point
    arena.run("submit", "py", "--name", "cut", "--workers", "3", "--retry", "0",
              'echo "start $ARENA_REPLICA_NAME"; sleep 0.3; echo end', check=True)
    job = arena.wait_status("cut", "SUCCEEDED", "FAILED", timeout=60)
    assert (Path(job["jobDir"]) / f".fault-{point}").exists(), "the daemon was not killed at the point"
    assert job["status"] == "SUCCEEDED", (job["reason"], job["instances"])
    for inst in job["instances"]:
        out = arena.run("logs", "cut", "-i", inst["name"], check=True).stdout.splitlines()
        assert not inst["reason"].startswith("shim vanished"), inst
        if inst["task"] == "master":
            assert out == [f"start {inst['name']}", "end"], out  # complete, and run once
        else:  # the master's success ends the job: a worker may be stopped before its end, or never started
            # when the master had already finished by the time the next daemon came up; once at most
            assert out in ([], [f"start {inst['name']}"], [f"start {inst['name']}", "end"]), out


@pytest.mark.e2e
def test_random_kill9_of_the_daemon_loses_and_repeats_nothing(arena) -> None:  # type: ignore[no-untyped-def]
    """24 jobs submitted while the daemon is killed with -9 at random moments (and at each job's bind and
    spawn step, by `ARENA_FAULT`): each ends as its exit codes say, with its whole log, each replica run once."""
    rng = random.Random(int(os.environ.get("ARENA_TEST_SEED", "11")))
    arena.env["ARENA_LOCAL_CAPACITY"] = "cpu=4,memory=8Gi"
    arena.env["ARENA_FAULT"] = "replica-bound,replica-spawned"
    jobs: dict[str, int] = {}
    kills = 0
    submits: list[tuple[str, subprocess.Popen]] = []
    for i in range(24):
        name, code, workers = f"k{i}", rng.choice([0, 0, 3]), rng.choice([1, 1, 2])
        jobs[name] = code
        cmd = f'echo "start $ARENA_REPLICA_NAME"; sleep 0.{rng.randrange(1, 5)}; echo end; exit {code}'
        argv = ["submit", "py", "--name", name, "--cpu", "1", "--retry", "0", *(["--workers", "2"] if workers == 2
                                                                               else []), cmd]
        submits.append((name, subprocess.Popen(_cli(arena, argv), env=arena.env, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True)))
        time.sleep(rng.uniform(0.0, 0.3))  # kill during the submit, its scheduling, its start or its end
        _kill_daemon(arena)
        kills += 1
    assert kills >= 20
    untrue = []
    for name, proc in submits:
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        exists = steady(arena, "get", name, ok=(0, 1)).returncode == 0
        if exists != (proc.returncode == 0):
            untrue.append((name, proc.returncode, err.strip()))
        if not exists:  # as a user would: a submit that made nothing is retried
            steady(arena, "submit", "py", "--name", name, "--cpu", "1", "--retry", "0",
                   f'echo "start $ARENA_REPLICA_NAME"; echo end; exit {jobs[name]}')
    deadline = time.monotonic() + 180
    while True:
        listed = {j["name"]: j for j in json.loads(steady(arena, "list", "-o", "json").stdout)}
        if all(listed.get(n, {}).get("status") in ("SUCCEEDED", "FAILED") for n in jobs) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for name, code in jobs.items():
        job = json.loads(steady(arena, "get", name, "-o", "json").stdout)
        assert job["status"] == ("SUCCEEDED" if code == 0 else "FAILED"), (name, job["status"], job["reason"])
        for inst in job["instances"]:
            out = steady(arena, "logs", name, "-i", inst["name"]).stdout.splitlines()
            assert not inst["reason"].startswith("shim vanished"), (name, inst)
            if inst["task"] == "master":
                assert out == [f"start {inst['name']}", "end"], (name, inst["name"], out, inst)
            else:  # the master's end ends the job: a worker may be stopped first, or never started; once at most
                assert out in ([], [f"start {inst['name']}"], [f"start {inst['name']}", "end"]), (name, out, inst)
    # Every submit's exit code is true: one that created its job says so (the idempotent retry of a submit
    # whose answer the crash cut off).
    assert untrue == []


def steady(arena, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """Run a command as a patient user would while the daemon keeps being killed: again, when it failed because
    the daemon died under it (also at its start, when a fault point fires in its first pass)."""
    for attempt in range(20):
        proc = arena.run(*args)
        if attempt and args[0] == "submit" and "already exist" in proc.stderr:
            return proc  # the attempt the daemon died under had made it (the submit's exit code is checked apart)
        if proc.returncode == 0 or "daemon" not in proc.stderr:
            break
        time.sleep(0.2)
    assert proc.returncode in ok, (args, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _cli(arena, args: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    import sys

    exe = Path(sys.executable).parent / "arena"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "arena", *args]

