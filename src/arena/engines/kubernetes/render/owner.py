"""Owner references to an object that does not exist yet.

Auxiliary objects (TensorBoard, a headless Service, a Volcano queue Command) must be garbage
collected with their primary object, but the primary's uid is only known once the API server has
created it. Render therefore writes `OWNER_UID` as a visible placeholder; apply creates the primary
(always the first manifest), then calls `bind_owner` with the real uid before creating the rest.
"""
from __future__ import annotations

from typing import Any

OWNER_UID = "<owner-uid>"


def owner_reference(primary: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to `primary`, uid still to be filled by `bind_owner`.

    No blockOwnerDeletion: setting it needs extra RBAC on the owner's finalizers, and background
    garbage collection deletes the dependants either way.
    """
    return {
        "apiVersion": primary["apiVersion"],
        "kind": primary["kind"],
        "name": primary["metadata"]["name"],
        "uid": OWNER_UID,
    }


def needs_owner(obj: Any) -> bool:
    """True when the object (anywhere inside it) still carries the uid placeholder."""
    if isinstance(obj, dict):
        return any(needs_owner(v) for v in obj.values())
    if isinstance(obj, list):
        return any(needs_owner(v) for v in obj)
    return obj == OWNER_UID


def bind_owner(manifests: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    """Copies of `manifests` with every uid placeholder replaced by the primary's real uid."""
    if not uid or uid == OWNER_UID:
        raise ValueError("bind_owner needs the uid the API server gave the primary object")
    return [_replace(m, uid) for m in manifests]


def _replace(obj: Any, uid: str) -> Any:
    if isinstance(obj, dict):
        return {k: _replace(v, uid) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace(v, uid) for v in obj]
    return uid if obj == OWNER_UID else obj
