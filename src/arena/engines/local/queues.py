"""Queue operations of the local engine (Volcano Queue semantics), on the store.

States: Open (accepts jobs), Closed (accepts none), Closing (closed while jobs are still
active; becomes Closed once they have finished). The `default` queue always exists.
"""
from __future__ import annotations

import json
import time
from typing import Any

import msgspec

from arena.engines.local import resources
from arena.engines.local.store import Store, loads
from arena.errors import ArenaError, InvalidSpec, QueueNotFound
from arena.spec import quantity
from arena.spec.names import check_dns_label


class QueueView(msgspec.Struct, frozen=True):
    name: str
    weight: int
    state: str
    reclaimable: bool
    capability: dict[str, str] = {}
    guarantee: dict[str, str] = {}
    deserved: dict[str, str] = {}
    allocated: dict[str, str] = {}
    pending: int = 0
    running: int = 0
    created: float = 0.0


def _weight(value: Any) -> int:
    try:
        w = int(value)
    except (TypeError, ValueError):
        raise InvalidSpec("--weight", f"{value!r} must be a whole number") from None
    if w < 1:
        raise InvalidSpec("--weight", "must be 1 or more")
    return w


def create(store: Store, name: str, weight: Any = 1, capability: dict | None = None, guarantee: dict | None = None,
           reclaimable: bool = True, state: str = "Open") -> None:
    check_dns_label(name, "NAME")
    if state not in ("Open", "Closed"):
        raise InvalidSpec("--state", "must be Open or Closed")
    cap = resources.parse(capability, "--capability").text
    gua = resources.parse(guarantee, "--guarantee").text
    w = _weight(weight)
    with store.tx() as db:
        if db.execute("SELECT 1 FROM queues WHERE name=?", (name,)).fetchone():
            raise InvalidSpec("NAME", f"queue {name!r} already exists")
        db.execute("INSERT INTO queues(name, weight, capability, guarantee, reclaimable, state, created)"
                   " VALUES (?,?,?,?,?,?,?)", (name, w, json.dumps(cap) if cap else None,
                                              json.dumps(gua) if gua else None, int(reclaimable), state, time.time()))


def update(store: Store, name: str, weight: Any = None, capability: dict | None = None,
           guarantee: dict | None = None, reclaimable: bool | None = None) -> None:
    with store.tx() as db:
        if not db.execute("SELECT 1 FROM queues WHERE name=?", (name,)).fetchone():
            raise QueueNotFound(name)
        if weight is not None:
            db.execute("UPDATE queues SET weight=? WHERE name=?", (_weight(weight), name))
        if capability is not None:
            cap = resources.parse(capability, "--capability").text
            db.execute("UPDATE queues SET capability=? WHERE name=?", (json.dumps(cap) if cap else None, name))
        if guarantee is not None:
            gua = resources.parse(guarantee, "--guarantee").text
            db.execute("UPDATE queues SET guarantee=? WHERE name=?", (json.dumps(gua) if gua else None, name))
        if reclaimable is not None:
            db.execute("UPDATE queues SET reclaimable=? WHERE name=?", (int(reclaimable), name))


def _active_jobs(db: Any, name: str) -> int:
    return db.execute("SELECT COUNT(*) FROM jobs WHERE queue=? AND finished IS NULL", (name,)).fetchone()[0]


def set_state(store: Store, name: str, open_: bool) -> str:
    with store.tx() as db:
        if not db.execute("SELECT 1 FROM queues WHERE name=?", (name,)).fetchone():
            raise QueueNotFound(name)
        state = "Open" if open_ else ("Closing" if _active_jobs(db, name) else "Closed")
        db.execute("UPDATE queues SET state=? WHERE name=?", (state, name))
        return state


def settle(store: Store) -> None:
    """Closing queues whose jobs have all finished become Closed."""
    with store.tx() as db:
        for row in db.execute("SELECT name FROM queues WHERE state='Closing'").fetchall():
            if not _active_jobs(db, row["name"]):
                db.execute("UPDATE queues SET state='Closed' WHERE name=?", (row["name"],))


def delete(store: Store, name: str) -> None:
    if name == "default":
        raise InvalidSpec("NAME", "the default queue cannot be deleted")
    with store.tx() as db:
        if not db.execute("SELECT 1 FROM queues WHERE name=?", (name,)).fetchone():
            raise QueueNotFound(name)
        n = _active_jobs(db, name)
        if n:
            raise ArenaError(f"queue {name!r} still has {n} unfinished job(s); close it and let them finish, "
                             "or delete them first")
        db.execute("DELETE FROM queues WHERE name=?", (name,))


def rows(store: Store, name: str | None = None) -> list[Any]:
    if name is None:
        return store.query("SELECT * FROM queues ORDER BY name")
    row = store.one("SELECT * FROM queues WHERE name=?", (name,))
    if row is None:
        raise QueueNotFound(name)
    return [row]


def view(row: Any, report: Any | None = None) -> QueueView:
    """A queue with the scheduler's figures (deserved/allocated) when a report is given."""
    def amount(a: Any) -> dict[str, str]:
        if a is None:
            return {}
        out = {"cpu": quantity.format_cpu(a.cpu_milli), "memory": quantity.format_memory(a.memory),
               "nvidia.com/gpu": str(a.gpus)}
        out.update({k: str(v) for k, v in a.extended.items()})
        return out

    return QueueView(name=row["name"], weight=row["weight"], state=row["state"], reclaimable=bool(row["reclaimable"]),
                     capability=loads(row["capability"], {}), guarantee=loads(row["guarantee"], {}),
                     deserved=amount(getattr(report, "deserved", None)),
                     allocated=amount(getattr(report, "allocated", None)),
                     pending=getattr(report, "pending", 0), running=getattr(report, "running", 0),
                     created=row["created"])
