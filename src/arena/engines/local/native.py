"""The native shim: `shim.c` compiled once per machine and source version, kept in the user's cache.

Why: a replica's shim forked from the (Python) spawner costs about 1.2 ms of page faults before it runs a line,
and its Python work as much again; the same shim in C, exec'd with `posix_spawn`, costs a fraction of that, and
the shim's share of a short job's CPU is what bounds the engine's job rate (issue 15).

Where no C compiler is found (or it fails), `shim_path()` is None and the spawner forks the Python shim as
before: same files, same guarantees. `ARENA_SHIM=python` forces the Python shim; `ARENA_SHIM=/path/to/shim`
uses that binary. The compiled shim lives in `$XDG_CACHE_HOME/arena/native/<source hash>-<machine>/` (default
`~/.cache`), private to the user: one found there that anyone else could have written is not run but rebuilt.
"""
from __future__ import annotations

import functools
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import zlib
from pathlib import Path

SOURCE = Path(__file__).with_name("shim.c")
NAME = "arena-shim"  # what the shim shows as in `ps`
CFLAGS = ("-O2", "-std=gnu11", "-Wall")
BUILD_TIMEOUT = 120.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "arena" / "native"


@functools.lru_cache(maxsize=1)
def shim_path() -> Path | None:
    """The native shim to run, built when missing; None: use the Python shim."""
    choice = os.environ.get("ARENA_SHIM", "").strip()
    if choice == "python":
        return None
    if choice and choice != "native":
        path = Path(choice)
        return path if os.access(path, os.X_OK) else None
    return built(SOURCE, NAME, CFLAGS)


def built(source_path: Path, name: str, cflags: tuple[str, ...]) -> Path | None:
    """`source_path` compiled with `cflags` into `name`, in the cache, once per source version; None when
    there is no compiler or it fails."""
    try:
        source = source_path.read_bytes()
    except OSError:
        return None
    # Names a version, guards nothing (`_trusted` does): a checksum, not hashlib, whose OpenSSL would cost the
    # daemon 4 MB of memory.
    text = source + " ".join(cflags).encode()
    key = f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"
    target = cache_root() / f"{key}-{platform.machine() or 'unknown'}" / name
    if _trusted(target):
        return target
    return target if _build(target, source_path, name, cflags) else None


def why_not() -> str:
    """One line for the daemon's log: why the Python shim is used."""
    if os.environ.get("ARENA_SHIM", "").strip() == "python":
        return "ARENA_SHIM=python"
    if not SOURCE.exists():
        return f"{SOURCE} is missing"
    return "no C compiler (set CC, or install gcc or clang) or it failed"


def _trusted(path: Path) -> bool:
    """An executable file of ours that only we can write, in a directory only we can write."""
    try:
        st, parent = path.stat(), path.parent.stat()
    except OSError:
        return False
    uid = os.getuid()
    for s in (st, parent):
        if s.st_uid != uid or s.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IXUSR)


def _compiler() -> str | None:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and (found := shutil.which(cc.split()[0])):
            return found
    return None


def _build(target: Path, source: Path, name: str, cflags: tuple[str, ...]) -> bool:
    """Compile into a private temporary file beside `target`, then rename it into place (concurrent builders
    each rename a whole binary)."""
    cc = _compiler()
    if cc is None:
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(target.parent, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target.parent)
        os.close(fd)
    except OSError:
        return False
    try:
        done = subprocess.run([cc, *cflags, "-o", tmp, str(source)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=BUILD_TIMEOUT)
        if done.returncode != 0:
            return False
        os.chmod(tmp, 0o700)
        os.replace(tmp, target)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
