"""Queues of the local engine: resource maps parsed once, by the same parser as declared capacity."""
from __future__ import annotations

import pytest

from arena.engines.local import resources
from arena.engines.local.api import QueueRequest
from arena.engines.local.node import declared
from arena.errors import InvalidSpec, QueueNotFound
from arena.spec import pytorchjob

from .fakes import GiB, Engine, engine  # noqa: F401 - the fixture


def test_queue_with_decimal_gpu_capability_still_schedules(engine: Engine) -> None:
    engine.api.queue_op("create", "gq", QueueRequest(capability={"nvidia.com/gpu": "2.0", "example.com/fpga": "1k"}))
    engine.submit(pytorchjob.build(name="pt", command="true", gpus=1, queue="gq"))
    engine.reconcile()  # a capability of "2.0" once stopped scheduling for every queue
    view = engine.get("pt")
    assert view.status == "RUNNING" and [i.gpuIndices for i in view.instances] == [[0]]
    q = engine.core.binder.snapshot(engine.clock.now()).queues["gq"]
    assert q.capability is not None and (q.capability.gpus, q.capability.extended) == (2, {"example.com/fpga": 1000})
    (shown,) = engine.api.queues("gq")
    assert shown.capability == {"nvidia.com/gpu": "2.0", "example.com/fpga": "1k"}
    assert shown.allocated["nvidia.com/gpu"] == "1" and shown.running == 1


def test_resource_parser_is_shared_by_queues_and_declared_capacity() -> None:
    res = resources.parse({"cpu": "500m", "memory": "1Gi", "gpus": "2.0", "a.com/x": 3}, "--capability")
    assert (res.cpu_milli, res.memory, res.gpus, res.extended) == (500, GiB, 2, {"a.com/x": 3})
    assert res.text == {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "2.0", "a.com/x": "3"}
    assert declared({"cpu": 2, "memory": "1Gi", "gpu": "2.0"}, "config capacity").gpus == (0, 1)
    with pytest.raises(InvalidSpec, match=r"^--capability: '1\.5' must be a whole number"):
        resources.parse({"nvidia.com/gpu": "1.5"}, "--capability")
    with pytest.raises(InvalidSpec, match=r"^ARENA_LOCAL_CAPACITY nvidia.com/gpu: "):
        resources.parse({"gpu": "lots"}, "ARENA_LOCAL_CAPACITY", qualify=True)
    with pytest.raises(InvalidSpec, match="unknown resource 'disk'"):
        resources.parse({"disk": "1"}, "--guarantee")


def test_closing_queue_drains_then_closes(engine: Engine) -> None:
    engine.api.queue_op("create", "q", QueueRequest(weight=2))
    engine.submit(pytorchjob.build(name="pt", command="true", queue="q"))
    engine.reconcile()
    (closing,) = engine.api.queue_op("close", "q", QueueRequest())
    assert closing.state == "Closing"
    with pytest.raises(InvalidSpec, match="^--queue: queue 'q' is closing"):
        engine.submit(pytorchjob.build(name="late", command="true", queue="q"))
    engine.procs.exit("master-0", 0)
    engine.reconcile()
    assert engine.api.queues("q")[0].state == "Closed"


def test_queue_errors_name_the_field(engine: Engine) -> None:
    with pytest.raises(InvalidSpec, match="^--weight: must be 1 or more"):
        engine.api.queue_op("create", "q", QueueRequest(weight=0))
    with pytest.raises(QueueNotFound, match="'nope'"):
        engine.api.queue_op("update", "nope", QueueRequest(weight=2))
    with pytest.raises(InvalidSpec, match="^NAME: the default queue cannot be deleted"):
        engine.api.queue_op("delete", "default", QueueRequest())
