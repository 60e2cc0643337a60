"""Queues on a cluster and what they hold: Volcano Queue status, Kueue ClusterQueue usage. Pure.

Both become the engine-neutral `arena.views.QueueView`, the shape the local engine's queues have.

Quantities are shown as the API server wrote them; a Kueue queue with several flavors names each
resource `<flavor>/<resource>` rather than adding quantities of different flavors together.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arena.engines.kubernetes.models import ts
from arena.views import QueueView


def _strs(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (values or {}).items()}


def _created(obj: Mapping[str, Any]) -> float:
    return ts((obj.get("metadata") or {}).get("creationTimestamp")) or 0.0


def volcano(queue: Mapping[str, Any]) -> QueueView:
    spec, status = queue.get("spec") or {}, queue.get("status") or {}
    reclaimable = spec.get("reclaimable")
    return QueueView(
        name=queue.get("metadata", {}).get("name", ""), system="volcano", state=str(status.get("state") or "Unknown"),
        weight=spec.get("weight"), reclaimable=reclaimable if isinstance(reclaimable, bool) else None,
        capability=_strs(spec.get("capability")), guarantee=_strs((spec.get("guarantee") or {}).get("resource")),
        deserved=_strs(spec.get("deserved")), allocated=_strs(status.get("allocated")),
        pending=int(status.get("pending") or 0), running=int(status.get("running") or 0),
        inqueue=int(status.get("inqueue") or 0), created=_created(queue),
    )


def _per_flavor(items: Iterable[Mapping[str, Any]], value: str, multi: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for flavor in items:
        for res in flavor.get("resources") or []:
            if value not in res:
                continue
            key = f"{flavor.get('name')}/{res.get('name')}" if multi else str(res.get("name"))
            out[key] = str(res[value])
    return out


def kueue(cluster_queue: Mapping[str, Any], local_queues: Iterable[Mapping[str, Any]] = ()) -> QueueView:
    spec, status = cluster_queue.get("spec") or {}, cluster_queue.get("status") or {}
    name = cluster_queue.get("metadata", {}).get("name", "")
    flavors = [f for g in spec.get("resourceGroups") or [] for f in g.get("flavors") or []]
    multi = len({f.get("name") for f in flavors}) > 1
    usage = status.get("flavorsUsage") or []
    active = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Active"), None)
    return QueueView(
        name=name, system="kueue", state={"True": "Active", "False": "Inactive"}.get(active or "", "Unknown"),
        cohort=str(spec.get("cohortName") or spec.get("cohort") or ""),
        capability=_per_flavor(flavors, "nominalQuota", multi), allocated=_per_flavor(usage, "total", multi),
        borrowed={k: v for k, v in _per_flavor(usage, "borrowed", multi).items() if v not in ("0", "")},
        pending=int(status.get("pendingWorkloads") or 0), running=int(status.get("admittedWorkloads") or 0),
        inqueue=int(status.get("reservingWorkloads") or 0),
        local_queues=sorted(f"{lq.get('metadata', {}).get('namespace', '')}/{lq.get('metadata', {}).get('name', '')}"
                            for lq in local_queues if (lq.get("spec") or {}).get("clusterQueue") == name),
        created=_created(cluster_queue),
    )
