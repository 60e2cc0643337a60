"""TF_CONFIG as the Training Operator writes it, and the SEMANTICS E.8 item 10 invariants."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.distributed import tf_config
from arena.spec import tfjob


def local_endpoints(spec, base: int = 20000) -> dict[str, list[str]]:
    """What a single-machine engine would hand over: a distinct loopback port per replica."""
    out, port = {}, base
    for t in spec.tasks:
        out[t.name] = []
        for _ in range(t.replicas):
            out[t.name].append(f"127.0.0.1:{port}")
            port += 1
    return out


def test_exact_operator_string() -> None:
    spec = tfjob.build(name="dist", namespace="ml", command="python t.py", ps=1, workers=2)
    eps = tf_config.cluster_endpoints(spec)
    assert tf_config.tf_config(spec, "worker", 1, eps) == (
        '{"cluster":{"ps":["dist-ps-0.ml.svc:2222"],"worker":["dist-worker-0.ml.svc:2222",'
        '"dist-worker-1.ml.svc:2222"]},"task":{"type":"worker","index":1},"environment":"cloud"}')


def test_cluster_domain_and_custom_port() -> None:
    spec = tfjob.build(name="d", command="c", ps=1, ps_port=3000)
    eps = tf_config.cluster_endpoints(spec, cluster_domain="cluster.local")
    assert eps["ps"] == ["d-ps-0.default.svc.cluster.local:3000"]
    assert eps["worker"] == ["d-worker-0.default.svc.cluster.local:2222"]


def test_evaluator_is_not_in_the_cluster_but_gets_its_task() -> None:
    spec = tfjob.build(name="d", command="c", chief=True, workers=2, evaluator=True)
    cfg = json.loads(tf_config.tf_config(spec, "evaluator", 0, local_endpoints(spec)))
    assert list(cfg["cluster"]) == ["chief", "worker"]
    assert cfg["task"] == {"type": "evaluator", "index": 0}


def test_keys_sorted_like_go_maps() -> None:
    spec = tfjob.build(name="d", command="c", chief=True, ps=2, workers=2)
    cfg = json.loads(tf_config.tf_config(spec, "chief", 0, local_endpoints(spec)))
    assert list(cfg) == ["cluster", "task", "environment"]
    assert list(cfg["cluster"]) == ["chief", "ps", "worker"]


def test_standalone_gets_nothing() -> None:
    spec = tfjob.build(name="d", command="c")
    assert spec.options.standalone
    assert tf_config.tf_config(spec, "worker", 0, local_endpoints(spec)) is None
    assert tf_config.env(spec, "worker", 0, local_endpoints(spec)) == {}


def test_env_key() -> None:
    spec = tfjob.build(name="d", command="c", workers=2)
    assert set(tf_config.env(spec, "worker", 0, local_endpoints(spec))) == {"TF_CONFIG"}


def test_contract_violations_are_value_errors() -> None:
    spec = tfjob.build(name="d", command="c", workers=2)
    with pytest.raises(ValueError, match="endpoints"):
        tf_config.tf_config(spec, "worker", 0, {"worker": ["h:1"]})
    with pytest.raises(ValueError, match="out of range"):
        tf_config.tf_config(spec, "worker", 2, local_endpoints(spec))
    with pytest.raises(ValueError, match="no task"):
        tf_config.tf_config(spec, "ps", 0, local_endpoints(spec))
    with pytest.raises(ValueError):
        tf_config.split_endpoint("nohost")


def test_split_endpoint() -> None:
    assert tf_config.split_endpoint("127.0.0.1:80") == ("127.0.0.1", 80)
    assert tf_config.split_endpoint("[::1]:80") == ("::1", 80)


@given(ps=st.integers(0, 3), workers=st.integers(0, 4), chief=st.booleans(), evaluator=st.booleans(),
       success=st.sampled_from(["ChiefWorker", "AllWorkers"]))
def test_invariants_e8_item_10(ps, workers, chief, evaluator, success) -> None:
    if workers == 0 and not chief:
        chief = True
    spec = tfjob.build(name="job", command="c", ps=ps, workers=workers, chief=chief, evaluator=evaluator,
                       success_policy=success)
    eps = local_endpoints(spec)
    for task in spec.tasks:
        for index in range(task.replicas):
            value = tf_config.tf_config(spec, task, index, eps)
            if spec.options.standalone:
                assert value is None
                continue
            cfg = json.loads(value)
            # task.index is the replica index, task.type the lower-case replica type
            assert cfg["task"] == {"type": task.name, "index": index}
            assert cfg["environment"] == "cloud"
            # the cluster lists have exactly `replicas` entries per type, evaluator excluded
            expected = {t.name: t.replicas for t in spec.tasks if t.name != "evaluator"}
            assert {k: len(v) for k, v in cfg["cluster"].items()} == expected
            # ... the same lists for every replica, and this replica's own address at its index
            assert cfg["cluster"] == {k: eps[k] for k in expected}
            if task.name != "evaluator":
                assert cfg["cluster"][task.name][index] == eps[task.name][index]
