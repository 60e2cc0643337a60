"""Shared fixtures: every test gets its own ARENA_HOME and its daemon is stopped afterwards."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ARENA = Path(sys.executable).parent / "arena"


class Arena:
    """Runs the real `arena` command against one ARENA_HOME."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env

    def run(self, *args: str, check: bool = False, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
        cmd = [str(ARENA) if ARENA.exists() else sys.executable, *([] if ARENA.exists() else ["-m", "arena"]), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout, cwd=cwd or ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"arena {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "-o", "json", check=True).stdout)

    def job(self, name: str) -> dict:
        return self.json("get", name)  # type: ignore[return-value]

    def wait_for(self, name: str, pred: Callable[[dict], bool], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(name)
            if pred(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {name}: {job['status']} {job['phase']} {job['reason']}")
            time.sleep(0.2)

    def wait_status(self, name: str, *statuses: str, timeout: float = 60) -> dict:
        return self.wait_for(name, lambda j: j["status"] in statuses, timeout)

    def daemon_pid(self) -> int | None:
        try:
            return int((self.home / "arenad.lock").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def store_snapshot(self) -> tuple:
        """What a failed submit must leave untouched: job rows and job directories."""
        import sqlite3

        db = self.home / "arena.db"
        rows: list = []
        if db.exists():
            con = sqlite3.connect(db)
            rows = con.execute("SELECT uid, name, status FROM jobs ORDER BY uid").fetchall()
            rows += con.execute("SELECT job_uid, key FROM replicas ORDER BY job_uid, key").fetchall()
            con.close()
        dirs = sorted(str(p.relative_to(self.home)) for p in (self.home / "jobs").rglob("*")) \
            if (self.home / "jobs").exists() else []
        return rows, dirs


def _stop(arena: Arena) -> None:
    pid = arena.daemon_pid()
    if pid and psutil.pid_exists(pid):
        try:
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(5)
        except (psutil.Error, ProcessLookupError):
            pass
    # No replica may outlive its test: kill shims still running from this home.
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(arena.home) in part for part in (p.info["cmdline"] or [])):
                os.killpg(p.pid, signal.SIGKILL) if os.getpgid(p.pid) == p.pid else p.kill()
        except (psutil.Error, ProcessLookupError, PermissionError, OSError):
            pass


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[Arena]:
    home = tmp_path / "arena-home"
    env = dict(os.environ)
    env["ARENA_HOME"] = str(home)
    env.pop("ARENA_ENGINE", None)
    env.setdefault("ARENA_LOCAL_CAPACITY", "cpu=16,memory=64Gi,nvidia.com/gpu=4")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    a = Arena(home, env)
    yield a
    _stop(a)
