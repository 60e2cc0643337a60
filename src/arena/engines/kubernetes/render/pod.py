"""The pod template every kind shares: container, env, resources, volumes, placement.

Kind modules only say what differs (container name, ports, kind env, extra labels); everything a
user sets once for the whole job (data, sync, shm, tolerations, selectors, priority) lands here,
so every kind renders it the same way.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arena.engines.kubernetes.labels import ANNOTATION_ENI
from arena.engines.kubernetes.render import sync, tensorboard, tolerations
from arena.engines.kubernetes.render.context import Ctx
from arena.errors import InvalidSpec
from arena.spec.job import Resources, TaskSpec

DEFAULT_WORKING_DIR = "/root"  # upstream's --working-dir default
SHM_VOLUME = "dshm"
GPU_RESOURCE = "nvidia.com/gpu"
RDMA_RESOURCE = "rdma/hca"  # upstream's --rdma device
POD_RESTART_POLICIES = ("Never", "OnFailure", "Always")
CONFIG_FILE_KEY = 15  # upstream names a --config-file ConfigMap <job>-<md5(container dir)[:15]>


def env_value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def env_field(name: str, field_path: str) -> dict[str, Any]:
    """An env var read from the pod itself (downward API), e.g. a Volcano task index annotation."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def annotation_path(key: str) -> str:
    return f"metadata.annotations['{key}']"


def working_dir(ctx: Ctx) -> str:
    return ctx.spec.working_dir or DEFAULT_WORKING_DIR


def image(ctx: Ctx, task: TaskSpec) -> str:
    img = task.image or ctx.spec.image
    if not img:
        raise InvalidSpec("--image", f"an image is required (task {task.name!r} has none)")
    return img


def resources(res: Resources, *, rdma: bool = False, gpu_resource: str = GPU_RESOURCE) -> dict[str, Any] | None:
    """requests == limits, as upstream renders them: the pod gets exactly what it asked for, except where a
    limit above the request is given (tfjob's --<role>-cpu-limit/--<role>-memory-limit); --rdma adds the
    rdma/hca device; `gpu_resource` is the GPU's name (aliyun.com/gpu under --gputopology)."""
    amounts: dict[str, Any] = {}
    if res.cpu:
        amounts["cpu"] = res.cpu
    if res.memory:
        amounts["memory"] = res.memory
    if res.gpus:
        amounts[gpu_resource] = res.gpus
    amounts.update(res.devices)
    if rdma:
        amounts[RDMA_RESOURCE] = 1
    limits = dict(amounts)
    if res.cpu_limit:
        limits["cpu"] = res.cpu_limit
    if res.memory_limit:
        limits["memory"] = res.memory_limit
    if not limits:
        return None
    # A limit alone: Kubernetes makes the request equal to it, as upstream's chart leaves it.
    return {"limits": limits, "requests": amounts} if amounts else {"limits": limits}


def user_env(ctx: Ctx, task: TaskSpec) -> dict[str, str]:
    """The job's and the task's `-e` values, the task's winning, without the code-sync credentials: those
    only ever reach the init container through the credentials Secret (`sync.credentials_secret`)."""
    env = {**ctx.spec.env, **task.env}
    if ctx.spec.sync is not None:
        env = {k: v for k, v in env.items() if k not in sync.CREDENTIAL_ENV}
    return env


def container_env(ctx: Ctx, task: TaskSpec, kind_env: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Injected env first (so user values may reference it with $(VAR)), then job env, task env.

    A user variable with an injected name replaces it in place: the user always wins.
    Each `kind_env` entry is copied at its top level only: callers build nested objects (valueFrom)
    afresh for every template (`env_field`), and flat entries shared between templates get their own
    copy here, so templates never share a mutable env entry.
    """
    out: dict[str, dict[str, Any]] = {}
    res = task.resources
    if res.gpus == 0 and not res.devices:
        out["NVIDIA_VISIBLE_DEVICES"] = env_value("NVIDIA_VISIBLE_DEVICES", "void")
    if ctx.upstream_env:
        out["workers"] = env_value("workers", str(ctx.spec.workers))
        out["gpus"] = env_value("gpus", str(res.gpus))
    for item in kind_env:
        out[item["name"]] = dict(item)
    for name, value in user_env(ctx, task).items():
        out[name] = env_value(name, value)
    return list(out.values())


def config_file_key(mount_path: str) -> str:
    """Upstream's key of a --config-file's container directory: the ConfigMap `<job>-<key>` and its volume."""
    import hashlib
    import posixpath

    return hashlib.md5(posixpath.dirname(mount_path).encode()).hexdigest()[:CONFIG_FILE_KEY]  # noqa: S324 - a name


def config_files(ctx: Ctx) -> dict[str, dict[str, str]]:
    """--config-file contents by container directory key: {key: {file name: content}} (one ConfigMap each)."""
    import posixpath

    out: dict[str, dict[str, str]] = {}
    for cf in ctx.spec.config_files:
        content = ctx.opts.files.get(cf.host_path)
        if content is None:
            raise InvalidSpec("--config-file", f"{cf.host_path} was not read (the plan reads --config-file files)")
        out.setdefault(config_file_key(cf.mount_path), {})[posixpath.basename(cf.mount_path)] = content
    return out


def volumes(ctx: Ctx) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, main-container mounts) for config files, sync, data, data dirs, shm and TensorBoard logs.

    Config files are mounted file by file (subPath), where upstream mounts the ConfigMap over the whole
    container directory and so hides the directory's other files (`--config-file a.cnf:/etc/a.cnf` hid /etc)."""
    import posixpath

    spec = ctx.spec
    vols: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    keys: list[str] = []
    for cf in spec.config_files:
        key = config_file_key(cf.mount_path)
        if key not in keys:
            keys.append(key)
            vols.append({"name": key, "configMap": {"name": f"{ctx.name}-{key}"}})
        mounts.append({"name": key, "mountPath": cf.mount_path, "subPath": posixpath.basename(cf.mount_path)})
    if spec.sync:
        vols.append(sync.volume())
        mounts.append(sync.mount(working_dir(ctx)))
    for data in spec.data:
        vols.append({"name": data.name, "persistentVolumeClaim": {"claimName": data.name}})
        mounts.append({"name": data.name, "mountPath": data.path})
    for i, d in enumerate(spec.data_dirs):
        vols.append({"name": f"training-data-{i}", "hostPath": {"path": d.host_path}})
        mounts.append({"name": f"training-data-{i}", "mountPath": d.mount_path})
    logs = tensorboard.log_volume(spec)
    if logs:
        vols.append(logs[0])
        mounts.append(logs[1])
    shm = ctx.share_memory
    if shm and not ctx.no_shm:
        vols.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": shm}})
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    names = [v["name"] for v in vols]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise InvalidSpec("--data", f"volume name {clash[0]!r} is used twice (it is reserved by arena)")
    return vols, mounts


def placement(ctx: Ctx, scheduler_name: str | None, task: TaskSpec | None = None) -> dict[str, Any]:
    """Pod spec fields deciding where and how urgently pods run; a role's own node selector replaces the
    job's (upstream's tfjob --<role>-selector)."""
    sched = ctx.spec.scheduling
    out: dict[str, Any] = {}
    if scheduler_name:
        out["schedulerName"] = scheduler_name
    if sched.priority:
        out["priorityClassName"] = sched.priority
    selector = (task.node_selector if task is not None else None) or sched.node_selector
    if selector:
        out["nodeSelector"] = dict(selector)
    tols = tolerations.parse_all(sched.tolerations)
    if tols:
        out["tolerations"] = tols
    return out


def host_namespaces(ctx: Ctx) -> dict[str, Any]:
    """--hostNetwork/--hostIPC/--hostPID as upstream renders them: the host network with the DNS policy that
    keeps cluster names resolvable, and no host network for Aliyun ENI pods (they get their own interface)."""
    spec = ctx.spec
    out: dict[str, Any] = {}
    eni = spec.annotations.get(ANNOTATION_ENI) == "true"
    if (spec.host_network or ctx.host_network) and not eni:
        out.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    if spec.host_pid:
        out["hostPID"] = True
    if spec.host_ipc:
        out["hostIPC"] = True
    return out


def restart_policy(task: TaskSpec) -> str:
    """The pod-level restartPolicy; `ExitCode` exists only on Kubeflow replica specs."""
    if task.restart_policy not in POD_RESTART_POLICIES:
        raise InvalidSpec(f"tasks[{task.name}].restart_policy",
                          f"{task.restart_policy!r} is not a pod restart policy ({', '.join(POD_RESTART_POLICIES)})")
    return task.restart_policy


def main_container(ctx: Ctx, task: TaskSpec, name: str, *, ports: Iterable[Mapping[str, Any]] = (),
                   kind_env: Iterable[Mapping[str, Any]] = (),
                   mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": image(ctx, task), **ctx.pull_policy()}
    if task.command:
        out["command"] = [ctx.spec.shell, "-c", task.command]
    out["workingDir"] = working_dir(ctx)
    env = container_env(ctx, task, kind_env)
    if env:
        out["env"] = env
    port_list = [dict(p) for p in ports]
    if port_list:
        out["ports"] = port_list
    res = resources(task.resources, rdma=ctx.spec.rdma, gpu_resource=ctx.gpu_resource)
    if res:
        out["resources"] = res
    if ctx.spec.rdma:  # RDMA memory registration needs locked memory
        out["securityContext"] = {"capabilities": {"add": ["IPC_LOCK"]}}
    if mounts:
        out["volumeMounts"] = mounts
    return out


def pod_template(ctx: Ctx, task: TaskSpec, *, container: str, ports: Iterable[Mapping[str, Any]] = (),
                 kind_env: Iterable[Mapping[str, Any]] = (), labels: Mapping[str, str] | None = None,
                 restart: str | None = None, scheduler_name: str | None = None,
                 extra_spec: Mapping[str, Any] | None = None,
                 annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A PodTemplateSpec for one role of the job.

    restart: the pod restartPolicy to write (None leaves it to the operator, as Kubeflow
    replica specs carry their own); extra_spec: kind-specific pod spec fields (e.g. subdomain);
    annotations: the kind's job annotations, which upstream's charts put on every pod too.
    """
    vols, mounts = volumes(ctx)
    spec: dict[str, Any] = {}
    if restart:
        spec["restartPolicy"] = restart
    spec.update(placement(ctx, scheduler_name, task))
    spec.update(host_namespaces(ctx))
    if extra_spec:
        spec.update(extra_spec)
    if ctx.spec.sync:
        init_res = resources(Resources(cpu=task.resources.cpu, memory=task.resources.memory))
        spec["initContainers"] = [sync.init_container(ctx, init_res, user_env(ctx, task))]
    pull_secrets = ctx.pull_secrets()
    if pull_secrets:
        spec["imagePullSecrets"] = pull_secrets
    spec["containers"] = [main_container(ctx, task, container, ports=ports, kind_env=kind_env, mounts=mounts)]
    if vols:
        spec["volumes"] = vols
    meta: dict[str, Any] = {"labels": {**ctx.labels(), **ctx.gang_labels(), **(labels or {})}}
    pod_annotations = {**ctx.annotations(), **(annotations or {})}
    if pod_annotations:
        meta["annotations"] = pod_annotations
    return {"metadata": meta, "spec": spec}
