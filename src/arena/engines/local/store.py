"""The local engine's SQLite database: schema, migrations, connection and transactions.

The daemon may be killed at any moment; everything needed to carry on (jobs with their plans, replicas
with their pids, ports and GPUs, events, phase history) is here, and each replica's exit status is in a
file its shim writes, so a restarted daemon re-adopts what is running. Only `repo.py` talks SQL: this
module gives it a connection and atomic transactions.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arena.engines.local.rows import JobRow
from arena.errors import DiskFull

# Each committed job's record in its directory (`<job dir>/job.json`: its uid, names and plan), written after the
# job's transaction commits and removed before the one that deletes it. A job directory holding a record that the
# store does not know is proof that the store lost committed work (a lost or garbled write-ahead log, or an
# older backup): `integrity` refuses to serve from such a store and `arena daemon repair` re-records the job.
RECORD = "job.json"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    plan TEXT NOT NULL DEFAULT '',
    base_env TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0,
    priority_class TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    reason TEXT NOT NULL DEFAULT '',
    waiting TEXT,
    message TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    admitted INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    requested_gpus INTEGER NOT NULL DEFAULT 0,
    hold_until REAL,
    deadline_s REAL,
    deployed REAL,
    tb_pid INTEGER,
    tb_ctime REAL,
    tb_port INTEGER,
    ttl_s REAL,
    job_dir TEXT NOT NULL,
    submit_key TEXT,
    UNIQUE(namespace, name)
);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(finished);
CREATE INDEX IF NOT EXISTS jobs_ttl ON jobs(ttl_s) WHERE ttl_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_deadline ON jobs(deadline_s) WHERE deadline_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_tensorboard ON jobs(tb_pid) WHERE tb_pid IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_submit_key ON jobs(submit_key) WHERE submit_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS replicas (
    job_uid TEXT NOT NULL REFERENCES jobs(uid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    task TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'Pending',
    bound INTEGER NOT NULL DEFAULT 0,
    gpus TEXT NOT NULL DEFAULT '[]',
    port INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_ctime REAL,
    exit_code INTEGER,
    restarts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    kill_at REAL,
    reason TEXT NOT NULL DEFAULT '',
    restart_at REAL,
    backoff REAL NOT NULL DEFAULT 0,
    cpus TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_uid, key)
);
CREATE INDEX IF NOT EXISTS replicas_state ON replicas(state);
CREATE TABLE IF NOT EXISTS plans (
    job_uid TEXT PRIMARY KEY REFERENCES jobs(uid) ON DELETE CASCADE,
    plan TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS replicas_bound ON replicas(bound) WHERE bound=1;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_uid TEXT NOT NULL REFERENCES jobs(uid) ON DELETE CASCADE,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    first_ts REAL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_uid);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_uid TEXT NOT NULL REFERENCES jobs(uid) ON DELETE CASCADE,
    ts REAL NOT NULL,
    phase TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_job ON transitions(job_uid);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    weight INTEGER NOT NULL DEFAULT 1,
    capability TEXT,
    guarantee TEXT,
    reclaimable INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'Open',
    created REAL NOT NULL
);
"""

# How many jobs each namespace holds, kept by triggers in every transaction that adds or removes a job: a submit
# checks the namespace's limit in constant time, not by counting thousands of rows.
COUNTS = (
    "CREATE TABLE namespace_jobs (namespace TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE TRIGGER namespace_jobs_insert AFTER INSERT ON jobs BEGIN"
    " INSERT INTO namespace_jobs(namespace, n) VALUES (NEW.namespace, 1)"
    " ON CONFLICT(namespace) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER namespace_jobs_delete AFTER DELETE ON jobs BEGIN"
    " UPDATE namespace_jobs SET n = n - 1 WHERE namespace = OLD.namespace; END",
    "INSERT INTO namespace_jobs(namespace, n) SELECT namespace, COUNT(*) FROM jobs GROUP BY namespace",
)


# Which jobs changed, for the daemon's readers that keep what they read (`listing.py` for `list`, `schedulable.py`
# for the scheduler's snapshot): a note per job whose row, or whose replicas' GPUs and states, any statement on
# this connection wrote, one table of notes per reader (each forgets its own as it reads them). Temporary (this
# connection's, in memory, never on disk); the notes are part of the writer's transaction, so a rolled-back change
# leaves none.
# The scheduler's reader is not told of a change of `position` alone: the loop writes positions itself (and keeps
# its copy of them), and a queue's positions all move whenever its head starts.
NOTES = ("touched", "touched_sched")
_SCHEDULED = ", ".join(c for c in JobRow.__struct_fields__ if c != "position")
TOUCHED = (
    "PRAGMA temp_store=MEMORY",
    *(f"CREATE TEMP TABLE IF NOT EXISTS {table} (uid TEXT PRIMARY KEY) WITHOUT ROWID" for table in NOTES),
    *(f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {event} BEGIN"
      + "".join(f" INSERT OR IGNORE INTO {table}(uid) VALUES ({uid});" for table in tables) + " END"
      for name, event, uid, tables in (
          ("touched_jobs_insert", "INSERT ON main.jobs", "NEW.uid", NOTES),
          ("touched_jobs_update", "UPDATE ON main.jobs", "NEW.uid", NOTES[:1]),
          ("touched_sched_jobs_update", f"UPDATE OF {_SCHEDULED} ON main.jobs", "NEW.uid", NOTES[1:]),
          ("touched_jobs_delete", "DELETE ON main.jobs", "OLD.uid", NOTES),
          ("touched_replicas_insert", "INSERT ON main.replicas", "NEW.job_uid", NOTES),
          ("touched_replicas_update", "UPDATE OF bound, state, gpus ON main.replicas", "NEW.job_uid", NOTES),
          ("touched_replicas_delete", "DELETE ON main.replicas", "OLD.job_uid", NOTES))),
)
# Version 1 keeps each job's plan (a kilobyte or two: every replica's argv and environment) in `plans`, apart from
# its row: a job row of a few hundred bytes packs a dozen to a page instead of two, so that reading and updating
# jobs touches a fifth of the pages. Stores made before it have their plans moved there once (`jobs.plan` stays,
# empty).
PLANS_APART = (
    "INSERT OR IGNORE INTO plans(job_uid, plan) SELECT uid, plan FROM jobs WHERE plan != ''",
    "UPDATE jobs SET plan='' WHERE plan != ''",
    "PRAGMA user_version=1",
)

BATCH_HOLD = 0.02  # seconds a pass's transaction may keep readers waiting before it commits what it has


class Store:
    """One connection, serialised by a lock, explicit transactions.

    A reconcile pass runs as a `batch`: its transactions become savepoints of one transaction, committed once
    (or every `BATCH_HOLD`, so `arena list` never waits long) instead of once each. Whatever acts outside
    the store (starting or signalling a process, removing a directory) calls `flush` first, so that a crash
    never leaves a process started or signalled on a decision the store does not hold."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        for st in TOUCHED:
            self._conn.execute(st)
        self.lock = threading.RLock()
        self._seen_total = -1
        self.changes = 0  # bumped by every committed transaction that changed something: cached reads compare it
        # bumped by every rollback inside a batch (to a savepoint, or of a failed commit): a reader that read inside
        # the batch (`schedulable.py`) may hold rows that were never committed, and reads everything again. A
        # refused submit's rollback is not one: its transaction held the lock, so nobody read inside it.
        self.rollbacks = 0
        self._batch: int | None = None  # the thread running a batch
        self._held = False  # the batch's transaction is open (and its thread holds the lock)
        self._depth = 0  # savepoints open in it
        self._opened = 0.0

    def _migrate(self) -> None:
        """Create what is missing: tables, then columns added since a store was made, then indexes."""
        statements = [st.strip() for st in SCHEMA.split(";") if st.strip()]
        for st in statements:
            if st.startswith("CREATE TABLE"):
                self._conn.execute(st)
                table = st.split()[5]
                have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                for line in st.split("(", 1)[1].splitlines():
                    line = line.strip().rstrip(",")
                    name = line.split(" ", 1)[0] if line else ""
                    if name and name.isidentifier() and name.upper() not in ("PRIMARY", "UNIQUE") and name not in have:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {line.replace(' PRIMARY KEY', '')}")
        for st in statements:
            if not st.startswith("CREATE TABLE"):
                self._conn.execute(st)
        if self._conn.execute("PRAGMA user_version").fetchone()[0] < 1:
            self._whole(PLANS_APART)
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name='namespace_jobs'").fetchone() is None:
            self._whole(COUNTS)

    def _whole(self, statements: tuple[str, ...]) -> None:
        """A migration: whole or not at all."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for st in statements:
                self._conn.execute(st)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic state change. Nested use joins the outer transaction.

        A full disk is reported as such (`DiskFull`, naming ARENA_HOME), never as a broken connection."""
        if self._batch == threading.get_ident():
            with self._savepoint() as conn:
                yield conn
            return
        with self.lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:  # not counted in `rollbacks`: no other thread read inside it (the lock)
                    if self._conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._failed(exc)
                raise
            self._count_changes()

    def _failed(self, exc: sqlite3.OperationalError) -> None:
        """After a failed statement or commit: roll back what is left; a full disk is raised as DiskFull."""
        self.rollbacks += 1
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        if is_disk_full(exc):
            raise DiskFull(str(self.path.parent)) from None

    def _count_changes(self) -> None:
        if self._conn.total_changes != self._seen_total:
            self._seen_total = self._conn.total_changes
            self.changes += 1

    @contextmanager
    def batch(self) -> Iterator[None]:
        """This thread's transactions, until the end, share one transaction (see the class)."""
        self._batch = threading.get_ident()
        try:
            yield
        finally:
            try:
                self._depth = 0
                self.flush()
            finally:
                self._batch = None

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        """One state change inside the batch: undone alone if it raises, as its own transaction would be."""
        if not self._held:
            self.lock.acquire()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                self.lock.release()
                if is_disk_full(exc):
                    raise DiskFull(str(self.path.parent)) from None
                raise
            self._held, self._opened = True, time.monotonic()
        self._depth += 1
        name = f"step{self._depth}"
        try:
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield self._conn
            except BaseException:
                self.rollbacks += 1
                if self._conn.in_transaction:
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                raise
            self._conn.execute(f"RELEASE {name}")
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise DiskFull(str(self.path.parent)) from None
            raise
        finally:
            self._depth -= 1
        if self._depth == 0 and time.monotonic() - self._opened > BATCH_HOLD:
            self.flush()

    def flush(self) -> None:
        """Commit the batch's transaction so far (nothing outside a batch, or inside one of its steps)."""
        if self._batch != threading.get_ident() or not self._held or self._depth:
            return
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._failed(exc)
            raise
        finally:
            self._held = False
            self.lock.release()
        self._count_changes()

    def batching(self) -> bool:
        """This thread runs a batch (a reconcile pass)."""
        return self._batch == threading.get_ident()

    def holding(self) -> bool:
        """This thread's batch holds the store (a step is open, or it has not committed since its last write)."""
        return self._held and self.batching()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database (a clean stop leaves nothing that a lost log could take)."""
        try:
            with self.lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole store at `target` (SQLite's online backup), written beside it and
        renamed into place, so a copy is either whole or absent."""
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        dest = sqlite3.connect(str(tmp))
        try:
            with self.lock:
                self._conn.backup(dest)
        finally:
            dest.close()
        tmp.replace(target)

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self.lock:
            return self._conn.execute(sql, params).fetchone()


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL (or an I/O error for want of space), or an OSError ENOSPC/EDQUOT."""
    import errno

    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc) or "No space left" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
