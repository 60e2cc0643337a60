"""Crash-loop back-off, as the kubelet's: a replica that keeps failing is restarted after 0 s, then 10 s doubling
to 5 min, and counts as healthy again once it ran 10 min; meanwhile `arena get` shows it in CrashLoopBackOff,
and its events stay a few rows with counts however long it loops.

Driven on a fake clock (tests/local/fakes.py): no process starts and nothing sleeps.
"""
from __future__ import annotations

import pytest

from arena.engines.local import loop
from arena.spec import pytorchjob, volcanojob

from .conftest import Engine


def starts(engine: Engine, key: str) -> int:
    return sum(1 for s in engine.procs.started if s.env.get("ARENA_REPLICA_NAME", "").endswith(f"-{key}"))


def instance(engine: Engine, name: str, key: str):  # type: ignore[no-untyped-def]
    return next(i for i in engine.get(name).instances if i.name.endswith(f"-{key}"))


def crash(engine: Engine, key: str = "worker-0", code: int = 3) -> None:
    engine.procs.exit(key, code)
    engine.reconcile()


def test_backoff_schedule_is_the_kubelets() -> None:
    waits, previous = [], 0.0
    for _ in range(9):
        wait, previous = loop.backoff(previous, ran=1.0)
        waits.append(wait)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert loop.backoff(300.0, ran=600.0) == (0.0, 10.0)  # ten minutes of running: healthy again


def test_a_crash_looping_replica_waits_its_back_off(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="cl", workers=2, retry=1000, command="python train.py"))
    engine.reconcile()
    assert starts(engine, "worker-0") == 1
    crash(engine)
    assert starts(engine, "worker-0") == 2  # the first restart is immediate
    expected = 2
    for wait in (10, 20, 40, 80, 160, 300, 300):
        crash(engine)
        inst = instance(engine, "cl", "worker-0")
        assert inst.status == "CrashLoopBackOff" and inst.reason.startswith(f"back-off {wait}s")
        assert engine.get("cl").status != "FAILED"
        engine.clock.advance(wait - 0.5)
        engine.reconcile()
        assert starts(engine, "worker-0") == expected, f"restarted before its {wait}s back-off"
        engine.clock.advance(0.5)
        engine.reconcile()
        expected += 1
        assert starts(engine, "worker-0") == expected
        assert instance(engine, "cl", "worker-0").status == "Running"
    engine.clock.advance(600)  # ran ten minutes: the next crash restarts at once again
    crash(engine)
    assert starts(engine, "worker-0") == expected + 1
    view = engine.get("cl")
    assert view.restarts == instance(engine, "cl", "worker-0").restarts == expected
    assert starts(engine, "master-0") == 1


def test_a_crash_loop_writes_a_few_events_with_counts(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="cl", workers=2, retry=1000, command="python train.py"))
    engine.reconcile()
    for _ in range(50):
        crash(engine)
        engine.clock.advance(301)
        engine.reconcile()
    events = engine.get("cl").events
    assert len(events) <= 12, [(e.reason, e.message) for e in events]
    exited = [e for e in events if e.reason == "Exited"]
    assert len(exited) == 1 and exited[0].count == 50
    assert next(e for e in events if e.reason == "Started" and "worker" in e.message).count == 51


def test_volcano_restart_pod_backs_off_too(engine: Engine) -> None:
    engine.submit(volcanojob.build(name="vp", task=["worker:1=exit 3"], policy=["PodFailed=RestartPod"],
                                   max_retry=1000))
    engine.reconcile()
    crash(engine)
    crash(engine)
    assert instance(engine, "vp", "worker-0").status == "CrashLoopBackOff"
    assert engine.get("vp").status not in ("FAILED", "SUCCEEDED")
    assert starts(engine, "worker-0") == 2
    engine.clock.advance(10)
    engine.reconcile()
    assert starts(engine, "worker-0") == 3


def test_a_job_ending_during_back_off_does_not_restart_it(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="cl", workers=2, retry=1000, command="python train.py"))
    engine.reconcile()
    crash(engine)
    crash(engine)
    assert instance(engine, "cl", "worker-0").status == "CrashLoopBackOff"
    engine.procs.exit("master-0", 0)
    engine.reconcile()
    assert engine.get("cl").status == "SUCCEEDED"
    engine.clock.advance(60)
    engine.reconcile()
    assert starts(engine, "worker-0") == 2
    assert instance(engine, "cl", "worker-0").status == "Error"


@pytest.mark.e2e
def test_a_failing_worker_with_a_large_retry_does_not_spin(arena) -> None:  # type: ignore[no-untyped-def]
    cmd = 'if [ "$RANK" = 0 ]; then sleep 600; else echo attempt; exit 3; fi'
    arena.run("submit", "py", "--name", "spin", "--workers", "2", "--retry", "1000", cmd, check=True)
    job = arena.wait_for("spin", lambda j: any(i["status"] == "CrashLoopBackOff" for i in j["instances"]), 30)
    import time

    time.sleep(3)  # a spinning worker restarted dozens of times meanwhile
    job = arena.job("spin")
    worker = next(i for i in job["instances"] if i["task"] == "worker")
    assert worker["restarts"] <= 2 and worker["status"] == "CrashLoopBackOff", worker
    assert len(job["events"]) <= 12
