"""Planning a job on this machine: spec + inputs -> `LocalPlan`, a pure function.

It runs nothing and reads nothing: the submitting shell's environment, the working directory and
what `mpirun --version` printed arrive as `Inputs` (gathered by `probe.py`). The kind's registry entry
gives the env contract and the files (`Kind.local_env`, `local_files`); the ports, GPUs and job
directory the scheduler picks later appear as placeholders (see `plan.py`). The CLI calls this for
`--dry-run` and `submit`; the daemon calls it again to check that what it was sent is the plan of
its spec.
"""
from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

import msgspec

from arena import kinds
from arena.engines.local import cpuset
from arena.engines.local.plan import (
    JOB_DIR,
    JOB_UID,
    LOOPBACK,
    TENSORBOARD,
    Inputs,
    LocalPlan,
    ProcessPlan,
    ReplicaPlan,
    Rendezvous,
    gpus,
    in_job_dir,
    port,
)
from arena.engines.local.shim import MARKER
from arena.spec.job import JobSpec, TaskSpec

TRAINING_LOGS = "/training_logs"  # upstream's default --logdir; here `<job dir>/training_logs`


def resolve(spec: JobSpec, inputs: Inputs) -> JobSpec:
    """The spec as this engine runs it: in the submitting directory unless it names one (or syncs code),
    and with a Kueue LocalQueue read as the queue of the same name.

    A relative `--working-dir` is relative to where the user typed the command, as a shell would read it
    (not to the daemon's directory); with code sync, to the job's directory, where the code lands."""
    wd = spec.working_dir
    if not wd and spec.sync is None and inputs.cwd:
        spec = msgspec.structs.replace(spec, working_dir=inputs.cwd)
    elif wd and not PurePosixPath(wd).is_absolute() and not wd.startswith(JOB_DIR):
        if spec.sync is not None:
            spec = msgspec.structs.replace(spec, working_dir=in_job_dir(wd))
        elif inputs.cwd:
            spec = msgspec.structs.replace(spec, working_dir=posixpath.normpath(posixpath.join(inputs.cwd, wd)))
    sched = spec.scheduling
    if sched.kueue_queue and sched.kueue_queue != sched.queue:
        spec = msgspec.structs.replace(spec, scheduling=msgspec.structs.replace(sched, queue=sched.kueue_queue))
    return spec


def fixed_port(task: TaskSpec, index: int) -> int:
    """A port the task names (--master-port, a job file's port) applies to its only or first replica."""
    return task.port if task.port and (task.replicas == 1 or index == 0) else 0


def rendezvous(spec: JobSpec, inputs: Inputs) -> Rendezvous:
    endpoints = {t.name: [f"{LOOPBACK}:{fixed_port(t, i) or port(f'{t.name}-{i}')}" for i in range(t.replicas)]
                 for t in spec.tasks}
    return Rendezvous(LOOPBACK, endpoints, dict(inputs.probes))


def plan(spec: JobSpec, inputs: Inputs) -> LocalPlan:
    spec = resolve(spec, inputs)
    kind = kinds.get(spec.kind, "kind")
    net = rendezvous(spec, inputs)
    files = kind.local_files(spec, net)
    replicas = [_replica(spec, kind, net, inputs, t, i) for t in spec.tasks for i in range(t.replicas)]
    return LocalPlan(spec=spec, inputs=inputs, files=files, replicas=replicas, tensorboard=_tensorboard(spec, inputs))


def _replica(spec: JobSpec, kind: kinds.Kind, net: Rendezvous, inputs: Inputs, t: TaskSpec, index: int) -> ReplicaPlan:
    """argv, cwd and env of one replica. The env is layered: the submitting shell, the job's `-e`, the
    task's, then the framework contract (which must not be overridden by accident), the CPU contract
    (`cpuset`), then Arena's own."""
    key = f"{t.name}-{index}"
    command = t.command or kind.local_idle_command(spec, t.name)
    env = dict(inputs.base_env)
    env.update(spec.env)
    env.update(t.env)
    env.update(kind.local_env(spec, t.name, index, net))
    env.update(cpuset.contract(spec, t, key, env))  # threads the user left unset; its cores with a CPU request
    devices = gpus(key) if t.resources.gpus else ""
    env.update({
        # upstream Arena's own variables
        "workers": str(spec.workers),
        "gpus": str(t.resources.gpus),
        "CUDA_VISIBLE_DEVICES": devices,
        "ARENA_JOB_NAME": spec.name,
        "ARENA_JOB_NAMESPACE": spec.namespace,
        "ARENA_JOB_UID": JOB_UID,
        "ARENA_JOB_DIR": JOB_DIR,
        "ARENA_TASK": t.name,
        "ARENA_REPLICA_INDEX": str(index),
        "ARENA_REPLICA_NAME": f"{spec.name}-{key}",
        # Inherited by every process the replica starts, however it detaches: how they are all found and
        # ended with it (supervisor.py).
        MARKER: f"{JOB_UID}/{key}",
    })
    if spec.data or spec.data_dirs:
        env["ARENA_MNT"] = in_job_dir("mnt")
    if spec.sync is not None:
        env["ARENA_CODE_DIR"] = in_job_dir("code")
    if spec.tensorboard is not None:
        env["ARENA_TENSORBOARD_LOGDIR"] = tensorboard_logdir(spec)
    env["NVIDIA_VISIBLE_DEVICES"] = devices or "void"
    cwd = spec.working_dir or JOB_DIR  # with code sync: the job dir, code at ./code/<project>
    return ReplicaPlan(name=f"{spec.name}-{key}", task=t.name, index=index, argv=[spec.shell, "-c", command], cwd=cwd,
                       env=env)


def tensorboard_logdir(spec: JobSpec) -> str:
    """--logdir: upstream's default /training_logs becomes `<job dir>/training_logs` here."""
    logdir = spec.tensorboard.logdir if spec.tensorboard else TRAINING_LOGS
    if logdir == TRAINING_LOGS:
        return in_job_dir("training_logs")
    if PurePosixPath(logdir).is_absolute():
        return logdir
    return str(PurePosixPath(spec.working_dir or JOB_DIR) / logdir)


def _tensorboard(spec: JobSpec, inputs: Inputs) -> ProcessPlan | None:
    """TensorBoard for the job on a loopback port, started with its first bind."""
    if spec.tensorboard is None:
        return None
    logdir = tensorboard_logdir(spec)
    argv = [*(inputs.tensorboard or ["tensorboard"]), "--logdir", logdir, "--host", LOOPBACK, "--port", port(TENSORBOARD)]
    return ProcessPlan(argv=argv, cwd=JOB_DIR, env={**inputs.base_env, MARKER: f"{JOB_UID}/{TENSORBOARD}"},
                       dirs=[logdir])
