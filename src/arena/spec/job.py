"""The engine-neutral job specification: plain, frozen data validated once at the edge.

Every job kind (pytorchjob, tfjob, mpijob, volcanojob, appwrapperjob) is a `JobSpec` with
one `TaskSpec` per role (Master/Worker, Chief/PS/Worker/Evaluator, Launcher/Worker, or the
Volcano tasks). Kind-specific knobs live in `options`, a tagged union. Engines translate
this; they never re-parse flags.
"""
from __future__ import annotations

from typing import Literal, TypeVar

import msgspec

RestartPolicy = Literal["Never", "OnFailure", "Always", "ExitCode"]
CleanPodPolicy = Literal["None", "Running", "All"]


class Resources(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Per-replica requests, kept as the user's quantity strings (parsed by `spec.quantity`)."""

    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0
    # Other extended resources, e.g. {"amd.com/gpu": 1}.
    devices: dict[str, int] = {}
    # Limits above the request (upstream's tfjob --<role>-cpu-limit/--<role>-memory-limit); None: limit == request.
    # A cluster caps the container at the limit; the local engine reserves the request.
    cpu_limit: str | None = None
    memory_limit: str | None = None


class Policy(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """A Volcano lifecycle policy: event (or exit code) → action."""

    action: str
    event: str | None = None
    exit_code: int | None = None
    timeout: str | None = None


class TaskSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One role of the job. `name` is the replica type in lower case (master, worker, ps...)."""

    name: str
    replicas: int = 1
    command: str = ""
    image: str = ""
    resources: Resources = Resources()
    env: dict[str, str] = {}
    restart_policy: RestartPolicy = "Never"
    port: int = 0  # 0: pick a free port when the replica starts
    min_available: int | None = None
    max_retry: int | None = None
    policies: list[Policy] = []
    depends_on: list[str] = []
    # Node selector of this role only, replacing the job's (upstream's tfjob --<role>-selector); {}: the job's.
    node_selector: dict[str, str] = {}


class Scheduling(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    queue: str = "default"
    priority: str | None = None
    min_available: int | None = None  # None: every replica (gang of the whole job)
    gang: bool = False
    scheduler_name: str | None = None
    kueue_queue: str | None = None
    policies: list[Policy] = []
    max_retry: int | None = None
    node_selector: dict[str, str] = {}
    tolerations: list[str] = []


class SyncSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Code sync. Credentials are never stored here: they come from the environment."""

    mode: Literal["git", "rsync"]
    source: str
    image: str | None = None
    branch: str | None = None


class DataMount(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    name: str  # data volume (local) or PVC (kubernetes)
    path: str


class DataDir(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    host_path: str
    mount_path: str


class ConfigFile(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """`--config-file HOST[:CONTAINER]`: a file of the submitting machine, mounted in every replica on a cluster
    (its content goes into a ConfigMap at submit time); the local engine's replicas read the host file itself."""

    host_path: str  # absolute
    mount_path: str  # absolute; the host path when not given


class Tensorboard(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    logdir: str = "/training_logs"
    image: str | None = None
    ttl: str | None = None


class RunPolicy(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    clean_pod_policy: CleanPodPolicy = "Running"
    backoff_limit: int = 0  # --retry
    active_deadline_seconds: int | None = None  # --running-timeout
    ttl_seconds_after_finished: int | None = None  # --ttl-after-finished


def kind_tag(class_name: str) -> str:
    """The `type` of a kind's options (the tagged union's tag): the kind's name, which the struct is named
    after (`PyTorchOptions` -> `pytorchjob`, `TFOptions` -> `tfjob`)."""
    return class_name.removesuffix("Options").lower() + "job"


class PyTorchOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag=kind_tag, forbid_unknown_fields=True):
    nproc_per_node: str | None = None
    master_port: int = 0


AffinityPolicy = Literal["none", "spread", "binpack"]
AffinityConstraint = Literal["preferred", "required"]


class TFOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag=kind_tag, forbid_unknown_fields=True):
    success_policy: Literal["ChiefWorker", "AllWorkers"] = "ChiefWorker"
    standalone: bool = False  # 1 worker, no ps: no TF_CONFIG, as upstream
    # Upstream's --role-sequence, normalized ("Worker,PS,Chief,Evaluator"): the order Aliyun's tf-operator
    # starts the roles in (annotation job-role-sequence). None: none given.
    role_sequence: str | None = None
    # --starting-timeout in seconds: how long the job may stay pending (upstream's legacy startingDeadlineSeconds).
    starting_deadline_seconds: int | None = None
    # --worker/ps-affinity-policy and -constraint: spread (anti-affinity) or binpack (affinity) of the role's pods.
    worker_affinity_policy: AffinityPolicy = "none"
    worker_affinity_constraint: AffinityConstraint = "preferred"
    ps_affinity_policy: AffinityPolicy = "none"
    ps_affinity_constraint: AffinityConstraint = "preferred"


class MPIOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag=kind_tag, forbid_unknown_fields=True):
    slots_per_worker: int = 1
    # v1: the Training Operator; v2beta1: the mpi-operator; v1alpha1: Aliyun's mpi-operator (arena's own install).
    api_version: Literal["v1", "v2beta1", "v1alpha1"] = "v1"
    implementation: Literal["auto", "mpich", "openmpi"] = "auto"
    gpu_topology: bool = False  # upstream's --gputopology (Aliyun's GPU topology-aware scheduling)
    mounts_on_launcher: bool = False  # upstream's --mounts-on-launcher (v1alpha1's mountsOnLauncher)


class VolcanoOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag=kind_tag, forbid_unknown_fields=True):
    tf_config: Literal["none", "auto"] = "none"
    plugins: list[str] = msgspec.field(default_factory=lambda: ["env", "svc"])


class AppWrapperOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag=kind_tag, forbid_unknown_fields=True):
    inner_type: Literal["pytorch", "volcano"] = "pytorch"
    retry_limit: int = 3
    admission_grace_period: str = "1m"
    warmup_grace_period: str = "5m"
    failure_grace_period: str = "1m"
    retry_pause_period: str = "90s"
    success_ttl: str | None = None
    task_name: str = "worker"
    master_port: int = 23456
    nproc_per_node: str | None = None
    use_svc_plugin: bool = True
    network_topology_mode: str | None = None
    highest_tier_allowed: int = 0
    total_partitions: int = 0
    partition_size: int = 0
    partition_topology_mode: str | None = None
    partition_highest_tier: int = 0
    ring_controller: str | None = None


KindOptions = PyTorchOptions | TFOptions | MPIOptions | VolcanoOptions | AppWrapperOptions
_Options = TypeVar("_Options", PyTorchOptions, TFOptions, MPIOptions, VolcanoOptions, AppWrapperOptions)


class JobSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    kind: str
    name: str
    namespace: str = "default"
    image: str = ""
    image_pull_policy: str | None = None  # Always | IfNotPresent | Never (cluster only; None: upstream's Always)
    image_pull_secrets: list[str] = []  # cluster only; []: the arena config's imagePullSecrets
    shell: str = "sh"
    working_dir: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    env: dict[str, str] = {}  # applied to every task (task env wins)
    tasks: list[TaskSpec] = []
    run_policy: RunPolicy = RunPolicy()
    scheduling: Scheduling = Scheduling()
    sync: SyncSpec | None = None
    data: list[DataMount] = []
    data_dirs: list[DataDir] = []
    tensorboard: Tensorboard | None = None
    share_memory: str | None = None  # None: the kind's default on a cluster (upstream's 2Gi); "0": none
    config_files: list[ConfigFile] = []
    # Pod-level switches that only mean something on a cluster (the local engine records them).
    host_network: bool = False
    host_ipc: bool = False
    host_pid: bool = False
    rdma: bool = False  # an rdma/hca device and the IPC_LOCK capability per replica
    options: KindOptions | None = None
    # The --workers value as the user gave it (upstream's `workers` env; PyTorch counts the master).
    workers: int = 1

    def task(self, name: str) -> TaskSpec | None:
        return next((t for t in self.tasks if t.name == name), None)

    def options_as(self, cls: type[_Options]) -> _Options:
        """The kind options as `cls`, or its defaults when the spec carries none of that type.

        `options` is optional (specs built by hand, in tests, or before a kind had options), and every
        options field has a default, so engines read it through this instead of repeating the check.
        """
        return self.options if isinstance(self.options, cls) else cls()

    @property
    def total_replicas(self) -> int:
        return sum(t.replicas for t in self.tasks)

    @property
    def requested_gpus(self) -> int:
        return sum(t.replicas * t.resources.gpus for t in self.tasks)


def encode(spec: JobSpec) -> bytes:
    return msgspec.json.encode(spec)


def decode(data: bytes | str) -> JobSpec:
    return msgspec.json.decode(data, type=JobSpec)


def to_builtins(spec: JobSpec) -> dict:
    return msgspec.to_builtins(spec)
