"""tfjob builder: roles, per-role flags, standalone detection and validation naming the flag."""
from __future__ import annotations

import pytest

from arena.errors import InvalidSpec
from arena.spec import tfjob
from arena.spec.job import TFOptions


def build(**opts):
    return tfjob.build(name="mnist", command="python train.py", **opts)


def test_default_is_one_standalone_worker() -> None:
    spec = build()
    assert [t.name for t in spec.tasks] == ["worker"]
    assert spec.options == TFOptions(success_policy="ChiefWorker", standalone=True)
    assert spec.workers == 1


def test_all_roles_in_operator_order_with_per_role_settings() -> None:
    spec = build(workers=3, ps=2, chief=True, evaluator=True, gpus=1, ps_gpus=0, worker_image="w:1",
                 ps_image="p:1", image="base:1", worker_cpu="2", ps_memory="4Gi", chief_cpu="1",
                 evaluator_memory="1Gi", memory="2Gi", worker_port=2222, ps_port=0, chief_port=3333,
                 success_policy="AllWorkers")
    assert [(t.name, t.replicas) for t in spec.tasks] == [("chief", 1), ("ps", 2), ("worker", 3), ("evaluator", 1)]
    by = {t.name: t for t in spec.tasks}
    assert by["worker"].image == "w:1" and by["ps"].image == "p:1" and by["chief"].image == "w:1"
    assert by["worker"].resources.cpu == "2" and by["worker"].resources.memory == "2Gi"
    assert by["ps"].resources.memory == "4Gi" and by["ps"].resources.gpus == 0
    assert by["chief"].resources.gpus == 1 and by["evaluator"].resources.gpus == 1
    assert by["evaluator"].resources.memory == "1Gi"
    assert (by["worker"].port, by["ps"].port, by["chief"].port) == (2222, 0, 3333)
    # TFJob default (SEMANTICS E.1); beside a chief, workers restart OnFailure (upstream's chart)
    assert {t.name: t.restart_policy for t in spec.tasks} == {"chief": "Never", "ps": "Never", "worker": "OnFailure",
                                                             "evaluator": "Never"}
    assert all(t.command == "python train.py" for t in spec.tasks)
    assert spec.options == TFOptions(success_policy="AllWorkers", standalone=False)
    assert spec.requested_gpus == 5  # chief + 3 workers + evaluator, not ps


@pytest.mark.parametrize("opts", [dict(ps=1), dict(workers=2), dict(chief=True), dict(evaluator=True)])
def test_not_standalone(opts) -> None:
    assert build(**opts).options.standalone is False


def test_chief_without_workers() -> None:
    spec = build(workers=0, chief=True)
    assert [t.name for t in spec.tasks] == ["chief"]


def test_run_policy_flags() -> None:
    spec = build(retry=2, clean_task_policy="All", running_timeout="1h", ttl_after_finished=60)
    rp = spec.run_policy
    assert (rp.backoff_limit, rp.clean_pod_policy, rp.active_deadline_seconds, rp.ttl_seconds_after_finished) == (
        2, "All", 3600, 60)


@pytest.mark.parametrize("opts, field", [
    (dict(workers=0), "--workers"),
    (dict(workers=-1), "--workers"),
    (dict(ps=-1), "--ps"),
    (dict(success_policy="Chief"), "--success-policy"),
    (dict(worker_port=70000), "--worker-port"),
    (dict(ps=1, ps_port="http"), "--ps-port"),
    (dict(worker_cpu="lots"), "--worker-cpu"),
    (dict(cpu="lots"), "--cpu"),
    (dict(ps=1, ps_memory="1Q"), "--ps-memory"),
    (dict(ps=1, ps_gpus=-1), "--ps-gpus"),
    (dict(gpus=-1), "--gpus"),
    (dict(clean_task_policy="Sometimes"), "--clean-task-policy"),
    (dict(name="Bad_Name"), "--name"),
])
def test_errors_name_the_flag(opts, field) -> None:
    base = dict(name="mnist", command="python train.py") | opts
    with pytest.raises(InvalidSpec) as err:
        tfjob.build(**base)
    assert err.value.field == field


def test_command_required() -> None:
    with pytest.raises(InvalidSpec) as err:
        tfjob.build(name="mnist")
    assert err.value.field == "command"
