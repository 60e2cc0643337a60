"""`-f` reads a job file, nothing else: a device, a FIFO, a directory or a huge file is one line, exit 2.

Before, `-f /dev/zero` read forever and `-f FIFO` blocked until a writer came.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def _one_line(r) -> str:  # type: ignore[no-untyped-def]
    lines = [ln for ln in r.stderr.split("\n") if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize("what", ["device", "fifo", "directory", "huge"])
def test_a_job_file_must_be_a_small_regular_file(arena, tmp_path: Path, what: str) -> None:
    if what == "device":
        path = Path("/dev/zero")
    elif what == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif what == "directory":
        path = tmp_path
    else:
        path = tmp_path / "huge.yaml"
        path.write_text("# " + "x" * (5 * 2**20))
    r = arena.run("submit", "py", "-f", str(path), "--dry-run", timeout=20)
    line = _one_line(r)
    assert line.startswith(f"arena: error: -f: {path}"), line
    assert ("not a regular file" in line) if what != "huge" else ("larger than 4 MiB" in line)
