"""The daemon's API: every request decoded into a typed body, validated, then carried out.

`route` maps `METHOD /v1/...` onto the operations of `Api`. Nothing a client sends is trusted: a body is
decoded into its struct (unknown or ill-typed fields are refused), a submitted spec passes the very checks a
job file and the flags get (`spec.jobfile.check`) and the configured limits (`limits.Limits`), a submitted
plan must be the plan of its own spec (the daemon plans it again, with the same pure planner), and
submit-time checks that need the engine's state (queue, priority, capacity, data volumes) run here, before
anything is created. Whatever is refused is an `InvalidSpec` (HTTP 400, one line) and leaves nothing behind.

A submit carries an idempotency key: a client that lost its connection (the daemon crashed right after the
commit) sends the same request again and gets the job it created, not "already exists".
"""
from __future__ import annotations

import math
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec

from arena import __version__, kinds
from arena import config as arena_config
from arena.engines.local import jobview, planner, queues, rows
from arena.engines.local import plan as plans
from arena.engines.local import faults, integrity
from arena.engines.local.binder import Binder
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.effects import Effects
from arena.engines.local.listing import Listing
from arena.engines.local.loop import Reconciler
from arena.engines.local.node import Capacity, nvml_gpus
from arena.engines.local.paths import Paths, mount_link, remove_job_dir
from arena.engines.local.plan import LocalPlan
from arena.engines.local.repo import Repo
from arena.engines.local.rows import JobRow
from arena.engines.local.scheduler import queue_report
from arena.engines.local.store import is_disk_full
from arena.engines.local.supervisor import TERM, Processes
from arena.errors import ArenaError, DiskFull, InvalidSpec, JobExists, JobNotFound, QueueNotFound
from arena.limits import Limits
from arena.spec import duration, jobfile, quantity
from arena.spec.job import JobSpec
from arena.spec.names import check_dns_label
from arena.views import DataView, Event, JobView, NodeView, QueueView, Transition

BUILTIN_PRIORITIES = {"low": -1000, "normal": 0, "high": 1000}
MAX_BODY = Limits.request_bytes  # the default; the daemon bounds bodies by its configured limit
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


# ---- request bodies ---------------------------------------------------------------------------
class SubmitRequest(msgspec.Struct, forbid_unknown_fields=True):
    plan: LocalPlan
    staged_code: str | None = None  # a directory under $ARENA_HOME/staging holding the synced code
    key: str | None = None  # idempotency key: the same key again returns the job this request created


class StopRequest(msgspec.Struct, forbid_unknown_fields=True):
    stop_jobs: bool = False  # `arena daemon stop --stop-jobs`: end every running job before the daemon stops


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


def decode(body: bytes, type_: type[Any], limit: int = MAX_BODY) -> Any:
    if len(body) > limit:
        raise InvalidSpec("request", f"body of {len(body)} bytes exceeds the limit of {limit} "
                                     f"({Limits().key('request_bytes')})")
    try:
        return msgspec.json.decode(body or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise InvalidSpec("request", _one_line(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidSpec("request", f"not JSON: {_one_line(str(exc))}") from None


def _listed(row: JobRow, alloc: int) -> JobView | None:
    """A job as `list` shows it; None for a serving version (`arena serve list` lists those)."""
    return None if kinds.serving(row.kind) else jobview.job(row, alloc=alloc)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "..."


def check_strings(value: Any, where: str) -> None:
    """No NUL byte anywhere in what becomes argv, env, paths or file names: the OS would refuse it when the
    replica starts, long after the request was accepted."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidSpec(where, "contains a NUL byte")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_strings(k, where)
            check_strings(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_strings(v, f"{where}[{i}]")


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
        self.config_path = paths.home / "config"
        self.limits = arena_config.limits(config, self.config_path)
        self.listing = Listing(repo, lambda raw: _listed(rows.job(raw[:-1]), raw[-1]))
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

    def validate(self, req: SubmitRequest, plan_json: bytes) -> None:
        """Everything about a submit that needs no state: the spec as a job file would be checked, the limits,
        the plan's inputs (`plan_json`: the plan encoded, as it is stored), and that the plan is the plan of its
        spec."""
        plan = req.plan
        spec = plan.spec
        if req.key is not None and not _KEY.match(req.key):
            raise InvalidSpec("key", "an idempotency key is 8 to 64 letters, digits, '-' or '_'")
        self.limits.check_job(spec, self.config_path)
        if kinds.serving(spec.kind):  # a serving version's generation (`arena serve`): the serving layer's rules
            from arena.engines.local.serving.plan import check_job

            check_job(spec)
        else:
            jobfile.check(spec)
        if b"\\u0000" in plan_json:  # JSON writes NUL so, and only NUL: the walk says where
            check_strings(msgspec.to_builtins(plan), "plan")
        cwd = plan.inputs.cwd
        if cwd and not cwd.startswith("/"):
            raise InvalidSpec("plan.inputs.cwd", f"{cwd!r} must be an absolute path")
        try:
            replanned = planner.plan(spec, plan.inputs)
        except ArenaError:
            raise
        except Exception as exc:  # the planner trusts a valid spec; anything else it cannot plan is refused
            raise InvalidSpec("plan", f"cannot be planned: {_one_line(f'{type(exc).__name__}: {exc}')}") from None
        if replanned != plan:
            raise InvalidSpec("plan", "is not the plan of its spec (is the daemon another version? "
                                      "'arena daemon stop' and retry)")

    def submit(self, req: SubmitRequest) -> JobView:
        """Store a new job and wake the loop. Not under the loop's lock: a submit only adds a row, which a
        reconcile pass in progress either saw or leaves to the next pass, so a burst of submits is not held
        behind passes. Its checks of engine state (queue, volumes, an earlier attempt, the name) run in the
        transaction that inserts it, which the store serialises with every other change."""
        plan = req.plan
        spec = plan.spec
        plan_json = plans.encode(plan)
        self.validate(req, plan_json)
        uid = uuid.uuid4().hex
        job_dir = self.paths.job_dir(spec.namespace, spec.name, uid)
        plan_text = plan_json.decode()
        spec_text = msgspec.json.encode(spec).decode()
        try:
            # Its folder first, outside the store's lock (slow on some filesystems; unique to its uid), removed
            # below if the job is refused. The replicas' status files go in it; their shims make `logs/`.
            os.makedirs(job_dir)
            with self.repo.tx() as tx:
                found = tx.job_submitted_as(req.key) if req.key is not None else None
                if found is not None:  # an earlier attempt of this very request created it (a lost answer)
                    if found != (spec.namespace, spec.name):
                        raise InvalidSpec("key", f"this idempotency key created job {found[0]}/{found[1]}, "
                                                 "not this one")
                    remove_job_dir(job_dir)  # this attempt's folders: the job is the first attempt's
                    return self.get(*found)
                self.check(spec)
                if tx.job_exists(spec.namespace, spec.name):
                    raise JobExists(spec.name, spec.namespace)
                if tx.count_jobs(spec.namespace) >= self.limits.jobs_per_namespace:
                    raise InvalidSpec("--namespace", f"namespace {spec.namespace!r} holds "
                                      f"{self.limits.jobs_per_namespace} jobs, the limit "
                                      f"({self.limits.key('jobs_per_namespace', self.config_path)}); "
                                      "remove finished ones with 'arena prune'")
                now = self.clock.now()
                row, reps = tx.insert_job(uid, spec.namespace, spec.name, spec.kind, spec_text,
                                          plan_text, spec.scheduling.queue,
                                          self.priority(spec.scheduling.priority), spec.scheduling.priority,
                                          spec.requested_gpus, str(job_dir), spec.run_policy.active_deadline_seconds,
                                          [(f"{r.task}-{r.index}", r.task, r.index) for r in plan.replicas], req.key,
                                          now=now)
                created = Event(now, "Normal", f"{spec.kind}/{spec.name}", "Created",
                                f"{kinds.get(spec.kind, 'kind').trainer} {spec.name} created")
                tx.event(uid, created.reason, created.message, source=created.source, ts=now)
                self._mounts(spec, job_dir)
                if req.staged_code:
                    staged = Path(req.staged_code)
                    if staged.parent != self.paths.home / "staging" or not staged.is_dir():
                        raise InvalidSpec("--sync-source", "staged code is missing")
                    staged.rename(job_dir / "code")
                self.catalog.remember(uid, plan)
                # the view of what this transaction stored, as `get` would read it back (a test holds them equal)
                view = jobview.job(row, spec, reps, [created], [Transition(now, "Created", "submitted")], plan=plan)
        except BaseException as exc:  # nothing half-created
            self.catalog.forget(uid)
            remove_job_dir(job_dir)
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise DiskFull(str(self.paths.home)) from None
            raise
        faults.crash("submit-committed", self.paths.home)
        try:  # the job's record: proof on disk, for `integrity`, that the store committed this job
            integrity.write_record(job_dir, {"uid": uid, "plan": plan_text, "spec": spec_text,
                                             "priority": self.priority(spec.scheduling.priority),
                                             "priority_class": spec.scheduling.priority})
        except OSError:
            pass  # a full disk: the store has the job; only the evidence for a repair is missing
        self.loop.wake.set()
        return view

    def _mounts(self, spec: JobSpec, job_dir: Path) -> None:
        """Data volumes and host dirs appear as links at `<job dir>/mnt/<mount path>` (ARENA_MNT)."""
        pairs = [(self.repo.volume(m.name).path, m.path) for m in spec.data]  # type: ignore[union-attr]
        pairs += [(d.host_path, d.mount_path) for d in spec.data_dirs]
        taken: list[str] = []
        for (source, mount), flag in zip(pairs, ["--data"] * len(spec.data) + ["--data-dir"] * len(spec.data_dirs)):
            link = mount_link(job_dir, mount, flag, taken)  # normalised, inside the job's folder, or refused
            taken.append(str(link.relative_to(job_dir / "mnt")))
            link.symlink_to(source, target_is_directory=True)

    # ---- read ---------------------------------------------------------------------------------
    def job_row(self, namespace: str, name: str, kind: str | None = None) -> JobRow:
        row = self.repo.job_named(namespace, name)
        if row is None or (kind and kinds.canonical(kind) != row.kind):  # a job of another kind is not this one
            raise JobNotFound(name, namespace)
        return row

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        kind = kinds.canonical(kind) if kind else None
        return [v for row, alloc in self.repo.jobs_listed(namespace, kind) if (v := _listed(row, alloc)) is not None]

    def list_encoded(self, namespace: str | None, kind: str | None = None, summary: bool = False) -> bytes:
        """`list` as JSON (durations are computed by the reader). With `summary`, the jobs' `JobSummary`s, what
        `arena list` prints (`arena.summary.from_wire` reads them); see `listing.Listing`."""
        return self.listing.encoded(namespace, kinds.canonical(kind) if kind else None, summary)

    def get(self, namespace: str, name: str, kind: str | None = None, events: bool = True,
            with_spec: bool = False) -> JobView:
        row = self.job_row(namespace, name, kind)
        try:
            spec: JobSpec | None = self.catalog.spec(row.uid, row.spec)
        except Exception:  # a stored spec this version cannot read: the job is still shown, and deletable
            spec = None
        try:
            plan = self.catalog.plan(row.uid) if spec is not None else None
        except Exception:  # nor a plan: shown without its thread counts
            plan = None
        return jobview.job(row, spec, self.repo.replicas(row.uid),
                           self.repo.events(row.uid) if events else [], self.repo.transitions(row.uid),
                           with_spec=with_spec and spec is not None, plan=plan)

    def events(self, namespace: str, name: str, kind: str | None = None) -> list[Event]:
        return self.repo.events(self.job_row(namespace, name, kind).uid)

    def node(self) -> NodeView:
        bound = [(r, self.catalog.spec(r.job_uid, spec)) for r, spec in self.repo.replicas_bound()]
        live = {g.index: g for g in nvml_gpus()} if self.capacity.source == "detected" else {}
        return jobview.node(self.capacity, bound, live)

    # ---- delete / prune -----------------------------------------------------------------------
    def delete(self, namespace: str, name: str, kind: str | None = None) -> None:
        """Stop the job's processes, then remove it. On a full disk, where the store cannot record the
        stopping, the processes are signalled directly and the job's folder goes before its row: a delete is
        what frees the space."""
        with self.loop.mu:
            row = self.job_row(namespace, name, kind)
            try:
                with self.repo.tx() as tx:
                    if row.finished is None:
                        tx.job_deleting(row.uid)
                        tx.set_phase(row.uid, "Terminating", "deleted by user")
                pids = self.effects.terminate(row.uid, "job deleted")
                full = False
            except DiskFull:
                full = True
                pids = self.effects.signal(self.repo.replicas_running(row.uid), TERM)
            pids += self.effects.stop_tensorboard(row)
        self.effects.wait_stopped(pids)  # SIGKILL after the grace period; every descendant gone
        with self.loop.mu:
            if full:
                remove_job_dir(row.job_dir)
            try:
                self.loop.remove(row)
            except DiskFull:  # the store needs room to record the delete: the job's folder makes it
                remove_job_dir(row.job_dir)
                self.loop.remove(row)
        self.loop.wake.set()

    def prune(self, req: PruneRequest) -> list[JobView]:
        if not math.isfinite(req.since) or req.since < 0:
            raise InvalidSpec("--since", f"{req.since!r} must be a finite number of seconds, 0 or more")
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
            check_strings(req.path, "--path")
            check_strings(req.description, "--description")
            p = Path(req.path).expanduser()
            if not req.path or not p.is_absolute():
                raise InvalidSpec("--path", f"{req.path!r} must be an absolute directory path")
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if is_disk_full(exc):
                    raise DiskFull(str(self.paths.home)) from None
                raise InvalidSpec("--path", f"{req.path!r}: {exc.strerror}") from None
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

    # ---- the daemon itself --------------------------------------------------------------------
    def stop_jobs(self, reason: str = "stopped with the daemon ('arena daemon stop --stop-jobs')") -> list[str]:
        """End every job that has a replica running, and wait until none of their processes is left: what
        `arena daemon stop --stop-jobs` asks before the daemon stops (queued jobs stay queued)."""
        ended: list[JobRow] = []
        stopping = []
        with self.loop.mu:
            for row in self.repo.jobs_active():
                if self.repo.any_live(row.uid):
                    with self.repo.tx() as tx:
                        self.effects.finish(tx, row.uid, False, reason)
                    stopping += self.effects.terminate(row.uid, reason)
                    stopping += self.effects.stop_tensorboard(row)
                    ended.append(row)
        self.effects.wait_stopped(stopping)
        with self.loop.mu:
            self.loop.reconcile()  # records that they are gone
        return [f"{row.namespace}/{row.name}" for row in ended]

    def _runnable(self, row: JobRow) -> None:
        """What the loop computes from a stored job: its spec, controller and plan, its requests, its TTLs."""
        spec = self.catalog.spec(row.uid, row.spec)
        self.catalog.controller(row.uid, row.spec)
        if self.catalog.plan(row.uid) is None:
            raise InvalidSpec("plan", "is missing")
        for t in spec.tasks:
            quantity.cpu_milli(t.resources.cpu, f"tasks[{t.name}].resources.cpu")
            quantity.memory_bytes(t.resources.memory, f"tasks[{t.name}].resources.memory")
        if spec.tensorboard is not None and spec.tensorboard.ttl:
            duration.parse_seconds(spec.tensorboard.ttl, "--tensorboard-ttl")

    def quarantine_unreadable(self) -> list[str]:
        """Stored active jobs the loop could not process (a value an older daemon accepted) end FAILED with the
        reason, before the loop runs: one bad job must not stop the loop for every other."""
        failed = []
        for row in self.repo.jobs_active():
            try:
                self._runnable(row)
            except Exception as exc:
                problem = _one_line(str(exc) if isinstance(exc, ArenaError) else f"{type(exc).__name__}: {exc}")
                reason = f"the daemon cannot run this job: {problem}"
                with self.loop.mu:
                    self.effects.terminate(row.uid, reason)
                    with self.repo.tx() as tx:
                        tx.job_finished(row.uid, reason, None)
                        tx.set_phase(row.uid, "Failed", reason, "FAILED")
                        tx.event(row.uid, "Failed", reason, "Warning", "daemon")
                    self.catalog.forget(row.uid)
                try:
                    print(f"arenad: job {row.namespace}/{row.name} failed: {reason}", file=sys.stderr, flush=True)
                except (OSError, ValueError):  # a full disk: the job's event says it
                    pass
                failed.append(f"{row.namespace}/{row.name}")
        return failed

    def ping(self) -> dict[str, Any]:
        return {"version": __version__, "pid": os.getpid(), "started": self.started, "home": str(self.paths.home),
                "capacity": msgspec.to_builtins(self.capacity)}


def route(api: Api, method: str, parts: list[str], q: dict[str, str], body: bytes) -> Any:
    """/v1/ping, /v1/jobs[/<ns>/<name>[/events]], /v1/prune, /v1/queues[/<name>[/open|close]], /v1/data[/<name>],
    /v1/node."""
    if parts[:1] != ["v1"]:
        raise InvalidSpec("path", f"unknown path /{'/'.join(parts)}")
    parts = parts[1:]
    kind = q.get("kind") or None
    if kind:
        kinds.canonical(kind)  # an unknown kind is a 400 naming --type, wherever it is given
    if parts == ["ping"]:
        return api.ping()
    if parts[:1] == ["serving"]:  # `arena serve` (engines/local/serving/api.py)
        from arena.engines.local.serving.api import route as serving_route

        return serving_route(api, method, parts[1:], q, body)
    if parts == ["daemon", "stop"] and method == "POST":
        return {"stopped": api.stop_jobs() if decode(body, StopRequest, api.limits.request_bytes).stop_jobs else []}
    if parts == ["jobs"] and method == "POST":
        return api.submit(decode(body, SubmitRequest, api.limits.request_bytes))
    if parts == ["jobs"] and method == "GET":
        ns = None if q.get("all") == "1" else q.get("namespace", "default")
        view = q.get("view", "full")
        if view not in ("full", "summary"):
            raise InvalidSpec("view", f"{view!r} must be full or summary")
        return Encoded(api.list_encoded(ns, kind, summary=view == "summary"))
    if len(parts) in (3, 4) and parts[0] == "jobs":
        ns, name = parts[1], parts[2]
        if len(parts) == 4 and parts[3] == "events" and method == "GET":
            return api.events(ns, name, kind)
        if len(parts) == 4 and parts[3] == "attach" and method == "GET":  # `arena attach`: the bound launch
            from arena.engines.local.attach import launch

            return launch(api, ns, name, kind, q.get("instance") or None)
        if len(parts) == 3 and method == "GET":
            return api.get(ns, name, kind, events=q.get("events", "1") == "1", with_spec=q.get("spec") == "1")
        if len(parts) == 3 and method == "DELETE":
            api.delete(ns, name, kind)
            return {"deleted": name, "namespace": ns}
    if parts == ["prune"] and method == "POST":
        return api.prune(decode(body, PruneRequest, api.limits.request_bytes))
    if parts and parts[0] == "queues":
        if len(parts) == 1:
            if method == "POST":
                req = decode(body, QueueRequest, api.limits.request_bytes)
                return api.queue_op("create", req.name, req)
            return api.queues()
        name = parts[1]
        if len(parts) == 3 and method == "POST" and parts[2] in ("open", "close"):
            return api.queue_op(parts[2], name, decode(body, QueueRequest, api.limits.request_bytes))
        if len(parts) == 2:
            if method == "GET":
                return api.queues(name)
            if method == "PUT":
                return api.queue_op("update", name, decode(body, QueueRequest, api.limits.request_bytes))
            if method == "DELETE":
                return api.queue_op("delete", name, QueueRequest(name=name))
    if parts and parts[0] == "data":
        if method == "POST":
            return api.data("create", decode(body, DataRequest, api.limits.request_bytes))
        if method == "DELETE" and len(parts) == 2:
            return api.data("delete", DataRequest(name=parts[1]))
        return api.data("list", DataRequest())
    if parts == ["node"]:
        return api.node()
    raise InvalidSpec("path", f"unknown API call {method} /v1/{'/'.join(parts)}")

