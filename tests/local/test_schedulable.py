"""The scheduler's jobs kept between passes (`schedulable.py`) are what a fresh read of the store makes, whatever
happened in between; a cycle on an unchanged snapshot is not run again; a waiting job's place in its queue is
stored at most every `POSITIONS_EVERY` seconds when only it changed, and is stored in the end."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.engines.local import binder as binder_module
from arena.engines.local.node import Capacity
from arena.spec import pytorchjob

from .fakes import Engine, GiB, engine  # noqa: F401 - the fixture


def kept(e: Engine) -> tuple:
    return e.core.binder.schedulable.jobs(e.clock.now())


def fresh(e: Engine) -> tuple:
    return e.core.binder.snapshot(e.clock.now()).jobs


OPS = st.lists(st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 2), st.integers(1, 3)),  # gpus, workers (with the master)
    st.tuples(st.just("exit"), st.integers(0, 20), st.sampled_from([0, 0, 1])),  # a running replica, its code
    st.tuples(st.just("vanish"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("reconcile"), st.integers(1, 2), st.just(0)),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 1, 30, 400]), st.just(0))), max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_kept_jobs_are_what_the_store_says(ops: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        e = Engine(Path(tmp) / "home", Capacity(cpu_milli=4000, memory=16 * GiB, gpus=(0, 1, 2), source="declared"))
        try:
            names: list[str] = []
            for op, a, b in ops:
                if op == "submit":
                    names.append(f"j{len(names)}")
                    e.submit(pytorchjob.build(name=names[-1], gpus=int(a), workers=b, command="sleep 9",
                                              retry=1))
                elif op in ("exit", "vanish"):
                    alive = [s for s in e.procs.started if s.alive]
                    if alive:
                        s = alive[int(a) % len(alive)]
                        if op == "exit":
                            e.procs._end(s, b)
                        else:
                            s.alive = False
                elif op == "delete" and names:
                    name = names[int(a) % len(names)]
                    if any(v.name == name for v in e.api.list(None, None)):
                        e.api.delete("default", name)
                elif op == "reconcile":
                    e.reconcile(int(a))
                elif op == "advance":
                    e.clock.advance(a)
                assert kept(e) == fresh(e)
        finally:
            e.close()


def test_a_rolled_back_change_read_inside_the_batch_is_read_again(engine: Engine) -> None:  # noqa: F811
    engine.submit(pytorchjob.build(name="big", gpus=4, command="sleep 9"))
    engine.clock.advance(1)
    engine.submit(pytorchjob.build(name="waits", gpus=4, command="sleep 9"))
    engine.reconcile(2)
    assert engine.get("waits").status == "QUEUING"
    uid = engine.get("waits").uuid
    repo = engine.core.repo
    with repo.batch():
        with pytest.raises(RuntimeError):
            with repo.tx() as tx:
                tx.job_admitted(uid)
                tx.job_waiting(uid, '{"code":"Nothing"}', 7)
                engine.core.binder.schedulable.refresh()  # reads the change, not yet committed
                raise RuntimeError("undone")
    assert kept(engine) == fresh(engine)
    reason = next(j for j in kept(engine) if j.uid == uid).waiting_reason
    assert reason is not None and reason.code != "Nothing"


def test_an_unchanged_snapshot_is_not_decided_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    runs: list[float] = []
    real = binder_module.cycle
    monkeypatch.setattr(binder_module, "cycle", lambda snap: runs.append(snap.now) or real(snap))
    engine.submit(pytorchjob.build(name="big", gpus=4, command="sleep 9"))
    engine.submit(pytorchjob.build(name="waits", gpus=4, command="sleep 9"))
    engine.reconcile(2)  # binds big, then starts it: both change the snapshot
    n = len(runs)
    engine.clock.advance(1)
    engine.reconcile(3)
    assert len(runs) == n  # nothing changed: no cycle
    engine.clock.advance(300)  # `waits` passes the SLA's deadline: a cycle may decide otherwise now
    engine.reconcile()
    assert len(runs) == n + 1
    engine.submit(pytorchjob.build(name="third", gpus=1, command="sleep 9"))
    engine.reconcile()
    assert len(runs) == n + 2
    assert engine.get("third").status == "QUEUING"  # behind `waits`, which holds the GPUs in reserve


def test_places_in_the_queue_are_stored_every_second_and_in_the_end(engine: Engine) -> None:  # noqa: F811
    for name in ("hog", "a", "b", "c"):
        engine.submit(pytorchjob.build(name=name, gpus=4, command="sleep 9"))
        engine.clock.advance(0.01)
    engine.reconcile(2)
    assert [engine.get(n).position for n in ("a", "b", "c")] == [1, 2, 3]
    engine.procs.exit("master-0", 0, job="hog")
    engine.reconcile(3)
    assert engine.get("a").status == "RUNNING"
    assert [engine.get(n).position for n in ("b", "c")] == [2, 3]  # moved, not stored yet
    engine.clock.advance(binder_module.POSITIONS_EVERY)
    engine.reconcile()  # nothing else changed: the places alone are stored
    assert [engine.get(n).position for n in ("b", "c")] == [1, 2]
