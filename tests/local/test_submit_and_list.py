"""A submission does not queue behind the reconcile loop, stays exactly-once under concurrency, and `list` is
served from views cached per stored row that still say what the store says."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from arena.engines.local.api import SubmitRequest
from arena.engines.local.listing import Listing
from arena.errors import JobExists
from arena.spec import pytorchjob, tfjob
from arena.spec.job import JobSpec
from arena.views import JobView

from .fakes import Engine, engine  # noqa: F401 - the fixture


def test_a_submit_is_not_held_behind_the_loop(engine: Engine) -> None:
    done = threading.Event()
    with engine.core.loop.mu:  # a reconcile pass (or a delete) in progress
        worker = threading.Thread(target=lambda: (engine.submit(pytorchjob.build(name="j", command="true")),
                                                  done.set()), daemon=True)
        worker.start()
        assert done.wait(30), "the submit waited for the loop's lock"
    worker.join(10)
    engine.reconcile()
    assert engine.get("j").status == "RUNNING"


def test_concurrent_submits_with_one_key_make_one_job(engine: Engine) -> None:
    req = SubmitRequest(plan=engine.plan(pytorchjob.build(name="once", command="true")), key="retry-key-0001")
    with ThreadPoolExecutor(8) as pool:
        views = list(pool.map(lambda _: engine.api.submit(req), range(8)))
    assert {v.uuid for v in views} == {views[0].uuid}
    assert [j.name for j in engine.api.list("default")] == ["once"]


def test_the_cached_list_says_what_the_store_says(engine: Engine) -> None:
    def listed() -> list[JobView]:
        return msgspec.json.decode(engine.api.list_encoded("default"), type=list[JobView])

    for i in range(5):
        engine.submit(pytorchjob.build(name=f"j{i}", command="true"))
    assert listed() == engine.api.list("default")
    engine.reconcile()
    engine.procs.exit("master-0", 0, job="j2")
    engine.reconcile()
    assert {j.name: j.status for j in listed()}["j2"] == "SUCCEEDED"
    assert listed() == engine.api.list("default")
    engine.api.delete("default", "j3")
    assert [j.name for j in listed()] == [j.name for j in engine.api.list("default")] and len(listed()) == 4
    assert len(engine.api.listing.entries) == 4  # the deleted job's entry is let go


def _fresh(engine: Engine, namespace: str | None, kind: str | None, summary: bool) -> bytes:
    """What a list that reads every row now answers (the daemon's first list does)."""
    return Listing(engine.api.repo, engine.api.listing.listed).encoded(namespace, kind, summary)


@pytest.mark.parametrize("seed", range(6))
def test_a_list_kept_from_touched_jobs_equals_one_read_afresh(engine: Engine, seed: int) -> None:
    """Submits in two namespaces and two kinds, GPU jobs binding and freeing GPUs (the GPU column comes from
    the replicas), exits, failures, deletes and a refused submit, in a random order: after every step the
    list kept up to date from the touched jobs says what a list read afresh says, in every filter."""
    import random

    rng = random.Random(seed)
    names: list[tuple[str, str]] = []
    for step in range(40):
        op = rng.random()
        if op < 0.4 or not names:
            ns, name = rng.choice(["default", "team"]), f"j{step}"
            build = rng.choice([pytorchjob.build, tfjob.build])
            engine.submit(build(name=name, namespace=ns, command="true", gpus=rng.choice([0, 1, 2])))
            names.append((ns, name))
        elif op < 0.55:
            ns, name = names.pop(rng.randrange(len(names)))
            engine.api.delete(ns, name)
        elif op < 0.65:
            ns, name = rng.choice(names)
            with pytest.raises(JobExists):  # refused: its transaction is rolled back, notes included
                engine.submit(pytorchjob.build(name=name, namespace=ns, command="true"))
        else:
            running = [s for s in engine.procs.started if s.alive]
            if running:
                s = rng.choice(running)
                engine.procs._end(s, rng.choice([0, 1]))
        engine.reconcile()
        for namespace in (None, "default", "team"):
            for kind in (None, "pytorchjob", "tfjob"):
                for summary in (False, True):
                    assert engine.api.list_encoded(namespace, kind, summary) == _fresh(engine, namespace, kind, summary)
    assert any(v.allocatedGPUs for v in engine.api.list(None)) or seed  # GPUs were held at some point


def test_a_replica_alone_changing_notes_its_job_and_a_rolled_back_change_notes_nothing(engine: Engine) -> None:
    view = engine.submit(pytorchjob.build(name="g", command="true", gpus=1))
    repo = engine.api.repo
    repo.jobs_touched()
    with repo.tx() as tx:  # only the replica's row: its GPUs are the job's GPU(Allocated)
        tx.bind_replica(view.uuid, "master-0", [3], 0, engine.clock.now())
    assert repo.jobs_touched() == [view.uuid]
    assert repo.jobs_touched() == []  # forgotten once read
    with pytest.raises(RuntimeError), repo.tx() as tx:
        tx.job_waiting(view.uuid, "", 7)
        raise RuntimeError("refused")
    assert repo.jobs_touched() == []


def test_a_list_answer_in_no_known_form_is_one_daemon_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from arena.engines.local.engine import LocalEngine
    from arena.errors import DaemonError

    local = LocalEngine(tmp_path)
    monkeypatch.setattr(local.transport, "request", lambda *a, **k: {"fields": ["name"], "columns": [["a"]]})
    with pytest.raises(DaemonError, match="answered a list this client cannot read .*arena daemon stop$"):
        local.list_summaries("default")


@pytest.mark.parametrize("make", [
    lambda: pytorchjob.build(name="one", command="true"),
    lambda: pytorchjob.build(name="gang", command="true", workers=3, gpus=1, cpu="1", label=["team=a"], env=["A=1"]),
    lambda: tfjob.build(name="tf", command="true", workers=2, ps=1),
], ids=["one-replica", "gang-with-requests", "tfjob-with-ps"])
def test_a_submit_answers_with_the_view_get_reads_back(engine: Engine, make: Callable[[], JobSpec]) -> None:
    """The submit builds its answer from the rows it stored, without reading them back: it must be the
    very view `get` reads (events, transitions, instances, thread counts included)."""
    view = engine.submit(make())
    assert view == engine.api.get("default", view.name)
    assert [e.reason for e in view.events] == ["Created"] and view.transitions[0].phase == "Created"
    assert view.instances and all(i.status == "Pending" for i in view.instances)
