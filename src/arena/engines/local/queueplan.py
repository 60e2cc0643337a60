"""`arena queue create|update --dry-run` on the local engine: the queue as it would be stored, unchanged.

The same validation the daemon applies (`queues.create`/`update`: name, weight, resource lists, state),
run here without writing; for update, the stored queue with the changes applied.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arena.engines.local import queues, resources
from arena.errors import InvalidSpec, Unsupported
from arena.spec.names import check_dns_label

if TYPE_CHECKING:
    from arena.engines.local.engine import LocalEngine


def plan(engine: LocalEngine, op: str, name: str, **fields: Any) -> list[dict[str, Any]]:
    if op == "create":
        check_dns_label(name, "NAME")
        state = fields.get("state") or "Open"
        if state not in ("Open", "Closed"):
            raise InvalidSpec("--state", "must be Open or Closed")
        reclaimable = fields.get("reclaimable")
        return [{"kind": "Queue", "name": name, "state": state,
                 "weight": queues.weight(1 if fields.get("weight") is None else fields["weight"]),
                 "capability": resources.parse(fields.get("capability"), "--capability").text,
                 "guarantee": resources.parse(fields.get("guarantee"), "--guarantee").text,
                 "reclaimable": True if reclaimable is None else reclaimable}]
    if op == "update":
        current = engine.queues(name)[0]  # QueueNotFound when there is none
        out: dict[str, Any] = {"kind": "Queue", "name": name, "state": current.state, "weight": current.weight,
                               "capability": dict(current.capability), "guarantee": dict(current.guarantee),
                               "reclaimable": current.reclaimable}
        if fields.get("weight") is not None:
            out["weight"] = queues.weight(fields["weight"])
        for key in ("capability", "guarantee"):
            if fields.get(key) is not None:
                out[key] = resources.parse(fields[key], f"--{key}").text
        if fields.get("reclaimable") is not None:
            out["reclaimable"] = fields["reclaimable"]
        return [out]
    raise Unsupported(engine.name, f"--dry-run with queue {op}")
