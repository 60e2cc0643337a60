"""Volcano Job: named tasks, lifecycle policies, env and svc plugins."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arena.kinds.base import Kind
from arena.kinds.flags import (
    COMMAND,
    JOB,
    RESOURCES,
    Apply,
    Flag,
    Need,
    Set,
    cpu,
    memory,
    non_negative,
    port,
    positive,
)

if TYPE_CHECKING:  # kubernetes hook types: annotations only
    from arena.engines.kubernetes.discovery import Alternative
    from arena.engines.kubernetes.pods import Rule
    from arena.engines.kubernetes.render.context import RenderOptions
    from arena.engines.kubernetes.status import StatusMapping
    from arena.spec.job import JobSpec

if TYPE_CHECKING:  # local engine hook types
    from arena.engines.local.controllers.base import Controller
    from arena.engines.local.plan import Rendezvous

if TYPE_CHECKING:  # flags and spec hook types
    from arena.spec.draft import Draft
    from arena.spec.job import KindOptions, TaskSpec, VolcanoOptions
    from arena.spec.jobfile import JobFile


# ---- flags and spec: the flags only this kind takes (listed with the shared sets in the class) -------------
# Upstream's standalone volcanojob flags (no common set), plus the tasks, policies, dependencies and plugins
# of a real Volcano Job. Without --task the job has one task, shaped by --task-name/--task-replicas/...

_NO_TASK_FLAG = Need("cannot be used with --task; give each task's resources in --task NAME:REPLICAS:CPU:MEMORY:GPUS "
                     "(or use -f for devices)", lambda draft: not draft.given.get("task"))
_NOT_WITH_TASK = Need("cannot be used with --task (each --task names its own task)",
                      lambda draft: not draft.given.get("task"))
_ONE_TASK = Need("describes the job's only task: cannot be used with --task", lambda draft: not draft.given.get("task"))


def _has_command(command: Any) -> bool:
    text = command if isinstance(command, str) else " ".join(map(str, command or ()))
    return bool(text.strip())


def _task_items(draft: Draft, items: list[str]) -> None:
    """--task NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]][=COMMAND]: a task of that name is replaced, others added."""
    from arena.errors import InvalidSpec
    from arena.spec.common import command_text
    from arena.spec.volcanojob import parse_task

    command = draft.doc.get("command")
    job_command = command_text(command) if _has_command(command) else None
    seen: set[str] = set()
    for item in items:
        task = parse_task(item, job_command)
        if task.name in seen:
            raise InvalidSpec("--task", f"task {task.name} is given twice")
        seen.add(task.name)
        res = {k: v for k, v in (("cpu", task.resources.cpu), ("memory", task.resources.memory),
                                 ("gpus", task.resources.gpus)) if v}
        parsed = {"name": task.name, "replicas": task.replicas, "command": task.command} | (
            {"resources": res} if res else {})
        found = draft.task(task.name)
        if found is not None:
            found.update(parsed)
        else:
            draft.tasks().append(parsed)


# Upstream's volcanojob: one task per --task-images image, named <task-name>-<i>, each sized by the --task-*
# flags, whose defaults are these (`arena submit volcanojob --name x` alone makes three such tasks).
DEFAULT_TASK_IMAGES = ("ubuntu", "nginx", "busybox")
IMAGE_TASK_PREFIX = "task"  # --task-name's default for image tasks (the single task of --image is `worker`)
IMAGE_TASK_DEFAULTS = {"cpu": "250m", "memory": "128Mi", "port": 2222}


def _images(items: list[str], field: str) -> list[str]:
    """--task-images takes a comma-separated list and may be repeated (pflag's string slice)."""
    from arena.errors import InvalidSpec

    images = [image.strip() for item in items for image in str(item).split(",") if image.strip()]
    if not images:
        raise InvalidSpec(field, "needs at least one image")
    return images


def _task_images(draft: Draft, images: list[str]) -> None:
    """One task per image, `<task-name>-<i>`, with upstream's sizes; the other --task-* flags then size each."""
    prefix = draft.given.get("task_name") or IMAGE_TASK_PREFIX
    draft.doc["tasks"] = [{"name": f"{prefix}-{i}", "image": image, "port": IMAGE_TASK_DEFAULTS["port"],
                           "resources": {"cpu": IMAGE_TASK_DEFAULTS["cpu"], "memory": IMAGE_TASK_DEFAULTS["memory"]}}
                          for i, image in enumerate(images)]


def _image_tasks(draft: Draft) -> bool:
    return bool(draft.given.get("task_images"))


def _only_task(draft: Draft, flag: str) -> dict[str, Any] | None:
    from arena.errors import InvalidSpec

    tasks = draft.tasks()
    if len(tasks) > 1:
        raise InvalidSpec(flag, f"describes the job's only task, and this job has {len(tasks)}: use --task")
    return tasks[0] if tasks else None  # none: the job has no command, and `--task` is what is missing


def _on_only_task(flag: str, key: str) -> Apply:
    """The only task's field, or every --task-images task's (upstream sizes them all alike)."""
    def apply(draft: Draft, value: Any) -> None:
        if _image_tasks(draft):
            if key == "name":
                return  # the prefix of the image tasks' names, used when they were made
            targets = draft.tasks()
        else:
            task = _only_task(draft, flag)
            targets = [task] if task is not None else []
        for task in targets:
            if key.startswith("resources."):
                draft.set_resource(task, key.removeprefix("resources."), value)
            else:
                task[key] = value

    return Apply(apply, (f"tasks[*].{key}",))


def _policies(draft: Draft, items: list[str]) -> None:
    """[TASK:]EVENT=ACTION[@TIMEOUT]: job-level policies, or the named task's (each scope replaces the file's)."""
    from arena.errors import InvalidSpec
    from arena.spec.volcanojob import parse_policy

    job_level: list[str] = []
    per_task: dict[str, list[str]] = {}
    for item in items:
        task, _ = parse_policy(item)
        (per_task.setdefault(task, []) if task else job_level).append(item.partition(":")[2] if task else item)
    if job_level:
        draft.set("scheduling.policies", job_level)
    names = [str(t.get("name")) for t in draft.tasks()]
    for task, texts in per_task.items():
        found = draft.task(task)
        if found is None:
            raise InvalidSpec("--policy", f"policy for {task!r}, which is not a task of this job ({', '.join(names)})")
        found["policies"] = texts


def _depends_on(draft: Draft, items: list[str]) -> None:
    """TASK:DEP[,DEP...]: the task starts after its dependencies; other tasks, and no cycle."""
    from arena.errors import InvalidSpec
    from arena.spec.job import TaskSpec
    from arena.spec.volcanojob import check_depends_on, parse_depends_on

    names = [str(t.get("name")) for t in draft.tasks()]
    for task, deps in parse_depends_on(items).items():
        found = draft.task(task)
        if found is None:
            raise InvalidSpec("--depends-on", f"{task!r} is not a task of this job ({', '.join(names)})")
        found["depends_on"] = deps
    check_depends_on([TaskSpec(name=str(t.get("name")), depends_on=list(t.get("depends_on") or ()))
                      for t in draft.tasks()], "--depends-on")


def _tf_config(value: str, field: str) -> str:
    from arena.spec.volcanojob import tf_config_mode

    return tf_config_mode(value, field)


def _plugins(items: list[str], field: str) -> list[str]:
    from arena.spec.volcanojob import check_plugins

    return check_plugins(items, field)


VOLCANO_FLAGS: tuple[Flag, ...] = (
    *(flag.replace(needs=(*flag.needs, _NO_TASK_FLAG)) for flag in RESOURCES),
    Flag("--task", "task", "a task (repeatable); COMMAND defaults to the trailing command", repeat=True,
         metavar="NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]][=COMMAND]", to=Apply(_task_items, ("tasks",)), phase=0,
         example=["ps:1"]),
    Flag("--task-images", "task_images", "upstream's tasks: one per image (comma-separated or repeated), named "
         "<task-name>-<i>, running the trailing command or else the image's entrypoint (default when neither "
         "a command, --image nor --task is given: ubuntu,nginx,busybox)", camel="--taskImages", repeat=True,
         metavar="IMAGE[,IMAGE...]", check=_images, to=Apply(_task_images, ("tasks",)), needs=(_NOT_WITH_TASK,), phase=0,
         example=["alpine,busybox"]),
    Flag("--task-name", "task_name", "name of the one task when no --task is given (default: worker), or the "
         "prefix of the --task-images tasks (default: task)", camel="--taskName",
         to=_on_only_task("--task-name", "name"), needs=(_ONE_TASK,), phase=0, example="trainer"),
    Flag("--task-replicas", "task_replicas", "replicas of the single task (of each --task-images task)",
         camel="--taskReplicas", type=int, check=positive, default=1,
         to=_on_only_task("--task-replicas", "replicas"), needs=(_ONE_TASK,), phase=0, example=2),
    Flag("--task-cpu", "task_cpu", "CPU per replica of the single task (default: --cpu; 250m for --task-images "
         "tasks)", camel="--taskCPU", check=cpu, to=_on_only_task("--task-cpu", "resources.cpu"),
         needs=(_ONE_TASK,), example="500m"),
    Flag("--task-memory", "task_memory", "memory per replica of the single task (default: --memory; 128Mi for "
         "--task-images tasks)", camel="--taskMemory", check=memory,
         to=_on_only_task("--task-memory", "resources.memory"), needs=(_ONE_TASK,), example="256Mi"),
    Flag("--task-port", "task_port", "container port of the single task (2222 for --task-images tasks)",
         camel="--taskPort", type=int, check=port, to=_on_only_task("--task-port", "port"), needs=(_ONE_TASK,),
         example=2223),
    Flag("--policy", "policy", "lifecycle policy, e.g. worker:PodFailed=RestartTask (repeatable)", repeat=True,
         metavar="[TASK:]EVENT=ACTION[@TIMEOUT]",
         to=Apply(_policies, ("scheduling.policies", "tasks[*].policies")), example=["PodEvicted=RestartJob"]),
    Flag("--depends-on", "depends_on", "start TASK after its dependencies are ready (repeatable)", repeat=True,
         metavar="TASK:DEP[,DEP...]", to=Apply(_depends_on, ("tasks[*].depends_on",)), example=["b:a"],
         example_with={"task": ["a:1", "b:1"]}),
    Flag("--min-available", "min_available", "gang size (default: every replica)", camel="--minAvailable",
         type=int, check=non_negative, to=Set("scheduling.min_available"), example=1),
    Flag("--max-retry", "max_retry", "job restarts allowed (default: Volcano's 3)", type=int, check=non_negative,
         to=Set("scheduling.max_retry"), example=2),
    Flag("--tf-config", "tf_config", "none|auto: auto gives tasks a TFJob's TF_CONFIG", check=_tf_config,
         to=Set("options.tf_config"), default="none", example="auto"),
    Flag("--plugin", "plugin", "job plugin (repeatable; default env and svc; 'none' for none)", repeat=True,
         keywords=("plugins",), metavar="NAME[:--ARG[=V],...]", check=_plugins, to=Set("options.plugins"),
         example=["env"]),
    Flag("--scheduler-name", "scheduler", "schedulerName on the cluster", aliases=("--scheduler",),
         camel="--schedulerName",
         keywords=("scheduler_name",), to=Set("scheduling.scheduler_name"), default="volcano", example="kube-batch"),
)


class VolcanoJob(Kind):
    # ---- identity ------------------------------------------------------------------------------
    name = "volcanojob"
    aliases = ('vj', 'volcano')

    # ---- flags and spec ------------------------------------------------------------------------
    flags = (*JOB, *COMMAND, *VOLCANO_FLAGS)
    needs_command = False  # each --task may carry its own command
    image_entrypoint = True  # --task-images tasks without a command run their image's entrypoint
    volcano_only = frozenset({"policies", "depends_on", "min_available", "max_retry", "scheduling.policies",
                              "scheduling.max_retry"})

    @property
    def options_type(self) -> type[VolcanoOptions]:
        from arena.spec.job import VolcanoOptions

        return VolcanoOptions

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        """One task named --task-name (worker) running the trailing command, unless --task or --task-images
        lists them."""
        one = not opts.get("task") and not opts.get("task_images") and _has_command(opts.get("command"))
        return {"kind": self.name, "tasks": [{"name": "worker"}] if one else []}

    def spec_from_options(self, opts: Mapping[str, Any], namespace: str | None = None,
                          document: Mapping[str, Any] | None = None) -> JobSpec:
        """Given nothing that describes the tasks (no command, --image, --task, --task-images or file), the job
        is upstream's default: one task per DEFAULT_TASK_IMAGES image, so its scripts run unchanged."""
        described = any(opts.get(key) for key in ("task", "task_images", "image")) or _has_command(opts.get("command"))
        if document is None and not described:
            opts = {**opts, "task_images": list(DEFAULT_TASK_IMAGES)}
        return super().spec_from_options(opts, namespace=namespace, document=document)

    def volcano_fields(self, options: KindOptions) -> frozenset[str]:
        return self.volcano_only

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Unique tasks whose pod names stay DNS labels, dependencies between them without a cycle, the
        plugins and TF_CONFIG mode checked; `workers` counts every replica."""
        from arena.errors import InvalidSpec
        from arena.spec.job import VolcanoOptions
        from arena.spec.volcanojob import check_depends_on, check_plugins, check_tasks, tf_config_mode

        check_tasks(job.name, tasks, key)
        names = {t.name for t in tasks}
        for i, t in enumerate(tasks):
            for dep in t.depends_on:
                if dep not in names or dep == t.name:
                    raise InvalidSpec(f"{key}[{i}].depends_on", f"{dep!r} must name another task of this job")
        check_depends_on(tasks, key)
        plugins = check_plugins(options.plugins, "options.plugins")  # type: ignore[union-attr]
        mode = tf_config_mode(options.tf_config, "options.tf_config")  # type: ignore[union-attr]
        return tasks, VolcanoOptions(tf_config=mode, plugins=plugins), sum(t.replicas for t in tasks)  # type: ignore[arg-type]

    # ---- local engine --------------------------------------------------------------------------
    local_svc_dir = "etc/volcano"  # in the job directory (/etc/volcano on a cluster)

    def local_check(self, spec: JobSpec) -> None:
        from arena.distributed import volcano
        from arena.errors import InvalidSpec

        idle = [t.name for t in spec.tasks if not t.command]
        if idle:
            raise InvalidSpec("--task-images", f"task {idle[0]} runs its image's entrypoint, and the local engine "
                                               "runs commands, not images: give a command, or --engine kubernetes")

        if unmodelled := volcano.unmodelled_plugins(spec):
            raise InvalidSpec("--plugin", f"the local engine does not model the {', '.join(unmodelled)} "
                                          "plugin(s); drop them or use --engine kubernetes")

    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """What the enabled plugins inject (env, svc, pytorch, tensorflow / --tf-config auto), and VC_CONFIG_DIR."""
        from arena.distributed import volcano

        env = volcano.replica_env(spec, task, index, net.endpoints)
        if "svc" in volcano.plugins_of(spec):
            env.update(self.local_svc_env())
        return env

    def local_files(self, spec: JobSpec, net: Rendezvous) -> dict[str, str]:
        """The svc plugin's ConfigMap as files (<task>.host, VC_<TASK>_HOSTS, VC_<TASK>_NUM)."""
        from arena.distributed import volcano

        return self.local_svc_files(spec, net) if "svc" in volcano.plugins_of(spec) else {}

    def local_svc_files(self, spec: JobSpec, net: Rendezvous) -> dict[str, str]:
        """Every key of the svc plugin's ConfigMap, a file under `etc/volcano` (shared with AppWrapper)."""
        from arena.distributed import volcano

        return {f"{self.local_svc_dir}/{name}": text for name, text in volcano.svc_entries(spec, net.endpoints).items()}

    def local_svc_env(self) -> dict[str, str]:
        """VC_CONFIG_DIR: where the svc plugin's files are (a cluster mounts them at /etc/volcano)."""
        from arena.engines.local.plan import in_job_dir

        return {"VC_CONFIG_DIR": in_job_dir(self.local_svc_dir)}

    def local_controller(self, spec: JobSpec) -> Controller:
        """Lifecycle policies, maxRetry and Volcano's completion rules."""
        from arena.engines.local.controllers.volcano import Volcano

        return Volcano()

    # ---- kubernetes ----------------------------------------------------------------------------
    k8s_created_by = "VolcanoJob"
    k8s_share_memory = None  # upstream's volcanojob chart mounts no /dev/shm
    k8s_resources = ("jobs.batch.volcano.sh",)

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """A batch.volcano.sh Job, then its TensorBoard (next to pod 0 of the first task)."""
        from arena.engines.kubernetes.render import tensorboard, volcanojob
        from arena.engines.kubernetes.render.context import Ctx

        ctx = Ctx.of(spec, opts, upstream_env=False)  # upstream's volcanojob has no common flags
        primary = volcanojob.job(ctx)
        return [primary, *tensorboard.objects(ctx, primary, volcanojob.chief_selector(spec.name, spec.tasks[0].name))]

    def k8s_requirements(self) -> tuple[Alternative, ...]:
        """The controllers (the Job) and the scheduler (its PodGroup)."""
        from arena.engines.kubernetes.discovery import Alternative

        return (Alternative(("jobs.batch.volcano.sh", "podgroups")),)

    def k8s_status(self) -> StatusMapping:
        from arena.engines.kubernetes.status import VOLCANO

        return VOLCANO

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """Pod 0 of the first task (upstream's `volcano-role: driver`), else any pod 0."""
        from arena.engines.kubernetes.pods import driver, first

        return (driver, first)


KIND = VolcanoJob()
