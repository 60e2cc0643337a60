"""The AppWrapper fork's Volcano-inner torchrun env (ARENA.md §3.3)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arena.distributed import appwrapper
from arena.spec import appwrapperjob


def build(**opts):
    return appwrapperjob.build(**(dict(name="aw", command="torchrun t.py", inner_type="volcano") | opts))


def test_cluster_form_with_numeric_nproc() -> None:
    spec = build(replicas=3, nproc_per_node="8", task_name="worker1", master_port=29500)
    eps = appwrapper.cluster_endpoints(spec)
    assert eps == {"worker1": [f"aw-worker1-{i}.aw:29500" for i in range(3)]}
    assert appwrapper.volcano_env(spec, 2, eps) == {
        "MASTER_ADDR": "aw-worker1-0.aw", "MASTER_PORT": "29500", "NNODES": "3", "NPROC_PER_NODE": "8",
        "WORLD_SIZE": "24", "RANK": "2", "NODE_RANK": "2", "LOCAL_WORLD_SIZE": "8"}


def test_non_numeric_nproc() -> None:
    spec = build(replicas=2, nproc_per_node="auto")
    env = appwrapper.volcano_env(spec, 0, appwrapper.cluster_endpoints(spec))
    assert env == {"MASTER_ADDR": "aw-worker-0.aw", "MASTER_PORT": "23456", "NNODES": "2", "WORLD_SIZE": "2",
                   "RANK": "0", "NODE_RANK": "0"}


def test_single_replica_and_pytorch_inner_get_nothing() -> None:
    one = build(replicas=1, nproc_per_node="4")
    assert appwrapper.volcano_env(one, 0, appwrapper.cluster_endpoints(one)) == {}
    pt = appwrapperjob.build(name="aw", command="c", workers=2, nproc_per_node="4")
    assert appwrapper.volcano_env(pt, 0, {"master": ["h:1"], "worker": ["h:2"]}) == {}
    assert appwrapper.replica_env(pt, "worker", 0, {"master": ["h:1"], "worker": ["h:2"]}) == {
        "PET_NPROC_PER_NODE": "4"}


def test_replica_env_local() -> None:
    spec = build(replicas=2, nproc_per_node="2")
    eps = {"worker": ["127.0.0.1:41000", "127.0.0.1:41001"]}
    env = appwrapper.replica_env(spec, "worker", 1, eps)
    assert env["MASTER_ADDR"] == "127.0.0.1" and env["MASTER_PORT"] == "41000"
    assert env["VC_WORKER_HOSTS"] == "127.0.0.1:41000,127.0.0.1:41001" and env["VC_WORKER_NUM"] == "2"
    assert env["PET_NPROC_PER_NODE"] == "2"
    no_svc = build(replicas=2, use_svc_plugin=False)
    assert "VC_WORKER_HOSTS" not in appwrapper.replica_env(no_svc, "worker", 0, eps)


@given(replicas=st.integers(2, 16), nproc=st.sampled_from([None, "auto", "gpu", "cpu", "1", "4", "8"]))
def test_rank_is_the_node_index_and_world_counts_processes(replicas, nproc) -> None:
    spec = build(replicas=replicas, nproc_per_node=nproc)
    eps = appwrapper.cluster_endpoints(spec)
    envs = [appwrapper.volcano_env(spec, i, eps) for i in range(replicas)]
    assert [e["RANK"] for e in envs] == [str(i) for i in range(replicas)]
    assert all(e["NODE_RANK"] == e["RANK"] and e["MASTER_ADDR"] == envs[0]["MASTER_ADDR"] for e in envs)
    per_node = int(nproc) if nproc and nproc.isdigit() else 1
    assert {e["WORLD_SIZE"] for e in envs} == {str(replicas * per_node)}
    assert all(("LOCAL_WORLD_SIZE" in e) == (nproc is not None and nproc.isdigit()) for e in envs)
