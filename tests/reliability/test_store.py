"""A damaged store is never served silently: a truncated database, or a lost or garbled write-ahead log that
rolled the store back, stops the daemon with one line naming the file and `arena daemon repair`; the repair
restores the last good backup and settles every job found on disk (queued again, or recorded as ended with
its processes stopped): nothing is left running unknown to the store."""
from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import psutil


def damaged_error(proc, home: Path) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(home / "arena.db") in lines[0] and "arena daemon repair" in lines[0], lines[0]
    return lines[0]


def kill_daemon(arena) -> None:  # type: ignore[no-untyped-def]
    pid = arena.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(5) if psutil.pid_exists(pid) else None


def processes_of(home: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(home / "jobs") in part for part in (p.info["cmdline"] or [])) and p.status() != "zombie":
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_a_truncated_database_is_refused_then_restored_from_its_backup(arena):
    arena.run("submit", "py", "--name", "before", "true", check=True)
    assert arena.wait_status("before", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
    arena.run("daemon", "stop", check=True)
    db = arena.home / "arena.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    damaged_error(arena.run("list"), arena.home)
    repair = arena.run("daemon", "repair")
    assert repair.returncode == 0, repair.stderr
    assert "restored from the backup" in repair.stdout, repair.stdout
    assert "before" in repair.stdout  # submitted after the backup: found on disk and recorded again
    jobs = {j["name"]: j["status"] for j in arena.json("list")}  # type: ignore[union-attr]
    assert jobs == {"before": "SUCCEEDED"}
    arena.run("submit", "py", "--name", "after", "true", check=True)
    assert arena.wait_status("after", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"


def test_a_lost_write_ahead_log_is_refused_and_its_running_replicas_are_not_orphaned(arena):
    arena.run("submit", "py", "--name", "runner", "sleep 300", check=True)
    arena.wait_status("runner", "RUNNING")
    assert processes_of(arena.home)
    kill_daemon(arena)
    for suffix in ("-wal", "-shm"):
        (arena.home / f"arena.db{suffix}").unlink(missing_ok=True)
    line = damaged_error(arena.run("list"), arena.home)
    assert "runner" in line
    repair = arena.run("daemon", "repair")
    assert repair.returncode == 0, repair.stderr
    assert "runner" in repair.stdout and "stopped" in repair.stdout, repair.stdout
    assert not processes_of(arena.home)
    job = arena.job("runner")
    assert job["status"] == "FAILED" and "repair" in job["reason"], job
    arena.run("delete", "runner", check=True)


def test_a_garbled_write_ahead_log_is_refused_and_a_queued_job_is_queued_again(arena):
    arena.run("submit", "py", "--name", "holder", "--gpus", "4", "sleep 300", check=True)
    arena.wait_status("holder", "RUNNING")
    arena.run("submit", "py", "--name", "waiter", "--gpus", "4", "echo waited", check=True)
    kill_daemon(arena)
    wal = arena.home / "arena.db-wal"
    data = bytearray(wal.read_bytes())
    assert len(data) > 4096
    for i in range(32, len(data), 97):  # every frame's checksum fails: SQLite drops the log without a word
        data[i] ^= 0x5A
    wal.write_bytes(bytes(data))
    damaged_error(arena.run("list"), arena.home)
    repair = arena.run("daemon", "repair")
    assert repair.returncode == 0, repair.stderr
    assert "queued" in repair.stdout and "stopped" in repair.stdout, repair.stdout
    assert not any("sleep 300" in " ".join(p.cmdline()) for p in processes_of(arena.home))
    assert arena.wait_status("waiter", "SUCCEEDED", "FAILED", timeout=60)["status"] == "SUCCEEDED"
    assert arena.run("logs", "waiter", check=True).stdout.splitlines() == ["waited"]
    assert arena.job("holder")["status"] == "FAILED"


def test_backups_rotate_and_each_is_a_sound_store(arena):
    from arena.engines.local import integrity

    for _ in range(3):
        arena.run("daemon", "start", check=True)
        arena.run("daemon", "stop", check=True)
    backups = integrity.backup_dir(integrity.Paths(arena.home))
    assert sorted(p.name for p in backups.iterdir()) == ["arena.db.1", "arena.db.2"]
    for p in backups.iterdir():
        assert integrity.quick_check(p) is None


def test_repair_without_a_backup_keeps_what_is_readable(arena):
    arena.run("submit", "py", "--name", "kept", "true", check=True)
    arena.wait_status("kept", "SUCCEEDED", "FAILED")
    arena.run("daemon", "stop", check=True)
    for p in (arena.home / "backups").iterdir():
        p.unlink()
    db = arena.home / "arena.db"
    with open(db, "r+b") as f:  # a garbled header: not a database any more
        f.write(b"this is not sqlite" * 4)
    damaged_error(arena.run("list"), arena.home)
    repair = arena.run("daemon", "repair")
    assert repair.returncode == 0 and "no good backup" in repair.stdout, (repair.stdout, repair.stderr)
    assert [j["name"] for j in arena.json("list")] == ["kept"]  # type: ignore[union-attr]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert list((arena.home / "damaged").iterdir())  # the damaged file is kept, not deleted


def test_repair_of_a_sound_store_changes_nothing(arena):
    arena.run("submit", "py", "--name", "fine", "true", check=True)
    arena.wait_status("fine", "SUCCEEDED", "FAILED")
    running = arena.run("daemon", "repair")
    assert running.returncode == 1 and "arena daemon stop" in running.stderr
    arena.run("daemon", "stop", check=True)
    time.sleep(0.1)
    repair = arena.run("daemon", "repair")
    assert repair.returncode == 0 and "nothing to repair" in repair.stdout, repair.stdout
    assert [j["name"] for j in arena.json("list")] == ["fine"]  # type: ignore[union-attr]
