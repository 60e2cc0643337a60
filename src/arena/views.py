"""Engine-neutral read models returned by both engines, the SDK and `-o json|yaml`.

Field names follow upstream Arena's `TrainingJobInfo` JSON where one exists, so scripts
written against `arena list -o json` keep working.
"""
from __future__ import annotations

import time

import msgspec

FINISHED = ("SUCCEEDED", "FAILED")


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
    status: str  # pod-like: Pending | Running | Succeeded | Failed | Terminating
    chief: bool = False
    requestGPUs: int = 0
    gpuIndices: list[int] = []
    node: str = "localhost"
    ip: str = "127.0.0.1"
    port: int = 0
    restarts: int = 0
    exitCode: int | None = None
    pid: int | None = None
    startTime: float | None = None
    finishTime: float | None = None
    logPath: str = ""
    reason: str = ""


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
        start = self.startTime or self.creationTimestamp
        end = self.finishTime or (now if now is not None else time.time())
        return max(end - start, 0.0)


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
