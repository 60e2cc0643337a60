"""`arena attach` on the local engine: a shell (or a command) in a replica's environment and directory.

A local replica is a process, not a container, so "attaching" means starting a new process where the
replica runs: the same working directory and the same environment (RANK, MASTER_ADDR, TF_CONFIG,
CUDA_VISIBLE_DEVICES…), exactly as the replica was launched. Both come from the job's plan with its
bind-time values filled in (its ports, GPUs and directory: `plan.Bindings`), which only the daemon
holds, so the daemon answers `GET /v1/jobs/<ns>/<name>/attach?instance=…` with the bound `ReplicaPlan`
(`launch`) and the client runs the process here (`run`), attached to this terminal.

Like `kubectl exec`, it needs the instance to be running: a replica that has not started has no
bindings yet, and one that has finished has nothing left to attach to.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arena.errors import ArenaError, InvalidSpec

if TYPE_CHECKING:
    from arena.engines.local.api import Api
    from arena.engines.local.engine import LocalEngine
    from arena.engines.local.plan import ReplicaPlan

# Variables of the attaching terminal worth keeping when they are not in the replica's environment:
# an interactive shell needs them to draw, and they say nothing about the job.
TERMINAL = ("TERM", "COLORTERM", "COLUMNS", "LINES")


def launch(api: Api, namespace: str, name: str, kind: str | None, instance: str | None) -> ReplicaPlan:
    """Daemon side: the bound launch (argv, cwd, env) of one running replica of the job."""
    from arena.engines.local import jobview
    from arena.engines.local.engine import instance_of
    from arena.engines.local.plan import TENSORBOARD, Bindings

    row = api.job_row(namespace, name, kind)
    reps = api.repo.replicas(row.uid)
    view = jobview.job(row, api.catalog.spec(row.uid, row.spec), reps)
    inst = instance_of(view, instance)
    if inst.status != "Running":
        raise ArenaError(f"instance {inst.name} of job {name} is {inst.status}, not Running: there is nothing "
                         "to attach to")
    plan = api.catalog.plan(row.uid)
    if plan is None:
        raise ArenaError(f"job {name} has no plan to attach with")
    ports = {r.key: r.port for r in reps if r.port}
    if row.tb_port:
        ports[TENSORBOARD] = row.tb_port
    bindings = Bindings.of(row.uid, row.job_dir, ports, {r.key: r.gpus for r in reps}, {r.key: r.cpus for r in reps})
    return bindings.replica(plan.replica(f"{inst.task}-{inst.index}"))


def command_of(replica_env: dict[str, str], command: Sequence[str]) -> list[str]:
    """The argv to run: the given command, else an interactive shell ($SHELL of the replica, else sh)."""
    if command:
        return list(command)
    return [replica_env.get("SHELL") or "sh"]


def environment(replica_env: dict[str, str], here: dict[str, str] | None = None) -> dict[str, str]:
    """The replica's environment, plus the terminal settings of this one that it lacks."""
    here = dict(os.environ) if here is None else here
    env = dict(replica_env)
    for key in TERMINAL:
        if key in here and key not in env:
            env[key] = here[key]
    return env


def run(engine: LocalEngine, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
        container: str | None = None, command: Sequence[str] = ()) -> int:
    """Client side: run `command` (or a shell) in the replica's directory and environment; its exit code.

    stdin, stdout and stderr are this process's, so an interactive shell works as `kubectl exec -it` does."""
    from urllib.parse import urlencode

    import msgspec

    from arena.engines.local.plan import ReplicaPlan

    query = urlencode({k: v for k, v in (("kind", kind), ("instance", instance)) if v})
    path = engine._job_path(namespace, name, "/attach") + (f"?{query}" if query else "")
    data: Any = engine.transport.request("GET", path)
    replica = msgspec.convert(data, type=ReplicaPlan)
    if container not in (None, "", replica.name, replica.task):
        from arena.errors import Unsupported

        raise Unsupported(engine.name, f"-c/--container {container!r} (replica {replica.name} is one process, "
                                       "without containers)")
    argv = command_of(replica.env, command)
    if not os.path.isdir(replica.cwd):
        raise ArenaError(f"the working directory {replica.cwd} of {replica.name} is gone")
    try:
        return subprocess.call(argv, cwd=replica.cwd, env=environment(replica.env))
    except FileNotFoundError:
        raise InvalidSpec("COMMAND", f"{argv[0]!r} is not found in the replica's PATH") from None
    except PermissionError:
        raise InvalidSpec("COMMAND", f"{argv[0]!r} is not executable") from None
