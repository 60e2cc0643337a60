"""AppWrapper (the fork's appwrapperjob) around a PyTorchJob or a Volcano Job, with its fault tolerance."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from arena.kinds.base import Kind
from arena.kinds.flags import (
    COMMAND,
    JOB,
    RESOURCES,
    SUBMIT,
    Apply,
    Flag,
    Need,
    Set,
    dns_label,
    duration,
    non_negative,
    nproc,
    one_of,
    positive,
    run_policy,
    workers,
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
    from arena.spec.job import AppWrapperOptions, KindOptions, TaskSpec
    from arena.spec.jobfile import JobFile


# ---- flags and spec: the flags only this kind takes (listed with the shared sets in the class) -------------
# The fork's appwrapperjob flags (ARENA.md §2.6): the common ones, the AppWrapper's fault tolerance, and the
# knobs of a Volcano inner job (refused, not ignored, around a PyTorchJob).

def _inner(draft: Draft) -> str:
    return str(draft.option("inner_type") or "pytorch")


_VOLCANO = Need("needs --inner-type volcano", lambda draft: _inner(draft) == "volcano", {"inner_type": "volcano"})
_PYTORCH = Need("needs --inner-type pytorch (the default); a volcano inner job takes --replicas",
                lambda draft: _inner(draft) == "pytorch")


def _each_task(key: str) -> Apply:
    def apply(draft: Draft, value: Any) -> None:
        for task in draft.tasks():
            task[key] = value

    return Apply(apply, ("tasks", f"tasks[*].{key}") if key == "replicas" else (f"tasks[*].{key}",))


def _task_name(draft: Draft, name: str) -> None:
    """The Volcano task's name: options.task_name, and the one task (unless the file named it otherwise)."""
    old = draft.option("task_name")
    draft.set("options.task_name", name)
    tasks = draft.tasks()
    if len(tasks) == 1 and (old is None or tasks[0].get("name") == old):
        tasks[0]["name"] = name


def _master_port(value: int, field: str) -> int:
    from arena.errors import InvalidSpec

    if not 1 <= value <= 65535:
        raise InvalidSpec(field, "must be between 1 and 65535")
    return value


def _option(name: str, help: str, volcano: bool = False, **kw: Any) -> Flag:
    """A flag that is the AppWrapperOptions field of the same name."""
    dest = name.removeprefix("--").replace("-", "_")
    return Flag(name, dest, help, to=Set(f"options.{dest}"), needs=(_VOLCANO,) if volcano else (), **kw)


WORKERS = workers(lambda draft, n: draft.set_replicas("worker", n - 1), positive, needs=(_PYTORCH,),
                  help="number of workers, the master included")
APPWRAPPER_FLAGS: tuple[Flag, ...] = (
    _option("--nproc-per-node", "auto|cpu|gpu|N (PET_NPROC_PER_NODE)", check=nproc, example="gpu"),
    _option("--inner-type", "pytorch|volcano", check=one_of("pytorch", "volcano"), default="pytorch", phase=-1,
            example="volcano"),
    _option("--retry-limit", "AppWrapper retryLimit", type=int, check=non_negative, default=3, example=1),
    _option("--admission-grace-period", "AppWrapper admission grace", check=duration, default="1m", example="2m"),
    _option("--warmup-grace-period", "AppWrapper warmup grace", check=duration, default="5m", example="10m"),
    _option("--failure-grace-period", "AppWrapper failure grace", check=duration, default="1m", example="2m"),
    _option("--retry-pause-period", "AppWrapper pause between retries", check=duration, default="90s",
            example="1m"),
    _option("--success-ttl", "delete the AppWrapper this long after success", check=duration, example="1h"),
    Flag("--min-available", "min_available", "volcano: gang size (default 0: every replica)", type=int,
         check=non_negative, to=Set("scheduling.min_available"), needs=(_VOLCANO,), example=1,
         example_with={"replicas": 2}),
    Flag("--scheduler-name", "scheduler_name", "schedulerName (default: volcano for --inner-type volcano)",
         to=Set("scheduling.scheduler_name"), example="kube-batch"),
    Flag("--task-name", "task_name", "volcano: task name", check=dns_label, default="worker",
         to=Apply(_task_name, ("options.task_name", "tasks[*].name")), needs=(_VOLCANO,), phase=0,
         example="trainer"),
    Flag("--max-retry", "max_retry", "volcano: task maxRetry", type=int, check=non_negative, default=10000,
         to=_each_task("max_retry"), needs=(_VOLCANO,), example=7),
    Flag("--replicas", "replicas", "volcano: task replicas", type=int, check=positive, default=1,
         to=_each_task("replicas"), needs=(_VOLCANO,), phase=0, example=2),
    _option("--master-port", "MASTER_PORT and service port", type=int, check=_master_port, default=23456,
            example=29400),
    _option("--use-svc-plugin", "volcano: use Volcano's svc plugin (--use-svc-plugin=false for a headless Service)",
            volcano=True, tri_state=True, default=True, example=False),
    _option("--network-topology-mode", "volcano: hard|soft", volcano=True, check=one_of("hard", "soft"),
            example="hard"),
    _option("--highest-tier-allowed", "volcano: networkTopology highestTierAllowed", volcano=True, type=int,
            check=non_negative, example=2, example_with={"network_topology_mode": "hard"}),
    _option("--total-partitions", "volcano: partitionPolicy totalPartitions", volcano=True, type=int,
            check=non_negative, example=2, example_with={"partition_size": 2}),
    _option("--partition-size", "volcano: partitionPolicy partitionSize", volcano=True, type=int,
            check=non_negative, example=2, example_with={"total_partitions": 2}),
    _option("--partition-topology-mode", "volcano: partition networkTopology mode hard|soft", volcano=True,
            check=one_of("hard", "soft"), example="soft", example_with={"total_partitions": 2, "partition_size": 2}),
    _option("--partition-highest-tier", "volcano: partition networkTopology highestTierAllowed", volcano=True,
            type=int, check=non_negative, example=1,
            example_with={"total_partitions": 2, "partition_size": 2, "partition_topology_mode": "soft"}),
    _option("--ring-controller", "label ring-controller.volcano (Ascend)", example="ascend-1980"),
)


class AppWrapperJob(Kind):
    # ---- identity ------------------------------------------------------------------------------
    name = "appwrapperjob"
    aliases = ('aw', 'appwrapper')

    # ---- flags and spec ------------------------------------------------------------------------
    flags = (*JOB, *COMMAND, *RESOURCES, WORKERS, *SUBMIT, *run_policy("None"), *APPWRAPPER_FLAGS)
    # None, not the chart's Running: the fork writes a top-level cleanPodPolicy that the v1 CRD prunes, so the
    # Training Operator applies its own default (None); with Running it deletes workers still running when the
    # master succeeds, the AppWrapper controller then counts too few succeeded pods and resets the job.
    clean_pod_policy = "None"

    @property
    def options_type(self) -> type[AppWrapperOptions]:
        from arena.spec.job import AppWrapperOptions

        return AppWrapperOptions

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        """Master (+ workers) around a PyTorchJob; one task named --task-name around a Volcano Job."""
        volcano = opts.get("inner_type") == "volcano"
        return {"kind": self.name, "tasks": [{"name": "worker" if volcano else "master"}]}

    def default_restart(self, role: str, options: KindOptions) -> str:
        """A PyTorchJob's workers restart OnFailure; a Volcano task's replicas never (the fork's chart)."""
        return "OnFailure" if options.inner_type == "pytorch" and role == "worker" else "Never"  # type: ignore[union-attr]

    def volcano_fields(self, options: KindOptions) -> frozenset[str]:
        """The fork's --max-retry is the Volcano task's maxRetry."""
        return frozenset({"max_retry"}) if options.inner_type == "volcano" else frozenset()  # type: ignore[union-attr]

    def check_options(self, options: KindOptions, field: Callable[[str], str]) -> KindOptions:
        from arena.spec.appwrapperjob import check_options

        return check_options(options, field)  # type: ignore[arg-type]

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Around a PyTorchJob, its Master/Worker roles; around a Volcano Job, exactly one task named
        options.task_name, whose maxRetry defaults to the fork's 10000."""
        import msgspec

        from arena.errors import InvalidSpec
        from arena.kinds.pytorchjob import master_and_workers
        from arena.spec.appwrapperjob import DEFAULT_MAX_RETRY

        if options.inner_type == "pytorch":  # type: ignore[union-attr]
            tasks, workers_ = master_and_workers(self.name, tasks, key)
            return tasks, options, workers_
        if len(tasks) != 1:
            raise InvalidSpec(key, "an appwrapperjob with inner_type volcano has exactly one task")
        task = tasks[0]
        if "task_name" not in job.options:
            options = msgspec.structs.replace(options, task_name=task.name)
        elif task.name != options.task_name:  # type: ignore[union-attr]
            raise InvalidSpec(f"{key}[0].name", f"must match options.task_name ({options.task_name})")  # type: ignore[union-attr]
        if task.max_retry is None:
            task = msgspec.structs.replace(task, max_retry=DEFAULT_MAX_RETRY)
        return [task], options, task.replicas

    def finish(self, spec: JobSpec) -> JobSpec:
        """Around a Volcano Job, the gang is every replica unless --min-available says otherwise (the fork's
        0), and Volcano schedules it unless another scheduler is named."""
        import msgspec

        if spec.options.inner_type != "volcano":  # type: ignore[union-attr]
            return spec
        sched = spec.scheduling
        return msgspec.structs.replace(spec, scheduling=msgspec.structs.replace(
            sched, min_available=sched.min_available or spec.total_replicas,
            scheduler_name=sched.scheduler_name or "volcano"))

    # ---- local engine --------------------------------------------------------------------------
    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """The inner job's env: the Training Operator's (pytorch) or the chart's torchrun block and svc env
        (volcano); PET_NPROC_PER_NODE for both."""
        from arena.distributed import appwrapper, torch_env

        env: dict[str, str] = {}
        if appwrapper.options_of(spec).inner_type == "pytorch":
            env.update(torch_env.env(spec, task, index, net.host, net.port("master-0")))
        env.update(appwrapper.replica_env(spec, task, index, net.endpoints))
        if self._svc_plugin(spec):
            env.update(self._volcano().local_svc_env())
        return env

    def local_files(self, spec: JobSpec, net: Rendezvous) -> dict[str, str]:
        """The svc plugin's files, for a Volcano inner job that uses it (--use-svc-plugin, the default)."""
        return self._volcano().local_svc_files(spec, net) if self._svc_plugin(spec) else {}

    def local_controller(self, spec: JobSpec) -> Controller:
        """Resets and retryLimit around the inner job's own rules."""
        from arena.distributed import appwrapper
        from arena.engines.local.controllers.appwrapper import AppWrapper
        from arena.engines.local.controllers.kubeflow import Kubeflow
        from arena.engines.local.controllers.volcano import Volcano

        return AppWrapper(Volcano() if appwrapper.options_of(spec).inner_type == "volcano" else Kubeflow())

    @staticmethod
    def _svc_plugin(spec: JobSpec) -> bool:
        from arena.distributed import appwrapper

        opts = appwrapper.options_of(spec)
        return opts.inner_type == "volcano" and opts.use_svc_plugin

    @staticmethod
    def _volcano() -> Any:
        from arena.kinds import volcanojob

        return volcanojob.KIND

    # ---- kubernetes ----------------------------------------------------------------------------
    k8s_created_by = "AppWrapperJob"
    k8s_resources = ("appwrappers",)

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """An AppWrapper around a PyTorchJob or a Volcano Job (`--inner-type`); in volcano mode without
        the svc plugin a headless Service for MASTER_ADDR; then the TensorBoard."""
        from arena.engines.kubernetes.render import appwrapperjob, tensorboard

        ctx, options = appwrapperjob.context(spec, opts)
        meta = appwrapperjob.metadata(ctx, options)
        component, chief, task = appwrapperjob.inner(ctx, options)
        primary = appwrapperjob.wrapper(meta, component)
        aux = [appwrapperjob.master_service(ctx, options, task, primary)] \
            if task is not None and not options.use_svc_plugin else []
        return [primary, *aux, *tensorboard.objects(ctx, primary, chief)]

    def k8s_requirements(self) -> tuple[Alternative, ...]:
        from arena.engines.kubernetes.discovery import Alternative

        return (Alternative(("appwrappers", "pytorchjobs"), "--inner-type pytorch"),
                Alternative(("appwrappers", "jobs.batch.volcano.sh", "podgroups"), "--inner-type volcano"))

    def k8s_status(self) -> StatusMapping:
        from arena.engines.kubernetes.status import APPWRAPPER

        return APPWRAPPER

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """The PyTorchJob's master, else the Volcano task's pod 0, else a pod named `…-0`."""
        from arena.engines.kubernetes.pods import driver, first, is_role, zero_suffix

        return (is_role("master"), driver, first, zero_suffix)


KIND = AppWrapperJob()
