"""The Volcano Job contract: what the env, svc, tensorflow and pytorch job plugins give each pod.

- env plugin: `VK_TASK_INDEX` and `VC_TASK_INDEX` = the pod's index within its task.
- svc plugin: per task T (`-` → `_`; TU = upper-case T) the ConfigMap keys `T.host` (hosts, one per line),
  `VC_TU_HOSTS` (comma-separated) and `VC_TU_NUM`, mounted as files under /etc/volcano, and the same
  `VC_TU_HOSTS`/`VC_TU_NUM` as env vars in every pod, for **every** task.
- `--tf-config auto` (Volcano's `tensorflow` plugin): TF_CONFIG from the tasks named chief/ps/worker/
  evaluator, in the plugin's form: keys ps, worker, chief, evaluator (evaluator included, empty ones
  omitted), no "environment"; none when the job is a single task with a single replica.
- pytorch plugin: MASTER_ADDR/MASTER_PORT of `master-0`, WORLD_SIZE = all replicas, RANK = 0 on the
  master, index + 1 on workers.

Host lists are the strings the engine passes, verbatim: on a cluster `<job>-<task>-<i>.<job>` (see
`cluster_hosts`), on one machine the engine may pass `host:port` so that replicas stay distinguishable.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arena.distributed.tf_config import (
    Endpoints,
    check_endpoints,
    check_index,
    encode_go_json,
    host_of,
    port_of,
    task_of,
)
from arena.spec.job import JobSpec, TaskSpec, VolcanoOptions

HOSTS_DIR = "/etc/volcano"  # where the svc plugin mounts its ConfigMap
TF_ROLES = ("ps", "worker", "chief", "evaluator")  # the tensorflow plugin's field order
TF_PORT = 2222  # the tensorflow plugin's default --port
PYTORCH_PORT = 23456  # the pytorch plugin's default --port
MASTER, WORKER = "master", "worker"


def options_of(spec: JobSpec) -> VolcanoOptions:
    return spec.options if isinstance(spec.options, VolcanoOptions) else VolcanoOptions()


def task_key(name: str) -> str:
    """The svc plugin's per-task key: `-` → `_` (file names keep the case, env names upper-case it)."""
    return name.replace("-", "_")


def env_plugin(index: int) -> dict[str, str]:
    """The env plugin: the pod's index within its task, under both of Volcano's names."""
    return {"VK_TASK_INDEX": str(index), "VC_TASK_INDEX": str(index)}


def host_file(hosts: Sequence[str]) -> str:
    """`<task>.host` content: one host per line, joined exactly as the plugin does (no trailing newline)."""
    return "\n".join(hosts)


def svc_entries(spec: JobSpec, hosts: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Every key of the svc plugin's ConfigMap (`<job>-svc`), i.e. the files under /etc/volcano."""
    check_endpoints(spec, hosts)
    out: dict[str, str] = {}
    for t in spec.tasks:
        key, listed = task_key(t.name), list(hosts[t.name])
        out[f"{key}.host"] = host_file(listed)
        out[f"VC_{key.upper()}_HOSTS"] = ",".join(listed)
        out[f"VC_{key.upper()}_NUM"] = str(len(listed))
    return out


def svc_env(spec: JobSpec, hosts: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The env the svc plugin injects into every pod: `VC_<TASK>_HOSTS` and `VC_<TASK>_NUM` for every task."""
    return {k: v for k, v in svc_entries(spec, hosts).items() if k.startswith("VC_")}


def host_files(spec: JobSpec, hosts: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Only the `<task>.host` files (one host per line), for engines that write just those."""
    return {k: v for k, v in svc_entries(spec, hosts).items() if k.endswith(".host")}


def tf_config_enabled(spec: JobSpec) -> bool:
    opts = options_of(spec)
    return opts.tf_config == "auto" or "tensorflow" in opts.plugins


def tf_config_dict(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> dict[str, Any] | None:
    """The tensorflow plugin's TF_CONFIG for one pod; None for a one-task, one-replica job."""
    t = task_of(spec, task)
    check_index(t, index)
    if len(spec.tasks) == 1 and spec.tasks[0].replicas == 1:
        return None
    present = [r for r in TF_ROLES if spec.task(r) is not None and spec.task(r).replicas > 0]  # type: ignore[union-attr]
    check_endpoints(spec, endpoints, present)
    return {"cluster": {r: list(endpoints[r]) for r in present}, "task": {"type": t.name, "index": index}}


def tf_config(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> str | None:
    cfg = tf_config_dict(spec, task, index, endpoints)
    return None if cfg is None else encode_go_json(cfg)


def pytorch_env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> dict[str, str]:
    """The pytorch plugin: rendezvous at master-0; RANK 0 on the master, index + 1 on workers.

    Nothing without a `master` task (the plugin logs and skips); other tasks get no RANK.
    """
    t = task_of(spec, task)
    check_index(t, index)
    master = spec.task(MASTER)
    if master is None or master.replicas < 1:
        return {}
    check_endpoints(spec, endpoints, [MASTER])
    addr = endpoints[MASTER][0]
    env = {"MASTER_ADDR": host_of(addr), "MASTER_PORT": str(port_of(addr)), "WORLD_SIZE": str(spec.total_replicas)}
    if t.name == WORKER:
        env["RANK"] = str(index + 1)
    elif t.name == MASTER:
        env["RANK"] = "0"
    return env


def replica_env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints,
                hosts: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """Everything the job's enabled plugins inject into one pod. `hosts` defaults to `endpoints`."""
    opts = options_of(spec)
    t = task_of(spec, task)
    check_index(t, index)
    env: dict[str, str] = {}
    if "env" in opts.plugins:
        env.update(env_plugin(index))
    if "svc" in opts.plugins:
        env.update(svc_env(spec, hosts if hosts is not None else endpoints))
    if "pytorch" in opts.plugins:
        env.update(pytorch_env(spec, t, index, endpoints))
    if tf_config_enabled(spec):
        value = tf_config(spec, t, index, endpoints)
        if value is not None:
            env["TF_CONFIG"] = value
    return env


def cluster_hosts(spec: JobSpec) -> dict[str, list[str]]:
    """Pod addresses on a cluster: `<job>-<task>-<i>.<job>` (hostname.subdomain set by the svc plugin)."""
    return {t.name: [f"{spec.name}-{t.name}-{i}.{spec.name}" for i in range(t.replicas)] for t in spec.tasks}


def cluster_endpoints(spec: JobSpec, port: int = TF_PORT) -> dict[str, list[str]]:
    """`cluster_hosts` with the plugin port appended (2222 for tensorflow, 23456 for pytorch)."""
    return {name: [f"{h}:{port}" for h in hosts] for name, hosts in cluster_hosts(spec).items()}
