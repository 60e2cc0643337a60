"""The MPIJob contract: the hostfile the launcher's mpirun reads, and the env that points mpirun at it.

On a cluster the MPI operator writes `/etc/mpi/hostfile` with one line per worker,
`<job>-worker-<i> slots=<slotsPerWorker>` (preceded by the launcher when it has GPUs), and gives the
launcher `OMPI_MCA_orte_default_hostfile` (Open MPI) and the Intel MPI/Hydra equivalents.

Open MPI and MPICH disagree on the file format: Open MPI reads `<host> slots=N`, while MPICH's Hydra
refuses the `slots=` token and wants `<host>:N`. So the format follows the `mpirun` actually used,
which `detect_implementation` tells from the text `mpirun --version` printed (passed in: this module
runs no process).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from arena.spec.job import JobSpec, MPIOptions

Implementation = Literal["openmpi", "mpich", "intel"]

LAUNCHER = "launcher"
WORKER = "worker"
KUBERNETES_HOSTFILE = "/etc/mpi/hostfile"  # where the MPI operator mounts it
_PORT_SUFFIX = re.compile(r":[0-9]+$")


def detect_implementation(version_text: str) -> Implementation | None:
    """Which MPI a `mpirun --version` output belongs to; None when it is none we know.

    Open MPI prints `mpirun (Open MPI) 4.1.2` (5.x via PRRTE), MPICH `HYDRA build details: ...`,
    Intel MPI `Intel(R) MPI Library ...` (Hydra-based, with its own variable names).
    """
    text = version_text.lower()
    if "intel(r) mpi" in text or "intel mpi" in text:
        return "intel"
    if "open mpi" in text or "openrte" in text or "prrte" in text or "open-mpi.org" in text:
        return "openmpi"
    if "hydra" in text or "mpich" in text or "mvapich" in text:
        return "mpich"
    return None


def resolve_implementation(spec: JobSpec, version_text: str | None = None) -> Implementation:
    """The job's explicit choice, else what the mpirun's version text says, else Open MPI (the operator's format)."""
    opts = spec.options_as(MPIOptions)
    if opts.implementation != "auto":
        return opts.implementation
    return (detect_implementation(version_text) if version_text else None) or "openmpi"


def slots_per_worker(spec: JobSpec) -> int:
    opts = spec.options_as(MPIOptions)
    return max(opts.slots_per_worker, 1)


def world_size(spec: JobSpec) -> int:
    """Ranks mpirun can place: workers × slots (the launcher hosts ranks only when it has GPUs)."""
    worker = spec.task(WORKER)
    launcher = spec.task(LAUNCHER)
    hosts = (worker.replicas if worker else 0) + (1 if launcher and launcher.resources.gpus > 0 else 0)
    return hosts * slots_per_worker(spec)


def hostfile_line(host: str, slots: int, implementation: Implementation = "openmpi") -> str:
    """One host with its slots, in the syntax the given mpirun parses."""
    if implementation == "openmpi":
        return f"{host} slots={slots}"
    return f"{host}:{slots}"  # Hydra (MPICH, Intel MPI)


def _bare_host(endpoint: str) -> str:
    """Hostfiles name hosts only; accept `host` or `host:port` from the engine's endpoint map."""
    return _PORT_SUFFIX.sub("", endpoint) if endpoint.count(":") == 1 or endpoint.startswith("[") else endpoint


def hostfile(spec: JobSpec, endpoints: Mapping[str, Sequence[str]], implementation: Implementation = "openmpi",
             merge: bool = False) -> str:
    """The hostfile text: one line per worker in index order, the launcher first when it has GPUs.

    `merge=True` folds repeated hosts into one line with the summed slots, which is what a single-machine
    engine wants when every worker is the loopback host (both MPIs also accept the repeated form).
    """
    slots = slots_per_worker(spec)
    entries: list[tuple[str, int]] = []
    launcher = spec.task(LAUNCHER)
    if launcher is not None and launcher.resources.gpus > 0:
        entries.append((_bare_host(endpoints[LAUNCHER][0]), slots))
    worker = spec.task(WORKER)
    workers = list(endpoints.get(WORKER, ()))
    if worker is not None and len(workers) != worker.replicas:
        raise ValueError(f"task worker has {worker.replicas} replicas but {len(workers)} endpoints")
    entries += [(_bare_host(ep), slots) for ep in workers]
    if merge:
        folded: dict[str, int] = {}
        for host, n in entries:
            folded[host] = folded.get(host, 0) + n
        entries = list(folded.items())
    return "".join(hostfile_line(host, n, implementation) + "\n" for host, n in entries)


def launcher_env(implementation: Implementation | None, hostfile_path: str,
                 rsh_agent: str | None = None) -> dict[str, str]:
    """Env that makes a bare `mpirun` use the hostfile (and, given one, a remote-shell agent).

    `implementation=None` gives the union, as the MPI operator sets both families on the launcher.
    """
    env: dict[str, str] = {}
    if implementation in ("openmpi", None):
        env["OMPI_MCA_orte_default_hostfile"] = hostfile_path  # Open MPI ≤ 4
        env["PRTE_MCA_prte_default_hostfile"] = hostfile_path  # Open MPI 5 (PRRTE)
        if rsh_agent:
            env["OMPI_MCA_plm_rsh_agent"] = rsh_agent
    if implementation in ("mpich", None):
        env["HYDRA_HOST_FILE"] = hostfile_path
        if rsh_agent:
            env["HYDRA_LAUNCHER"] = "rsh"
            env["HYDRA_LAUNCHER_EXEC"] = rsh_agent
    if implementation in ("intel", None):
        env["I_MPI_HYDRA_HOST_FILE"] = hostfile_path
        if rsh_agent:
            env["I_MPI_HYDRA_BOOTSTRAP"] = "rsh"
            env["I_MPI_HYDRA_BOOTSTRAP_EXEC"] = rsh_agent
    return env


def cluster_hosts(spec: JobSpec) -> dict[str, list[str]]:
    """Host names on a cluster: the operator's pod names `<job>-launcher` and `<job>-worker-<i>`."""
    worker = spec.task(WORKER)
    return {LAUNCHER: [f"{spec.name}-launcher"],
            WORKER: [f"{spec.name}-worker-{i}" for i in range(worker.replicas if worker else 0)]}
