"""Restart and completion rules of the Kubeflow kinds' controller on the local engine."""
from __future__ import annotations

from arena import kinds
from arena.engines.local.controllers.base import Counters, ReplicaState
from arena.engines.local.controllers.kubeflow import Kubeflow
from arena.spec import pytorchjob, tfjob

KUBEFLOW = Kubeflow()


def states(*items):
    return [ReplicaState(k, k.rsplit("-", 1)[0], int(k.rsplit("-", 1)[1]), s) for k, s in items]


def on_exit(spec, reps, key, code, restarts):
    return KUBEFLOW.on_exit(spec, reps, key, code, Counters(restarts=restarts))


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


def test_tfjob_without_chief_succeeds_with_worker_zero_or_all_workers():
    controller = kinds.get("tfjob").local_controller(tfjob.build(name="t", workers=2, command="true"))
    spec = tfjob.build(name="t", workers=2, command="true")
    reps = states(("worker-0", "Running"), ("worker-1", "Running"))
    assert controller.on_exit(spec, reps, "worker-0", 0, Counters()).reason == "worker 0 succeeded"
    assert controller.on_exit(spec, reps, "worker-1", 0, Counters()).action == "none"
    every = tfjob.build(name="t", workers=2, command="true", success_policy="AllWorkers")
    done = states(("worker-0", "Succeeded"), ("worker-1", "Running"))
    assert controller.on_exit(every, done, "worker-1", 0, Counters()).reason == "all workers succeeded"


def test_tfjob_with_chief_follows_the_chief():
    spec = tfjob.build(name="t", chief=True, workers=2, command="true")
    controller = kinds.get("tf").local_controller(spec)
    reps = states(("chief-0", "Running"), ("worker-0", "Running"), ("worker-1", "Running"))
    assert controller.on_exit(spec, reps, "worker-0", 0, Counters()).action == "none"
    assert controller.on_exit(spec, reps, "chief-0", 0, Counters()).reason == "chief succeeded"
