"""Whether the store can be trusted, checked before the daemon serves from it; its backups; and the repair.

SQLite survives `kill -9`, but not every accident: a truncated or garbled database file fails SQLite's own
check, and a lost or garbled write-ahead log silently rolls the store back to its last checkpoint, so jobs
that were submitted (and replicas that are running) vanish from it. The second kind is visible on disk:
every committed job leaves a record in its directory (`store.RECORD`) and every replica its shim's status
files. So the daemon starts only when

- `PRAGMA quick_check` passes, and
- no job directory holds a record, or a running shim, of a job that the store does not know;

otherwise it stops with one line naming the file and `arena daemon repair`. The repair restores the newest
backup that passes the check (or salvages what is readable), then settles every job found on disk that the
store does not know: one that never started is queued again; one whose replicas ran is recorded as ended, its
running replicas stopped first; nothing is left running unknown to the store. Each is reported.

Backups: after the checks pass, and then every `BACKUP_EVERY` seconds while the store changes, the daemon
copies the store to `$ARENA_HOME/backups/arena.db.1` (the previous copy becomes `.2`): the last good store.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psutil

from arena.engines.local import supervisor
from arena.engines.local.clock import SYSTEM
from arena.engines.local.paths import Paths, ReplicaFiles, job_dir_name, status_dir
from arena.engines.local.repo import Repo
from arena.engines.local.store import RECORD, Store
from arena.errors import ArenaError, StoreDamaged

BACKUPS = 2  # generations kept
BACKUP_EVERY = 3600.0  # seconds between backups of a store that changed
TENSORBOARD = "tensorboard"  # its status files sit beside the replicas'


# ---- checks ------------------------------------------------------------------------------------
def quick_check(db: Path) -> str | None:
    """None when the database passes SQLite's `PRAGMA quick_check` (or does not exist yet), else the problem."""
    if not db.exists():
        return None
    try:
        con = sqlite3.connect(str(db), timeout=30)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        con.close()
    result = "; ".join(str(r[0]) for r in rows[:3])
    return None if result == "ok" else f"quick_check: {result}"


@dataclass
class Stray:
    """A job directory whose uid the store does not know."""

    namespace: str
    name: str
    uid: str
    path: Path
    record: dict | None  # its record (the job was committed), or None (a submit that never committed)
    live: dict[str, int] = field(default_factory=dict)  # replica key -> pid of its running shim
    exited: dict[str, dict] = field(default_factory=dict)  # replica key -> its shim's exit status

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name} (uid {self.uid[:8]})"


def scan(paths: Paths, known: set[str]) -> list[Stray]:
    """Job directories (`jobs/<namespace>/<name>.<uid>`, or `jobs/<namespace>/<name>/<uid>` as jobs created
    before that layout keep) whose uid is not in `known`, with what runs in them."""
    found: list[Stray] = []
    for ns_dir in _dirs(paths.jobs):
        for entry in _dirs(ns_dir):
            named = job_dir_name(entry.name)
            jobs = [(*named, entry)] if named else [(entry.name, d.name, d) for d in _dirs(entry)]
            for name, uid, job_dir in jobs:
                if uid in known:
                    continue
                live, exited = _status(job_dir)
                found.append(Stray(ns_dir.name, name, uid, job_dir, _record(job_dir), live, exited))
    return found


def verify(paths: Paths, repo: Repo) -> None:
    """Refuse (StoreDamaged) a store that lost committed jobs or running replicas that are on disk."""
    lost = [s for s in scan(paths, set(repo.job_uids())) if s.record is not None or s.live]
    if lost:
        running = sum(len(s.live) for s in lost)
        names = ", ".join(s.label for s in lost[:3]) + (", ..." if len(lost) > 3 else "")
        raise StoreDamaged(str(paths.db), f"it lacks {len(lost)} job(s) found on disk, {running} of their replicas "
                                          f"running: {names}; was its write-ahead log lost?")


def _dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _record(job_dir: Path) -> dict | None:
    try:
        data = json.loads((job_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("plan"), str) else None


def _status(job_dir: Path) -> tuple[dict[str, int], dict[str, dict]]:
    """Each replica's running shim (the holder of its lock, else a process of its pid file that names this
    directory) and each exit status, from the shims' files (`paths.status_dir`)."""
    live: dict[str, int] = {}
    exited: dict[str, dict] = {}
    try:
        keys = sorted({p.stem for p in Path(status_dir(job_dir)).iterdir()
                       if p.suffix in (".pid", ".lock", ".exit") and p.is_file()})
    except OSError:
        return live, exited
    for key in keys:
        files = ReplicaFiles.of(job_dir, key)
        ex = supervisor.read_exit(files.exit)
        if ex is not None:
            exited[key] = ex
            continue
        pid = supervisor.read_pid(files.pid)
        running = supervisor.shim(files, None, None) if files.lock.exists() else None
        if running is None and pid and _runs_here(pid, job_dir):
            running = pid
        if running is not None:
            live[key] = running
    return live, exited


def _runs_here(pid: int, job_dir: Path) -> bool:
    """The pid is a process started for this job directory (not a pid reused since)."""
    try:
        return any(str(job_dir) in part for part in psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return False


def write_record(job_dir: Path, record: dict) -> None:
    """The job's record in its directory, whole or absent."""
    tmp = job_dir / f".{RECORD}.tmp"
    tmp.write_bytes(msgspec.json.encode(record))
    os.replace(tmp, job_dir / RECORD)


# ---- backups -----------------------------------------------------------------------------------
def backup_dir(paths: Paths) -> Path:
    return paths.home / "backups"


def backup(store: Store, paths: Paths) -> Path:
    """Copy the store to `backups/arena.db.1`, keeping the previous copies as `.2`...`.BACKUPS`."""
    d = backup_dir(paths)
    d.mkdir(mode=0o700, exist_ok=True)
    for i in range(BACKUPS - 1, 0, -1):
        older = d / f"{paths.db.name}.{i}"
        if older.exists():
            older.replace(d / f"{paths.db.name}.{i + 1}")
    target = d / f"{paths.db.name}.1"
    store.backup(target)
    return target


def good_backups(paths: Paths) -> list[Path]:
    """Backups that pass the check, newest first."""
    found = sorted(backup_dir(paths).glob(f"{paths.db.name}.[0-9]*"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p for p in found if quick_check(p) is None]


# ---- repair ------------------------------------------------------------------------------------
def repair(paths: Paths, grace: float = 5.0) -> list[str]:
    """Make the store trustworthy again and settle every job on disk it does not know; one line per action.

    Runs with the daemon stopped (it holds the daemon's lock meanwhile, so none starts)."""
    paths.home.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArenaError("arenad is running; stop it first with 'arena daemon stop'") from None
        report: list[str] = []
        rebuilt = _mend_database(paths, report)
        repo = Repo(paths.db, SYSTEM)
        try:
            if rebuilt:
                _drop_vanished(repo, report)
            for stray in scan(paths, set(repo.job_uids())):
                _settle(repo, stray, grace, report)
        finally:
            repo.close()
        if not report:
            report.append(f"store {paths.db}: ok; every job on disk is in it; nothing to repair")
        return report


def _mend_database(paths: Paths, report: list[str]) -> bool:
    """Replace a database that fails the check: the newest good backup, else what can be read of it."""
    problem = quick_check(paths.db)
    if problem is None:
        return False
    damaged = paths.home / "damaged"
    damaged.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = damaged / f"{paths.db.name}.{stamp}"
    for suffix in ("", "-wal", "-shm"):
        part = paths.db.with_name(paths.db.name + suffix)
        if part.exists():
            part.replace(kept.with_name(kept.name + suffix))
    report.append(f"store {paths.db}: {problem}; moved aside to {kept}")
    backups = good_backups(paths)
    if backups:
        shutil.copyfile(backups[0], paths.db)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(backups[0].stat().st_mtime))
        report.append(f"store {paths.db}: restored from the backup of {when} ({backups[0]})")
    else:
        n = _salvage(kept, paths.db)
        report.append(f"store {paths.db}: no good backup; rebuilt from what was readable ({n} job(s))")
    return True


def _salvage(source: Path, target: Path) -> int:
    """Copy every readable row of a damaged database into a new one; returns the jobs copied."""
    Store(target).close()  # the schema
    dst = sqlite3.connect(str(target), isolation_level=None)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error:
        dst.close()
        return 0
    jobs = 0
    try:
        for table in ("queues", "volumes", "jobs", "replicas", "events", "transitions"):
            have = [r[1] for r in dst.execute(f"PRAGMA table_info({table})")]
            try:
                cols = [c for c in (r[1] for r in src.execute(f"PRAGMA table_info({table})")) if c in have]
                if not cols:
                    continue
                cursor = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
                marks = ", ".join("?" for _ in cols)
                while True:
                    try:
                        row = cursor.fetchone()
                    except sqlite3.DatabaseError:
                        break
                    if row is None:
                        break
                    n = dst.execute(f"INSERT OR IGNORE INTO {table}({', '.join(cols)}) VALUES ({marks})", row).rowcount
                    jobs += n if table == "jobs" else 0
            except sqlite3.DatabaseError:
                continue
    finally:
        src.close()
        dst.close()
    return jobs


def _drop_vanished(repo: Repo, report: list[str]) -> None:
    """Jobs of a restored backup whose directory is gone were deleted after the backup was taken."""
    gone = [uid for uid, job_dir in repo.job_uids().items() if not Path(job_dir).is_dir()]
    for uid in gone:
        row = repo.job(uid)
        with repo.tx() as tx:
            tx.delete_job(uid)
        if row is not None:
            report.append(f"job {row.namespace}/{row.name}: in the restored store but deleted since (its folder "
                          "is gone); dropped")


def _settle(repo: Repo, stray: Stray, grace: float, report: list[str]) -> None:
    stopped = stop(stray.uid, stray.live, grace)
    ran = {k for k in (*stray.live, *stray.exited) if k != TENSORBOARD}
    note = f"; {len(stopped)} running process(es) stopped" if stopped else ""
    if stray.record is None or not _rerecord(repo, stray, ran):
        report.append(f"job {stray.label}: found on disk, never recorded by the store{note}; its folder "
                      f"{stray.path} is left in place")
        return
    if not ran:
        report.append(f"job {stray.label}: missing from the store and never started; recorded again and queued")
        return
    report.append(f"job {stray.label}: missing from the store; its replicas had run{note}; recorded again as "
                  f"ended (logs kept)")


def _rerecord(repo: Repo, stray: Stray, ran: set[str]) -> bool:
    """Insert the job from its record: queued when it never ran, else ended as its replicas did."""
    from arena.engines.local import plan as plans

    rec = stray.record or {}
    try:
        plan = plans.decode(rec["plan"])
    except Exception:  # a record this version cannot read: leave the folder to the user
        return False
    spec = plan.spec
    uid = stray.uid
    queue = spec.scheduling.queue if repo.queue(spec.scheduling.queue) is not None else "default"
    keys = [(f"{r.task}-{r.index}", r.task, r.index) for r in plan.replicas]
    codes = {k: int(stray.exited[k].get("code", 255)) if k in stray.exited else None for k, _, _ in keys}
    with repo.tx() as tx:
        if tx.job_exists(spec.namespace, spec.name):
            return False
        tx.insert_job(uid, spec.namespace, spec.name, spec.kind, rec.get("spec") or "", rec["plan"], queue,
                      int(rec.get("priority") or 0), rec.get("priority_class"), spec.requested_gpus, str(stray.path),
                      spec.run_policy.active_deadline_seconds, keys)
        tx.event(uid, "Recovered", "recorded again by 'arena daemon repair': the store had lost this job", "Warning",
                 "arena daemon repair")
        if not ran:
            return True
        now = time.time()
        for key, code in codes.items():
            if code is not None:
                tx.replica_exited(uid, key, code, float(stray.exited[key].get("ts") or now), "")
            elif key in ran:
                tx.replica_stopped(uid, key, "Terminated", None)
        ok = all(code == 0 for code in codes.values())
        reason = ("every replica had succeeded before the store lost the job" if ok else
                  "the store lost this job while it ran; 'arena daemon repair' stopped what still ran")
        tx.job_finished(uid, reason, None)
        tx.set_phase(uid, "Succeeded" if ok else "Failed", reason, "SUCCEEDED" if ok else "FAILED")
    return True


def stop(uid: str, live: dict[str, int], grace: float) -> list[int]:
    """SIGTERM each running replica of job `uid` (every descendant: its cgroup or marker, its process group),
    SIGKILL whatever is left after `grace`; returns the shims' pids."""
    procs = [(pid, supervisor.tag_of(uid, key)) for key, pid in live.items()]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not supervisor.any_alive(procs):
            break
        for pid, tag in procs:
            supervisor.signal_tree(pid, None, sig, tag)
        deadline = time.monotonic() + wait
        while supervisor.any_alive(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
    supervisor.release(uid)
    return [pid for pid, _ in procs]
