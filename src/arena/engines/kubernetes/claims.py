"""`arena data list` on a cluster: the namespace's PersistentVolumeClaims as upstream lists them. Pure.

Upstream (pkg/datahouse) shows only claims that are Bound and not being deleted, with the
`description` and `owner` annotations and the access modes in a fixed order, without duplicates.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arena.engines.kubernetes.models import ts
from arena.views import DataView

DESCRIPTION = "description"  # upstream's annotation keys
OWNER = "owner"
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")  # upstream's order, then RWOP


def access_modes(modes: Iterable[str]) -> list[str]:
    """Each mode once, in upstream's order; modes it does not know keep theirs, after."""
    given = list(dict.fromkeys(modes))
    return [m for m in ACCESS_MODES if m in given] + [m for m in given if m not in ACCESS_MODES]


def data_view(claim: Mapping[str, Any]) -> DataView:
    meta, spec, status = claim.get("metadata") or {}, claim.get("spec") or {}, claim.get("status") or {}
    annotations = meta.get("annotations") or {}
    return DataView(
        name=meta.get("name", ""),
        path=str(spec.get("volumeName") or ""),
        description=str(annotations.get(DESCRIPTION, "")),
        created=ts(meta.get("creationTimestamp")) or 0.0,
        namespace=meta.get("namespace", ""),
        owner=str(annotations.get(OWNER, "")),
        capacity=str((status.get("capacity") or {}).get("storage", "")),
        access_modes=access_modes(spec.get("accessModes") or []),
        status=str(status.get("phase") or ""),
    )


def data_views(claims: Iterable[Mapping[str, Any]]) -> list[DataView]:
    """The usable claims (Bound, not being deleted), in the API server's order."""
    return [data_view(c) for c in claims
            if (c.get("status") or {}).get("phase") == "Bound" and not (c.get("metadata") or {}).get("deletionTimestamp")]
