"""The local engine's core: jobs in the store, a reconcile loop, and the API operations.

`reconcile()` is the whole control loop: observe replica exits (from the shims' files),
apply lifecycle rules, enforce deadlines and TTLs, then run one scheduling cycle on a
snapshot and launch what it binds. It is idempotent, so a restarted daemon simply runs
it again and re-adopts whatever is still running.
"""
from __future__ import annotations

import json
import random
import shutil
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from arena.engines.local import launch, lifecycle, queues, resources, supervisor, volcano_lifecycle
from arena.engines.local.node import Capacity
from arena.engines.local.paths import Paths
from arena.engines.local.scheduler import Amount, Decisions, Job, Node, Queue, Replica, Snapshot, cycle
from arena.engines.local.store import Store, loads
from arena.errors import ArenaError, InvalidSpec, JobExists, JobNotFound, QueueNotFound
from arena.spec import job as jobspec
from arena.spec import kinds, quantity
from arena.spec.job import JobSpec
from arena.views import Event, Instance, JobView, NodeView, Transition

# Volcano's phases while a finished job's pods are being killed, and the phase each leads to.
TRANSITIONAL = {"Completed": "Completing", "Aborted": "Aborting", "Terminated": "Terminating"}
BUILTIN_PRIORITIES = {"low": -1000, "normal": 0, "high": 1000}


PORT_RANGE = (20000, 30000)  # as upstream Arena: below Linux's ephemeral range (32768-60999), so an
# outgoing connection cannot take a port between its allocation and the replica binding it


def _free_port(taken: set[int]) -> int:
    for _ in range(200):
        port = random.randrange(*PORT_RANGE)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((launch.LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} on the loopback interface")


class Runtime:
    def __init__(self, paths: Paths, capacity: Capacity, config: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.time, grace_period: float = 5.0) -> None:
        self.paths = paths
        self.capacity = capacity
        self.config = config or {}
        self.clock = clock
        self.grace = float(self.config.get("grace_period", grace_period))
        self.store = Store(paths.db)
        self.mu = threading.RLock()  # one reconcile or mutation at a time
        self.wake = threading.Event()
        self._specs: dict[str, JobSpec] = {}
        self._list_cache: dict[tuple[str | None, str | None], tuple[int, bytes]] = {}
        self._recent_ports: deque[int] = deque(maxlen=512)
        self.priorities = dict(BUILTIN_PRIORITIES)
        for name, value in (self.config.get("priority_classes") or {}).items():
            self.priorities[str(name)] = int(value)

    # ---- helpers ------------------------------------------------------------------------
    def spec(self, uid: str, text: str | None = None) -> JobSpec:
        s = self._specs.get(uid)
        if s is None:
            if text is None:
                row = self.store.one("SELECT spec FROM jobs WHERE uid=?", (uid,))
                text = row["spec"] if row else "{}"
            s = self._specs[uid] = jobspec.decode(text)
        return s

    def _priority(self, name: str | None) -> int:
        if not name:
            return 0
        if name not in self.priorities:
            raise InvalidSpec("--priority", f"unknown priority class {name!r}; one of {', '.join(sorted(self.priorities))}")
        return self.priorities[name]

    def _job_row(self, namespace: str, name: str) -> Any:
        row = self.store.one("SELECT * FROM jobs WHERE namespace=? AND name=?", (namespace, name))
        if row is None:
            raise JobNotFound(name, namespace)
        return row

    # ---- API: submit ----------------------------------------------------------------------
    def check(self, spec: JobSpec) -> None:
        """Submit-time checks that need the engine's state (queue, priority, capacity)."""
        q = self.store.one("SELECT state FROM queues WHERE name=?", (spec.scheduling.queue,))
        if q is None:
            raise QueueNotFound(spec.scheduling.queue)
        if q["state"] != "Open":
            raise InvalidSpec("--queue", f"queue {spec.scheduling.queue!r} is {q['state'].lower()} and accepts no new jobs")
        self._priority(spec.scheduling.priority)
        for t in spec.tasks:
            if t.resources.gpus > len(self.capacity.gpus):
                raise InvalidSpec("--gpus", f"{t.resources.gpus} GPUs per replica requested but this machine has "
                                            f"{len(self.capacity.gpus)}")
        for m in spec.data:
            if self.store.one("SELECT 1 FROM volumes WHERE name=?", (m.name,)) is None:
                raise InvalidSpec("--data", f"data volume {m.name!r} does not exist; create it with 'arena data create'")
        for d in spec.data_dirs:
            if not Path(d.host_path).is_dir():
                raise InvalidSpec("--data-dir", f"{d.host_path!r} is not a directory on this machine")
        if spec.kind == "volcanojob":
            from arena.distributed import volcano

            if unmodelled := volcano.unmodelled_plugins(spec):
                raise InvalidSpec("--plugin", f"the local engine does not model the {', '.join(unmodelled)} "
                                              "plugin(s); drop them or use --engine kubernetes")
        mina = spec.scheduling.min_available
        if mina is not None and not 0 < mina <= spec.total_replicas:
            raise InvalidSpec("--min-available", f"must be between 1 and the number of replicas ({spec.total_replicas})")

    def submit(self, spec: JobSpec, base_env: dict[str, str], staged_code: str | None = None) -> JobView:
        sched = spec.scheduling
        if sched.kueue_queue and sched.kueue_queue != sched.queue:  # Kueue LocalQueues map onto the same queues
            spec = msgspec.structs.replace(spec, scheduling=msgspec.structs.replace(sched, queue=sched.kueue_queue))
        with self.mu:
            self.check(spec)
            uid = uuid.uuid4().hex
            job_dir = self.paths.job_dir(spec.namespace, spec.name, uid)
            now = self.clock()
            try:
                with self.store.tx() as db:
                    if db.execute("SELECT 1 FROM jobs WHERE namespace=? AND name=?", (spec.namespace, spec.name)).fetchone():
                        raise JobExists(spec.name, spec.namespace)
                    db.execute(
                        "INSERT INTO jobs(uid, namespace, name, kind, spec, base_env, status, phase, queue, priority,"
                        " priority_class, created, requested_gpus, job_dir, deadline_s)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (uid, spec.namespace, spec.name, spec.kind, jobspec.encode(spec).decode(), json.dumps(base_env),
                         "QUEUING", "Created", spec.scheduling.queue, self._priority(spec.scheduling.priority),
                         spec.scheduling.priority, now, spec.requested_gpus, str(job_dir),
                         spec.run_policy.active_deadline_seconds))
                    db.executemany(
                        "INSERT INTO replicas(job_uid, key, task, idx) VALUES (?,?,?,?)",
                        [(uid, f"{t.name}-{i}", t.name, i) for t in spec.tasks for i in range(t.replicas)])
                    db.execute("INSERT INTO transitions(job_uid, ts, phase, reason) VALUES (?,?,?,?)",
                               (uid, now, "Created", "submitted"))
                    Store.event(db, uid, "Created", f"{kinds.trainer(spec.kind)} {spec.name} created", ts=now,
                                source=f"{spec.kind}/{spec.name}")
                    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
                    (job_dir / "status").mkdir(exist_ok=True)
                    self._mounts(spec, job_dir)
                    if staged_code:
                        staged = Path(staged_code)
                        if staged.parent != self.paths.home / "staging" or not staged.is_dir():
                            raise InvalidSpec("--sync-source", "staged code is missing")
                        staged.rename(job_dir / "code")
            except BaseException:
                shutil.rmtree(job_dir, ignore_errors=True)
                raise
            self._specs[uid] = spec
        self.wake.set()
        return self.get(spec.namespace, spec.name)

    def _mounts(self, spec: JobSpec, job_dir: Path) -> None:
        """Data volumes and host dirs appear as links at `<job dir>/mnt/<mount path>` (ARENA_MNT)."""
        pairs = [(self.store.one("SELECT path FROM volumes WHERE name=?", (m.name,))["path"], m.path) for m in spec.data]
        pairs += [(d.host_path, d.mount_path) for d in spec.data_dirs]
        for source, mount in pairs:
            link = job_dir / "mnt" / mount.strip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source, target_is_directory=True)

    # ---- API: data volumes ------------------------------------------------------------------
    def data(self, op: str, name: str = "", path: str = "", description: str = "") -> list[dict[str, Any]]:
        from arena.spec.names import check_dns_label

        if op == "create":
            check_dns_label(name, "NAME")
            p = Path(path).expanduser()
            if not path or not p.is_absolute():
                raise InvalidSpec("--path", f"{path!r} must be an absolute directory path")
            p.mkdir(parents=True, exist_ok=True)
            with self.store.tx() as db:
                if db.execute("SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone():
                    raise InvalidSpec("NAME", f"data volume {name!r} already exists")
                db.execute("INSERT INTO volumes(name, path, description, created) VALUES (?,?,?,?)",
                           (name, str(p), description, self.clock()))
        elif op == "delete":
            with self.store.tx() as db:
                if db.execute("DELETE FROM volumes WHERE name=?", (name,)).rowcount == 0:
                    raise ArenaError(f"data volume {name!r} not found")
            return []
        return [dict(r) for r in self.store.query("SELECT name, path, description, created FROM volumes ORDER BY name")]

    # ---- API: read ------------------------------------------------------------------------
    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        sql = ("SELECT j.*, (SELECT COALESCE(SUM(json_array_length(r.gpus)),0) FROM replicas r WHERE r.job_uid=j.uid"
               " AND r.bound=1 AND r.state IN ('Starting','Running')) AS alloc FROM jobs j")
        where, params = [], []
        if namespace is not None:
            where.append("j.namespace=?")
            params.append(namespace)
        if kind:
            where.append("j.kind=?")
            params.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY j.created DESC"
        return [self._view(row, alloc=row["alloc"]) for row in self.store.query(sql, tuple(params))]

    def list_encoded(self, namespace: str | None, kind: str | None = None) -> bytes:
        """`list` as JSON, cached until the store changes (durations are computed by the reader)."""
        key = (namespace, kind)
        hit = self._list_cache.get(key)
        if hit is not None and hit[0] == self.store.changes:
            return hit[1]
        changes = self.store.changes
        data = msgspec.json.encode(self.list(namespace, kind))
        if len(self._list_cache) > 64:
            self._list_cache.clear()
        self._list_cache[key] = (changes, data)
        return data

    def get(self, namespace: str, name: str, events: bool = True, with_spec: bool = False) -> JobView:
        row = self._job_row(namespace, name)
        reps = self.store.query("SELECT * FROM replicas WHERE job_uid=? ORDER BY task, idx", (row["uid"],))
        evs = self.store.query("SELECT * FROM events WHERE job_uid=? ORDER BY id", (row["uid"],)) if events else []
        trs = self.store.query("SELECT * FROM transitions WHERE job_uid=? ORDER BY id", (row["uid"],))
        return self._view(row, reps, evs, trs, with_spec=with_spec)

    def _view(self, row: Any, reps: list | None = None, evs: list | None = None, trs: list | None = None,
              alloc: int | None = None, with_spec: bool = False) -> JobView:
        instances: list[Instance] = []
        spec = self.spec(row["uid"], row["spec"]) if (reps is not None or with_spec) else None
        master = lifecycle.master_task(spec) if spec else ""
        chief = ""
        bound_gpus = 0  # as list's SQL: GPUs of bound replicas that are starting or running
        for r in reps or []:
            name = f"{row['name']}-{r['key']}"
            is_chief = r["task"] == master and r["idx"] == 0
            if is_chief:
                chief = name
            task = spec.task(r["task"]) if spec else None
            gpus = loads(r["gpus"], [])
            if r["bound"] and r["state"] in ("Starting", "Running"):
                bound_gpus += len(gpus)
            instances.append(Instance(
                name=name, task=r["task"], index=r["idx"], status=_pod_status(r["state"]), chief=is_chief,
                requestGPUs=task.resources.gpus if task else 0, gpuIndices=gpus, port=r["port"],
                restarts=r["restarts"], exitCode=r["exit_code"], pid=r["pid"], startTime=r["started"],
                finishTime=r["finished"], logPath=str(Path(row["job_dir"]) / "logs" / f"{r['key']}.log"),
                reason=r["reason"]))
        if alloc is None:
            alloc = bound_gpus
        return JobView(
            uuid=row["uid"], name=row["name"], namespace=row["namespace"], kind=row["kind"],
            trainer=kinds.trainer(row["kind"]), status=row["status"], phase=row["phase"],
            creationTimestamp=row["created"], startTime=row["started"], finishTime=row["finished"], queue=row["queue"],
            priority=row["priority_class"] or "N/A", requestGPUs=row["requested_gpus"], allocatedGPUs=alloc,
            chiefName=chief, reason=row["reason"], position=row["position"], restarts=row["restarts"],
            retries=row["retries"],
            jobDir=row["job_dir"], instances=instances,
            tensorboard=f"http://{launch.LOOPBACK}:{row['tb_port']}" if row["tb_port"] else "",
            events=[Event(e["ts"], e["type"], e["source"], e["reason"], e["message"], e["count"]) for e in evs or []],
            transitions=[Transition(t["ts"], t["phase"], t["reason"]) for t in trs or []],
            spec=jobspec.to_builtins(spec) if (with_spec and spec) else None)

    def node(self) -> NodeView:
        from arena.engines.local.node import nvml_gpus

        used = self.store.query("SELECT r.gpus, r.task, j.spec, j.uid FROM replicas r JOIN jobs j ON j.uid=r.job_uid"
                                " WHERE r.bound=1")
        cpu = mem = 0
        gpu_alloc: dict[int, str] = {}
        for r in used:
            spec = self.spec(r["uid"], r["spec"])
            t = spec.task(r["task"])
            if t:
                cpu += quantity.cpu_milli(t.resources.cpu)
                mem += quantity.memory_bytes(t.resources.memory)
            for g in loads(r["gpus"], []):
                gpu_alloc[g] = r["uid"]
        live = {g.index: g for g in nvml_gpus()} if self.capacity.source == "detected" else {}
        gpus = [{"index": i, "allocated": i in gpu_alloc, "name": live[i].name if i in live else "",
                 "memory_total": live[i].memory_total if i in live else None,
                 "memory_used": live[i].memory_used if i in live else None,
                 "utilization": live[i].utilization if i in live else None} for i in self.capacity.gpus]
        return NodeView(name=socket.gethostname(), ip=launch.LOOPBACK, role="<none>", status="Ready",
                        cpu_milli=self.capacity.cpu_milli, memory=self.capacity.memory,
                        gpu_total=len(self.capacity.gpus), gpu_allocated=len(gpu_alloc), cpu_allocated=cpu,
                        memory_allocated=mem, gpus=gpus, capacity_source=self.capacity.source)

    # ---- API: queues -----------------------------------------------------------------------
    def queue_list(self, name: str | None = None) -> list[queues.QueueView]:
        from arena.engines.local.scheduler import queue_report

        report = queue_report(self.snapshot(self.clock()))
        return [queues.view(row, report.get(row["name"])) for row in queues.rows(self.store, name)]

    def queue_op(self, op: str, name: str, body: dict[str, Any]) -> list[queues.QueueView]:
        with self.mu:
            if op == "create":
                queues.create(self.store, name, body.get("weight", 1), body.get("capability"), body.get("guarantee"),
                              body.get("reclaimable", True), body.get("state", "Open"))
            elif op == "update":
                queues.update(self.store, name, body.get("weight"), body.get("capability"), body.get("guarantee"),
                              body.get("reclaimable"))
            elif op in ("open", "close"):
                queues.set_state(self.store, name, op == "open")
            elif op == "delete":
                queues.delete(self.store, name)
                return []
        self.wake.set()
        return self.queue_list(name)

    # ---- API: delete / prune --------------------------------------------------------------
    def delete(self, namespace: str, name: str) -> None:
        with self.mu:
            row = self._job_row(namespace, name)
            uid = row["uid"]
            with self.store.tx() as db:
                if row["finished"] is None:
                    db.execute("UPDATE jobs SET finished=? WHERE uid=?", (self.clock(), uid))
                    Store.set_phase(db, uid, "Terminating", "deleted by user")
            pids = self._terminate_replicas(uid, "job deleted")
            if row["tb_pid"]:
                supervisor.signal_tree(row["tb_pid"], row["tb_ctime"], supervisor.TERM)
                pids.append((row["tb_pid"], row["tb_ctime"]))
        deadline = time.monotonic() + self.grace
        while supervisor.any_group_alive(p for p, _ in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, ctime in pids:
            supervisor.signal_tree(pid, ctime, supervisor.KILL)
        end = time.monotonic() + 5
        while supervisor.any_group_alive(p for p, _ in pids) and time.monotonic() < end:
            time.sleep(0.02)
        with self.mu:
            with self.store.tx() as db:
                db.execute("DELETE FROM jobs WHERE uid=?", (uid,))
            self._specs.pop(uid, None)
            shutil.rmtree(row["job_dir"], ignore_errors=True)
        self.wake.set()

    def prune(self, since: float, namespace: str | None) -> list[JobView]:
        cutoff = self.clock() - since
        sql = "SELECT * FROM jobs WHERE finished IS NOT NULL AND finished <= ? AND status IN ('SUCCEEDED','FAILED')"
        params: list[Any] = [cutoff]
        if namespace is not None:
            sql += " AND namespace=?"
            params.append(namespace)
        victims = [self._view(r) for r in self.store.query(sql, tuple(params))]
        for v in victims:
            try:
                self.delete(v.namespace, v.name)
            except JobNotFound:
                pass
        return victims

    # ---- reconcile ----------------------------------------------------------------------
    def reconcile(self) -> None:
        with self.mu:
            now = self.clock()
            self._observe(now)
            self._deadlines(now)
            self._appwrapper_grace(now)
            self._tensorboards(now)
            self._schedule(now)
            queues.settle(self.store)

    def _status_files(self, row: Any, key: str) -> tuple[Path, Path, Path]:
        d = Path(row["job_dir"])
        return d / "status" / f"{key}.pid", d / "status" / f"{key}.exit", d / "logs" / f"{key}.log"

    def _observe(self, now: float) -> None:
        rows = self.store.query(
            "SELECT r.*, j.job_dir, j.finished AS job_finished, j.uid AS juid FROM replicas r JOIN jobs j ON j.uid=r.job_uid"
            " WHERE r.state IN ('Starting','Running','Terminating')")
        for r in rows:
            pid_file, exit_file, _ = self._status_files(r, r["key"])
            pid, ctime = r["pid"], r["pid_ctime"]
            if not pid:
                pid = supervisor.read_pid(pid_file)
                if pid:
                    with self.store.tx() as db:
                        db.execute("UPDATE replicas SET pid=? WHERE job_uid=? AND key=?", (pid, r["juid"], r["key"]))
            ex = supervisor.read_exit(exit_file)
            if r["state"] == "Terminating":
                if ex is not None or not supervisor.group_alive(pid):
                    # Read again: the shim may have written its exit file between the first read and its exit.
                    self._released(r, ex if ex is not None else supervisor.read_exit(exit_file))
                elif r["kill_at"] and now >= r["kill_at"]:
                    supervisor.signal_tree(pid, ctime, supervisor.KILL)
                continue
            if ex is None and not supervisor.alive(pid, ctime):
                if not pid and (now - (r["started"] or now)) < 10:
                    continue  # shim still starting
                ex = supervisor.read_exit(exit_file)
                if ex is None:
                    ex = {"code": 255, "ts": now, "lost": True}
            if ex is not None:
                self._exited(r, int(ex["code"]), float(ex.get("ts", now)), lost=bool(ex.get("lost")))

    def _released(self, r: Any, ex: dict | None) -> None:
        with self.store.tx() as db:
            job = db.execute("SELECT finished, phase FROM jobs WHERE uid=?", (r["juid"],)).fetchone()
            if job is not None and job["finished"] is None:  # stopped for a restart: back to Pending
                db.execute("UPDATE replicas SET state='Pending', bound=0, pid=NULL, pid_ctime=NULL, kill_at=NULL,"
                           " exit_code=NULL, finished=NULL WHERE job_uid=? AND key=?", (r["juid"], r["key"]))
                return
            state = "Succeeded" if ex is not None and ex["code"] == 0 else "Terminated"  # stopped by us
            db.execute("UPDATE replicas SET state=?, bound=0, exit_code=COALESCE(?, exit_code), finished=COALESCE(finished, ?)"
                       " WHERE job_uid=? AND key=?", (state, ex["code"] if ex else None, self.clock(), r["juid"], r["key"]))
            final = {v: k for k, v in TRANSITIONAL.items()}.get(job["phase"]) if job is not None else None
            if final and not db.execute("SELECT 1 FROM replicas WHERE job_uid=? AND state IN"
                                        " ('Starting','Running','Terminating')", (r["juid"],)).fetchone():
                Store.set_phase(db, r["juid"], final, "all pods stopped")

    def _exited(self, r: Any, code: int, ts: float, lost: bool = False) -> None:
        uid = r["juid"]
        job = self.store.one("SELECT * FROM jobs WHERE uid=?", (uid,))
        if job is None:
            return
        if job["finished"] is not None:  # the job already ended: just record the replica's end
            self._released(r, {"code": code})
            return
        spec = self.spec(uid, job["spec"])
        reps = self.store.query("SELECT key, task, idx, state, exit_code FROM replicas WHERE job_uid=?", (uid,))
        states = [lifecycle.ReplicaState(x["key"], x["task"], x["idx"], x["state"], x["exit_code"]) for x in reps]
        outcome = decide(spec, states, r["key"], code, job)
        name = f"{job['name']}-{r['key']}"
        with self.store.tx() as db:
            db.execute("UPDATE replicas SET state=?, exit_code=?, finished=?, reason=? WHERE job_uid=? AND key=?",
                       ("Succeeded" if code == 0 else "Failed", code, ts,
                        "shim vanished: replica lost" if lost else "", uid, r["key"]))
            if lost:
                Store.event(db, uid, "ReplicaLost", f"{name}: its shim vanished without an exit status", "Warning",
                            f"pod/{name}")
            else:
                Store.event(db, uid, "Exited", f"{name} exited with code {code}", "Normal" if code == 0 else "Warning",
                            f"pod/{name}", ts)
            if outcome.action == "restart":
                db.execute("UPDATE replicas SET restarts=restarts+1 WHERE job_uid=? AND key=?", (uid, r["key"]))
                db.execute("UPDATE jobs SET restarts=restarts+1, retries=retries+? WHERE uid=?",
                           (1 if spec.kind == "volcanojob" else 0, uid))
                Store.event(db, uid, "Restarting", outcome.reason, "Warning", f"pod/{name}")
                Store.set_phase(db, uid, "Restarting", outcome.reason, "PENDING")
            elif outcome.action in ("succeed", "fail"):
                if outcome.counted:
                    db.execute("UPDATE jobs SET retries=retries+1 WHERE uid=?", (uid,))
                self._finish(db, uid, outcome.action == "succeed", outcome.reason, outcome.phase)
            else:  # the replica has ended and holds nothing; a task/job restart re-binds it
                db.execute("UPDATE replicas SET bound=0 WHERE job_uid=? AND key=?", (uid, r["key"]))
        if outcome.action == "restart":
            self._spawn(uid, r["key"])
        elif outcome.action in ("succeed", "fail"):
            self._terminate_replicas(uid, outcome.reason)
        elif outcome.action == "restart_task":
            self._restart_task(uid, r["task"], outcome.reason)
        elif outcome.action == "restart_job":
            self._requeue(uid, outcome.reason, "Restarting", "PENDING", "Restarting")
        elif outcome.action == "reset":
            from arena.distributed.appwrapper import options_of
            from arena.spec import duration

            opts = options_of(spec)
            pause = duration.parse_seconds(opts.retry_pause_period, "retry_pause_period")
            grace = duration.parse_seconds(opts.failure_grace_period, "failure_grace_period")
            # Both periods run from the failure (the Unhealthy transition): resume once the later one is over.
            self._requeue(uid, outcome.reason, "Resetting", "SUSPENDED", "Resetting", hold=max(grace, pause))

    def _finish(self, db: Any, uid: str, ok: bool, reason: str, phase: str = "") -> None:
        status = "SUCCEEDED" if ok else "FAILED"
        phase = phase or ("Succeeded" if ok else "Failed")
        live = db.execute("SELECT COUNT(*) FROM replicas WHERE job_uid=? AND state IN ('Starting','Running')",
                          (uid,)).fetchone()[0]
        # The TTL depends on how the job ended (an AppWrapper's successTTL applies to success only): fix it now,
        # so `_deadlines` selects the job exactly when it is due.
        db.execute("UPDATE jobs SET finished=?, reason=?, position=0, ttl_s=? WHERE uid=?",
                   (self.clock(), reason, _ttl(self.spec(uid), status), uid))
        db.execute("UPDATE replicas SET bound=0 WHERE job_uid=? AND state IN ('Pending','Succeeded','Failed')", (uid,))
        # Volcano: Completing/Aborting/Terminating while the pods are killed, the final phase once they are gone
        Store.set_phase(db, uid, TRANSITIONAL[phase] if phase in TRANSITIONAL and live else phase, reason, status)
        Store.event(db, uid, phase, reason, "Normal" if ok else "Warning")

    def _terminate_replicas(self, uid: str, reason: str) -> list[tuple[int, float]]:
        """SIGTERM every live replica; the loop sends SIGKILL after the grace period."""
        rows = self.store.query("SELECT key, pid, pid_ctime FROM replicas WHERE job_uid=? AND state IN"
                                " ('Starting','Running','Terminating')", (uid,))
        with self.store.tx() as db:
            db.execute("UPDATE replicas SET state='Terminating', kill_at=COALESCE(kill_at, ?), reason=? WHERE job_uid=?"
                       " AND state IN ('Starting','Running')", (self.clock() + self.grace, reason, uid))
        out = []
        for r in rows:
            supervisor.signal_tree(r["pid"], r["pid_ctime"], supervisor.TERM)
            out.append((r["pid"], r["pid_ctime"]))
        return out

    def _deadlines(self, now: float) -> None:
        """Fail a job past its activeDeadlineSeconds; delete a finished one whose TTL (set by `_finish`) is over."""
        for row in self.store.query(
                "SELECT uid, spec, started, finished, namespace, name FROM jobs WHERE"
                " (finished IS NULL AND deadline_s IS NOT NULL AND started IS NOT NULL AND started + deadline_s <= ?)"
                " OR (finished IS NOT NULL AND ttl_s IS NOT NULL AND finished + ttl_s <= ?)", (now, now)):
            spec = self.spec(row["uid"], row["spec"])
            rp = spec.run_policy
            if row["finished"] is None and rp.active_deadline_seconds and row["started"] \
                    and now - row["started"] >= rp.active_deadline_seconds:
                reason = f"job was active longer than specified deadline ({rp.active_deadline_seconds}s)"
                with self.store.tx() as db:
                    self._finish(db, row["uid"], False, reason)
                self._terminate_replicas(row["uid"], reason)
            elif row["finished"] is not None:  # the query selected it: its TTL is over
                live = self.store.one("SELECT 1 FROM replicas WHERE job_uid=? AND state IN ('Starting','Running','Terminating')",
                                      (row["uid"],))
                if live is None:
                    with self.store.tx() as db:
                        db.execute("DELETE FROM jobs WHERE uid=?", (row["uid"],))
                    self._specs.pop(row["uid"], None)
                    shutil.rmtree(self.paths.job_dir(row["namespace"], row["name"], row["uid"]), ignore_errors=True)

    # ---- scheduling -----------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        node = Node(Amount(self.capacity.cpu_milli, self.capacity.memory, len(self.capacity.gpus),
                           dict(self.capacity.extended)), tuple(self.capacity.gpus))
        queues = {}
        for q in self.store.query("SELECT * FROM queues"):
            queues[q["name"]] = Queue(q["name"], q["weight"], _amount(loads(q["capability"])),
                                      _amount(loads(q["guarantee"])), bool(q["reclaimable"]), q["state"])
        jobs_rows = self.store.query(
            "SELECT * FROM jobs WHERE (finished IS NULL AND (hold_until IS NULL OR hold_until <= ?))"
            " OR uid IN (SELECT job_uid FROM replicas WHERE bound=1)", (now,))
        reps_by_job: dict[str, list] = {}
        if jobs_rows:
            for r in self.store.query("SELECT * FROM replicas WHERE job_uid IN (SELECT uid FROM jobs WHERE finished IS NULL)"
                                      " OR bound=1"):
                reps_by_job.setdefault(r["job_uid"], []).append(r)
        jobs = []
        for row in jobs_rows:
            spec = self.spec(row["uid"], row["spec"])
            finished_job = row["finished"] is not None
            replicas = []
            states: dict[str, list[str]] = {}
            for r in reps_by_job.get(row["uid"], []):
                states.setdefault(r["task"], []).append(r["state"])
            # A restarted (or evicted) job's next generation waits until the last one has stopped, and then
            # binds as one gang; a still-terminating replica must not count as a member of the new gang.
            stopping = not finished_job and any("Terminating" in s for s in states.values())
            for r in reps_by_job.get(row["uid"], []):
                t = spec.task(r["task"])
                if stopping and not r["bound"]:
                    continue
                if not r["bound"] and not volcano_lifecycle.depends_ready(spec, r["task"], states):
                    continue  # dependsOn: not created until its dependencies are ready
                done = r["state"] in ("Succeeded", "Failed", "Terminated") and not r["bound"]
                if finished_job and not r["bound"]:
                    continue
                replicas.append(Replica(r["key"], _request(t.resources) if t else Amount(), bool(r["bound"]),
                                        tuple(loads(r["gpus"], [])), done or (finished_job and not r["bound"])))
            mina = spec.scheduling.min_available or sum(t.replicas for t in spec.tasks if not t.depends_on)
            releasing = finished_job or any(st == "Terminating" for sts in states.values() for st in sts)
            jobs.append(Job(row["uid"], row["name"], row["namespace"], row["queue"], row["priority"], row["created"],
                            mina, tuple(replicas), admitted=bool(row["admitted"]) or finished_job,
                            releasing=releasing, waiting_reason=row["reason"] or ""))
        return Snapshot(node, queues, tuple(jobs), now)

    def _schedule(self, now: float) -> None:
        decisions: Decisions = cycle(self.snapshot(now))
        names = {r["uid"]: r for r in self.store.query("SELECT uid, name, reason, position, admitted, status FROM jobs"
                                                        " WHERE finished IS NULL")}
        with self.store.tx() as db:
            for uid in decisions.admit:
                db.execute("UPDATE jobs SET admitted=1 WHERE uid=?", (uid,))
                Store.event(db, uid, "Admitted", f"admitted by queue", source="scheduler")
            for uid, w in decisions.waiting.items():
                row = names.get(uid)
                if row is None:
                    continue
                if row["reason"] != w.reason or row["position"] != w.position:
                    db.execute("UPDATE jobs SET reason=?, position=? WHERE uid=?", (w.reason, w.position, uid))
                    if row["reason"] != w.reason:
                        Store.event(db, uid, "Unschedulable", w.reason, "Warning", "scheduler")
                if w.admitted and row["status"] == "QUEUING":
                    Store.set_phase(db, uid, "Inqueue", w.reason, "PENDING")
            for uid, source, message in decisions.events:
                Store.event(db, uid, source, message, source="scheduler")
        for ev in decisions.evictions:
            self._evict(ev.job_uid, ev.reason)
        by_job: dict[str, list] = {}
        for b in decisions.binds:
            by_job.setdefault(b.job_uid, []).append(b)
        for uid, binds in by_job.items():
            self._bind(uid, binds, now)

    def _evict(self, uid: str, reason: str) -> None:
        """The job follows its PodEvicted policy; the default (RestartJob) stops and re-queues it."""
        spec = self.spec(uid)
        if spec.kind == "volcanojob":
            policy = volcano_lifecycle.evicted_policy(spec)
            if policy is not None and policy.action in volcano_lifecycle.FINAL:
                action, phase = volcano_lifecycle.FINAL[policy.action]
                why = f"{reason}; policy PodEvicted → {policy.action}"
                with self.store.tx() as db:
                    Store.event(db, uid, "Evicted", reason, "Warning", "scheduler")
                    self._finish(db, uid, action == "succeed", why, phase)
                self._terminate_replicas(uid, why)
                return
        self._requeue(uid, reason, "Evicted", "QUEUING", "Restarting")

    def _requeue(self, uid: str, reason: str, event: str, status: str, phase: str, hold: float = 0.0) -> None:
        """Stop every replica, release the job's resources and queue it again (after `hold` seconds)."""
        with self.store.tx() as db:
            Store.event(db, uid, event, reason, "Warning", "controller")
            Store.set_phase(db, uid, phase, reason, status)
            # deployed=NULL: the next bind starts a new generation, whose AppWrapper grace periods run from then
            db.execute("UPDATE jobs SET admitted=0, deployed=NULL, retries=retries+1, reason=?, hold_until=?"
                       " WHERE uid=?", (reason, self.clock() + hold if hold else None, uid))
        self._terminate_replicas(uid, reason)
        with self.store.tx() as db:
            db.execute("UPDATE replicas SET state='Pending', exit_code=NULL, finished=NULL, pid=NULL, pid_ctime=NULL,"
                       " kill_at=NULL, bound=0 WHERE job_uid=? AND state != 'Terminating'", (uid,))

    def _restart_task(self, uid: str, task: str, reason: str) -> None:
        """RestartTask: stop the task's replicas; they are bound and started again by the scheduler."""
        with self.store.tx() as db:
            db.execute("UPDATE jobs SET restarts=restarts+1, retries=retries+1 WHERE uid=?", (uid,))
            Store.event(db, uid, "RestartTask", reason, "Warning", "controller")
            Store.set_phase(db, uid, "Restarting", reason, "PENDING")
        rows = self.store.query("SELECT key, pid, pid_ctime FROM replicas WHERE job_uid=? AND task=? AND state IN"
                                " ('Starting','Running')", (uid, task))
        with self.store.tx() as db:
            db.execute("UPDATE replicas SET state='Terminating', kill_at=?, reason=? WHERE job_uid=? AND task=? AND"
                       " state IN ('Starting','Running')", (self.clock() + self.grace, reason, uid, task))
            db.execute("UPDATE replicas SET state='Pending', bound=0, exit_code=NULL, finished=NULL, pid=NULL,"
                       " pid_ctime=NULL WHERE job_uid=? AND task=? AND state IN ('Succeeded','Failed')", (uid, task))
        for r in rows:
            supervisor.signal_tree(r["pid"], r["pid_ctime"], supervisor.TERM)

    def _bind(self, uid: str, binds: list, now: float) -> None:
        row = self.store.one("SELECT * FROM jobs WHERE uid=?", (uid,))
        if row is None or row["finished"] is not None:
            return
        start_tb = False
        taken = set(self._recent_ports)
        ports = {r["key"]: r["port"] for r in self.store.query("SELECT key, port FROM replicas WHERE job_uid=?", (uid,))}
        spec = self.spec(uid, row["spec"])
        with self.store.tx() as db:
            # Every replica's endpoint is fixed at the job's first bind (as pod DNS names are on a cluster), so the
            # replicas started later (dependsOn) are already in the TF_CONFIG and host lists the first ones got.
            for key in [k for k, p in ports.items() if not p]:
                port = self._task_port(spec, key) or _free_port(taken)
                taken.add(port)
                self._recent_ports.append(port)
                ports[key] = port
                db.execute("UPDATE replicas SET port=? WHERE job_uid=? AND key=?", (port, uid, key))
            for b in binds:
                port = ports[b.replica]
                db.execute("UPDATE replicas SET bound=1, gpus=?, port=?, state='Starting', started=?, pid=NULL,"
                           " pid_ctime=NULL, exit_code=NULL, finished=NULL, kill_at=NULL, reason='' WHERE job_uid=? AND key=?",
                           (json.dumps(list(b.gpu_indices)), port, now, uid, b.replica))
            if row["started"] is None:
                db.execute("UPDATE jobs SET started=? WHERE uid=?", (now, uid))
                start_tb = spec.tensorboard is not None
            db.execute("UPDATE jobs SET admitted=1, reason='', position=0, hold_until=NULL WHERE uid=?", (uid,))
            if row["deployed"] is None:  # a new generation (cleared by _requeue): AppWrapper's ResourcesDeployed
                db.execute("UPDATE jobs SET deployed=? WHERE uid=?", (now, uid))
            gpus = [g for b in binds for g in b.gpu_indices]
            Store.event(db, uid, "Scheduled", f"gang of {len(binds)} replicas bound to localhost"
                        + (f" (GPUs {','.join(map(str, gpus))})" if gpus else ""), source="scheduler")
            phase = {"Created": "Inqueue", "Resetting": "Resuming", "Restarting": "Pending"}.get(row["phase"], row["phase"])
            Store.set_phase(db, uid, phase, "admitted", "PENDING")
        for b in binds:
            self._spawn(uid, b.replica)
        if start_tb:
            self._start_tensorboard(uid)

    def _start_tensorboard(self, uid: str) -> None:
        """TensorBoard for the job on a free loopback port, under a shim like any replica."""
        row = self.store.one("SELECT * FROM jobs WHERE uid=?", (uid,))
        spec = self.spec(uid, row["spec"])
        base_env = loads(row["base_env"], {})
        logdir = launch.tensorboard_logdir(spec, Path(row["job_dir"]))
        Path(logdir).mkdir(parents=True, exist_ok=True)
        port = _free_port(set(self._recent_ports))
        self._recent_ports.append(port)
        exe = shutil.which("tensorboard", path=base_env.get("PATH"))
        argv = ([exe] if exe else [sys.executable, "-m", "tensorboard.main"]) + [
            "--logdir", logdir, "--host", launch.LOOPBACK, "--port", str(port)]
        status = Path(row["job_dir"]) / "status"
        try:
            pid, ctime = supervisor.spawn(argv, base_env, row["job_dir"], status / "tensorboard.pid",
                                          status / "tensorboard.exit", Path(row["job_dir"]) / "logs" / "tensorboard.log")
        except OSError as exc:
            with self.store.tx() as db:
                Store.event(db, uid, "TensorboardFailed", f"cannot start tensorboard: {exc}", "Warning")
            return
        with self.store.tx() as db:
            db.execute("UPDATE jobs SET tb_pid=?, tb_ctime=?, tb_port=? WHERE uid=?", (pid, ctime, port, uid))
            Store.event(db, uid, "Tensorboard", f"tensorboard at http://{launch.LOOPBACK}:{port} (logdir {logdir})")

    def _appwrapper_grace(self, now: float) -> None:
        """AppWrapper: too few replicas running once the admission (some replicas not even created) or
        warm-up (all created, not all running) grace period after the deploy has passed → reset or fail."""
        from arena.distributed.appwrapper import options_of
        from arena.spec import duration

        rows = self.store.query("SELECT uid, spec, deployed, retries FROM jobs WHERE kind='appwrapperjob' AND"
                                " finished IS NULL AND admitted=1 AND deployed IS NOT NULL")
        for row in rows:
            spec = self.spec(row["uid"], row["spec"])
            opts = options_of(spec)
            states = [r["state"] for r in self.store.query("SELECT state FROM replicas WHERE job_uid=?", (row["uid"],))]
            expected = len(states)
            ready = sum(1 for st in states if st in ("Running", "Succeeded"))
            if ready >= expected or "Terminating" in states:
                continue
            created = sum(1 for st in states if st in ("Starting", "Running", "Succeeded"))
            field = "warmup_grace_period" if created >= expected else "admission_grace_period"
            grace = duration.parse_seconds(getattr(opts, field), field)
            if now - row["deployed"] < grace:
                continue
            why = (f"InsufficientPodsReady: {ready}/{expected} replicas running "
                   f"{'warm-up' if created >= expected else 'admission'} grace period ({getattr(opts, field)}) after deploy")
            if row["retries"] >= opts.retry_limit:
                with self.store.tx() as db:
                    self._finish(db, row["uid"], False, f"{why}; retryLimit ({opts.retry_limit}) reached", "Failed")
                self._terminate_replicas(row["uid"], why)
            else:
                pause = duration.parse_seconds(opts.retry_pause_period, "retry_pause_period")
                self._requeue(row["uid"], why, "Resetting", "SUSPENDED", "Resetting", hold=pause)

    def _tensorboards(self, now: float) -> None:
        """Stop a finished job's TensorBoard, at once or after its --tensorboard-ttl."""
        for row in self.store.query("SELECT uid, spec, finished, tb_pid, tb_ctime FROM jobs WHERE tb_pid IS NOT NULL"
                                    " AND finished IS NOT NULL"):
            spec = self.spec(row["uid"], row["spec"])
            ttl = spec.tensorboard.ttl if spec.tensorboard else None
            from arena.spec import duration

            if ttl and now - row["finished"] < duration.parse_seconds(ttl, "--tensorboard-ttl"):
                continue
            supervisor.signal_tree(row["tb_pid"], row["tb_ctime"], supervisor.TERM)
            with self.store.tx() as db:
                db.execute("UPDATE jobs SET tb_pid=NULL, tb_port=NULL WHERE uid=?", (row["uid"],))

    def _task_port(self, spec: JobSpec, key: str) -> int:
        task, _, idx = key.rpartition("-")
        t = spec.task(task)
        if t and t.port and (t.replicas == 1 or idx == "0"):
            return t.port
        return 0

    def _spawn(self, uid: str, key: str) -> None:
        row = self.store.one("SELECT * FROM jobs WHERE uid=?", (uid,))
        rep = self.store.one("SELECT * FROM replicas WHERE job_uid=? AND key=?", (uid, key))
        if row is None or rep is None or row["finished"] is not None:
            return
        spec = self.spec(uid, row["spec"])
        ports = {r["key"]: r["port"] for r in self.store.query("SELECT key, port FROM replicas WHERE job_uid=?", (uid,))}
        plan = launch.plan_replica(spec, rep["task"], rep["idx"], ports, loads(rep["gpus"], []),
                                   loads(row["base_env"], {}), Path(row["job_dir"]), uid)
        pid_file, exit_file, log_file = self._status_files(row, key)
        try:
            with open(log_file, "ab"):
                pass
            pid, ctime = supervisor.spawn(plan.argv, plan.env, plan.cwd, pid_file, exit_file, log_file)
        except OSError as exc:
            with self.store.tx() as db:
                self._finish(db, uid, False, f"cannot start {row['name']}-{key}: {exc}")
            self._terminate_replicas(uid, str(exc))
            return
        with self.store.tx() as db:
            db.execute("UPDATE replicas SET pid=?, pid_ctime=?, state='Running', started=? WHERE job_uid=? AND key=?",
                       (pid, ctime, self.clock(), uid, key))
            Store.event(db, uid, "Started", f"started {row['name']}-{key} (pid {pid})", source=f"pod/{row['name']}-{key}")
            waiting = db.execute("SELECT COUNT(*) FROM replicas WHERE job_uid=? AND state IN ('Pending','Starting')",
                                 (uid,)).fetchone()[0]
            if waiting == 0:
                Store.set_phase(db, uid, "Running", "all replicas running", "RUNNING")


def decide(spec: JobSpec, states: list[lifecycle.ReplicaState], key: str, code: int, job: Any) -> lifecycle.Outcome:
    """The kind's controller: Kubeflow (PyTorch/TF/MPI), Volcano, or AppWrapper around either."""
    if spec.kind == "volcanojob":
        return volcano_lifecycle.on_exit(spec, states, key, code, job["retries"])
    if spec.kind == "appwrapperjob":
        from arena.distributed.appwrapper import options_of

        opts = options_of(spec)
        if code != 0:  # any failed pod makes the AppWrapper unhealthy: reset while retries remain
            if job["retries"] >= opts.retry_limit:
                return lifecycle.Outcome("fail", f"replica {key} exited with code {code}; retryLimit "
                                                 f"({opts.retry_limit}) reached", "Failed")
            return lifecycle.Outcome("reset", f"replica {key} exited with code {code}; reset "
                                              f"{job['retries'] + 1}/{opts.retry_limit} after {opts.retry_pause_period}")
        inner = (volcano_lifecycle.on_exit(spec, states, key, code, 0) if opts.inner_type == "volcano"
                 else lifecycle.on_exit(spec, states, key, code, job["restarts"]))
        return lifecycle.Outcome(inner.action, inner.reason, "Succeeded") if inner.action == "succeed" else inner
    return lifecycle.on_exit(spec, states, key, code, job["restarts"])


def _ttl(spec: JobSpec, status: str) -> float | None:
    """Seconds a finished job is kept: ttlSecondsAfterFinished, or an AppWrapper's successTTL."""
    from arena.distributed.appwrapper import options_of

    success_ttl = options_of(spec).success_ttl
    if success_ttl and status == "SUCCEEDED":
        from arena.spec import duration

        return duration.parse_seconds(success_ttl, "success_ttl")
    return spec.run_policy.ttl_seconds_after_finished


def _amount(d: dict | None) -> Amount | None:
    """A stored queue capability/guarantee, parsed as `arena queue` validated it; unnamed → unlimited."""
    if not d:
        return None
    res = resources.parse(d, "queue resources")
    return Amount(10**12 if res.cpu_milli is None else res.cpu_milli, 10**18 if res.memory is None else res.memory,
                  10**6 if res.gpus is None else res.gpus, res.extended)


def _request(res: Any) -> Amount:
    return Amount(quantity.cpu_milli(res.cpu), quantity.memory_bytes(res.memory), res.gpus, dict(res.devices))


def _pod_status(state: str) -> str:
    return {"Starting": "Pending"}.get(state, state)

