"""MPI hostfile and launcher env, and telling Open MPI from MPICH by `mpirun --version`."""
from __future__ import annotations

import pytest

from arena.distributed import mpi
from arena.spec import mpijob

OPENMPI_4 = "mpirun (Open MPI) 4.1.2\n\nReport bugs to http://www.open-mpi.org/community/help/\n"
OPENMPI_5 = "mpirun (Open MPI) 5.0.3\n\nReport bugs to https://www.open-mpi.org/community/help/\n"
# Captured from the `mpich` wheel's mpirun (Hydra) on this machine kind.
MPICH = """HYDRA build details:
    Version:                                 5.0.2
    Release Date:                            Fri Sep 25 20:45:26 UTC 2026
    CC:                              cc
    Configure options:                       --with-device=ch4:ucx,ofi --with-pm=hydra:gforker
    Process Manager:                         pmi
    Launchers available:                     ssh rsh fork slurm ll lsf sge manual persist
"""
INTEL = "Intel(R) MPI Library for Linux* OS, Version 2021.10 Build 20230619 (id: c2e19c2f3e)\nCopyright 2003-2023"


@pytest.mark.parametrize("text, impl", [(OPENMPI_4, "openmpi"), (OPENMPI_5, "openmpi"), (MPICH, "mpich"),
                                        (INTEL, "intel"), ("prterun (PRRTE) 3.0.5", "openmpi"), ("", None),
                                        ("mpirun: command not found", None)])
def test_detect(text, impl) -> None:
    assert mpi.detect_implementation(text) == impl


def test_resolve_prefers_the_job_setting() -> None:
    assert mpi.resolve_implementation(mpijob.build(name="m", command="c", mpi_implementation="mpich"),
                                      OPENMPI_4) == "mpich"
    auto = mpijob.build(name="m", command="c")
    assert mpi.resolve_implementation(auto, MPICH) == "mpich"
    assert mpi.resolve_implementation(auto, None) == "openmpi"


def test_hostfile_open_mpi_format() -> None:
    spec = mpijob.build(name="hvd", command="mpirun x", workers=2, slots_per_worker=4)
    text = mpi.hostfile(spec, mpi.cluster_hosts(spec))
    assert text == "hvd-worker-0 slots=4\nhvd-worker-1 slots=4\n"


def test_hostfile_hydra_format_and_ports_stripped() -> None:
    spec = mpijob.build(name="hvd", command="mpirun x", workers=2, gpus=2)
    eps = {"launcher": ["127.0.0.1:40000"], "worker": ["127.0.0.1:40001", "127.0.0.2:40002"]}
    assert mpi.hostfile(spec, eps, "mpich") == "127.0.0.1:2\n127.0.0.2:2\n"


def test_hostfile_merge_for_one_machine() -> None:
    spec = mpijob.build(name="m", command="c", workers=3, slots_per_worker=2)
    eps = {"launcher": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"]}
    assert mpi.hostfile(spec, eps, merge=True) == "127.0.0.1 slots=6\n"
    assert mpi.hostfile(spec, eps, "mpich", merge=True) == "127.0.0.1:6\n"


def test_gpu_launcher_is_listed_first() -> None:
    import msgspec
    from arena.spec.job import Resources
    spec = mpijob.build(name="m", command="c", workers=1)
    launcher = msgspec.structs.replace(spec.tasks[0], resources=Resources(gpus=1))
    spec = msgspec.structs.replace(spec, tasks=[launcher, spec.tasks[1]])
    assert mpi.hostfile(spec, mpi.cluster_hosts(spec)) == "m-launcher slots=1\nm-worker-0 slots=1\n"
    assert mpi.world_size(spec) == 2


def test_hostfile_has_one_line_per_worker_with_slots() -> None:
    for workers in range(1, 6):
        for slots in range(1, 4):
            spec = mpijob.build(name="m", command="c", workers=workers, slots_per_worker=slots)
            lines = mpi.hostfile(spec, mpi.cluster_hosts(spec)).splitlines()
            assert lines == [f"m-worker-{i} slots={slots}" for i in range(workers)]
            assert mpi.world_size(spec) == workers * slots


def test_endpoint_count_mismatch() -> None:
    spec = mpijob.build(name="m", command="c", workers=2)
    with pytest.raises(ValueError):
        mpi.hostfile(spec, {"worker": ["a"]})


def test_launcher_env() -> None:
    assert mpi.launcher_env("openmpi", "/j/hostfile") == {"OMPI_MCA_orte_default_hostfile": "/j/hostfile",
                                                          "PRTE_MCA_prte_default_hostfile": "/j/hostfile"}
    assert mpi.launcher_env("mpich", "/j/hostfile") == {"HYDRA_HOST_FILE": "/j/hostfile"}
    assert mpi.launcher_env("intel", "/j/hostfile", "/etc/mpi/kubexec.sh") == {
        "I_MPI_HYDRA_HOST_FILE": "/j/hostfile", "I_MPI_HYDRA_BOOTSTRAP": "rsh",
        "I_MPI_HYDRA_BOOTSTRAP_EXEC": "/etc/mpi/kubexec.sh"}
    # What the MPI operator puts on a launcher: both families (SEMANTICS E.7).
    env = mpi.launcher_env(None, mpi.KUBERNETES_HOSTFILE, "/etc/mpi/kubexec.sh")
    assert env["OMPI_MCA_orte_default_hostfile"] == "/etc/mpi/hostfile"
    assert env["OMPI_MCA_plm_rsh_agent"] == "/etc/mpi/kubexec.sh"
    assert env["I_MPI_HYDRA_BOOTSTRAP"] == "rsh"
