"""Regression tests for the local engine's runtime: queue resources, TTLs, AppWrapper generations, GPU counts.

The runtime is driven directly on a fake clock; replica starts are stubbed out so the tests exercise the
store bookkeeping (what the bugs were in) without racing real processes.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.engines.local import resources, supervisor
from arena.engines.local.node import Capacity, declared
from arena.engines.local.paths import Paths
from arena.engines.local.runtime import Runtime
from arena.errors import InvalidSpec
from arena.spec import appwrapperjob, pytorchjob

GiB = 2**30


class Clock:
    """A settable clock so grace periods and TTLs can be stepped over without sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(tmp_path: Path, clock: Clock) -> Iterator[Runtime]:
    paths = Paths(tmp_path / "home")
    paths.ensure()
    runtime = Runtime(paths, Capacity(cpu_milli=16000, memory=64 * GiB, gpus=(0, 1, 2, 3), source="declared"),
                      clock=clock)
    runtime._spawn = lambda uid, key: None  # type: ignore[method-assign]  # bind only: no processes
    yield runtime
    runtime.store.close()


def job(rt: Runtime, name: str) -> dict:
    row = rt.store.one("SELECT * FROM jobs WHERE name=?", (name,))
    return dict(row) if row is not None else {}


def replicas(rt: Runtime, uid: str) -> list[dict]:
    return [dict(r) for r in rt.store.query("SELECT * FROM replicas WHERE job_uid=? ORDER BY key", (uid,))]


def requeue(rt: Runtime, uid: str) -> None:
    """What a replica's failure does to an AppWrapper (a reset), then the loop seeing the replicas stop."""
    rt._requeue(uid, "replica master-0 exited with code 1", "Resetting", "SUSPENDED", "Resetting")
    rt._observe(rt.clock())


# ---- finding 1: one resource parser ---------------------------------------------------------

def test_queue_with_decimal_gpu_capability_still_schedules(rt: Runtime, clock: Clock) -> None:
    rt.queue_op("create", "gq", {"capability": {"nvidia.com/gpu": "2.0", "example.com/fpga": "1k"}})
    rt.submit(pytorchjob.build(name="pt", command="true", gpus=1, queue="gq"), {})
    rt.reconcile()  # raised ValueError on int("2.0") before: scheduling stopped for every queue
    pt = job(rt, "pt")
    assert pt["admitted"] == 1
    assert [(r["bound"], r["state"], r["gpus"]) for r in replicas(rt, pt["uid"])] == [(1, "Starting", "[0]")]
    q = rt.snapshot(clock()).queues["gq"]
    assert q.capability is not None and (q.capability.gpus, q.capability.extended) == (2, {"example.com/fpga": 1000})
    assert rt.queue_list("gq")[0].capability == {"nvidia.com/gpu": "2.0", "example.com/fpga": "1k"}


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


# ---- finding 2: the TTL follows how the job ended ---------------------------------------------

def test_failed_appwrapper_uses_ttl_after_finished_not_success_ttl(rt: Runtime, clock: Clock) -> None:
    rt.submit(appwrapperjob.build(name="bad", command="true", success_ttl="1h", ttl_after_finished=2), {})
    rt.submit(appwrapperjob.build(name="good", command="true", success_ttl="1h", ttl_after_finished=2), {})
    assert job(rt, "bad")["ttl_s"] is None  # unknown until the job ends
    with rt.store.tx() as db:
        rt._finish(db, job(rt, "bad")["uid"], False, "boom")
        rt._finish(db, job(rt, "good")["uid"], True, "done")
    assert (job(rt, "bad")["ttl_s"], job(rt, "good")["ttl_s"]) == (2, 3600)
    clock.now += 3
    rt._deadlines(clock())
    assert job(rt, "bad") == {}  # deleted once its own TTL is over
    assert job(rt, "good")["status"] == "SUCCEEDED"


# ---- finding 3: every generation gets its own deploy time ------------------------------------------

def test_appwrapper_reset_starts_a_new_generation(rt: Runtime, clock: Clock) -> None:
    rt.submit(appwrapperjob.build(name="aw", command="true"), {})
    uid = job(rt, "aw")["uid"]
    first = clock()
    rt._schedule(first)
    assert job(rt, "aw")["deployed"] == first
    clock.now += 3600  # long after the first generation's warm-up grace period (5m)
    requeue(rt, uid)
    assert job(rt, "aw")["deployed"] is None
    rt._schedule(clock())
    assert job(rt, "aw")["deployed"] == clock()
    rt._appwrapper_grace(clock() + 10)  # the new generation is still inside its grace period
    aw = job(rt, "aw")
    assert (aw["retries"], aw["phase"], aw["admitted"]) == (1, "Resuming", 1)


# ---- finding 4: allocatedGPUs agrees between list and get --------------------------------------------

def test_allocated_gpus_same_in_list_and_get(rt: Runtime) -> None:
    rt.submit(pytorchjob.build(name="pt", command="true", gpus=2), {})
    uid = job(rt, "pt")["uid"]
    rt._schedule(rt.clock())
    assert rt.get("default", "pt").allocatedGPUs == rt.list("default")[0].allocatedGPUs == 2
    requeue(rt, uid)
    (rep,) = replicas(rt, uid)
    assert (rep["state"], rep["bound"], rep["gpus"]) == ("Pending", 0, "[0, 1]")  # indices kept, nothing held
    assert rt.get("default", "pt").allocatedGPUs == rt.list("default")[0].allocatedGPUs == 0


# ---- finding 8: one process scan for many groups -----------------------------------------------------

def test_any_group_alive_checks_every_group() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert supervisor.any_group_alive([None, 0, proc.pid])
        assert supervisor.group_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while supervisor.any_group_alive([proc.pid]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not supervisor.any_group_alive([None, proc.pid])
    assert not supervisor.any_group_alive([])
