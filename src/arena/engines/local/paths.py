"""Layout of `$ARENA_HOME` for the local engine, and the rules that keep a job's paths inside its folder."""
from __future__ import annotations

import functools
import os
import posixpath
from collections import namedtuple

from arena.errors import InvalidSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from pathlib import Path  # loaded where a Path is made: `summaries` reads SOCKET and STORE without it

SOCKET = "arenad.sock"  # the daemon's socket, in ARENA_HOME
STORE = "arena.db"  # its store


class Paths(namedtuple("Paths", "home")):
    """Named tuples, not msgspec structs: every command reads these, and msgspec is a third of a short
    command's start-up."""

    __slots__ = ()
    home: Path

    @property
    def socket(self) -> Path:
        return self.home / SOCKET

    @property
    def db(self) -> Path:
        return self.home / STORE

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
        return self.jobs / namespace / f"{name}.{uid}"

    def ensure(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.jobs.mkdir(exist_ok=True)


def job_dir_name(entry: str) -> tuple[str, str] | None:
    """(name, uid) of a job's folder, `<name>.<uid>`; None for any other entry of a namespace's folder (such as a
    name's folder of the older layout, `<name>/<uid>`, which jobs created before it keep)."""
    name, dot, uid = entry.rpartition(".")
    if dot and name and len(uid) == 32 and all(c in "0123456789abcdef" for c in uid):
        return name, uid
    return None


def remove_job_dir(job_dir: str | Path) -> None:
    """A deleted job leaves nothing: its folder (`jobs/<namespace>/<name>.<uid>`), then its namespace's folder
    once empty (another job keeps it); in the older layout (`jobs/<namespace>/<name>/<uid>`) its name's folder
    first."""
    import shutil  # here: the command line reads paths on every start, and shutil imports three compressors
    from pathlib import Path

    d = Path(job_dir)
    shutil.rmtree(d, ignore_errors=True)
    for parent in (d.parent,) if job_dir_name(d.name) else (d.parent, d.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


class ReplicaFiles(namedtuple("ReplicaFiles", "pid exit log lock")):
    """Where a replica's shim writes its pid and exit status, the lock it holds while it runs, and where
    its output goes."""

    __slots__ = ()
    pid: Path
    exit: Path
    log: Path
    lock: Path

    @classmethod
    def of(cls, job_dir: str | Path, key: str) -> ReplicaFiles:
        return _replica_files(str(job_dir), key)


def status_dir(job_dir: str | Path) -> str:
    """Where the shims of a job's replicas keep their status files: the job's folder itself, or `status/` in it
    for a job created before (so that a daemon upgraded under running jobs still finds their replicas). One
    folder less per job: on some filesystems a new folder costs a millisecond of the kernel's time."""
    base = str(job_dir).rstrip("/")
    legacy = f"{base}/status"
    return legacy if os.path.isdir(legacy) else base


# Every reconcile pass looks at each live replica's files. As many as the catalog keeps jobs (`catalog.KEEP`):
# 4,096 sets of four paths held 7 MB of the daemon's memory once thousands of jobs had run.
@functools.lru_cache(maxsize=1024)
def _replica_files(job_dir: str, key: str) -> ReplicaFiles:
    from pathlib import Path

    base = job_dir.rstrip("/")  # whole paths, each parsed once: cheaper than eight joins
    status = f"{status_dir(base)}/{key}"
    return ReplicaFiles(Path(f"{status}.pid"), Path(f"{status}.exit"), Path(f"{base}/logs/{key}.log"),
                        Path(f"{status}.lock"))


def mount_point(mount_path: str, flag: str) -> str:
    """Where a mount appears under `<job dir>/mnt`: the path normalised as the container would see it
    (`/../../tmp/x` is `/tmp/x`), relative. A path that normalises to nothing or still climbs out is
    refused, naming the flag."""
    if "\0" in mount_path:
        raise InvalidSpec(flag, f"mount path {mount_path!r} contains a NUL byte")
    norm = posixpath.normpath(posixpath.join("/", mount_path)).lstrip("/")
    if not norm or norm == "." or norm.split("/")[0] == "..":
        raise InvalidSpec(flag, f"mount path {mount_path!r} must name a directory inside the job (like /data)")
    return norm


def mount_link(job_dir: Path, mount_path: str, flag: str, taken: list[str] | tuple[str, ...] = ()) -> Path:
    """The link for a mount at `<job dir>/mnt/<normalised path>`, refused (naming the flag) when it would
    land outside the job's folder or inside another mount (`taken`: the mount points made before it),
    whose link would lead the new one into the mounted directory itself."""
    point = mount_point(mount_path, flag)
    for other in taken:
        if point == other or point.startswith(other + "/") or other.startswith(point + "/"):
            raise InvalidSpec(flag, f"mount path {mount_path!r} overlaps the mount at /{other}")
    mnt = job_dir / "mnt"
    link = mnt / point
    on_the_way = mnt
    for part in point.split("/")[:-1]:  # before creating anything: no link (another mount) on the way
        on_the_way = on_the_way / part
        if on_the_way.is_symlink():
            raise InvalidSpec(flag, f"mount path {mount_path!r} leads outside the job's folder (through /{part})")
    link.parent.mkdir(parents=True, exist_ok=True)
    where, inside = link.parent.resolve(), mnt.resolve()
    if where != inside and inside not in where.parents:
        raise InvalidSpec(flag, f"mount path {mount_path!r} leads outside the job's folder")
    return link
