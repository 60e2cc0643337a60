"""Queue operations of the local engine (Volcano Queue semantics), validated, on the repository.

States: Open (accepts jobs), Closed (accepts none), Closing (closed while jobs are still
active; becomes Closed once they have finished). The `default` queue always exists.
"""
from __future__ import annotations

from typing import Any

from arena.engines.local import resources
from arena.engines.local.repo import Repo
from arena.errors import ArenaError, InvalidSpec, QueueNotFound
from arena.spec.names import check_dns_label


def weight(value: Any) -> int:
    try:
        w = int(value)
    except (TypeError, ValueError):
        raise InvalidSpec("--weight", f"{value!r} must be a whole number") from None
    if w < 1:
        raise InvalidSpec("--weight", "must be 1 or more")
    if w > 2**31 - 1:  # Volcano's weight is an int32 (and SQLite's INTEGER is 64 bits)
        raise InvalidSpec("--weight", f"{value!r} must be at most {2**31 - 1}")
    return w


def create(repo: Repo, name: str, weight_: Any = 1, capability: dict | None = None, guarantee: dict | None = None,
           reclaimable: bool = True, state: str = "Open") -> None:
    check_dns_label(name, "NAME")
    if state not in ("Open", "Closed"):
        raise InvalidSpec("--state", "must be Open or Closed")
    cap = resources.parse(capability, "--capability").text
    gua = resources.parse(guarantee, "--guarantee").text
    w = weight(weight_)
    with repo.tx() as tx:
        if tx.queue_exists(name):
            raise InvalidSpec("NAME", f"queue {name!r} already exists")
        tx.insert_queue(name, w, cap, gua, reclaimable, state)


def update(repo: Repo, name: str, weight_: Any = None, capability: dict | None = None,
           guarantee: dict | None = None, reclaimable: bool | None = None) -> None:
    with repo.tx() as tx:
        if not tx.queue_exists(name):
            raise QueueNotFound(name)
        w = None if weight_ is None else weight(weight_)
        cap = None if capability is None else resources.parse(capability, "--capability").text
        gua = None if guarantee is None else resources.parse(guarantee, "--guarantee").text
        tx.update_queue(name, w, cap, gua, reclaimable)


def set_state(repo: Repo, name: str, open_: bool) -> str:
    with repo.tx() as tx:
        if not tx.queue_exists(name):
            raise QueueNotFound(name)
        state = "Open" if open_ else ("Closing" if tx.queue_active_jobs(name) else "Closed")
        tx.queue_state(name, state)
        return state


def settle(repo: Repo) -> None:
    """Closing queues whose jobs have all finished become Closed. Nearly every pass finds none Closing: the
    transaction (which takes the store's write lock, even when it writes nothing) is opened only then."""
    if all(q.state != "Closing" for q in repo.queues()):
        return
    with repo.tx() as tx:
        for name in tx.queues_closing():
            if not tx.queue_active_jobs(name):
                tx.queue_state(name, "Closed")


def delete(repo: Repo, name: str) -> None:
    if name == "default":
        raise InvalidSpec("NAME", "the default queue cannot be deleted")
    with repo.tx() as tx:
        if not tx.queue_exists(name):
            raise QueueNotFound(name)
        n = tx.queue_active_jobs(name)
        if n:
            raise ArenaError(f"queue {name!r} still has {n} unfinished job(s); close it and let them finish, "
                             "or delete them first")
        tx.delete_queue(name)
