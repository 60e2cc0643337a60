"""The PyTorchJob builder and the env contract of its replicas."""
from __future__ import annotations

import pytest

from arena.distributed import torch_env
from arena.errors import InvalidSpec
from arena.spec import job as jobspec
from arena.spec import pytorchjob


def test_workers_count_the_master():
    spec = pytorchjob.build(name="t", workers=3, gpus=1, cpu="500m", memory="1Gi", command=["python", "x.py"])
    assert [(t.name, t.replicas, t.restart_policy) for t in spec.tasks] == [("master", 1, "Never"),
                                                                           ("worker", 2, "OnFailure")]
    assert spec.total_replicas == 3 and spec.requested_gpus == 3 and spec.workers == 3
    assert spec.tasks[0].command == "python x.py"


def test_single_worker_is_master_only():
    spec = pytorchjob.build(name="t", command="true")
    assert [t.name for t in spec.tasks] == ["master"]


def test_spec_round_trips_through_json():
    spec = pytorchjob.build(name="t", workers=2, env=["A=1"], label=["team=ml"], retry=3, nproc_per_node="2",
                            command="true", running_timeout="1h", ttl_after_finished="10m")
    assert jobspec.decode(jobspec.encode(spec)) == spec
    assert spec.run_policy.backoff_limit == 3 and spec.run_policy.active_deadline_seconds == 3600
    assert spec.run_policy.ttl_seconds_after_finished == 600


@pytest.mark.parametrize("opts,field", [({"workers": 0}, "--workers"), ({"retry": -1}, "--retry"),
                                        ({"nproc_per_node": "x"}, "--nproc-per-node"), ({"gpus": -1}, "--gpus"),
                                        ({"master_port": 70000}, "--master-port"), ({"command": ""}, "command")])
def test_builder_errors_name_the_flag(opts, field):
    base = {"name": "t", "command": "true"} | opts
    with pytest.raises(InvalidSpec) as exc:
        pytorchjob.build(**base)
    assert exc.value.field == field


def test_torch_env_contract():
    spec = pytorchjob.build(name="t", workers=3, command="true")
    master = torch_env.env(spec, "master", 0, "127.0.0.1", 29500)
    assert master == {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "3", "RANK": "0",
                      "LOCAL_RANK": "0", "PYTHONUNBUFFERED": "1"}
    ranks = [torch_env.env(spec, "worker", i, "127.0.0.1", 29500)["RANK"] for i in range(2)]
    assert ranks == ["1", "2"]


def test_torch_env_with_nproc_per_node_sets_pet_vars():
    spec = pytorchjob.build(name="t", workers=2, nproc_per_node="4", command="true")
    env = torch_env.env(spec, "worker", 0, "127.0.0.1", 1234)
    assert env["WORLD_SIZE"] == "8"  # the operator multiplies nodes by integer nproc
    assert {k: env[k] for k in env if k.startswith("PET_")} == {
        "PET_NPROC_PER_NODE": "4", "PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": "1234"}
    auto = torch_env.env(pytorchjob.build(name="t", workers=2, nproc_per_node="auto", command="true"), "master", 0,
                         "h", 1)
    assert auto["WORLD_SIZE"] == "2" and auto["PET_NPROC_PER_NODE"] == "auto"
