"""How one replica is launched on this machine: its argv, working directory and environment.

The environment is layered: the submitter's captured base environment, then the job's
`-e` values, then the task's, then the framework contract (MASTER_ADDR/RANK..., TF_CONFIG,
hostfiles, Volcano env) which must not be overridden by accident, then device assignment.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
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
    """The plan for one replica: what the runtime hands to the shim to start it."""

    argv: list[str]
    cwd: str
    env: dict[str, str]


IDLE_WORKER = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"  # MPI workers host no process locally


def endpoints(spec: JobSpec, ports: dict[str, int], host: str = LOOPBACK) -> dict[str, list[str]]:
    """task → ["host:port", ...] in index order, from the ports the engine allocated."""
    return {t.name: [f"{host}:{ports.get(f'{t.name}-{i}', 0)}" for i in range(t.replicas)] for t in spec.tasks}


def mpi_implementation(spec: JobSpec, path: str | None) -> str:
    """Which MPI the launcher's `mpirun` is (asked once per PATH)."""
    from arena.distributed import mpi

    return mpi.resolve_implementation(spec, _mpirun_version(path))


@functools.lru_cache(maxsize=8)
def _mpirun_version(path: str | None) -> str | None:
    exe = shutil.which("mpirun", path=path)
    if exe is None:
        return None
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def write_job_files(spec: JobSpec, ports: dict[str, int], job_dir: Path, path: str | None) -> dict[str, str]:
    """Generate the per-job files (MPI hostfile, Volcano host files); return env pointing at them."""
    env: dict[str, str] = {}
    if spec.kind == "mpijob":
        from arena.distributed import mpi

        impl = mpi_implementation(spec, path)
        hosts = {"launcher": ["localhost"], "worker": ["localhost"] * (spec.task("worker").replicas if spec.task("worker") else 0)}
        d = job_dir / "etc" / "mpi"
        d.mkdir(parents=True, exist_ok=True)
        hostfile = d / "hostfile"
        _write_atomic(hostfile, mpi.hostfile(spec, hosts, impl, merge=True))  # type: ignore[arg-type]
        env.update(mpi.launcher_env(impl, str(hostfile)))  # type: ignore[arg-type]
        env["ARENA_MPI_HOSTFILE"] = str(hostfile)
    if _svc_plugin(spec):
        from arena.distributed import volcano

        # The svc plugin's ConfigMap, mounted at /etc/volcano on a cluster: every key is a file
        # (<task>.host, VC_<TASK>_HOSTS, VC_<TASK>_NUM).
        d = job_dir / "etc" / "volcano"
        d.mkdir(parents=True, exist_ok=True)
        for name, text in volcano.svc_entries(spec, endpoints(spec, ports)).items():
            _write_atomic(d / name, text)
        env["VC_CONFIG_DIR"] = str(d)
    return env


def _svc_plugin(spec: JobSpec) -> bool:
    """Whether the job has Volcano's svc plugin: a volcanojob with it enabled, or an AppWrapper around a
    Volcano Job with --use-svc-plugin (the default)."""
    if spec.kind == "volcanojob":
        from arena.distributed import volcano

        return "svc" in volcano.plugins_of(spec)
    if spec.kind == "appwrapperjob" and _aw_inner(spec) == "volcano":
        from arena.distributed import appwrapper

        return appwrapper.options_of(spec).use_svc_plugin
    return False


def _write_atomic(path: Path, text: str) -> None:
    """Each replica's start rewrites the job's files: replace them whole, so one already running never reads
    a half-written file (and leave them alone when nothing changed)."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _aw_inner(spec: JobSpec) -> str:
    from arena.distributed import appwrapper

    return appwrapper.options_of(spec).inner_type


def contract_env(spec: JobSpec, task: str, index: int, ports: dict[str, int], job_dir: Path) -> dict[str, str]:
    """The framework's env contract for this replica (per kind)."""
    eps = endpoints(spec, ports)
    if spec.kind == "pytorchjob":
        return torch_env.env(spec, task, index, LOOPBACK, ports.get("master-0", 0))
    if spec.kind == "tfjob":
        from arena.distributed import tf_config

        return {"PYTHONUNBUFFERED": "1", **tf_config.env(spec, task, index, eps)}
    if spec.kind == "volcanojob":
        from arena.distributed import volcano

        return volcano.replica_env(spec, task, index, eps)
    if spec.kind == "appwrapperjob":
        from arena.distributed import appwrapper

        if _aw_inner(spec) == "pytorch":
            return {**torch_env.env(spec, task, index, LOOPBACK, ports.get("master-0", 0)),
                    **appwrapper.replica_env(spec, task, index, eps)}
        return appwrapper.replica_env(spec, task, index, eps)
    return {}


def tensorboard_logdir(spec: JobSpec, job_dir: Path) -> str:
    """--logdir: upstream's default /training_logs becomes `<job dir>/training_logs` locally."""
    logdir = spec.tensorboard.logdir if spec.tensorboard else "/training_logs"
    if logdir == "/training_logs":
        return str(job_dir / "training_logs")
    return logdir if Path(logdir).is_absolute() else str(Path(spec.working_dir or job_dir) / logdir)


def replica_env(spec: JobSpec, task: str, index: int, ports: dict[str, int], gpus: list[int],
                base_env: dict[str, str], job_dir: Path, uid: str) -> dict[str, str]:
    t = spec.task(task)
    env = dict(base_env)
    env.update(spec.env)
    if t is not None:
        env.update(t.env)
    env.update(contract_env(spec, task, index, ports, job_dir))
    env.update(write_job_files(spec, ports, job_dir, base_env.get("PATH")))
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
    if spec.data or spec.data_dirs:
        env["ARENA_MNT"] = str(job_dir / "mnt")
    if spec.sync is not None:
        env["ARENA_CODE_DIR"] = str(job_dir / "code")
    if spec.tensorboard is not None:
        env["ARENA_TENSORBOARD_LOGDIR"] = tensorboard_logdir(spec, job_dir)
    if not gpus:
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    else:
        env["NVIDIA_VISIBLE_DEVICES"] = env["CUDA_VISIBLE_DEVICES"]
    return env


def plan_replica(spec: JobSpec, task: str, index: int, ports: dict[str, int], gpus: list[int],
                 base_env: dict[str, str], job_dir: Path, uid: str) -> ReplicaLaunch:
    t = spec.task(task)
    command = (t.command if t and t.command else "") or ""
    if not command and spec.kind == "mpijob" and task == "worker":
        command = IDLE_WORKER
    cwd = spec.working_dir or str(job_dir)  # with code sync: the job dir, code at ./code/<project>
    return ReplicaLaunch(argv=[spec.shell, "-c", command], cwd=cwd,
                         env=replica_env(spec, task, index, ports, gpus, base_env, job_dir, uid))
