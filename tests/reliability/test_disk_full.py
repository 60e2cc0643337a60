"""A full disk under ARENA_HOME is said as such ("no space left on device under ARENA_HOME"), not as a lost
connection, and `delete` and `prune` still work on it: they are how the user frees the space."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SIZE = "8m"


def _mount(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs for ARENA_HOME needs root")
    path.mkdir(mode=0o700)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")


def _fill(job_dir: Path) -> None:
    """Fill the disk with a file inside a finished job's folder (deleting that job frees it)."""
    with open(job_dir / "filler", "wb", buffering=0) as f:  # unbuffered: nothing left to fail at close
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    with pytest.raises(OSError):
        (job_dir.parent / "probe").write_bytes(b"\0" * 65536)


def _job_dir(home: Path, name: str) -> Path:
    (found,) = (home / "jobs" / "default").glob(f"{name}.*")
    return found


def full(proc) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "no space left on device under ARENA_HOME" in lines[0], lines[0]


def test_a_full_disk_is_named_and_delete_and_prune_free_it(arena):
    _mount(arena.home)
    try:
        for name in ("first", "second"):
            arena.run("submit", "py", "--name", name, "true", check=True)
            arena.wait_status(name, "SUCCEEDED", "FAILED")
        _fill(_job_dir(arena.home, "first"))
        full(arena.run("submit", "py", "--name", "blocked", "true"))
        assert {j["name"] for j in arena.json("list")} == {"first", "second"}  # type: ignore[union-attr]
        arena.run("delete", "first", check=True)
        arena.run("submit", "py", "--name", "third", "true", check=True)
        arena.wait_status("third", "SUCCEEDED", "FAILED")

        _fill(_job_dir(arena.home, "second"))
        full(arena.run("submit", "py", "--name", "blocked", "true"))
        pruned = arena.run("prune", "--since", "0s")
        assert pruned.returncode == 0, pruned.stderr
        assert "second" in pruned.stdout
        arena.run("submit", "py", "--name", "fourth", "true", check=True)
        assert arena.wait_status("fourth", "SUCCEEDED", "FAILED")["status"] == "SUCCEEDED"
    finally:
        arena.run("daemon", "stop")
        subprocess.run(["umount", "-l", str(arena.home)], capture_output=True)
