"""A replica's exit is its main process's exit, as a container's is; and its outcome is told as it happened.

A background child that keeps the replica's stdout open must neither keep the replica RUNNING nor
outlive it. A replica that fails on its own shows its exit code and the reason "Error", not the reason the
engine stopped it for; its STATUS is kubectl's word for a failed container, "Error".
"""
from __future__ import annotations

import random

import pytest

from .conftest import running, wait_until

pytestmark = pytest.mark.e2e


def test_main_exit_ends_the_replica_while_a_child_holds_stdout(arena) -> None:  # type: ignore[no-untyped-def]
    d = f"{random.randrange(10_000, 99_999)}"
    arena.run("submit", "py", "--name", "bg", f"sleep {d} & echo done", check=True)
    job = arena.wait_status("bg", "SUCCEEDED", "FAILED", timeout=20)  # the child would hold it for hours
    assert job["status"] == "SUCCEEDED", job["reason"]
    assert arena.run("logs", "bg", check=True).stdout.splitlines() == ["done"]
    assert wait_until(lambda: not running({("sleep", d)}), 5), "the background child outlived its replica"


def test_main_exit_code_is_the_replicas_even_with_children_left(arena) -> None:  # type: ignore[no-untyped-def]
    d = f"{random.randrange(10_000, 99_999)}"
    arena.run("submit", "py", "--name", "bgfail", "--retry", "0", f"(sleep {d} &); sleep {d}1 & echo bye; exit 7",
              check=True)
    job = arena.wait_status("bgfail", "SUCCEEDED", "FAILED", timeout=20)
    assert job["status"] == "FAILED"
    inst = job["instances"][0]
    assert (inst["status"], inst["exitCode"]) == ("Error", 7)
    assert wait_until(lambda: not running({("sleep", d), ("sleep", f"{d}1")}), 5)


def test_a_replica_failing_on_its_own_is_failed_not_terminated(arena) -> None:  # type: ignore[no-untyped-def]
    """The master fails and ends the job; the worker, still finishing (it ignores SIGTERM), then fails on its
    own with code 5: it shows its code and the reason "Error", not the job's stop reason. The master fails only
    once the worker ignores SIGTERM (a stop that came before its `trap` would end it as any replica)."""
    cmd = ('if [ "$RANK" = 0 ]; then until [ -e "$ARENA_JOB_DIR/trapped" ]; do sleep 0.05; done; exit 3;'
           ' else trap "" TERM; touch "$ARENA_JOB_DIR/trapped"; sleep 2; exit 5; fi')
    arena.run("submit", "py", "--name", "both", "--workers", "2", "--retry", "0", cmd, check=True)
    job = arena.wait_for("both", lambda j: j["status"] == "FAILED" and all(
        i["status"] not in ("Running", "Terminating", "Pending", "ContainerCreating") for i in j["instances"]), timeout=30)
    worker = next(i for i in job["instances"] if i["task"] == "worker")
    assert (worker["status"], worker["exitCode"], worker["reason"]) == ("Error", 5, "Error")
    master = next(i for i in job["instances"] if i["task"] == "master")
    assert (master["status"], master["exitCode"]) == ("Error", 3)
