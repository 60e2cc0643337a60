"""What follows an exit, as the store records it: TTLs by how a job ended, AppWrapper generations, GPU counts,
lost replicas, deadlines. Driven through the API and the reconcile loop on a fake clock and fake processes."""
from __future__ import annotations

import pytest

from arena.errors import JobNotFound
from arena.spec import appwrapperjob, pytorchjob, volcanojob

from .fakes import Engine, engine  # noqa: F401 - the fixture


def test_failed_appwrapper_uses_ttl_after_finished_not_success_ttl(engine: Engine) -> None:
    engine.submit(appwrapperjob.build(name="bad", command="true", success_ttl="1h", ttl_after_finished=2,
                                      retry_limit=0))
    engine.submit(appwrapperjob.build(name="good", command="true", success_ttl="1h", ttl_after_finished=2))
    engine.reconcile()
    assert engine.core.repo.job_named("default", "bad").ttl_s is None  # type: ignore[union-attr]  # until it ends
    engine.procs.exit("master-0", 1, job="bad")
    engine.procs.exit("master-0", 0, job="good")
    engine.reconcile()
    assert (engine.get("bad").status, engine.get("good").status) == ("FAILED", "SUCCEEDED")
    ttl = {n: engine.core.repo.job_named("default", n).ttl_s for n in ("bad", "good")}  # type: ignore[union-attr]
    assert ttl == {"bad": 2, "good": 3600}
    engine.clock.advance(3)
    engine.reconcile()
    with pytest.raises(JobNotFound, match="Not found training job bad in namespace default"):
        engine.get("bad")  # deleted once its own TTL is over
    assert engine.get("good").status == "SUCCEEDED"


def test_appwrapper_reset_starts_a_new_generation(engine: Engine) -> None:
    engine.submit(appwrapperjob.build(name="aw", command="true", retry_pause_period="0s", failure_grace_period="0s"))
    engine.reconcile()
    first = engine.clock.now()
    assert engine.core.repo.job_named("default", "aw").deployed == first  # type: ignore[union-attr]
    engine.clock.advance(3600)  # long after the first generation's warm-up grace period (5m)
    engine.procs.exit("master-0", 1)
    engine.reconcile()  # reset, queued again, bound again
    aw = engine.core.repo.job_named("default", "aw")
    assert aw is not None and (aw.deployed, aw.retries, aw.admitted) == (engine.clock.now(), 1, True)
    engine.clock.advance(10)
    engine.reconcile()  # the new generation is inside its grace period: no second reset
    view = engine.get("aw")
    assert (view.retries, view.status) == (1, "RUNNING")
    assert [t.phase for t in view.transitions][-3:] == ["Resetting", "Resuming", "Running"]


def test_allocated_gpus_same_in_list_and_get(engine: Engine) -> None:
    engine.submit(appwrapperjob.build(name="aw", command="true", gpus=2, retry_pause_period="1h",
                                      failure_grace_period="0s"))
    engine.reconcile()
    assert engine.get("aw").allocatedGPUs == engine.api.list("default")[0].allocatedGPUs == 2
    engine.procs.exit("master-0", 1)
    engine.reconcile()  # reset: held for the retry pause
    (inst,) = engine.get("aw").instances
    assert (inst.status, inst.gpuIndices) == ("Pending", [0, 1])  # indices kept, nothing held
    assert engine.get("aw").allocatedGPUs == engine.api.list("default")[0].allocatedGPUs == 0


def test_lost_replica_fails_with_a_reason(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="pt", command="sleep 100"))
    engine.reconcile()
    engine.procs.vanish("master-0")
    engine.reconcile()
    view = engine.get("pt")
    assert view.status == "FAILED" and view.instances[0].reason == "shim vanished: replica lost"
    assert [e.reason for e in view.events if e.type == "Warning"][:1] == ["ReplicaLost"]


def test_running_timeout_fails_the_job_and_stops_its_replicas(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="pt", workers=2, command="sleep 100", running_timeout=30))
    engine.reconcile()
    engine.clock.advance(31)
    engine.reconcile()
    view = engine.get("pt")
    assert view.status == "FAILED" and view.reason == "job was active longer than specified deadline (30s)"
    assert all(s.signals for s in engine.procs.started)  # every replica was told to stop


def test_volcano_restart_job_counts_retries_then_fails_at_max_retry(engine: Engine) -> None:
    engine.submit(volcanojob.build(name="vj", task=["worker:1=exit 3"], policy=["PodFailed=RestartJob"], max_retry=2))
    engine.reconcile()
    engine.procs.exit("worker-0", 3)
    engine.reconcile(2)  # re-queued, then bound again
    assert engine.get("vj").retries == 1 and engine.get("vj").status == "RUNNING"
    engine.procs.exit("worker-0", 3)
    engine.reconcile()
    view = engine.get("vj")
    assert view.status == "FAILED" and view.reason.endswith("job reached maxRetry (2)")


def test_delete_stops_every_replica_and_forgets_the_job(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="pt", workers=3, command="sleep 100"))
    engine.reconcile()
    engine.api.delete("default", "pt")
    assert all(not s.alive for s in engine.procs.started)
    with pytest.raises(JobNotFound):
        engine.get("pt")


def test_kind_mismatch_is_not_found(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="pt", command="true"))
    with pytest.raises(JobNotFound, match="Not found training job pt in namespace default"):
        engine.api.get("default", "pt", kind="tfjob")
    assert engine.api.get("default", "pt", kind="py").kind == "pytorchjob"


def test_a_job_submitted_while_a_pass_runs_starts_after_it_was_created(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="late", command="true"))
    engine.clock.t -= 0.05  # the pass read its clock before the submit's row was written
    engine.reconcile()
    view = engine.get("late")
    assert view.status == "RUNNING"
    assert view.startTime is not None and view.startTime >= view.creationTimestamp


def test_why_a_shim_could_not_start_its_replica_is_in_the_exited_event(engine: Engine) -> None:
    """The exit file's `error` (a log that cannot be opened, a working directory gone): the log may not exist to
    say it, so the event does."""
    engine.submit(pytorchjob.build(name="nolog", command="true"))
    engine.reconcile()
    why = "cannot open the log: [Errno 28] No space left on device: '/x/logs/master-0.log'"
    engine.procs.exit("master-0", 127, error=why)
    engine.reconcile()
    view = engine.get("nolog")
    assert view.status == "FAILED"
    assert [e.message for e in view.events if e.reason == "Exited"] == [f"nolog-master-0 exited with code 127: {why}"]
