"""Shared by the process-hygiene tests: the fake-clock engine of tests/local, and helpers for real processes."""
from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

_spec = importlib.util.spec_from_file_location("processes_fakes", Path(__file__).parents[1] / "local" / "fakes.py")
assert _spec is not None and _spec.loader is not None
fakes = importlib.util.module_from_spec(_spec)
sys.modules["processes_fakes"] = fakes
_spec.loader.exec_module(fakes)

Engine = fakes.Engine
GiB = fakes.GiB


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[fakes.Engine]:
    from arena.engines.local.node import Capacity

    e = fakes.Engine(tmp_path / "home", Capacity(cpu_milli=16000, memory=64 * GiB, gpus=(0, 1, 2, 3), source="declared"))
    yield e
    e.close()


def running(argvs: set[tuple[str, ...]]) -> list[psutil.Process]:
    """Live (not zombie) processes whose argv is one of `argvs`."""
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if tuple(p.info["cmdline"] or ()) in argvs and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def wait_until(pred, timeout: float, step: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll `pred` until it returns something truthy (returned) or `timeout` passes (its last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
