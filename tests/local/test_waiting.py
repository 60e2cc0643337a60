"""A waiting job carries the scheduler's structured reason; its text and the `To start` hint come from it."""
from __future__ import annotations

from arena.engines.local.hints import hint
from arena.spec import pytorchjob

from .fakes import Engine, engine  # noqa: F401 - the fixture


def test_waiting_job_shows_reason_text_and_structured_reason(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="hog", gpus=3, command="sleep 100"))
    engine.clock.advance(1)  # submitted after the hog: served after it (ties are broken by the random uid)
    engine.submit(pytorchjob.build(name="gang", workers=2, gpus=1, command="sleep 100"))
    engine.reconcile()
    view = engine.get("gang")
    assert view.status == "QUEUING" and view.reason == "gang needs 2 nvidia.com/gpu, 1 free"
    assert view.waiting == {"code": "Insufficient", "params": {"resource": "nvidia.com/gpu", "need": "2", "free": "1"}}
    assert hint(view.waiting).startswith("starts when 2 nvidia.com/gpu are free at once (now 1)")
    unschedulable = [e.message for e in view.events if e.reason == "Unschedulable"]
    assert unschedulable == ["gang needs 2 nvidia.com/gpu, 1 free", "gang 1/2 replicas placeable: needs 2 nvidia.com/gpu, 1 free"]
    engine.reconcile()  # the same reason: no new event
    assert sum(e.count for e in engine.get("gang").events if e.reason == "Unschedulable") == 2
    engine.procs.exit("master-0", 0, job="hog")
    engine.reconcile(2)
    view = engine.get("gang")
    assert view.status == "RUNNING" and view.waiting is None and view.reason == ""
