"""Queue capabilities through the real CLI and daemon: every value the queue commands accept schedules."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_queue_with_decimal_gpu_capability_runs_jobs(arena) -> None:
    """A capability the queue command accepts ("2.0") must not stop the daemon's scheduling loop."""
    arena.run("queue", "create", "q", "--capability", "nvidia.com/gpu=2.0", check=True)
    arena.run("submit", "py", "--name", "in-q", "--queue", "q", "--gpus", "1", "true", check=True)
    arena.run("submit", "py", "--name", "in-default", "true", check=True)
    assert arena.wait_status("in-q", "SUCCEEDED", timeout=60)["allocatedGPUs"] == 0
    arena.wait_status("in-default", "SUCCEEDED", timeout=60)
    (q,) = arena.json("queue", "get", "q")
    assert q["capability"] == {"nvidia.com/gpu": "2.0"}
