"""Volcano env/svc/tensorflow/pytorch plugin contracts (SEMANTICS A.9, A.10 item 10)."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from arena.distributed import volcano
from arena.spec import volcanojob


def local_endpoints(spec, base: int = 30000) -> dict[str, list[str]]:
    out, port = {}, base
    for t in spec.tasks:
        out[t.name] = [f"127.0.0.1:{port + i}" for i in range(t.replicas)]
        port += t.replicas
    return out


def build(tasks, **opts):
    return volcanojob.build(name="job", command="run", task=tasks, **opts)


def test_env_plugin() -> None:
    assert volcano.env_plugin(3) == {"VK_TASK_INDEX": "3", "VC_TASK_INDEX": "3"}


def test_svc_entries_match_the_plugin() -> None:
    spec = build(["ps:1", "data-loader:2"])
    hosts = volcano.cluster_hosts(spec)
    assert hosts == {"ps": ["job-ps-0.job"], "data-loader": ["job-data-loader-0.job", "job-data-loader-1.job"]}
    assert volcano.svc_entries(spec, hosts) == {
        "ps.host": "job-ps-0.job", "VC_PS_HOSTS": "job-ps-0.job", "VC_PS_NUM": "1",
        "data_loader.host": "job-data-loader-0.job\njob-data-loader-1.job",
        "VC_DATA_LOADER_HOSTS": "job-data-loader-0.job,job-data-loader-1.job", "VC_DATA_LOADER_NUM": "2"}
    assert set(volcano.svc_env(spec, hosts)) == {"VC_PS_HOSTS", "VC_PS_NUM", "VC_DATA_LOADER_HOSTS",
                                                 "VC_DATA_LOADER_NUM"}
    assert volcano.host_files(spec, hosts) == {"ps.host": "job-ps-0.job",
                                               "data_loader.host": "job-data-loader-0.job\njob-data-loader-1.job"}


def test_replica_env_default_plugins() -> None:
    spec = build(["ps:1", "worker:2"])
    eps = local_endpoints(spec)
    env = volcano.replica_env(spec, "worker", 1, eps)
    assert env == {"VK_TASK_INDEX": "1", "VC_TASK_INDEX": "1",
                   "VC_PS_HOSTS": "127.0.0.1:30000", "VC_PS_NUM": "1",
                   "VC_WORKER_HOSTS": "127.0.0.1:30001,127.0.0.1:30002", "VC_WORKER_NUM": "2"}
    # hosts may differ from endpoints (e.g. bare names on a cluster)
    env = volcano.replica_env(spec, "worker", 0, eps, hosts=volcano.cluster_hosts(spec))
    assert env["VC_WORKER_HOSTS"] == "job-worker-0.job,job-worker-1.job"


def test_no_plugins() -> None:
    spec = build(["w:2"], plugin=["none"])
    assert volcano.replica_env(spec, "w", 0, local_endpoints(spec)) == {}


TF_TASKS = ["chief:1", "ps:1", "worker:2", "evaluator:1"]


def test_tensorflow_plugin_form() -> None:
    spec = build(TF_TASKS, plugin=["tensorflow"])
    eps = volcano.cluster_endpoints(spec)
    value = volcano.tf_config(spec, "worker", 1, eps)
    assert value == ('{"cluster":{"ps":["job-ps-0.job:2222"],"worker":["job-worker-0.job:2222",'
                     '"job-worker-1.job:2222"],"chief":["job-chief-0.job:2222"],'
                     '"evaluator":["job-evaluator-0.job:2222"]},"task":{"type":"worker","index":1}}')
    env = volcano.replica_env(spec, "worker", 1, eps)
    assert env["TF_CONFIG"] == value and "VC_WORKER_HOSTS" in env  # the framework plugin implies svc
    plain = build(["worker:2"], plugin=["env"])
    assert "TF_CONFIG" not in volcano.replica_env(plain, "worker", 1, local_endpoints(plain))


def test_auto_is_the_tfjob_form() -> None:
    from arena.distributed import tf_config
    from arena.spec import tfjob
    spec = build(TF_TASKS, tf_config="auto")
    eps = local_endpoints(spec)
    cfg = json.loads(volcano.tf_config(spec, "evaluator", 0, eps))
    assert list(cfg["cluster"]) == ["chief", "ps", "worker"]  # evaluator not in the training cluster
    assert cfg["task"] == {"type": "evaluator", "index": 0} and cfg["environment"] == "cloud"
    tf = tfjob.build(name="job", command="run", chief=True, ps=1, workers=2, evaluator=True)
    for t in spec.tasks:
        for i in range(t.replicas):  # byte for byte what a TFJob replica gets
            assert volcano.tf_config(spec, t.name, i, eps) == tf_config.tf_config(tf, t.name, i, eps)


def test_plugin_wins_over_auto_as_on_a_cluster() -> None:
    spec = build(TF_TASKS, tf_config="auto", plugin=["tensorflow"])
    assert "environment" not in json.loads(volcano.tf_config(spec, "ps", 0, local_endpoints(spec)))


def test_tensorflow_plugin_skips_single_replica_job_and_keeps_other_task_names() -> None:
    one = build(["worker:1"], plugin=["tensorflow"])
    assert volcano.tf_config(one, "worker", 0, local_endpoints(one)) is None
    spec = build(["worker:2", "logger:1"], plugin=["tensorflow"])
    cfg = json.loads(volcano.tf_config(spec, "logger", 0, local_endpoints(spec)))
    assert cfg["cluster"] == {"worker": ["127.0.0.1:30000", "127.0.0.1:30001"]}
    assert cfg["task"] == {"type": "logger", "index": 0}


def test_tensorflow_plugin_role_arguments() -> None:
    spec = build(["trainer:2", "params:1"], plugin=["tensorflow:--worker=trainer,--ps=params"])
    cfg = json.loads(volcano.tf_config(spec, "params", 0, local_endpoints(spec)))
    assert cfg == {"cluster": {"ps": ["127.0.0.1:30002"], "worker": ["127.0.0.1:30000", "127.0.0.1:30001"]},
                   "task": {"type": "ps", "index": 0}}


def test_svc_inject_hosts_env_false_and_unmodelled() -> None:
    spec = build(["w:2"], plugin=["env", "svc:--inject-hosts-env=false", "ssh", "mpi"])
    assert volcano.replica_env(spec, "w", 0, local_endpoints(spec)) == {"VK_TASK_INDEX": "0", "VC_TASK_INDEX": "0"}
    assert volcano.unmodelled_plugins(spec) == ["ssh", "mpi"]
    assert volcano.unmodelled_plugins(build(["w:1"])) == []


def test_pytorch_plugin() -> None:
    spec = build(["master:1", "worker:3"], plugin=["pytorch"])
    eps = local_endpoints(spec)
    env = volcano.replica_env(spec, "master", 0, eps)
    assert {k: env[k] for k in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")} == {
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "30000", "WORLD_SIZE": "4", "RANK": "0"}
    assert env["VC_WORKER_NUM"] == "3"  # the framework plugin implies svc
    ranks = [volcano.pytorch_env(spec, "worker", i, eps)["RANK"] for i in range(3)]
    assert ranks == ["1", "2", "3"]
    assert volcano.pytorch_env(build(["w:2"]), "w", 0, local_endpoints(build(["w:2"]))) == {}
    named = build(["main:1", "helper:2"], plugin=["pytorch:--master=main,--worker=helper"])
    assert volcano.pytorch_env(named, "helper", 1, local_endpoints(named))["RANK"] == "2"


@given(st.lists(st.tuples(st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), st.integers(1, 4)),
                min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_invariants_a10_item_10(tasks) -> None:
    spec = build([f"{name}:{n}" for name, n in tasks])
    eps = local_endpoints(spec)
    for t in spec.tasks:
        for i in range(t.replicas):
            env = volcano.replica_env(spec, t, i, eps)
            assert env["VC_TASK_INDEX"] == env["VK_TASK_INDEX"] == str(i)
            for other in spec.tasks:
                key = other.name.replace("-", "_").upper()
                assert env[f"VC_{key}_NUM"] == str(other.replicas)
                assert len(env[f"VC_{key}_HOSTS"].split(",")) == other.replicas
    for name, content in volcano.host_files(spec, eps).items():
        task = spec.task(name.removesuffix(".host").replace("_", "-"))
        assert task is not None and len(content.split("\n")) == task.replicas
