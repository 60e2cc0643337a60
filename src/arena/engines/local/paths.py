"""Layout of `$ARENA_HOME` for the local engine."""
from __future__ import annotations

from pathlib import Path

import msgspec


class Paths(msgspec.Struct, frozen=True):
    home: Path

    @property
    def socket(self) -> Path:
        return self.home / "arenad.sock"

    @property
    def db(self) -> Path:
        return self.home / "arena.db"

    @property
    def lock(self) -> Path:
        return self.home / "arenad.lock"

    @property
    def daemon_log(self) -> Path:
        return self.home / "arenad.log"

    @property
    def jobs(self) -> Path:
        return self.home / "jobs"

    def job_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self.jobs / namespace / name / uid

    def ensure(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.jobs.mkdir(exist_ok=True)


class ReplicaFiles(msgspec.Struct, frozen=True):
    """Where a replica's shim writes its pid and exit status, and where its output goes."""

    pid: Path
    exit: Path
    log: Path

    @classmethod
    def of(cls, job_dir: str | Path, key: str) -> ReplicaFiles:
        d = Path(job_dir)
        return cls(d / "status" / f"{key}.pid", d / "status" / f"{key}.exit", d / "logs" / f"{key}.log")
