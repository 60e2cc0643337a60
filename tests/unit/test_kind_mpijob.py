"""mpijob builder: one launcher + N workers, slots, implementation."""
from __future__ import annotations

import pytest

from arena.errors import InvalidSpec
from arena.spec import mpijob
from arena.spec.job import MPIOptions


def test_launcher_and_workers() -> None:
    spec = mpijob.build(name="hvd", command="mpirun python train.py", workers=3, cpu="2", memory="1Gi", gpus=2)
    launcher, worker = spec.tasks
    assert (launcher.name, launcher.replicas, launcher.command) == ("launcher", 1, "mpirun python train.py")
    assert launcher.resources.gpus == 0
    assert (worker.name, worker.replicas, worker.command) == ("worker", 3, "")
    assert worker.resources.cpu == "2" and worker.resources.gpus == 2
    assert all(t.restart_policy == "Never" for t in spec.tasks)
    assert spec.options == MPIOptions(slots_per_worker=2)  # one rank per GPU by default
    assert spec.run_policy.clean_pod_policy == "All"  # upstream mpijob default
    assert spec.workers == 3


def test_slots_default_one_without_gpus_and_explicit_wins() -> None:
    assert mpijob.build(name="m", command="c").options.slots_per_worker == 1
    assert mpijob.build(name="m", command="c", gpus=4, slots_per_worker=1).options.slots_per_worker == 1


def test_implementation_and_api() -> None:
    o = mpijob.build(name="m", command="c", mpi_implementation="mpich", mpi_api_version="v2beta1").options
    assert (o.implementation, o.api_version) == ("mpich", "v2beta1")


@pytest.mark.parametrize("opts, field", [
    (dict(workers=0), "--workers"),
    (dict(slots_per_worker=0), "--slots-per-worker"),
    (dict(mpi_implementation="lam"), "--mpi-implementation"),
    (dict(mpi_api_version="v9"), "--mpi-api-version"),
    (dict(memory="much"), "--memory"),
    (dict(device=["gpu=1"]), "--device"),
])
def test_errors(opts, field) -> None:
    with pytest.raises(InvalidSpec) as err:
        mpijob.build(**(dict(name="m", command="c") | opts))
    assert err.value.field == field
