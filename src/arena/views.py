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

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def duration(self, now: float | None = None) -> float:
        """Seconds from start (or creation while waiting) to finish or now."""
        start = self.startTime or self.creationTimestamp
        end = self.finishTime or (now if now is not None else time.time())
        return max(end - start, 0.0)


class NodeView(msgspec.Struct, frozen=True):
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
