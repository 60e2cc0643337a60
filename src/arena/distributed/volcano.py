"""The Volcano Job contract: what the env, svc, tensorflow and pytorch job plugins give each pod.

- env plugin: `VK_TASK_INDEX` and `VC_TASK_INDEX` = the pod's index within its task.
- svc plugin: per task T (`-` → `_`; TU = upper-case T) the ConfigMap keys `T.host` (hosts, one per line),
  `VC_TU_HOSTS` (comma-separated) and `VC_TU_NUM`, mounted as files under /etc/volcano, and the same
  `VC_TU_HOSTS`/`VC_TU_NUM` as env vars in every pod, for **every** task.
- tensorflow plugin: TF_CONFIG in the plugin's own form: keys ps, worker, chief, evaluator (evaluator
  included, empty ones omitted), no "environment"; none when the job is one task with one replica.
- `--tf-config auto` (Arena's, without the plugin): the TF_CONFIG a TFJob replica would get, from the
  tasks named chief/ps/worker/evaluator, so the same training code runs under tfjob and volcanojob.
- pytorch plugin: MASTER_ADDR/MASTER_PORT of `master-0`, WORLD_SIZE = all replicas, RANK = 0 on the
  master, index + 1 on workers.
- ssh, mpi, ray and hcclrank are not reproduced (`unmodelled_plugins` lists them for the engine).
Plugins come as `NAME[:--arg=value,...]`; the arguments Volcano reads (role names, inject-hosts-env) apply.

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
    port_text,
    task_of,
)
from arena.spec.job import JobSpec, TaskSpec, VolcanoOptions

TF_ROLES = ("ps", "worker", "chief", "evaluator")  # the tensorflow plugin's field order
TF_PORT = 2222  # the tensorflow plugin's default --port
AUTO_TF_ROLES = ("chief", "ps", "worker")  # `--tf-config auto`'s training cluster: a TFJob's, without the evaluator
MASTER, WORKER = "master", "worker"
FRAMEWORK_PLUGINS = ("pytorch", "tensorflow", "mpi", "ray")  # each implies svc (Volcano's webhook)
MODELLED_PLUGINS = ("env", "svc", "pytorch", "tensorflow")


def options_of(spec: JobSpec) -> VolcanoOptions:
    return spec.options_as(VolcanoOptions)


def svc_host(job: str, task: str, index: int) -> str:
    """A pod's address under the svc plugin: `<job>-<task>-<i>.<job>` (hostname.subdomain it sets)."""
    return f"{job}-{task}-{index}.{job}"


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


def plugins_of(spec: JobSpec) -> dict[str, dict[str, str]]:
    """Enabled plugins → their `--flag=value` arguments. The frameworks imply svc, as Volcano's webhook adds it."""
    out: dict[str, dict[str, str]] = {}
    for item in options_of(spec).plugins:
        name, _, args = item.partition(":")
        parsed: dict[str, str] = {}
        for arg in filter(None, (a.strip() for a in args.split(","))):
            key, _, value = arg.removeprefix("--").partition("=")
            parsed[key] = value or "true"
        out[name.strip()] = parsed
    if "svc" not in out and any(p in out for p in FRAMEWORK_PLUGINS):
        out["svc"] = {}
    return out


def unmodelled_plugins(spec: JobSpec) -> list[str]:
    """Enabled plugins this module does not reproduce (ssh, mpi, ray, hcclrank): the local engine must refuse them."""
    return [name for name in plugins_of(spec) if name not in MODELLED_PLUGINS]


def tf_roles(spec: JobSpec) -> dict[str, str]:
    """Task name → TF role under the tensorflow plugin's --ps/--worker/--chief/--evaluator arguments."""
    args = plugins_of(spec).get("tensorflow", {})
    return {args.get(role, role): role for role in TF_ROLES}


def tensorflow_plugin_dict(spec: JobSpec, task: TaskSpec | str, index: int,
                           endpoints: Endpoints) -> dict[str, Any] | None:
    """The tensorflow *plugin's* TF_CONFIG: keys ps, worker, chief, evaluator (evaluator included, empty ones
    omitted), no "environment"; none for a one-task, one-replica job. A task outside the four roles keeps
    its own name as its type."""
    t = task_of(spec, task)
    check_index(t, index)
    if len(spec.tasks) == 1 and spec.tasks[0].replicas == 1:
        return None
    roles = tf_roles(spec)
    by_role = {roles[x.name]: x.name for x in spec.tasks if x.name in roles and x.replicas > 0}
    present = [r for r in TF_ROLES if r in by_role]
    check_endpoints(spec, endpoints, [by_role[r] for r in present])
    return {"cluster": {r: list(endpoints[by_role[r]]) for r in present},
            "task": {"type": roles.get(t.name, t.name), "index": index}}


def auto_tf_cluster(spec: JobSpec, endpoints: Endpoints) -> dict[str, list[str]]:
    """`--tf-config auto`'s cluster map: the tasks named chief/ps/worker that have replicas, sorted as Go
    marshals a TFJob's map; the evaluator (and any other task) is not part of the training cluster.

    Shared by the local engine (loopback endpoints) and the Kubernetes renderer (svc host names), so both
    give the training code the same cluster.
    """
    names = sorted(x.name for x in spec.tasks if x.name in AUTO_TF_ROLES and x.replicas > 0)
    check_endpoints(spec, endpoints, names)
    return {n: list(endpoints[n]) for n in names}


def auto_tf_config_dict(spec: JobSpec, task: TaskSpec | str, index: int,
                        endpoints: Endpoints) -> dict[str, Any]:
    """`--tf-config auto`: the same TF_CONFIG a TFJob replica gets (see tf_config.py), built from the tasks
    named chief/ps/worker (the evaluator gets its task but is not in the cluster, as on a TFJob)."""
    t = task_of(spec, task)
    check_index(t, index)
    return {"cluster": auto_tf_cluster(spec, endpoints), "task": {"type": t.name, "index": index},
            "environment": "cloud"}


def tf_config(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> str | None:
    """TF_CONFIG for one pod: the tensorflow plugin's form when that plugin is on (it wins, as on a cluster,
    where the plugin writes it), else Arena's `auto` form, else none."""
    if "tensorflow" in plugins_of(spec):
        cfg = tensorflow_plugin_dict(spec, task, index, endpoints)
    elif options_of(spec).tf_config == "auto":
        cfg = auto_tf_config_dict(spec, task, index, endpoints)
    else:
        cfg = None
    return None if cfg is None else encode_go_json(cfg)


def pytorch_env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> dict[str, str]:
    """The pytorch plugin: rendezvous at master-0; RANK 0 on the master, index + 1 on workers.

    Task names follow its --master/--worker arguments. Nothing without a master task (the plugin logs and
    skips); other tasks get no RANK.
    """
    t = task_of(spec, task)
    check_index(t, index)
    args = plugins_of(spec).get("pytorch", {})
    master_name, worker_name = args.get("master", MASTER), args.get("worker", WORKER)
    master = spec.task(master_name)
    if master is None or master.replicas < 1:
        return {}
    check_endpoints(spec, endpoints, [master_name])
    addr = endpoints[master_name][0]
    env = {"MASTER_ADDR": host_of(addr), "MASTER_PORT": port_text(addr), "WORLD_SIZE": str(spec.total_replicas)}
    if t.name == worker_name:
        env["RANK"] = str(index + 1)
    elif t.name == master_name:
        env["RANK"] = "0"
    return env


def replica_env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints,
                hosts: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """Everything the job's enabled plugins (and --tf-config auto) inject into one pod.

    `hosts` (what VC_<TASK>_HOSTS lists) defaults to `endpoints`.
    """
    plugins = plugins_of(spec)
    t = task_of(spec, task)
    check_index(t, index)
    env: dict[str, str] = {}
    if "env" in plugins:
        env.update(env_plugin(index))
    if "svc" in plugins and plugins["svc"].get("inject-hosts-env", "true").lower() != "false":
        env.update(svc_env(spec, hosts if hosts is not None else endpoints))
    if "pytorch" in plugins:
        env.update(pytorch_env(spec, t, index, endpoints))
    value = tf_config(spec, t, index, endpoints)
    if value is not None:
        env["TF_CONFIG"] = value
    return env


def cluster_hosts(spec: JobSpec) -> dict[str, list[str]]:
    """Pod addresses on a cluster: `<job>-<task>-<i>.<job>` (hostname.subdomain set by the svc plugin)."""
    return {t.name: [svc_host(spec.name, t.name, i) for i in range(t.replicas)] for t in spec.tasks}


def cluster_endpoints(spec: JobSpec, port: int = TF_PORT) -> dict[str, list[str]]:
    """`cluster_hosts` with the plugin port appended (2222 for tensorflow, 23456 for pytorch)."""
    return {name: [f"{h}:{port}" for h in hosts] for name, hosts in cluster_hosts(spec).items()}
