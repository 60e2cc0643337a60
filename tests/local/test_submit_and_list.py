"""A submission does not queue behind the reconcile loop, stays exactly-once under concurrency, and `list` is
served from views cached per stored row that still say what the store says."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from arena.engines.local import api
from arena.engines.local.api import SubmitRequest
from arena.spec import pytorchjob
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


def test_the_cached_list_says_what_the_store_says(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "LIST_VIEW_SLACK", 0)
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
    assert len(engine.api._list_views) == 4  # the deleted job's view is let go
