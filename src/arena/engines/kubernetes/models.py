"""Slim read models of the API objects Arena reads in bulk (jobs, pods, events, nodes).

`arena list` reads every job and every pod of every job: with thousands of pods a full Pod model
costs more to decode than everything else together. These structs name only the fields Arena
shows or computes with; msgspec skips the rest of each object while decoding, without building
it. Nested structs skip the garbage collector (gc=False: they hold no cycles), which matters
with tens of thousands of them; the top-level ones cannot, as lightkube's resource mixin has a
__dict__. They are plain data (no lightkube import): `resources` turns them into lightkube resource
classes, and the pure modules (`status`, `pods`, `jobview`, `nodes`) and their tests use them
directly, e.g. `msgspec.convert(recorded_json, Pod)`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

Quantity = str | int | float


class Meta(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


# ---- pods ------------------------------------------------------------------------------
class ContainerResources(msgspec.Struct, frozen=True, gc=False):
    limits: dict[str, Quantity] = {}
    requests: dict[str, Quantity] = {}


class Container(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    resources: ContainerResources = ContainerResources()
    restartPolicy: str | None = None  # "Always" on an init container marks a sidecar


class PodSpec(msgspec.Struct, frozen=True, gc=False):
    nodeName: str = ""
    priorityClassName: str = ""
    containers: list[Container] = []
    initContainers: list[Container] = []


class Waiting(msgspec.Struct, frozen=True, gc=False):
    reason: str = ""
    message: str = ""


class Running(msgspec.Struct, frozen=True, gc=False):
    """Present (not None) while the container runs; none of its fields is read."""


class Terminated(msgspec.Struct, frozen=True, gc=False):
    exitCode: int = 0
    signal: int = 0
    reason: str = ""
    message: str = ""
    finishedAt: str | None = None


class ContainerState(msgspec.Struct, frozen=True, gc=False):
    waiting: Waiting | None = None
    running: Running | None = None
    terminated: Terminated | None = None


class ContainerStatus(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    ready: bool = False
    started: bool | None = None
    restartCount: int = 0
    state: ContainerState = ContainerState()


class Condition(msgspec.Struct, frozen=True, gc=False):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class PodStatus(msgspec.Struct, frozen=True, gc=False):
    phase: str = ""
    reason: str = ""
    message: str = ""
    startTime: str | None = None
    podIP: str = ""
    hostIP: str = ""
    conditions: list[Condition] = []
    containerStatuses: list[ContainerStatus] = []
    initContainerStatuses: list[ContainerStatus] = []


class Pod(msgspec.Struct, frozen=True):
    metadata: Meta = Meta()
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()


# ---- jobs (every kind: the union of the few spec fields Arena reads) ---------------------
class SchedulingPolicy(msgspec.Struct, frozen=True, gc=False):
    queue: str | None = None
    priorityClass: str | None = None


class RunPolicy(msgspec.Struct, frozen=True, gc=False):
    suspend: bool | None = None
    schedulingPolicy: SchedulingPolicy | None = None


class JobSpecSlim(msgspec.Struct, frozen=True, gc=False):
    queue: str | None = None  # Volcano Job
    priorityClassName: str | None = None  # Volcano Job
    suspend: bool | None = None  # AppWrapper
    runPolicy: RunPolicy | None = None  # Kubeflow (v1 and MPI v2beta1)


class Job(msgspec.Struct, frozen=True):
    """Any job CR. `status` stays a plain mapping: each operator shapes it differently and
    `status.py` reads it table-driven."""

    apiVersion: str = ""
    kind: str = ""
    metadata: Meta = Meta()
    spec: JobSpecSlim = JobSpecSlim()
    status: dict[str, Any] = {}


# ---- events ----------------------------------------------------------------------------
class ObjectRef(msgspec.Struct, frozen=True, gc=False):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    uid: str = ""


class Event(msgspec.Struct, frozen=True):
    metadata: Meta = Meta()
    involvedObject: ObjectRef = ObjectRef()
    type: str = ""
    reason: str = ""
    message: str = ""
    count: int | None = None
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None
    eventTime: str | None = None


# ---- admission: Volcano PodGroups and Kueue Workloads -----------------------------------
class OwnerRef(msgspec.Struct, frozen=True, gc=False):
    kind: str = ""
    name: str = ""
    uid: str = ""


class OwnedMeta(Meta, frozen=True, gc=False):
    ownerReferences: list[OwnerRef] = []


class AdmissionSpec(msgspec.Struct, frozen=True, gc=False):
    queue: str | None = None  # PodGroup
    minMember: int | None = None  # PodGroup
    queueName: str | None = None  # Workload (a Workload's podSets, full pod templates, are skipped)
    active: bool | None = None  # Workload


class AdmissionStatus(msgspec.Struct, frozen=True, gc=False):
    phase: str = ""  # PodGroup
    conditions: list[Condition] = []


class Admitter(msgspec.Struct, frozen=True):
    """A PodGroup or a Workload: the object whose state says whether a queue admitted its owner."""

    kind: str = ""
    metadata: OwnedMeta = OwnedMeta()
    spec: AdmissionSpec = AdmissionSpec()
    status: AdmissionStatus = AdmissionStatus()


# ---- deployments (operators, for `arena check`) -------------------------------------------
class ImageRef(msgspec.Struct, frozen=True, gc=False):
    image: str = ""


class TemplatePodSpec(msgspec.Struct, frozen=True, gc=False):
    containers: list[ImageRef] = []


class PodTemplate(msgspec.Struct, frozen=True, gc=False):
    spec: TemplatePodSpec = TemplatePodSpec()


class DeploymentSpecSlim(msgspec.Struct, frozen=True, gc=False):
    replicas: int | None = None
    template: PodTemplate = PodTemplate()


class DeploymentStatusSlim(msgspec.Struct, frozen=True, gc=False):
    readyReplicas: int = 0


class Deployment(msgspec.Struct, frozen=True):
    metadata: Meta = Meta()
    spec: DeploymentSpecSlim = DeploymentSpecSlim()
    status: DeploymentStatusSlim = DeploymentStatusSlim()


# ---- nodes -----------------------------------------------------------------------------
class Address(msgspec.Struct, frozen=True, gc=False):
    type: str = ""
    address: str = ""


class NodeSpecSlim(msgspec.Struct, frozen=True, gc=False):
    unschedulable: bool = False


class NodeStatus(msgspec.Struct, frozen=True, gc=False):
    capacity: dict[str, Quantity] = {}
    allocatable: dict[str, Quantity] = {}
    addresses: list[Address] = []
    conditions: list[Condition] = []


class Node(msgspec.Struct, frozen=True):
    metadata: Meta = Meta()
    spec: NodeSpecSlim = NodeSpecSlim()
    status: NodeStatus = NodeStatus()


# ---- helpers ---------------------------------------------------------------------------
def ts(text: str | None) -> float | None:
    """RFC3339 (as the API server writes it) → epoch seconds; None stays None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
