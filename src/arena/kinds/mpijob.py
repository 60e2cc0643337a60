"""MPIJob: a launcher running mpirun over N workers through a hostfile."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arena.kinds.base import Kind
from arena.kinds.flags import COMMAND, JOB, RESOURCES, SUBMIT, Flag, Set, one_of, positive, run_policy, workers

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
    from arena.spec.job import KindOptions, MPIOptions, TaskSpec
    from arena.spec.jobfile import JobFile


# ---- flags and spec: the flags only this kind takes (listed with the shared sets in the class) -------------

WORKERS = workers(lambda draft, n: draft.set_replicas("worker", n), positive)
MPI_FLAGS: tuple[Flag, ...] = (
    Flag("--slots-per-worker", "slots_per_worker", "MPI ranks per worker (default: the worker's GPUs, else 1)",
         type=int, to=Set("options.slots_per_worker"), check=positive, example=2),
    Flag("--mpi-implementation", "mpi_implementation", "auto|openmpi|mpich", to=Set("options.implementation"),
         check=one_of("auto", "openmpi", "mpich"), default="auto", example="mpich"),
    Flag("--mpi-api-version", "mpi_api_version", "MPIJob API on a cluster: v1 (Training Operator), v2beta1 "
         "(mpi-operator) or v1alpha1 (arena's own mpi-operator); default: v1, else what the cluster serves",
         aliases=("--mpi-api",), to=Set("options.api_version"), check=one_of("v1", "v2beta1", "v1alpha1"),
         default="v1", example="v2beta1"),
    Flag("--gputopology", "gputopology", "GPU topology-aware scheduling (Aliyun's gpu-topology scheduler: "
         "aliyun.com/gpu, host network, no /dev/shm) (cluster)", switch=True, to=Set("options.gpu_topology"),
         example=True),
    Flag("--mounts-on-launcher", "mounts_on_launcher", "the launcher mounts the job's volumes too (MPIJob "
         "v1alpha1; v1 and v2beta1 launchers always do) (cluster)", switch=True,
         to=Set("options.mounts_on_launcher"), example=True),
)


class MPIJob(Kind):
    # ---- identity ------------------------------------------------------------------------------
    name = "mpijob"
    aliases = ('mpi', 'mj')

    # ---- flags and spec ------------------------------------------------------------------------
    flags = (*JOB, *COMMAND, *RESOURCES, WORKERS, *SUBMIT, *MPI_FLAGS, *run_policy("All"))
    roles = ("launcher", "worker")
    single_roles = ("launcher",)
    commandless_roles = ("worker",)  # workers host the ranks that the launcher's mpirun starts
    unsized_roles = ("launcher",)  # --cpu/--memory/--gpus are the workers'
    clean_pod_policy = "All"  # upstream's mpijob default

    @property
    def options_type(self) -> type[MPIOptions]:
        from arena.spec.job import MPIOptions

        return MPIOptions

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": self.name, "tasks": [{"name": "worker"}]}

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Launcher first (from the top-level command when the job lists none); slots default to the
        workers' GPUs (one rank per GPU), else 1; `workers` is the worker replicas."""
        import msgspec

        from arena.errors import InvalidSpec
        from arena.spec.common import check_roles, command_text
        from arena.spec.job import TaskSpec
        from arena.spec.mpijob import default_slots

        check_roles(self.name, tasks, key, self.roles, self.single_roles)
        by_name = {t.name: t for t in tasks}
        if "launcher" not in by_name and job.command is not None:
            launcher = TaskSpec(name="launcher", command=command_text(job.command, "command"), image=job.image)
            tasks, by_name = [launcher, *tasks], {"launcher": launcher, **by_name}
        if "launcher" not in by_name:
            raise InvalidSpec(key, "an mpijob needs a launcher role (or a top-level command for it)")
        if "worker" not in by_name:
            raise InvalidSpec(key, "an mpijob needs a worker role")
        if "slots_per_worker" not in job.options:
            options = msgspec.structs.replace(options, slots_per_worker=default_slots(by_name["worker"].resources))
        elif options.slots_per_worker < 1:  # type: ignore[union-attr]
            raise InvalidSpec("options.slots_per_worker", "must be 1 or more")
        return sorted(tasks, key=lambda t: t.name != "launcher"), options, by_name["worker"].replicas

    # ---- local engine --------------------------------------------------------------------------
    local_hostfile = "etc/mpi/hostfile"  # in the job directory
    local_idle = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"

    def local_probes(self, spec: JobSpec) -> tuple[str, ...]:
        """The hostfile's syntax follows the mpirun used: asked unless the job names its implementation."""
        from arena.spec.job import MPIOptions

        return ("mpirun",) if spec.options_as(MPIOptions).implementation == "auto" else ()

    def local_files(self, spec: JobSpec, net: Rendezvous) -> dict[str, str]:
        """The hostfile: every worker on this machine (one line, the slots summed)."""
        from arena.distributed import mpi

        worker = spec.task(mpi.WORKER)
        hosts = {mpi.LAUNCHER: ["localhost"], mpi.WORKER: ["localhost"] * (worker.replicas if worker else 0)}
        return {self.local_hostfile: mpi.hostfile(spec, hosts, self._implementation(spec, net), merge=True)}

    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """What points a bare `mpirun` at the hostfile (and ARENA_MPI_HOSTFILE), in every replica."""
        from arena.distributed import mpi
        from arena.engines.local.plan import in_job_dir

        path = in_job_dir(self.local_hostfile)
        return {**mpi.launcher_env(self._implementation(spec, net), path), "ARENA_MPI_HOSTFILE": path}

    def local_idle_command(self, spec: JobSpec, task: str) -> str:
        """Workers host no process of their own here (mpirun starts the ranks): they idle until stopped."""
        from arena.distributed import mpi

        return self.local_idle if task == mpi.WORKER else ""

    @staticmethod
    def _implementation(spec: JobSpec, net: Rendezvous) -> Any:
        from arena.distributed import mpi

        return mpi.resolve_implementation(spec, net.probes.get("mpirun"))

    # ---- kubernetes ----------------------------------------------------------------------------
    k8s_created_by = "MPIJob"
    # Three operators serve MPIJob: the training operator (v1), the mpi-operator (v2beta1) and Aliyun's
    # mpi-operator that upstream Arena installs and writes (v1alpha1). Preferred in this order.
    k8s_resources = ("mpijobs", "mpijobs-v2beta1", "mpijobs-v1alpha1")

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """An MPIJob of the spec's `--mpi-api-version`, then its TensorBoard."""
        from arena.engines.kubernetes.render import mpijob, tensorboard
        from arena.engines.kubernetes.render.context import Ctx

        from arena.spec.job import MPIOptions

        ctx = Ctx.of(spec, opts, gpu_topology=spec.options_as(MPIOptions).gpu_topology)
        primary = mpijob.job(ctx)
        return [primary, *tensorboard.objects(ctx, primary, mpijob.chief_selector(ctx))]

    def k8s_api_choices(self, spec: JobSpec) -> tuple[str, ...]:
        """v1 (the default) gives way to v2beta1, then v1alpha1, on a cluster that serves only another
        operator's MPIJob; an explicit v2beta1 or v1alpha1 is kept."""
        from arena.spec.job import MPIOptions

        return self.k8s_resources if spec.options_as(MPIOptions).api_version == "v1" else ()

    def k8s_with_api(self, spec: JobSpec, key: str) -> JobSpec:
        import msgspec

        from arena.engines.kubernetes.resources import CRDS
        from arena.spec.job import MPIOptions

        options = msgspec.structs.replace(spec.options_as(MPIOptions), api_version=CRDS[key].version)
        return msgspec.structs.replace(spec, options=options)

    def k8s_requirements(self) -> tuple[Alternative, ...]:
        from arena.engines.kubernetes.discovery import Alternative

        return (Alternative(("mpijobs",), "--mpi-api-version v1 (training operator)"),
                Alternative(("mpijobs-v2beta1",), "--mpi-api-version v2beta1 (mpi-operator)"),
                Alternative(("mpijobs-v1alpha1",), "--mpi-api-version v1alpha1 (arena's mpi-operator)"))

    def k8s_status(self) -> StatusMapping:
        from arena.engines.kubernetes.status import KUBEFLOW

        return KUBEFLOW

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """The launcher, which runs mpirun (v1alpha1 labels it `mpi_role_type: launcher`)."""
        from arena.engines.kubernetes.pods import is_role

        return (is_role("launcher"),)


KIND = MPIJob()
