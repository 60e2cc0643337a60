"""The local engine's typed repository: every SQL statement of the daemon, behind named operations.

Reads return typed rows (`rows.py`); writes happen inside `with repo.tx() as tx:` on the `Tx` methods, so
one state change is one transaction and a crash never leaves half of it. The rooms above (API, reconcile
loop, binder, spawner) say what they mean (`tx.bind_replica`, `repo.jobs_due`) and never write SQL.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from arena.engines.local import rows
from arena.engines.local.clock import Clock
from arena.engines.local.courtesy import Courtesy
from arena.engines.local.rows import (
    JOB_COLUMNS,
    REPLICA_COLUMNS,
    JobRow,
    LiveReplica,
    QueueRow,
    ReplicaRow,
    VolumeRow,
)
from arena.engines.local.store import NOTES, RECORD, Store
from arena.views import Event, Transition

LIVE = ("Starting", "Running", "Terminating")  # a process may exist
RUNNING = ("Starting", "Running")
_J = ", ".join(f"j.{c}" for c in JOB_COLUMNS.split(", "))
_R = ", ".join(f"r.{c}" for c in REPLICA_COLUMNS.split(", "))
_J_LISTED = _J.replace("j.spec", "'' AS spec")


def _in(states: Iterable[str]) -> str:
    return "(" + ",".join(f"'{s}'" for s in states) + ")"


_LISTED = (f"SELECT {_J_LISTED}, (SELECT COALESCE(SUM(json_array_length(r.gpus)),0) FROM replicas r WHERE"
           f" r.job_uid=j.uid AND r.bound=1 AND r.state IN {_in(RUNNING)}) AS alloc FROM jobs j")


class Repo:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.store = Store(path)
        self.clock = clock
        self.courtesy = Courtesy()  # the daemon's server marks quick requests; a pass steps aside for them
        with self.tx() as tx:
            tx.ensure_default_queue()

    @property
    def changes(self) -> int:
        """Bumped by every transaction that changed something: cached reads compare it."""
        return self.store.changes

    def close(self) -> None:
        self.store.close()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self.store.tx() as conn:
            yield Tx(conn, self.clock)

    def batch(self) -> AbstractContextManager[None]:
        """This thread's transactions share one until the end (`Store.batch`): a reconcile pass commits once."""
        return self.store.batch()

    def flush(self) -> None:
        """Commit the batch so far: called before acting outside the store (a process started or signalled)."""
        self.store.flush()

    def step_aside(self) -> None:
        """Between two jobs of a pass: commit, and let the quick requests in progress finish first (`courtesy`)."""
        if self.courtesy.pending and self.store.batching():
            self.store.flush()
            if not self.store.holding():
                self.courtesy.wait()

    # ---- jobs ---------------------------------------------------------------------------------
    def job(self, uid: str) -> JobRow | None:
        row = self.store.one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE uid=?", (uid,))
        return rows.job(row) if row is not None else None

    def job_named(self, namespace: str, name: str) -> JobRow | None:
        row = self.store.one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE namespace=? AND name=?", (namespace, name))
        return rows.job(row) if row is not None else None

    def jobs_listed(self, namespace: str | None, kind: str | None) -> list[tuple[JobRow, int]]:
        """Newest first, each with the GPUs its bound, starting or running replicas hold."""
        return [(rows.job(r[:-1]), r[-1]) for r in self.jobs_listed_raw(namespace, kind)]

    def jobs_listed_raw(self, namespace: str | None, kind: str | None) -> list[tuple]:
        """`jobs_listed` as plain tuples (the job's columns, uid first, then the GPUs). The spec is left out
        (read as ''): a list does not show it."""
        where, params = _filters(namespace, kind)
        sql = _LISTED + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.created DESC, j.uid DESC"
        return [tuple(r) for r in self.store.query(sql, tuple(params))]

    def jobs_listed_raw_of(self, uids: list[str]) -> list[tuple]:
        """`jobs_listed_raw` of these jobs (those that still exist), in no particular order."""
        out: list[tuple] = []
        for i in range(0, len(uids), 500):
            chunk = uids[i:i + 500]
            out += [tuple(r) for r in self.store.query(f"{_LISTED} WHERE j.uid IN ({','.join('?' * len(chunk))})",
                                                       tuple(chunk))]
        return out

    def jobs_touched(self, notes: str = NOTES[0]) -> list[str]:
        """The jobs written since the last call with these `notes` (`store.TOUCHED`: one table per reader),
        forgotten as they are returned."""
        if notes not in NOTES:
            raise ValueError(f"no such notes: {notes!r}")
        with self.store.lock:
            uids = [r[0] for r in self.store.query(f"SELECT uid FROM temp.{notes}")]
            if uids:
                self.store.query(f"DELETE FROM temp.{notes}")
        return uids

    def jobs_prunable(self, cutoff: float, namespace: str | None, kind: str | None) -> list[JobRow]:
        """Finished (succeeded or failed) at or before `cutoff`."""
        where, params = _filters(namespace, kind)
        sql = (f"SELECT {_J} FROM jobs j WHERE j.finished IS NOT NULL AND j.finished <= ? AND j.status IN"
               " ('SUCCEEDED','FAILED')" + "".join(f" AND {w}" for w in where))
        return [rows.job(r) for r in self.store.query(sql, (cutoff, *params))]

    def jobs_due(self, now: float) -> list[JobRow]:
        """Active past their activeDeadlineSeconds, or finished with their TTL over."""
        return [rows.job(r) for r in self.store.query(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE"
            " (finished IS NULL AND deadline_s IS NOT NULL AND started IS NOT NULL AND started + deadline_s <= ?)"
            " OR (finished IS NOT NULL AND ttl_s IS NOT NULL AND finished + ttl_s <= ?)", (now, now))]

    def jobs_deployed(self) -> list[JobRow]:
        """Active jobs whose current generation is admitted and bound (the ones time can act on)."""
        return [rows.job(r) for r in self.store.query(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE finished IS NULL AND admitted=1 AND deployed IS NOT NULL")]

    def jobs_finished_with_tensorboard(self) -> list[JobRow]:
        return [rows.job(r) for r in self.store.query(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE tb_pid IS NOT NULL AND finished IS NOT NULL")]

    def jobs_schedulable(self) -> list[JobRow]:
        """What the scheduler sees: active jobs (held back or not: `schedulable.held_back` says), and any job still
        holding a bound replica; in the order they were stored."""
        return [rows.job(r) for r in self.store.query(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE finished IS NULL"
            " OR uid IN (SELECT job_uid FROM replicas WHERE bound=1) ORDER BY rowid")]

    def jobs_schedulable_of(self, uids: list[str]) -> tuple[list[JobRow], dict[str, list[ReplicaRow]]]:
        """`jobs_schedulable` and `replicas_schedulable` for these jobs only (those that still qualify)."""
        jobs: list[JobRow] = []
        reps: dict[str, list[ReplicaRow]] = {}
        for i in range(0, len(uids), 500):
            chunk = tuple(uids[i:i + 500])
            marks = ",".join("?" * len(chunk))
            jobs += [rows.job(r) for r in self.store.query(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE uid IN ({marks}) AND (finished IS NULL OR"
                " uid IN (SELECT job_uid FROM replicas WHERE bound=1)) ORDER BY rowid", chunk)]
            for r in self.store.query(f"SELECT {REPLICA_COLUMNS} FROM replicas WHERE job_uid IN ({marks})"
                                      " ORDER BY job_uid, key", chunk):
                rep = rows.replica(r)
                reps.setdefault(rep.job_uid, []).append(rep)
        finished = {j.uid for j in jobs if j.finished is not None}
        for uid in finished & reps.keys():  # of a finished job, only what is still bound
            reps[uid] = [r for r in reps[uid] if r.bound]
        return jobs, reps

    def job_uids(self) -> dict[str, str]:
        """Every stored job's uid -> its directory (what `integrity` compares the disk with)."""
        return {r["uid"]: r["job_dir"] for r in self.store.query("SELECT uid, job_dir FROM jobs")}

    def jobs_active(self) -> list[JobRow]:
        return [rows.job(r) for r in self.store.query(f"SELECT {JOB_COLUMNS} FROM jobs WHERE finished IS NULL")]

    def plan_source(self, uid: str) -> tuple[str, str, str] | None:
        """(plan JSON, spec JSON, base env JSON): the plan, or what re-plans a job stored before plans."""
        row = self.store.one("SELECT COALESCE(p.plan, j.plan) AS plan, j.spec, j.base_env FROM jobs j"
                             " LEFT JOIN plans p ON p.job_uid=j.uid WHERE j.uid=?", (uid,))
        return None if row is None else (row["plan"], row["spec"], row["base_env"])

    # ---- replicas -----------------------------------------------------------------------------
    def replicas(self, uid: str) -> list[ReplicaRow]:
        return [rows.replica(r) for r in self.store.query(
            f"SELECT {REPLICA_COLUMNS} FROM replicas WHERE job_uid=? ORDER BY task, idx", (uid,))]

    def replica(self, uid: str, key: str) -> ReplicaRow | None:
        row = self.store.one(f"SELECT {REPLICA_COLUMNS} FROM replicas WHERE job_uid=? AND key=?", (uid, key))
        return rows.replica(row) if row is not None else None

    def replicas_schedulable(self) -> dict[str, list[ReplicaRow]]:
        """Replicas of active jobs and every bound replica, by job."""
        out: dict[str, list[ReplicaRow]] = {}
        for r in self.store.query(f"SELECT {REPLICA_COLUMNS} FROM replicas WHERE job_uid IN"
                                  " (SELECT uid FROM jobs WHERE finished IS NULL) OR bound=1 ORDER BY job_uid, key"):
            rep = rows.replica(r)
            out.setdefault(rep.job_uid, []).append(rep)
        return out

    def replicas_live(self) -> list[LiveReplica]:
        return [LiveReplica(rows.replica(tuple(r)[:-2]), r["job_dir"], r["job_finished"]) for r in self.store.query(
            f"SELECT {_R}, j.job_dir AS job_dir, j.finished AS job_finished FROM replicas r JOIN jobs j"
            f" ON j.uid=r.job_uid WHERE r.state IN {_in(LIVE)}")]

    def replicas_running(self, uid: str, task: str | None = None, states: tuple[str, ...] = LIVE) -> list[ReplicaRow]:
        sql = f"SELECT {REPLICA_COLUMNS} FROM replicas WHERE job_uid=? AND state IN {_in(states)}"
        params: tuple[Any, ...] = (uid,)
        if task is not None:
            sql += " AND task=?"
            params += (task,)
        return [rows.replica(r) for r in self.store.query(sql, params)]

    def cpus_held(self) -> list[list[int]]:
        """The cores of every bound, pinned replica (what `cpuset.choose` spreads new replicas around)."""
        return [json.loads(r[0]) for r in self.store.query("SELECT cpus FROM replicas WHERE bound=1 AND cpus != '[]'")]

    def replicas_bound(self) -> list[tuple[ReplicaRow, str]]:
        """Every bound replica, with its job's spec (what `arena top node` counts as allocated)."""
        return [(rows.replica(tuple(r)[:-1]), r["spec"]) for r in self.store.query(
            f"SELECT {_R}, j.spec AS spec FROM replicas r JOIN jobs j ON j.uid=r.job_uid WHERE r.bound=1")]

    def replicas_restart_due(self, now: float) -> list[tuple[str, str]]:
        """(job uid, key) of replicas whose crash-loop back-off is over, in active jobs."""
        return [(r["job_uid"], r["key"]) for r in self.store.query(
            "SELECT r.job_uid, r.key FROM replicas r JOIN jobs j ON j.uid=r.job_uid WHERE r.restart_at IS NOT NULL"
            " AND r.restart_at <= ? AND j.finished IS NULL", (now,))]

    def any_live(self, uid: str) -> bool:
        return self.store.one(f"SELECT 1 FROM replicas WHERE job_uid=? AND state IN {_in(LIVE)}", (uid,)) is not None

    # ---- history ------------------------------------------------------------------------------
    def events(self, uid: str) -> list[Event]:
        return [Event(e["ts"], e["type"], e["source"], e["reason"], e["message"], e["count"])
                for e in self.store.query("SELECT * FROM events WHERE job_uid=? ORDER BY id", (uid,))]

    def transitions(self, uid: str) -> list[Transition]:
        return [Transition(t["ts"], t["phase"], t["reason"])
                for t in self.store.query("SELECT * FROM transitions WHERE job_uid=? ORDER BY id", (uid,))]

    # ---- queues and volumes -------------------------------------------------------------------
    def queue(self, name: str) -> QueueRow | None:
        row = self.store.one("SELECT * FROM queues WHERE name=?", (name,))
        return rows.queue(row) if row is not None else None

    def queues(self) -> list[QueueRow]:
        return [rows.queue(r) for r in self.store.query("SELECT * FROM queues ORDER BY name")]

    def volume(self, name: str) -> VolumeRow | None:
        row = self.store.one("SELECT * FROM volumes WHERE name=?", (name,))
        return rows.volume(row) if row is not None else None

    def volumes(self) -> list[VolumeRow]:
        return [rows.volume(r) for r in self.store.query("SELECT * FROM volumes ORDER BY name")]


def _filters(namespace: str | None, kind: str | None) -> tuple[list[str], list[Any]]:
    where, params = [], []
    if namespace is not None:
        where.append("j.namespace=?")
        params.append(namespace)
    if kind:
        where.append("j.kind=?")
        params.append(kind)
    return where, params


_EVENT_UNLESS_REPEAT = (
    "INSERT INTO events(job_uid, ts, first_ts, type, source, reason, message) SELECT ?,?,?,?,?,?,?"
    " WHERE NOT EXISTS (SELECT 1 FROM (SELECT type, source, reason, message FROM events WHERE job_uid=?"
    " ORDER BY id DESC LIMIT 1) AS last WHERE last.type=? AND last.source=? AND last.reason=? AND last.message=?)")


class Tx:
    """The write operations, inside one transaction (and the reads a write must see consistently)."""

    def __init__(self, db: sqlite3.Connection, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    # ---- history ------------------------------------------------------------------------------
    def event(self, uid: str, reason: str, message: str, type_: str = "Normal", source: str = "",
              ts: float | None = None, aggregate: bool = False) -> None:
        """Record an event; a repeat of the job's latest one only bumps its count and time (as Kubernetes does).

        `aggregate`: a repeat of any of the job's recent events does (Kubernetes' event correlator keys on the
        object and the text, not on order), so that a replica restarting in place — Exited, Restarting,
        BackOff, Started, over and over — stays a few rows with counts however long it crash-loops."""
        ts = ts or self.clock.now()
        if not aggregate:  # the common case in one statement: inserted unless it repeats the latest event
            if self._x(_EVENT_UNLESS_REPEAT, (uid, ts, ts, type_, source, reason, message, uid, type_, source, reason,
                                              message)).rowcount == 0:
                self._x("UPDATE events SET count=count+1, ts=? WHERE id=(SELECT id FROM events WHERE job_uid=?"
                        " ORDER BY id DESC LIMIT 1)", (ts, uid))
            return
        same = self._x("SELECT id, type, source, reason, message FROM events WHERE job_uid=? ORDER BY id DESC LIMIT 16",
                       (uid,)).fetchall()
        for row in same:
            if (row["type"], row["source"], row["reason"], row["message"]) == (type_, source, reason, message):
                self._x("UPDATE events SET count=count+1, ts=? WHERE id=?", (ts, row["id"]))
                return
        self._x("INSERT INTO events(job_uid, ts, first_ts, type, source, reason, message) VALUES (?,?,?,?,?,?,?)",
                (uid, ts, ts, type_, source, reason, message))

    def set_phase(self, uid: str, phase: str, reason: str, status: str | None = None, ts: float | None = None) -> None:
        """A native phase change (and the Arena status) with its history row."""
        self._x("INSERT INTO transitions(job_uid, ts, phase, reason) SELECT uid, ?, ?, ? FROM jobs"
                " WHERE uid=? AND phase IS NOT ?", (ts or self.clock.now(), phase, reason, uid, phase))
        self._x("UPDATE jobs SET phase=?, status=COALESCE(?, status) WHERE uid=?", (phase, status, uid))

    # ---- jobs ---------------------------------------------------------------------------------
    def job_exists(self, namespace: str, name: str) -> bool:
        return self._x("SELECT 1 FROM jobs WHERE namespace=? AND name=?", (namespace, name)).fetchone() is not None

    def job_submitted_as(self, key: str) -> tuple[str, str] | None:
        """(namespace, name) of the job a submit with this idempotency key created, if any."""
        row = self._x("SELECT namespace, name FROM jobs WHERE submit_key=?", (key,)).fetchone()
        return None if row is None else (row["namespace"], row["name"])

    def count_jobs(self, namespace: str) -> int:
        row = self._x("SELECT n FROM namespace_jobs WHERE namespace=?", (namespace,)).fetchone()
        return 0 if row is None else row[0]

    def insert_job(self, uid: str, namespace: str, name: str, kind: str, spec: str, plan: str, queue: str,
                   priority: int, priority_class: str | None, requested_gpus: int, job_dir: str,
                   deadline_s: float | None, replicas: list[tuple[str, str, int]], submit_key: str | None = None,
                   now: float | None = None) -> tuple[rows.JobRow, list[rows.ReplicaRow]]:
        """A new job, QUEUING/Created, with its replicas (key, task, index), all Pending, created `now` (the
        clock's, unless given). Returns the rows as stored (the table's defaults filled in), so that a submit
        answers with its job's view without reading it back."""
        now = self.clock.now() if now is None else now
        self._x("INSERT INTO jobs(uid, namespace, name, kind, spec, status, phase, queue, priority, priority_class,"
                " created, requested_gpus, job_dir, deadline_s, submit_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uid, namespace, name, kind, spec, "QUEUING", "Created", queue, priority, priority_class, now,
                 requested_gpus, job_dir, deadline_s, submit_key))
        self._x("INSERT INTO plans(job_uid, plan) VALUES (?,?)", (uid, plan))
        self.db.executemany("INSERT INTO replicas(job_uid, key, task, idx) VALUES (?,?,?,?)",
                            [(uid, key, task, idx) for key, task, idx in replicas])
        self._x("INSERT INTO transitions(job_uid, ts, phase, reason) VALUES (?,?,?,?)", (uid, now, "Created", "submitted"))
        job = rows.JobRow(uid=uid, namespace=namespace, name=name, kind=kind, spec=spec, status="QUEUING",
                          phase="Created", queue=queue, priority=priority, priority_class=priority_class, created=now,
                          started=None, finished=None, reason="", waiting=None, position=0, admitted=False,
                          restarts=0, retries=0, requested_gpus=requested_gpus, hold_until=None,
                          deadline_s=deadline_s, deployed=None, tb_pid=None, tb_ctime=None, tb_port=None, ttl_s=None,
                          job_dir=job_dir)
        reps = [rows.ReplicaRow(job_uid=uid, key=key, task=task, idx=idx, state="Pending", bound=False, gpus=[],
                                port=0, pid=None, pid_ctime=None, exit_code=None, restarts=0, started=None,
                                finished=None, kill_at=None, reason="") for key, task, idx in replicas]
        return job, reps

    def delete_job(self, uid: str) -> None:
        """The job is gone. Its directory's record goes first: a crash before the commit leaves a stored job
        without one (harmless), never a record of a job the store no longer has (read as a damaged store)."""
        row = self._x("SELECT job_dir FROM jobs WHERE uid=?", (uid,)).fetchone()
        if row is not None:
            (Path(row["job_dir"]) / RECORD).unlink(missing_ok=True)
        self._x("DELETE FROM jobs WHERE uid=?", (uid,))

    def job_deleting(self, uid: str) -> None:
        """A user delete: the job counts as ended from now on (its replicas are being stopped)."""
        self._x("UPDATE jobs SET finished=? WHERE uid=? AND finished IS NULL", (self.clock.now(), uid))

    def job_finished(self, uid: str, reason: str, ttl: float | None) -> None:
        """The job ended: its reason, its TTL (how it ended decides), and nothing bound that has stopped."""
        self._x("UPDATE jobs SET finished=?, reason=?, waiting=NULL, position=0, ttl_s=? WHERE uid=?",
                (self.clock.now(), reason, ttl, uid))
        self._x("UPDATE replicas SET bound=0, restart_at=NULL WHERE job_uid=? AND state IN ('Pending','Succeeded','Failed')",
                (uid,))

    def job_counters(self, uid: str, restarts: int = 0, retries: int = 0) -> None:
        self._x("UPDATE jobs SET restarts=restarts+?, retries=retries+? WHERE uid=?", (restarts, retries, uid))

    def job_requeued(self, uid: str, reason: str, hold_until: float | None) -> None:
        """Back in its queue, not admitted; `deployed` cleared: the next bind starts a new generation."""
        self._x("UPDATE jobs SET admitted=0, deployed=NULL, retries=retries+1, reason=?, waiting=NULL, hold_until=?"
                " WHERE uid=?", (reason, hold_until, uid))

    def job_admitted(self, uid: str) -> None:
        self._x("UPDATE jobs SET admitted=1 WHERE uid=?", (uid,))

    def job_bound(self, uid: str, now: float) -> None:
        """A gang (or more of it) bound: admitted, no longer waiting; the first bind starts the job and each
        new generation records its deploy time."""
        self._x("UPDATE jobs SET started=COALESCE(started, ?), deployed=COALESCE(deployed, ?), admitted=1, reason='',"
                " waiting=NULL, position=0, hold_until=NULL WHERE uid=?", (now, now, uid))

    def job_waiting(self, uid: str, waiting: str, position: int) -> None:
        self._x("UPDATE jobs SET waiting=?, position=? WHERE uid=?", (waiting, position, uid))

    def job_position(self, uid: str, position: int) -> None:
        """Its place in its queue alone (which the scheduler's change notes leave out: `store.NOTES`)."""
        self._x("UPDATE jobs SET position=? WHERE uid=?", (position, uid))

    def job_tensorboard(self, uid: str, pid: int | None, ctime: float | None, port: int | None) -> None:
        self._x("UPDATE jobs SET tb_pid=?, tb_ctime=?, tb_port=? WHERE uid=?", (pid, ctime, port, uid))

    def job_state(self, uid: str) -> tuple[float | None, str] | None:
        """(finished, phase), read inside the transaction that acts on it."""
        row = self._x("SELECT finished, phase FROM jobs WHERE uid=?", (uid,)).fetchone()
        return None if row is None else (row["finished"], row["phase"])

    # ---- replicas -----------------------------------------------------------------------------
    def count_replicas(self, uid: str, states: tuple[str, ...]) -> int:
        return self._x(f"SELECT COUNT(*) FROM replicas WHERE job_uid=? AND state IN {_in(states)}", (uid,)).fetchone()[0]

    def replica_pid(self, uid: str, key: str, pid: int) -> None:
        self._x("UPDATE replicas SET pid=? WHERE job_uid=? AND key=?", (pid, uid, key))

    def replica_port(self, uid: str, key: str, port: int) -> None:
        self._x("UPDATE replicas SET port=? WHERE job_uid=? AND key=?", (port, uid, key))

    def bind_replica(self, uid: str, key: str, gpus: list[int], port: int, now: float,
                     cpus: list[int] | None = None) -> None:
        self._x("UPDATE replicas SET bound=1, gpus=?, port=?, state='Starting', started=?, pid=NULL, pid_ctime=NULL,"
                " exit_code=NULL, finished=NULL, kill_at=NULL, reason='', restart_at=NULL, backoff=0, cpus=?"
                " WHERE job_uid=? AND key=?",
                (json.dumps(gpus), port, now, json.dumps(cpus or []), uid, key))

    def replica_running(self, uid: str, key: str, pid: int, ctime: float | None) -> None:
        self._x("UPDATE replicas SET pid=?, pid_ctime=?, state='Running', started=?, restart_at=NULL, reason=''"
                " WHERE job_uid=? AND key=?", (pid, ctime, self.clock.now(), uid, key))

    def replica_backoff(self, uid: str, key: str, restart_at: float | None, backoff: float, reason: str = "") -> None:
        """An in-place restart: due at `restart_at` (None: now), with the back-off the next crash will wait."""
        self._x("UPDATE replicas SET restart_at=?, backoff=?, reason=? WHERE job_uid=? AND key=?",
                (restart_at, backoff, reason, uid, key))

    def replica_exited(self, uid: str, key: str, code: int, ts: float, reason: str) -> None:
        self._x("UPDATE replicas SET state=?, exit_code=?, finished=?, reason=? WHERE job_uid=? AND key=?",
                ("Succeeded" if code == 0 else "Failed", code, ts, reason, uid, key))

    def replica_restarted(self, uid: str, key: str) -> None:
        self._x("UPDATE replicas SET restarts=restarts+1 WHERE job_uid=? AND key=?", (uid, key))

    def replica_unbound(self, uid: str, key: str) -> None:
        """It has ended and holds nothing; a task or job restart binds it again."""
        self._x("UPDATE replicas SET bound=0 WHERE job_uid=? AND key=?", (uid, key))

    def replica_pending(self, uid: str, key: str) -> None:
        """Stopped for a restart: back to Pending, unbound."""
        self._x("UPDATE replicas SET state='Pending', bound=0, pid=NULL, pid_ctime=NULL, kill_at=NULL, exit_code=NULL,"
                " finished=NULL, restart_at=NULL, backoff=0 WHERE job_uid=? AND key=?", (uid, key))

    def replica_stopped(self, uid: str, key: str, state: str, code: int | None, reason: str | None = None) -> None:
        """Its process is gone after the job ended (Succeeded if it still exited 0, Failed if it failed on its
        own, else Terminated); `reason` replaces the stopping reason when given."""
        self._x("UPDATE replicas SET state=?, bound=0, exit_code=COALESCE(?, exit_code), finished=COALESCE(finished, ?),"
                " restart_at=NULL, reason=COALESCE(?, reason) WHERE job_uid=? AND key=?",
                (state, code, self.clock.now(), reason, uid, key))

    def replicas_terminating(self, uid: str, kill_at: float, reason: str, task: str | None = None) -> None:
        """Starting/Running replicas (of `task`, or all) are being stopped; SIGKILL is due at `kill_at`."""
        sql = (f"UPDATE replicas SET state='Terminating', kill_at=COALESCE(kill_at, ?), reason=? WHERE job_uid=?"
               f" AND state IN {_in(RUNNING)}")
        params: tuple[Any, ...] = (kill_at, reason, uid)
        if task is not None:
            sql += " AND task=?"
            params += (task,)
        self._x(sql, params)

    def replicas_reset(self, uid: str, task: str | None = None) -> None:
        """Replicas not being stopped go back to Pending, unbound (a whole-job re-queue, or a task restart's
        finished ones)."""
        if task is None:
            self._x("UPDATE replicas SET state='Pending', exit_code=NULL, finished=NULL, pid=NULL, pid_ctime=NULL,"
                    " kill_at=NULL, bound=0, restart_at=NULL, backoff=0 WHERE job_uid=? AND state != 'Terminating'",
                    (uid,))
        else:
            self._x("UPDATE replicas SET state='Pending', bound=0, exit_code=NULL, finished=NULL, pid=NULL,"
                    " pid_ctime=NULL, restart_at=NULL, backoff=0 WHERE job_uid=? AND task=? AND state IN"
                    " ('Succeeded','Failed')", (uid, task))

    # ---- queues -------------------------------------------------------------------------------
    def ensure_default_queue(self) -> None:
        self._x("INSERT OR IGNORE INTO queues(name, created) VALUES ('default', ?)", (self.clock.now(),))

    def queue_exists(self, name: str) -> bool:
        return self._x("SELECT 1 FROM queues WHERE name=?", (name,)).fetchone() is not None

    def queue_active_jobs(self, name: str) -> int:
        return self._x("SELECT COUNT(*) FROM jobs WHERE queue=? AND finished IS NULL", (name,)).fetchone()[0]

    def insert_queue(self, name: str, weight: int, capability: dict[str, str], guarantee: dict[str, str],
                     reclaimable: bool, state: str) -> None:
        self._x("INSERT INTO queues(name, weight, capability, guarantee, reclaimable, state, created)"
                " VALUES (?,?,?,?,?,?,?)", (name, weight, json.dumps(capability) if capability else None,
                                           json.dumps(guarantee) if guarantee else None, int(reclaimable), state,
                                           self.clock.now()))

    def update_queue(self, name: str, weight: int | None = None, capability: dict[str, str] | None = None,
                     guarantee: dict[str, str] | None = None, reclaimable: bool | None = None) -> None:
        """Only what is given changes; an empty capability or guarantee map removes it."""
        if weight is not None:
            self._x("UPDATE queues SET weight=? WHERE name=?", (weight, name))
        if capability is not None:
            self._x("UPDATE queues SET capability=? WHERE name=?", (json.dumps(capability) if capability else None, name))
        if guarantee is not None:
            self._x("UPDATE queues SET guarantee=? WHERE name=?", (json.dumps(guarantee) if guarantee else None, name))
        if reclaimable is not None:
            self._x("UPDATE queues SET reclaimable=? WHERE name=?", (int(reclaimable), name))

    def queue_state(self, name: str, state: str) -> None:
        self._x("UPDATE queues SET state=? WHERE name=?", (state, name))

    def queues_closing(self) -> list[str]:
        return [r["name"] for r in self._x("SELECT name FROM queues WHERE state='Closing'").fetchall()]

    def delete_queue(self, name: str) -> None:
        self._x("DELETE FROM queues WHERE name=?", (name,))

    # ---- volumes ------------------------------------------------------------------------------
    def volume_exists(self, name: str) -> bool:
        return self._x("SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone() is not None

    def insert_volume(self, name: str, path: str, description: str) -> None:
        self._x("INSERT INTO volumes(name, path, description, created) VALUES (?,?,?,?)",
                (name, path, description, self.clock.now()))

    def delete_volume(self, name: str) -> bool:
        return self._x("DELETE FROM volumes WHERE name=?", (name,)).rowcount > 0
