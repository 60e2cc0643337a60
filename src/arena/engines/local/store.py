"""The local engine's durable state: SQLite in WAL mode, one transaction per state change.

The daemon may be killed at any moment; everything needed to carry on (jobs, replicas
with their pids, ports and GPUs, events, phase history) is here, and each replica's exit
status is in a file its shim writes, so a restarted daemon re-adopts what is running.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
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
    UNIQUE(namespace, name)
);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(finished);
CREATE INDEX IF NOT EXISTS jobs_ttl ON jobs(ttl_s) WHERE ttl_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_deadline ON jobs(deadline_s) WHERE deadline_s IS NOT NULL;
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
    PRIMARY KEY (job_uid, key)
);
CREATE INDEX IF NOT EXISTS replicas_state ON replicas(state);
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


class Store:
    """A thread-safe wrapper: one connection, serialised by a lock, explicit transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self.lock = threading.RLock()
        self._seen_total = -1
        self.changes = 0  # bumped by every committed transaction: cached reads compare it
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO queues(name, created) VALUES ('default', ?)", (time.time(),))

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

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic state change. Nested use joins the outer transaction."""
        with self.lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if self._conn.total_changes != self._seen_total:
                self._seen_total = self._conn.total_changes
                self.changes += 1

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self.lock:
            return self._conn.execute(sql, params).fetchone()

    # -- helpers used inside a transaction ------------------------------------------------
    @staticmethod
    def event(db: sqlite3.Connection, job_uid: str, reason: str, message: str, type_: str = "Normal",
              source: str = "", ts: float | None = None) -> None:
        """Record an event; a repeat of the job's latest one only bumps its count (as Kubernetes does)."""
        ts = ts or time.time()
        last = db.execute("SELECT id, type, source, reason, message FROM events WHERE job_uid=? ORDER BY id DESC LIMIT 1",
                          (job_uid,)).fetchone()
        if last is not None and (last["type"], last["source"], last["reason"], last["message"]) == \
                (type_, source, reason, message):
            db.execute("UPDATE events SET count=count+1, ts=? WHERE id=?", (ts, last["id"]))
            return
        db.execute("INSERT INTO events(job_uid, ts, first_ts, type, source, reason, message) VALUES (?,?,?,?,?,?,?)",
                   (job_uid, ts, ts, type_, source, reason, message))

    @staticmethod
    def set_phase(db: sqlite3.Connection, job_uid: str, phase: str, reason: str, status: str | None = None,
                  ts: float | None = None) -> None:
        """Record a native phase change (and the Arena status) with its history row."""
        row = db.execute("SELECT phase, status FROM jobs WHERE uid=?", (job_uid,)).fetchone()
        if row is None:
            return
        if row["phase"] != phase:
            db.execute("INSERT INTO transitions(job_uid, ts, phase, reason) VALUES (?,?,?,?)",
                       (job_uid, ts or time.time(), phase, reason))
        db.execute("UPDATE jobs SET phase=?, status=COALESCE(?, status) WHERE uid=?", (phase, status, job_uid))


def loads(text: str | None, default: Any = None) -> Any:
    return default if text in (None, "") else json.loads(text)
