"""The CPU contract on real processes: a replica runs pinned to the cores `arena get` shows, with the thread
counts it shows; `-e` keeps the user's value. Expectations come from this machine's usable CPUs.
"""
from __future__ import annotations

import os

import pytest
import yaml

pytestmark = pytest.mark.e2e

CORES = sorted(os.sched_getaffinity(0))
REPORT = 'grep Cpus_allowed_list /proc/self/status; echo "threads=$OMP_NUM_THREADS,$MKL_NUM_THREADS"'


def allowed(log: str) -> list[int]:
    """The cores of the `Cpus_allowed_list:` line a replica printed ("0-2,5" -> [0, 1, 2, 5])."""
    text = next(line for line in log.splitlines() if line.startswith("Cpus_allowed_list:")).split(":", 1)[1]
    out: list[int] = []
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def threads(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("threads=")).removeprefix("threads=")


def test_a_replica_with_a_cpu_request_runs_pinned_to_the_cores_shown(arena) -> None:  # type: ignore[no-untyped-def]
    # A Volcano job succeeds when every replica has: none is stopped before it has printed.
    arena.run("submit", "volcanojob", "--name", "pin", "--task", f"worker:2:1:1Gi:0={REPORT}", check=True)
    job = arena.wait_status("pin", "SUCCEEDED", "FAILED", timeout=60)
    assert job["status"] == "SUCCEEDED", job["reason"]
    seen = []
    for inst in job["instances"]:
        log = arena.run("logs", "pin", "-i", inst["name"], check=True).stdout
        assert len(inst["cpuAffinity"]) == 1 and allowed(log) == inst["cpuAffinity"], (inst, log)
        assert threads(log) == "1,1" and (inst["ompNumThreads"], inst["mklNumThreads"]) == (1, 1)
        assert inst["status"] == "Completed"  # kubectl's word for exit 0
        seen.extend(inst["cpuAffinity"])
    assert len(set(seen)) == min(2, len(CORES))  # disjoint while there are free cores
    doc = yaml.safe_load(arena.run("get", "pin", "-o", "yaml", check=True).stdout)
    assert [i["cpuAffinity"] for i in doc["instances"]] == [i["cpuAffinity"] for i in job["instances"]]
    table = arena.run("get", "pin", check=True).stdout
    assert "CPUS" in table and "Completed" in table


def test_without_a_request_replicas_share_the_cpus_and_a_users_value_is_kept(arena) -> None:  # type: ignore[no-untyped-def]
    arena.run("submit", "volcanojob", "--name", "share", "--task", f"worker:2={REPORT}", "-e", "OMP_NUM_THREADS=5",
              check=True)
    job = arena.wait_status("share", "SUCCEEDED", "FAILED", timeout=60)
    assert job["status"] == "SUCCEEDED", job["reason"]
    share = max(1, len(CORES) // 2)
    for inst in job["instances"]:
        log = arena.run("logs", "share", "-i", inst["name"], check=True).stdout
        assert threads(log) == f"5,{share}" and (inst["ompNumThreads"], inst["mklNumThreads"]) == (5, share)
        assert inst["cpuAffinity"] == [] and allowed(log) == CORES  # not pinned
