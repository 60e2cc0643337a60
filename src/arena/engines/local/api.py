"""The daemon's API: every request decoded into a typed body, validated, then carried out.

`route` maps `METHOD /v1/...` onto the operations of `Api`. Nothing a client sends is trusted: a body is
decoded into its struct (unknown or ill-typed fields are refused), a submitted plan must be the plan of
its own spec (the daemon plans it again, with the same pure planner), and submit-time checks that need
the engine's state (queue, priority, capacity, data volumes) run here, before anything is created.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import msgspec

from arena import __version__, kinds
from arena.engines.local import jobview, planner, queues
from arena.engines.local import plan as plans
from arena.engines.local.binder import Binder
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.effects import Effects
from arena.engines.local.loop import Reconciler
from arena.engines.local.node import Capacity, nvml_gpus
from arena.engines.local.paths import Paths
from arena.engines.local.plan import LocalPlan
from arena.engines.local.repo import Repo
from arena.engines.local.rows import JobRow
from arena.engines.local.scheduler import queue_report
from arena.engines.local.supervisor import KILL, TERM, Processes
from arena.errors import ArenaError, InvalidSpec, JobExists, JobNotFound, QueueNotFound
from arena.spec.job import JobSpec
from arena.spec.names import check_dns_label
from arena.views import DataView, Event, JobView, NodeView, QueueView

BUILTIN_PRIORITIES = {"low": -1000, "normal": 0, "high": 1000}
MAX_BODY = 16 * 2**20  # bytes: a plan of thousands of replicas fits; a runaway client does not


# ---- request bodies ---------------------------------------------------------------------------
class SubmitRequest(msgspec.Struct, forbid_unknown_fields=True):
    plan: LocalPlan
    staged_code: str | None = None  # a directory under $ARENA_HOME/staging holding the synced code


class QueueRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""
    weight: int | str | None = None
    capability: dict[str, Any] | None = None
    guarantee: dict[str, Any] | None = None
    reclaimable: bool | None = None
    state: str | None = None
    kueue: bool = False  # `--kueue`: locally a Kueue ClusterQueue is this same queue (no second system)


class DataRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""
    path: str = ""
    description: str = ""


class PruneRequest(msgspec.Struct, forbid_unknown_fields=True):
    since: float
    all: bool = False
    namespace: str | None = None
    kind: str | None = None


def decode(body: bytes, type_: type[Any]) -> Any:
    if len(body) > MAX_BODY:
        raise InvalidSpec("request", f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        return msgspec.json.decode(body or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidSpec("request", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidSpec("request", f"not JSON: {exc}") from None


class Encoded(bytes):
    """An answer already encoded as JSON (from a cache)."""


class Api:
    def __init__(self, paths: Paths, capacity: Capacity, config: dict[str, Any], repo: Repo, catalog: Catalog,
                 effects: Effects, binder: Binder, loop: Reconciler, procs: Processes, clock: Clock) -> None:
        self.paths = paths
        self.capacity = capacity
        self.repo = repo
        self.catalog = catalog
        self.effects = effects
        self.binder = binder
        self.loop = loop
        self.procs = procs
        self.clock = clock
        self.grace = effects.grace
        self.started = clock.now()
        self._list_cache: dict[tuple[str | None, str | None], tuple[int, bytes]] = {}
        self.priorities = dict(BUILTIN_PRIORITIES)
        for name, value in (config.get("priority_classes") or {}).items():
            self.priorities[str(name)] = int(value)

    # ---- submit -------------------------------------------------------------------------------
    def priority(self, name: str | None) -> int:
        if not name:
            return 0
        if name not in self.priorities:
            raise InvalidSpec("--priority", f"unknown priority class {name!r}; one of {', '.join(sorted(self.priorities))}")
        return self.priorities[name]

    def check(self, spec: JobSpec) -> None:
        """Submit-time checks that need the engine's state (queue, priority, capacity, volumes)."""
        q = self.repo.queue(spec.scheduling.queue)
        if q is None:
            raise QueueNotFound(spec.scheduling.queue)
        if q.state != "Open":
            raise InvalidSpec("--queue", f"queue {spec.scheduling.queue!r} is {q.state.lower()} and accepts no new jobs")
        self.priority(spec.scheduling.priority)
        for t in spec.tasks:
            if t.resources.gpus > len(self.capacity.gpus):
                raise InvalidSpec("--gpus", f"{t.resources.gpus} GPUs per replica requested but this machine has "
                                            f"{len(self.capacity.gpus)}")
        for m in spec.data:
            if self.repo.volume(m.name) is None:
                raise InvalidSpec("--data", f"data volume {m.name!r} does not exist; create it with 'arena data create'")
        for d in spec.data_dirs:
            if not Path(d.host_path).is_dir():
                raise InvalidSpec("--data-dir", f"{d.host_path!r} is not a directory on this machine")
        kinds.get(spec.kind, "kind").local_check(spec)
        mina = spec.scheduling.min_available
        if mina is not None and not 0 < mina <= spec.total_replicas:
            raise InvalidSpec("--min-available", f"must be between 1 and the number of replicas ({spec.total_replicas})")

    def submit(self, req: SubmitRequest) -> JobView:
        plan = req.plan
        spec = plan.spec
        if planner.plan(spec, plan.inputs) != plan:
            raise InvalidSpec("plan", "is not the plan of its spec (is the daemon another version? "
                                      "'arena daemon stop' and retry)")
        with self.loop.mu:
            self.check(spec)
            uid = uuid.uuid4().hex
            job_dir = self.paths.job_dir(spec.namespace, spec.name, uid)
            try:
                with self.repo.tx() as tx:
                    if tx.job_exists(spec.namespace, spec.name):
                        raise JobExists(spec.name, spec.namespace)
                    tx.insert_job(uid, spec.namespace, spec.name, spec.kind, msgspec.json.encode(spec).decode(),
                                  plans.encode(plan).decode(), spec.scheduling.queue,
                                  self.priority(spec.scheduling.priority), spec.scheduling.priority,
                                  spec.requested_gpus, str(job_dir), spec.run_policy.active_deadline_seconds,
                                  [(f"{r.task}-{r.index}", r.task, r.index) for r in plan.replicas])
                    tx.event(uid, "Created", f"{kinds.get(spec.kind, 'kind').trainer} {spec.name} created",
                             source=f"{spec.kind}/{spec.name}")
                    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
                    (job_dir / "status").mkdir(exist_ok=True)
                    self._mounts(spec, job_dir)
                    if req.staged_code:
                        staged = Path(req.staged_code)
                        if staged.parent != self.paths.home / "staging" or not staged.is_dir():
                            raise InvalidSpec("--sync-source", "staged code is missing")
                        staged.rename(job_dir / "code")
            except BaseException:
                shutil.rmtree(job_dir, ignore_errors=True)
                raise
            self.catalog.remember(uid, plan)
        self.loop.wake.set()
        return self.get(spec.namespace, spec.name)

    def _mounts(self, spec: JobSpec, job_dir: Path) -> None:
        """Data volumes and host dirs appear as links at `<job dir>/mnt/<mount path>` (ARENA_MNT)."""
        pairs = [(self.repo.volume(m.name).path, m.path) for m in spec.data]  # type: ignore[union-attr]
        pairs += [(d.host_path, d.mount_path) for d in spec.data_dirs]
        for source, mount in pairs:
            link = job_dir / "mnt" / mount.strip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source, target_is_directory=True)

    # ---- read ---------------------------------------------------------------------------------
    def job_row(self, namespace: str, name: str, kind: str | None = None) -> JobRow:
        row = self.repo.job_named(namespace, name)
        if row is None or (kind and kinds.canonical(kind) != row.kind):  # a job of another kind is not this one
            raise JobNotFound(name, namespace)
        return row

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        kind = kinds.canonical(kind) if kind else None
        return [jobview.job(row, alloc=alloc) for row, alloc in self.repo.jobs_listed(namespace, kind)]

    def list_encoded(self, namespace: str | None, kind: str | None = None) -> bytes:
        """`list` as JSON, cached until the store changes (durations are computed by the reader)."""
        key = (namespace, kind)
        hit = self._list_cache.get(key)
        if hit is not None and hit[0] == self.repo.changes:
            return hit[1]
        changes = self.repo.changes
        data = msgspec.json.encode(self.list(namespace, kind))
        if len(self._list_cache) > 64:
            self._list_cache.clear()
        self._list_cache[key] = (changes, data)
        return data

    def get(self, namespace: str, name: str, kind: str | None = None, events: bool = True,
            with_spec: bool = False) -> JobView:
        row = self.job_row(namespace, name, kind)
        return jobview.job(row, self.catalog.spec(row.uid, row.spec), self.repo.replicas(row.uid),
                           self.repo.events(row.uid) if events else [], self.repo.transitions(row.uid),
                           with_spec=with_spec)

    def events(self, namespace: str, name: str, kind: str | None = None) -> list[Event]:
        return self.repo.events(self.job_row(namespace, name, kind).uid)

    def node(self) -> NodeView:
        bound = [(r, self.catalog.spec(r.job_uid, spec)) for r, spec in self.repo.replicas_bound()]
        live = {g.index: g for g in nvml_gpus()} if self.capacity.source == "detected" else {}
        return jobview.node(self.capacity, bound, live)

    # ---- delete / prune -----------------------------------------------------------------------
    def delete(self, namespace: str, name: str, kind: str | None = None) -> None:
        with self.loop.mu:
            row = self.job_row(namespace, name, kind)
            with self.repo.tx() as tx:
                if row.finished is None:
                    tx.job_deleting(row.uid)
                    tx.set_phase(row.uid, "Terminating", "deleted by user")
            pids = self.effects.terminate(row.uid, "job deleted")
            if row.tb_pid:
                self.procs.signal_tree(row.tb_pid, row.tb_ctime, TERM)
                pids.append((row.tb_pid, row.tb_ctime))
        self._wait_gone([p for p, _ in pids], self.grace)
        for pid, ctime in pids:
            self.procs.signal_tree(pid, ctime, KILL)
        self._wait_gone([p for p, _ in pids], 5.0)
        with self.loop.mu:
            self.loop.remove(row)
        self.loop.wake.set()

    def _wait_gone(self, pids: list[int | None], seconds: float) -> None:
        deadline = self.clock.monotonic() + seconds
        while self.procs.any_group_alive(pids) and self.clock.monotonic() < deadline:
            self.clock.sleep(0.02)

    def prune(self, req: PruneRequest) -> list[JobView]:
        namespace = None if req.all else (req.namespace or "default")
        kind = kinds.canonical(req.kind) if req.kind else None
        victims = [jobview.job(r) for r in self.repo.jobs_prunable(self.clock.now() - req.since, namespace, kind)]
        for v in victims:
            try:
                self.delete(v.namespace, v.name)
            except JobNotFound:
                pass
        return victims

    # ---- queues -------------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[QueueView]:
        if name is None:
            found = self.repo.queues()
        else:
            q = self.repo.queue(name)
            if q is None:
                raise QueueNotFound(name)
            found = [q]
        report = queue_report(self.binder.snapshot(self.clock.now()))
        return [jobview.queue(row, report.get(row.name)) for row in found]

    def queue_op(self, op: str, name: str, req: QueueRequest) -> list[QueueView]:
        with self.loop.mu:
            if op == "create":
                queues.create(self.repo, name, 1 if req.weight is None else req.weight, req.capability, req.guarantee,
                              True if req.reclaimable is None else req.reclaimable, req.state or "Open")
            elif op == "update":
                queues.update(self.repo, name, req.weight, req.capability, req.guarantee, req.reclaimable)
            elif op in ("open", "close"):
                queues.set_state(self.repo, name, op == "open")
            elif op == "delete":
                queues.delete(self.repo, name)
                return []
        self.loop.wake.set()
        return self.queues(name)

    # ---- data volumes -------------------------------------------------------------------------
    def data(self, op: str, req: DataRequest) -> list[DataView]:
        if op == "create":
            check_dns_label(req.name, "NAME")
            p = Path(req.path).expanduser()
            if not req.path or not p.is_absolute():
                raise InvalidSpec("--path", f"{req.path!r} must be an absolute directory path")
            p.mkdir(parents=True, exist_ok=True)
            with self.repo.tx() as tx:
                if tx.volume_exists(req.name):
                    raise InvalidSpec("NAME", f"data volume {req.name!r} already exists")
                tx.insert_volume(req.name, str(p), req.description)
        elif op == "delete":
            with self.repo.tx() as tx:
                if not tx.delete_volume(req.name):
                    raise ArenaError(f"data volume {req.name!r} not found")
            return []
        return [jobview.data(v) for v in self.repo.volumes()]

    def ping(self) -> dict[str, Any]:
        return {"version": __version__, "pid": os.getpid(), "started": self.started, "home": str(self.paths.home),
                "capacity": msgspec.to_builtins(self.capacity)}


def route(api: Api, method: str, parts: list[str], q: dict[str, str], body: bytes) -> Any:
    """/v1/ping, /v1/jobs[/<ns>/<name>[/events]], /v1/prune, /v1/queues[/<name>[/open|close]], /v1/data[/<name>],
    /v1/node."""
    if parts[:1] != ["v1"]:
        raise ArenaError(f"unknown path /{'/'.join(parts)}")
    parts = parts[1:]
    kind = q.get("kind") or None
    if parts == ["ping"]:
        return api.ping()
    if parts == ["jobs"] and method == "POST":
        return api.submit(decode(body, SubmitRequest))
    if parts == ["jobs"] and method == "GET":
        ns = None if q.get("all") == "1" else q.get("namespace", "default")
        return Encoded(api.list_encoded(ns, kind))
    if len(parts) in (3, 4) and parts[0] == "jobs":
        ns, name = parts[1], parts[2]
        if len(parts) == 4 and parts[3] == "events" and method == "GET":
            return api.events(ns, name, kind)
        if len(parts) == 3 and method == "GET":
            return api.get(ns, name, kind, events=q.get("events", "1") == "1", with_spec=q.get("spec") == "1")
        if len(parts) == 3 and method == "DELETE":
            api.delete(ns, name, kind)
            return {"deleted": name, "namespace": ns}
    if parts == ["prune"] and method == "POST":
        return api.prune(decode(body, PruneRequest))
    if parts and parts[0] == "queues":
        if len(parts) == 1:
            if method == "POST":
                req = decode(body, QueueRequest)
                return api.queue_op("create", req.name, req)
            return api.queues()
        name = parts[1]
        if len(parts) == 3 and method == "POST" and parts[2] in ("open", "close"):
            return api.queue_op(parts[2], name, decode(body, QueueRequest))
        if len(parts) == 2:
            if method == "GET":
                return api.queues(name)
            if method == "PUT":
                return api.queue_op("update", name, decode(body, QueueRequest))
            if method == "DELETE":
                return api.queue_op("delete", name, QueueRequest(name=name))
    if parts and parts[0] == "data":
        if method == "POST":
            return api.data("create", decode(body, DataRequest))
        if method == "DELETE" and len(parts) == 2:
            return api.data("delete", DataRequest(name=parts[1]))
        return api.data("list", DataRequest())
    if parts == ["node"]:
        return api.node()
    raise ArenaError(f"unknown API call {method} /v1/{'/'.join(parts)}")
