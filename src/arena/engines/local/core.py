"""The local engine's rooms, wired together: the one way the daemon (and the tests) build them.

    repo (SQLite) ─ catalog (specs, plans, controllers by uid)
      effects (finish, stop, re-queue) ─ spawner (start what the plan says) ─ binder (snapshot, cycle, bind)
      loop (observe → decide → apply) ─ api (typed requests, checks, views)

`procs` (the supervisor, or a fake) and `clock` are injected, so tests drive the whole engine on a fake
clock without starting a process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.engines.local import supervisor
from arena.engines.local.api import Api
from arena.engines.local.binder import Binder
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import SYSTEM, Clock
from arena.engines.local.effects import Effects
from arena.engines.local.loop import Reconciler
from arena.engines.local.node import Capacity
from arena.engines.local.paths import Paths
from arena.engines.local.ports import Ports
from arena.engines.local.repo import Repo
from arena.engines.local.spawner import Spawner
from arena.engines.local.supervisor import Processes

DEFAULT_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Core:
    repo: Repo
    catalog: Catalog
    effects: Effects
    spawner: Spawner
    binder: Binder
    loop: Reconciler
    api: Api

    def close(self) -> None:
        self.repo.close()


def assemble(paths: Paths, capacity: Capacity, config: dict[str, Any] | None = None, clock: Clock = SYSTEM,
             procs: Processes = supervisor, ports: Ports | None = None) -> Core:  # type: ignore[assignment]
    config = config or {}
    grace = float(config.get("grace_period", DEFAULT_GRACE))
    repo = Repo(paths.db, clock)
    catalog = Catalog(repo)
    ports = ports or Ports()
    effects = Effects(repo, catalog, procs, clock, grace)
    from arena import config as arena_config

    spawner = Spawner(repo, catalog, effects, procs, ports, clock, arena_config.limits(config).log_bytes_per_replica)
    binder = Binder(repo, catalog, capacity, effects, spawner, ports)
    loop = Reconciler(repo, catalog, effects, spawner, binder, procs, clock)
    api = Api(paths, capacity, config, repo, catalog, effects, binder, loop, procs, clock)
    return Core(repo, catalog, effects, spawner, binder, loop, api)
