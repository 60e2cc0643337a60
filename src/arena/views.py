"""Engine-neutral read models returned by both engines, the SDK and `-o json|yaml`.

Field names follow upstream Arena's `TrainingJobInfo` JSON where one exists; `job_info` renders a
JobView as exactly that document (upstream's fields, in its order and types, then ours), so scripts
and upstream's SDK written against `arena list|get -o json` keep working.
"""
from __future__ import annotations

import time
from typing import Any

import msgspec

from arena.summary import FINISHED, elapsed


class Event(msgspec.Struct, frozen=True):
    ts: float  # last seen
    type: str
    source: str
    reason: str
    message: str
    count: int = 1


class Transition(msgspec.Struct, frozen=True):
    ts: float
    phase: str
    reason: str


class Instance(msgspec.Struct, frozen=True):
    name: str
    task: str
    index: int
    # kubectl's STATUS word: Pending | ContainerCreating | Running | CrashLoopBackOff | Completed | Error |
    # Terminating | ContainerStatusUnknown ...
    status: str
    chief: bool = False
    requestGPUs: int = 0
    gpuIndices: list[int] = []
    node: str = "localhost"
    ip: str = "127.0.0.1"
    nodeIP: str = ""  # the node's address (a pod's status.hostIP); the loopback locally
    port: int = 0
    restarts: int = 0
    exitCode: int | None = None
    pid: int | None = None
    startTime: float | None = None
    finishTime: float | None = None
    logPath: str = ""
    reason: str = ""
    # The local engine's CPU contract (README, `engines/local/cpuset.py`): the cores it is pinned to (it requests
    # CPUs) and the thread counts its math libraries were given; empty / None where nothing was set.
    cpuAffinity: list[int] = []
    ompNumThreads: int | None = None
    mklNumThreads: int | None = None


class JobView(msgspec.Struct, frozen=True):
    uuid: str
    name: str
    namespace: str
    kind: str
    trainer: str
    status: str
    phase: str
    creationTimestamp: float
    startTime: float | None = None
    finishTime: float | None = None
    queue: str = "default"
    priority: str = "N/A"
    requestGPUs: int = 0
    allocatedGPUs: int = 0
    chiefName: str = ""
    reason: str = ""
    position: int = 0
    restarts: int = 0
    retries: int = 0  # Volcano retryCount / AppWrapper resets / evictions
    jobDir: str = ""
    engine: str = "local"
    tensorboard: str = ""
    instances: list[Instance] = []
    events: list[Event] = []
    transitions: list[Transition] = []
    spec: dict | None = None
    # Why a waiting job waits, as data ({"code": ..., "params": {...}}; `reason` is its text). Local engine.
    waiting: dict | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def duration(self, now: float | None = None) -> float:
        """Seconds from start (or creation while waiting) to finish or now."""
        return elapsed(self.startTime, self.creationTimestamp, self.finishTime, now)


class NodeInstance(msgspec.Struct, frozen=True):
    """A replica (pod) holding resources on a node, for `top node -d`."""

    namespace: str
    name: str
    status: str
    gpus: int


class NodeView(msgspec.Struct, frozen=True):
    """One node's capacity and allocation. Locally the machine; on a cluster each Node (upstream's GPU math)."""

    name: str
    ip: str
    role: str
    status: str
    cpu_milli: int
    memory: int
    gpu_total: int
    gpu_allocated: int
    cpu_allocated: int = 0
    memory_allocated: int = 0
    gpus: list[dict] = []
    capacity_source: str = "detected"
    mode: str = "exclusive"  # exclusive | share | topology | none (upstream's -m modes)
    gpu_unhealthy: int = 0
    instances: list[NodeInstance] = []


class QueueView(msgspec.Struct, frozen=True):
    """A queue and what it holds, the same shape on both engines (`arena queue list`, `top queue`).

    Locally a Volcano-style queue of the daemon; on a cluster a Volcano Queue or a Kueue ClusterQueue.
    """

    name: str
    state: str  # Volcano: Open/Closed/Closing/Unknown; Kueue: Active/Inactive
    system: str = "volcano"  # volcano | kueue
    weight: int | None = None
    reclaimable: bool | None = None
    cohort: str = ""  # Kueue
    capability: dict[str, str] = {}
    guarantee: dict[str, str] = {}
    deserved: dict[str, str] = {}
    allocated: dict[str, str] = {}
    borrowed: dict[str, str] = {}  # Kueue
    pending: int = 0
    running: int = 0
    inqueue: int = 0
    local_queues: list[str] = []  # Kueue LocalQueues ("namespace/name") pointing here
    created: float = 0.0


class DataView(msgspec.Struct, frozen=True):
    """A named data volume (`arena data list`): a directory locally, a PersistentVolumeClaim on a cluster."""

    name: str
    path: str = ""  # local directory, or the PVC's bound volume
    description: str = ""
    created: float = 0.0
    namespace: str = ""
    owner: str = ""  # upstream: the PVC's annotation
    capacity: str = ""
    access_modes: list[str] = []
    status: str = ""


class GpuMetric(msgspec.Struct, frozen=True):
    """One GPU's live figures, as upstream's `GpuMetric` JSON (memory in bytes, duty cycle in percent)."""

    gpuDutyCycle: float
    usedGPUMemory: float
    totalGPUMemory: float


# instance name -> GPU id (the device index, as a string) -> metric: what `arena get -g` adds
GpuMetrics = dict[str, dict[str, GpuMetric]]


class UserView(msgspec.Struct, frozen=True, rename="pascal"):
    """`arena whoami`: upstream's `{Name, Id, IsAdminUser}`, plus whether the namespace isolates users.

    Id is upstream's: the md5 of the name (`engines.kubernetes.identity`), also the value of the
    `arena.kubeflow.org/uid` label on the user's jobs."""

    name: str
    id: str
    is_admin_user: bool = False
    isolate_user: bool = False


def _seconds(value: float) -> str:
    """Upstream's duration and age text: whole seconds, e.g. "618s"."""
    return f"{max(int(value), 0)}s"


def job_info(view: JobView, now: float | None = None, gpu_metrics: GpuMetrics | None = None) -> dict[str, Any]:
    """The job as upstream's `TrainingJobInfo` JSON: its fields first, in its order and with its types
    (`trainer` is the type, the kind in lower case; `duration`/`age` are "618s"; `creationTimestamp` is whole
    seconds), then the fields this project adds, none of which reuses an upstream name."""
    now = time.time() if now is None else now
    metrics = gpu_metrics or {}
    instances = []
    for i in view.instances:
        since = i.startTime or view.creationTimestamp
        item: dict[str, Any] = {
            "ip": i.ip, "status": i.status, "name": i.name, "age": _seconds(now - since if since else 0),
            "node": i.node, "nodeIP": i.nodeIP or (i.ip if view.engine == "local" else ""), "chief": i.chief,
            "requestGPUs": i.requestGPUs,
            "gpuMetrics": {k: msgspec.to_builtins(m) for k, m in metrics.get(i.name, {}).items()},
            "creationTimestamp": int(since or 0),
        }
        extra = msgspec.to_builtins(i)
        item.update({k: v for k, v in extra.items() if k not in item})
        instances.append(item)
    duration = view.duration(now) if (view.startTime or view.finishTime) else 0.0
    info: dict[str, Any] = {
        "uuid": view.uuid, "name": view.name, "namespace": view.namespace, "duration": _seconds(duration),
        "status": view.status, "trainer": view.kind, "tensorboard": view.tensorboard, "chiefName": view.chiefName,
        "instances": instances, "priority": view.priority, "requestGPUs": view.requestGPUs,
        "allocatedGPUs": view.allocatedGPUs, "creationTimestamp": int(view.creationTimestamp),
        "modelName": "", "modelVersion": "", "modelSource": "",
    }
    extra = msgspec.to_builtins(view)
    extra.pop("trainer", None)  # upstream's name, upstream's meaning (the type); the TRAINER column is ours
    info.update({k: v for k, v in extra.items() if k not in info})
    return info
