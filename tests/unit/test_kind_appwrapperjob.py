"""appwrapperjob builder: both inner types and the fork's check() rules."""
from __future__ import annotations

import pytest

from arena.errors import InvalidSpec
from arena.spec import appwrapperjob
from arena.spec.job import AppWrapperOptions


def build(**opts):
    return appwrapperjob.build(**(dict(name="aw", command="torchrun train.py") | opts))


def test_pytorch_inner_counts_the_master() -> None:
    spec = build(workers=3, gpus=1, retry=2)
    assert [(t.name, t.replicas, t.restart_policy) for t in spec.tasks] == [("master", 1, "Never"),
                                                                          ("worker", 2, "OnFailure")]
    assert spec.workers == 3 and spec.run_policy.backoff_limit == 2
    assert spec.options == AppWrapperOptions()
    assert spec.scheduling.scheduler_name is None  # no volcano default forced on PyTorch mode


def test_pytorch_inner_single_master() -> None:
    assert [t.name for t in build().tasks] == ["master"]


def test_volcano_inner_one_task() -> None:
    spec = build(inner_type="volcano", replicas=4, task_name="trainer", nproc_per_node="8", kueue_queue="team-a",
                 retry_limit=1, admission_grace_period="30s", warmup_grace_period="10m", failure_grace_period="2m",
                 retry_pause_period="1m", success_ttl="1h", master_port=29500, use_svc_plugin=False,
                 network_topology_mode="hard", highest_tier_allowed=2, total_partitions=2, partition_size=2,
                 partition_topology_mode="soft", partition_highest_tier=1, ring_controller="ascend")
    (task,) = spec.tasks
    assert (task.name, task.replicas, task.max_retry, task.restart_policy) == ("trainer", 4, 10000, "Never")
    assert spec.scheduling.min_available == 4  # --min-available 0 means replicas
    assert spec.scheduling.scheduler_name == "volcano"
    assert spec.scheduling.kueue_queue == "team-a"
    assert spec.workers == 4
    o = spec.options
    assert (o.inner_type, o.retry_limit, o.success_ttl, o.master_port, o.use_svc_plugin) == ("volcano", 1, "1h",
                                                                                               29500, False)
    assert (o.total_partitions, o.partition_size, o.ring_controller) == (2, 2, "ascend")


def test_volcano_min_available_and_max_retry() -> None:
    spec = build(inner_type="volcano", replicas=4, min_available=2, max_retry=3)
    assert spec.scheduling.min_available == 2 and spec.tasks[0].max_retry == 3


def test_defaults_match_the_fork() -> None:
    o = build().options
    assert (o.retry_limit, o.admission_grace_period, o.warmup_grace_period, o.failure_grace_period,
            o.retry_pause_period, o.task_name, o.master_port) == (3, "1m", "5m", "1m", "90s", "worker", 23456)


@pytest.mark.parametrize("opts, field", [
    (dict(inner_type="jax"), "--inner-type"),
    (dict(retry_limit=-1), "--retry-limit"),
    (dict(retry_limit="many"), "--retry-limit"),
    (dict(admission_grace_period="1 minute"), "--admission-grace-period"),
    (dict(warmup_grace_period="5x"), "--warmup-grace-period"),
    (dict(failure_grace_period="-1"), "--failure-grace-period"),
    (dict(retry_pause_period="soon"), "--retry-pause-period"),
    (dict(success_ttl="forever"), "--success-ttl"),
    (dict(master_port=0), "--master-port"),
    (dict(master_port=65536), "--master-port"),
    (dict(network_topology_mode="strict"), "--network-topology-mode"),
    (dict(partition_topology_mode="loose"), "--partition-topology-mode"),
    (dict(inner_type="volcano", total_partitions=2), "--partition-size"),
    (dict(inner_type="volcano", partition_size=2), "--total-partitions"),
    (dict(inner_type="volcano", highest_tier_allowed=2), "--highest-tier-allowed"),
    (dict(inner_type="volcano", partition_topology_mode="soft"), "--partition-topology-mode"),
    (dict(inner_type="volcano", total_partitions=2, partition_size=2, partition_highest_tier=1),
     "--partition-highest-tier"),
    (dict(inner_type="volcano", workers=2), "--workers"),  # a Volcano inner job takes --replicas
    (dict(highest_tier_allowed=-1), "--highest-tier-allowed"),
    (dict(nproc_per_node="many"), "--nproc-per-node"),
    (dict(task_name="Trainer"), "--task-name"),
    (dict(inner_type="volcano", replicas=0), "--replicas"),
    (dict(inner_type="volcano", replicas=2, min_available=3), "--min-available"),
    (dict(inner_type="volcano", max_retry=-2), "--max-retry"),
    (dict(workers=0), "--workers"),
    (dict(clean_task_policy="Never"), "--clean-task-policy"),
    (dict(cpu="x"), "--cpu"),
])
def test_check_rules(opts, field) -> None:
    with pytest.raises(InvalidSpec) as err:
        build(**opts)
    assert err.value.field == field


def test_check_options_can_name_file_paths() -> None:
    with pytest.raises(InvalidSpec) as err:
        appwrapperjob.check_options(AppWrapperOptions(retry_limit=-1), lambda a: f"options.{a}")
    assert err.value.field == "options.retry_limit"


@pytest.mark.parametrize("flag, value", [("replicas", 2), ("min_available", 1), ("max_retry", 7), ("task_name", "t"),
                                         ("use_svc_plugin", False), ("total_partitions", 2),
                                         ("network_topology_mode", "hard")])
def test_volcano_knobs_are_refused_around_a_pytorchjob(flag, value) -> None:
    """Around a PyTorchJob these would shape nothing: refused, naming the flag, never ignored."""
    with pytest.raises(InvalidSpec, match="needs --inner-type volcano") as err:
        build(**{flag: value})
    assert err.value.field == "--" + flag.replace("_", "-")
