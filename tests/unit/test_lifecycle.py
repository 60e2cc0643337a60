"""Restart and completion rules for the Kubeflow kinds on the local engine."""
from __future__ import annotations

from arena.engines.local.lifecycle import ReplicaState, on_exit
from arena.spec import pytorchjob


def states(*items):
    return [ReplicaState(k, k.rsplit("-", 1)[0], int(k.rsplit("-", 1)[1]), s) for k, s in items]


def test_master_success_succeeds_the_job_whatever_the_workers():
    spec = pytorchjob.build(name="t", workers=3, command="true")
    reps = states(("master-0", "Running"), ("worker-0", "Running"), ("worker-1", "Failed"))
    assert on_exit(spec, reps, "master-0", 0, 0).action == "succeed"


def test_worker_success_alone_does_nothing():
    spec = pytorchjob.build(name="t", workers=2, command="true")
    reps = states(("master-0", "Running"), ("worker-0", "Running"))
    assert on_exit(spec, reps, "worker-0", 0, 0).action == "none"


def test_master_failure_fails_the_job_restart_policy_never():
    spec = pytorchjob.build(name="t", workers=2, retry=5, command="true")
    reps = states(("master-0", "Running"), ("worker-0", "Running"))
    out = on_exit(spec, reps, "master-0", 1, 0)
    assert out.action == "fail" and "Never" in out.reason


def test_worker_failure_restarts_until_backoff_limit():
    spec = pytorchjob.build(name="t", workers=2, retry=2, command="true")
    reps = states(("master-0", "Running"), ("worker-0", "Running"))
    assert [on_exit(spec, reps, "worker-0", 1, n).action for n in range(4)] == ["restart", "restart", "fail", "fail"]


def test_no_retry_means_first_worker_failure_fails():
    spec = pytorchjob.build(name="t", workers=2, command="true")
    reps = states(("master-0", "Running"), ("worker-0", "Running"))
    out = on_exit(spec, reps, "worker-0", 137, 0)
    assert out.action == "fail" and "backoff limit" in out.reason
