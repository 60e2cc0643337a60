"""Queues on a cluster: a Volcano Queue, or Kueue's ResourceFlavor + ClusterQueue + LocalQueue.

Plain arguments in, manifests out, so `arena queue create --dry-run` and the engine share them.
A Volcano queue's Open/Closed state lives in its status, which only the controller writes; closing
one is a bus.volcano.sh Command targeting the queue (what `vcctl queue operate` creates), rendered
here with the queue's uid as an owner placeholder (see `owner`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.engines.kubernetes.render import checks
from arena.engines.kubernetes.render.owner import OWNER_UID, owner_reference
from arena.errors import InvalidSpec
from arena.spec import quantity

VOLCANO_API = "scheduling.volcano.sh/v1beta1"
COMMAND_API = "bus.volcano.sh/v1alpha1"
COMMAND_NAMESPACE = "default"  # where vcctl puts queue commands (queues are cluster-scoped)
KUEUE_API = "kueue.x-k8s.io/v1beta2"
DEFAULT_FLAVOR = "default-flavor"
QUEUE_STATES = ("Open", "Closed")


def _resources(values: Mapping[str, str | int], field: str) -> dict[str, str | int]:
    """Resource quantities, checked as the API server would (`cpu=8`, `memory=32Gi`, `nvidia.com/gpu=4`)."""
    out: dict[str, str | int] = {}
    for name, value in values.items():
        if not name:
            raise InvalidSpec(field, "a resource name is empty")
        quantity.parse(value, field)
        out[name] = value
    return out


def volcano_queue(name: str, *, weight: int = 1, capability: Mapping[str, str | int] | None = None,
                  deserved: Mapping[str, str | int] | None = None,
                  guarantee: Mapping[str, str | int] | None = None, reclaimable: bool | None = None,
                  priority: int | None = None, parent: str | None = None, state: str = "Open",
                  labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """[Queue] or, for state Closed, [Queue, Command(CloseQueue)]."""
    checks.dns1123(name, "--name", "queue name")
    if not 1 <= weight <= 65535:
        raise InvalidSpec("--weight", "must be between 1 and 65535")
    if state not in QUEUE_STATES:
        raise InvalidSpec("--state", f"{state!r} must be Open or Closed")
    spec: dict[str, Any] = {"weight": weight}
    if capability:
        spec["capability"] = _resources(capability, "--capability")
    if deserved:
        spec["deserved"] = _resources(deserved, "--deserved")
    if guarantee:
        spec["guarantee"] = {"resource": _resources(guarantee, "--guarantee")}
    if reclaimable is not None:
        spec["reclaimable"] = reclaimable
    if priority is not None:
        if priority < 0:
            raise InvalidSpec("--priority", "must be 0 or more")
        spec["priority"] = priority
    if parent:
        spec["parent"] = checks.dns1123(parent, "--parent", "parent queue")
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    queue = {"apiVersion": VOLCANO_API, "kind": "Queue", "metadata": meta, "spec": spec}
    if state == "Open":
        return [queue]
    return [queue, queue_command(queue, "CloseQueue")]


def queue_command(queue: dict[str, Any], action: str) -> dict[str, Any]:
    """A Command asking Volcano's queue controller to open or close `queue`."""
    if action not in ("OpenQueue", "CloseQueue"):
        raise InvalidSpec("--state", f"unknown queue action {action!r}")
    ref = {**owner_reference(queue), "controller": True, "blockOwnerDeletion": True}  # as vcctl sets it
    return {
        "apiVersion": COMMAND_API,
        "kind": "Command",
        "metadata": {"generateName": f"{queue['metadata']['name']}-{action.lower()}-",
                     "namespace": COMMAND_NAMESPACE, "ownerReferences": [ref]},
        "action": action,
        "target": {"apiVersion": queue["apiVersion"], "kind": queue["kind"], "name": queue["metadata"]["name"],
                   "uid": OWNER_UID, "controller": True},
    }


def kueue_queues(name: str, namespace: str, quota: Mapping[str, str | int], *, flavor: str = DEFAULT_FLAVOR,
                 cluster_queue: str | None = None, cohort: str | None = None,
                 borrowing_limit: Mapping[str, str | int] | None = None,
                 namespace_selector: Mapping[str, str] | None = None,
                 node_labels: Mapping[str, str] | None = None,
                 queueing_strategy: str = "BestEffortFIFO",
                 preemption: str | None = None) -> list[dict[str, Any]]:
    """[ResourceFlavor, ClusterQueue, LocalQueue]: cluster-scoped objects first, so apply order works.

    quota: nominal quota per resource; borrowing_limit: per resource, only within a cohort;
    preemption: withinClusterQueue policy (Never, LowerPriority, LowerOrNewerEqualPriority).
    """
    checks.dns1123(name, "--name", "local queue name")
    checks.dns1123(namespace, "--namespace", "namespace")
    cq_name = checks.dns1123(cluster_queue or name, "--cluster-queue", "cluster queue name")
    checks.dns1123(flavor, "--flavor", "resource flavor name")
    if not quota:
        raise InvalidSpec("--quota", "a Kueue queue needs at least one resource quota (e.g. cpu=8)")
    if queueing_strategy not in ("BestEffortFIFO", "StrictFIFO"):
        raise InvalidSpec("--queueing-strategy", f"{queueing_strategy!r} must be BestEffortFIFO or StrictFIFO")
    quota = _resources(quota, "--quota")
    limits = _resources(borrowing_limit or {}, "--borrowing-limit")
    if limits and not cohort:
        raise InvalidSpec("--borrowing-limit", "borrowing needs a --cohort to borrow from")
    unknown = sorted(set(limits) - set(quota))
    if unknown:
        raise InvalidSpec("--borrowing-limit", f"{unknown[0]!r} has no quota in this queue")
    resources = []
    for res, value in quota.items():
        item: dict[str, Any] = {"name": res, "nominalQuota": value}
        if res in limits:
            item["borrowingLimit"] = limits[res]
        resources.append(item)
    cq_spec: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": dict(namespace_selector)} if namespace_selector else {},
        "queueingStrategy": queueing_strategy,
        "resourceGroups": [{"coveredResources": list(quota), "flavors": [{"name": flavor, "resources": resources}]}],
    }
    if cohort:
        cq_spec["cohortName"] = checks.dns1123(cohort, "--cohort", "cohort name")
    if preemption:
        if preemption not in ("Never", "LowerPriority", "LowerOrNewerEqualPriority"):
            raise InvalidSpec("--preemption",
                              f"{preemption!r} must be Never, LowerPriority or LowerOrNewerEqualPriority")
        cq_spec["preemption"] = {"withinClusterQueue": preemption}
    rf_spec: dict[str, Any] = {"nodeLabels": dict(node_labels)} if node_labels else {}
    return [
        {"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": flavor}, "spec": rf_spec},
        {"apiVersion": KUEUE_API, "kind": "ClusterQueue", "metadata": {"name": cq_name}, "spec": cq_spec},
        {"apiVersion": KUEUE_API, "kind": "LocalQueue", "metadata": {"name": name, "namespace": namespace},
         "spec": {"clusterQueue": cq_name}},
    ]
