"""What a job kind declares, in one place: the `Kind` base class every registry module subclasses.

A kind module (`arena.kinds.<kind>`) holds everything that differs between kinds, in four sections:

- identity: names, aliases, the TRAINER column;
- flags and spec: its flags (upstream spelling, deprecated camelCase spelling, type, default, help)
  and how each maps into the `JobSpec`, its job-file rules, its roles and restart rules;
- local engine: its environment contract (from `arena.distributed`), the files a replica needs,
  and its controller (a replica's exit -> the job's outcome);
- kubernetes: its renderer (JobSpec -> manifests), the API resources it lives in, and how its
  status maps onto Arena's statuses.

Nothing outside `arena.kinds` branches on a kind's name: callers ask the registry
(`arena.kinds.get(name)`) and call the hooks below. Heavy imports stay inside the hooks so that
importing the registry costs the CLI's start-up nothing measurable.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # kubernetes hook types: annotations only, the registry stays cheap to import
    from arena.kinds.flags import Flag  # flags and spec hook types
    from arena.spec.job import KindOptions, TaskSpec
    from arena.spec.jobfile import JobFile
    from arena.engines.kubernetes.discovery import Alternative
    from arena.engines.kubernetes.pods import Rule
    from arena.engines.kubernetes.render.context import RenderOptions
    from arena.engines.kubernetes.status import StatusMapping
    from arena.spec.job import JobSpec

if TYPE_CHECKING:  # local engine hook types
    from arena.engines.local.controllers.base import Controller
    from arena.engines.local.plan import Rendezvous


class Kind:
    """One job kind. Subclasses set the identity and override the hooks whose defaults do not fit."""

    # ---- identity ------------------------------------------------------------------------------
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()

    @property
    def trainer(self) -> str:
        """The TRAINER column: upstream prints the upper-cased type."""
        return self.name.upper()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def __repr__(self) -> str:
        return f"<kind {self.name}>"

    # ---- flags and spec ------------------------------------------------------------------------
    # Read by the CLI (its parser is generated from `flags`), the SDK and `spec.jobfile`: flags edit a
    # job document through their declared mappings, and the document becomes a JobSpec through the
    # hooks below. One path, whether the options came as flags, keyword arguments or a job file.

    #: Every flag of `arena submit KIND`, in --help order (shared sets from `arena.kinds.flags`).
    flags: ClassVar[tuple[Flag, ...]] = ()
    #: The roles a job may have, in the order its tasks are kept; () lets tasks have any name.
    roles: ClassVar[tuple[str, ...]] = ()
    #: Roles that have exactly one replica.
    single_roles: ClassVar[tuple[str, ...]] = ()
    #: Roles that run no command of their own (MPI workers only host ranks).
    commandless_roles: ClassVar[tuple[str, ...]] = ()
    #: Roles that --cpu/--memory/--gpus/--device do not size (the MPI launcher).
    unsized_roles: ClassVar[tuple[str, ...]] = ()
    #: Roles that --gpus/--device do not reach (TF parameter servers have --ps-gpus).
    gpuless_roles: ClassVar[tuple[str, ...]] = ()
    #: --clean-task-policy's default (upstream's, per kind).
    clean_pod_policy: ClassVar[str] = "Running"
    #: Built from flags alone, the job needs the trailing COMMAND (a volcanojob's tasks may carry their own).
    needs_command: ClassVar[bool] = True
    #: A task with an image of its own and no command runs its image's entrypoint (upstream's volcanojob
    #: --task-images); otherwise every task needs a command.
    image_entrypoint: ClassVar[bool] = False

    def flag(self, keyword: str) -> Flag | None:
        """The flag an SDK keyword (a dest, or one of the flag's other keywords) names."""
        return next((f for f in self.flags if keyword == f.dest or keyword in f.keywords), None)

    @property
    def options_type(self) -> type[KindOptions]:
        """The kind's `options` struct in `spec.job` (the job file's `options:` section)."""
        raise NotImplementedError

    def base_document(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        """The job document that flags alone start from: the kind's default roles."""
        return {"kind": self.name, "tasks": [{"name": "worker"}]}

    def takes_job_resource(self, role: str, key: str) -> bool:
        """Whether --cpu/--memory (`key` cpu, memory) or --gpus/--device (gpus, devices) size `role`."""
        if role in self.unsized_roles:
            return False
        return key in ("cpu", "memory") or role not in self.gpuless_roles

    def default_restart(self, role: str, options: KindOptions) -> str:
        """A role's restart policy when the job does not set one (SEMANTICS.md E.1: the operators' defaults)."""
        return "Never"

    def volcano_fields(self, options: KindOptions) -> frozenset[str]:
        """The Volcano-only fields a job of this kind may set: task `policies`, `depends_on`, `min_available`,
        `max_retry`, and job-level `scheduling.policies`, `scheduling.max_retry`. Others are refused."""
        return frozenset()

    def check_options(self, options: KindOptions, field: Callable[[str], str]) -> KindOptions:
        """The kind's rules over its options; `field` names an option in errors (a file path or a flag)."""
        return options

    def shape(self, tasks: list[TaskSpec], options: KindOptions, job: JobFile, key: str
              ) -> tuple[list[TaskSpec], KindOptions, int]:
        """Role rules and derived values: (tasks in the kind's order, options, the `workers` number).
        `key` names the task list in errors (`tasks` or `roles`); a job without the roles it needs is
        refused here, in the kind's words."""
        if not tasks:
            from arena.errors import InvalidSpec

            raise InvalidSpec(key, "at least one task is required")
        return tasks, options, sum(t.replicas for t in tasks)

    def finish(self, spec: JobSpec) -> JobSpec:
        """Defaults that depend on the whole job (an AppWrapper's Volcano gang)."""
        return spec

    def spec_from_options(self, opts: Mapping[str, Any], namespace: str | None = None,
                          document: Mapping[str, Any] | None = None) -> JobSpec:
        """The JobSpec from flag values (CLI dests, or SDK keyword arguments of the same names).

        With `document` (a job file), the flags given override its values; without, they start from
        `base_document`. `namespace` applies when neither the flags nor the file name one. Errors name
        the flag that set the bad value, else the job file's path (`tasks[1].replicas`).
        """
        from arena.spec import jobfile

        return jobfile.from_options(self, opts, namespace=namespace, document=document)

    # ---- local engine --------------------------------------------------------------------------
    # Read by `arena.engines.local` only: its planner (pure: argv, env and files of every replica) and its
    # reconcile loop (a replica's exit -> the job's outcome). Paths in files and env are relative to the job
    # directory or use the plan's placeholders (`engines.local.plan`); nothing here runs or writes anything.

    def local_probes(self, spec: JobSpec) -> tuple[str, ...]:
        """Executables whose `--version` text the planner needs (asked once, before planning)."""
        return ()

    def local_check(self, spec: JobSpec) -> None:
        """Refuse (InvalidSpec) what the local engine does not model for this kind."""

    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """The framework's env contract for one replica (from `arena.distributed`), and env naming its files."""
        return {}

    def local_files(self, spec: JobSpec, net: Rendezvous) -> dict[str, str]:
        """The job's generated files: path relative to the job directory -> text (MPI hostfile, svc hosts)."""
        return {}

    def local_idle_command(self, spec: JobSpec, task: str) -> str:
        """What a replica given no command runs ("" : the empty command)."""
        return ""

    def local_controller(self, spec: JobSpec) -> Controller:
        """What follows a replica's exit, an eviction, the passing of time: the Training Operator's rules."""
        from arena.engines.local.controllers.kubeflow import Kubeflow

        return Kubeflow()

    # ---- kubernetes ----------------------------------------------------------------------------
    # Read by `arena.engines.kubernetes` only; the types named here live there (imported lazily).

    #: The `createdBy` label upstream's charts write on the job and its pods.
    k8s_created_by: ClassVar[str] = ""
    #: The memory-backed /dev/shm every replica gets when the job sets no `--share-memory` (upstream's 2Gi;
    #: its volcanojob mounts none).
    k8s_share_memory: ClassVar[str | None] = "2Gi"
    #: Keys of `engines.kubernetes.resources.CRDS` that may hold this kind's jobs: `list`, `get`, `delete`
    #: and `logs` look in each (and only there when the kind is given). The first is the default.
    k8s_resources: ClassVar[tuple[str, ...]] = ()

    def k8s_render(self, spec: JobSpec, opts: RenderOptions) -> list[dict[str, Any]]:
        """Every manifest for `spec`, primary object first (what `plan` holds and `apply` creates)."""
        from arena.errors import Unsupported

        raise Unsupported("kubernetes", f"job type {self.name}")

    def k8s_api_choices(self, spec: JobSpec) -> tuple[str, ...]:
        """CRD keys `spec` may be created as, preferred first, when the cluster decides (MPIJob v1 or
        v2beta1); () when the spec fixes it. `plan` asks API discovery only when there are several."""
        return ()

    def k8s_with_api(self, spec: JobSpec, key: str) -> JobSpec:
        """`spec` to be rendered as CRD `key`, one of `k8s_api_choices(spec)` that the cluster serves."""
        return spec

    def k8s_requirements(self) -> tuple[Alternative, ...]:
        """What `arena check` requires for this kind to run: alternatives of CRD keys that must all be
        served and operated, each named when there are several. By default, any one of its resources."""
        from arena.engines.kubernetes.discovery import Alternative

        return tuple(Alternative((key,)) for key in self.k8s_resources)

    def k8s_status(self) -> StatusMapping:
        """How the job object reads back: its own status, times, transitions, restarts and queue
        (one of the operator families in `engines.kubernetes.status`)."""
        from arena.errors import Unsupported

        raise Unsupported("kubernetes", f"job type {self.name}")

    def k8s_chief_rules(self) -> tuple[Rule, ...]:
        """Rules picking the chief pod (logs' default instance, get's chief), tried in order: the first
        that matches some pod decides (`engines.kubernetes.pods` has the rules)."""
        from arena.engines.kubernetes.pods import first

        return (first,)
