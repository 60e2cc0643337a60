"""How one replica is launched on this machine: its argv, working directory and environment.

The environment is layered: the submitter's captured base environment, then the job's
`-e` values, then the task's, then the framework contract (MASTER_ADDR/RANK..., TF_CONFIG,
hostfiles, Volcano env) which must not be overridden by accident, then device assignment.
"""
from __future__ import annotations

from pathlib import Path

import msgspec

from arena.distributed import torch_env
from arena.spec.job import JobSpec

LOOPBACK = "127.0.0.1"

# The parts of the submitter's environment a replica needs to behave "as in this shell".
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "SHELL",
                 "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "LD_LIBRARY_PATH",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "CUDA_HOME", "NCCL_DEBUG", "HF_HOME", "HF_HUB_OFFLINE", "TORCH_HOME")


def capture_base_env(environ: dict[str, str]) -> dict[str, str]:
    """The allow-listed variables (and LC_*) of the submitting shell; secrets stay behind."""
    return {k: v for k, v in environ.items() if k in BASE_ENV_KEYS or k.startswith("LC_")}


class ReplicaLaunch(msgspec.Struct, frozen=True):
    """The plan for one replica: what `apply` runs (and `--dry-run` prints)."""

    key: str
    task: str
    index: int
    argv: list[str]
    cwd: str
    env: dict[str, str]


def contract_env(spec: JobSpec, task: str, index: int, ports: dict[str, int], job_dir: Path) -> dict[str, str]:
    """The framework's env contract for this replica (per kind)."""
    if spec.kind == "pytorchjob" or (spec.kind == "appwrapperjob" and task in ("master", "worker")
                                     and "master-0" in ports):
        return torch_env.env(spec, task, index, LOOPBACK, ports.get("master-0", 0))
    return {}


def replica_env(spec: JobSpec, task: str, index: int, ports: dict[str, int], gpus: list[int],
                base_env: dict[str, str], job_dir: Path, uid: str) -> dict[str, str]:
    t = spec.task(task)
    env = dict(base_env)
    env.update(spec.env)
    if t is not None:
        env.update(t.env)
    env.update(contract_env(spec, task, index, ports, job_dir))
    per_replica_gpus = t.resources.gpus if t else 0
    env.update({
        # upstream Arena's own variables
        "workers": str(spec.workers),
        "gpus": str(per_replica_gpus),
        "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus),
        "ARENA_JOB_NAME": spec.name,
        "ARENA_JOB_NAMESPACE": spec.namespace,
        "ARENA_JOB_UID": uid,
        "ARENA_JOB_DIR": str(job_dir),
        "ARENA_TASK": task,
        "ARENA_REPLICA_INDEX": str(index),
        "ARENA_REPLICA_NAME": f"{spec.name}-{task}-{index}",
    })
    if not gpus:
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    else:
        env["NVIDIA_VISIBLE_DEVICES"] = env["CUDA_VISIBLE_DEVICES"]
    return env


def plan_replica(spec: JobSpec, task: str, index: int, ports: dict[str, int], gpus: list[int],
                 base_env: dict[str, str], job_dir: Path, uid: str) -> ReplicaLaunch:
    t = spec.task(task)
    command = (t.command if t and t.command else "") or ""
    cwd = spec.working_dir or str(job_dir)
    code_dir = job_dir / "code"
    if spec.sync is not None and code_dir.is_dir() and not spec.working_dir:
        cwd = str(code_dir)
    return ReplicaLaunch(key=f"{task}-{index}", task=task, index=index, argv=[spec.shell, "-c", command], cwd=cwd,
                         env=replica_env(spec, task, index, ports, gpus, base_env, job_dir, uid))
