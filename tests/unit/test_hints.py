"""`arena get`'s "To start" line, read from the scheduler's structured reasons (no text is parsed)."""
from __future__ import annotations

import msgspec
import pytest

from arena.engines.local.hints import hint
from arena.engines.local.scheduler import reasons
from arena.engines.local.scheduler.reasons import Reason
from arena.engines.local.wording import text

GPU = "nvidia.com/gpu"


@pytest.mark.parametrize("reason,wording,expected", [
    (Reason(reasons.INSUFFICIENT, {"resource": GPU, "need": "4", "free": "1"}),
     "gang needs 4 nvidia.com/gpu, 1 free", "starts when 4 nvidia.com/gpu are free at once (now 1)"),
    (Reason(reasons.INSUFFICIENT, {"resource": GPU, "need": "4", "free": "1", "reserved": "1"}),
     "gang needs 4 nvidia.com/gpu, 1 free (1 reserved)", "starts when 4 nvidia.com/gpu are free at once (now 1)"),
    (Reason(reasons.EXCEEDS_NODE, {"resource": GPU, "need": "8", "total": "4"}),
     "gang needs 8 nvidia.com/gpu, node has 4", "never on this machine (4 nvidia.com/gpu in all)"),
    (Reason(reasons.EXCEEDS_CAPABILITY, {"resource": GPU, "need": "3", "queue": "a", "capability": "2"}),
     "gang needs 3 nvidia.com/gpu, queue a capability 2", "never within queue a's capability (2 nvidia.com/gpu)"),
    (Reason(reasons.OVER_CAPABILITY, {"queue": "team-a", "resource": GPU, "held": "2", "capability": "2"}),
     "queue team-a capability nvidia.com/gpu 2/2", "starts when queue team-a has room under its capability"),
    (Reason(reasons.QUEUE_NOT_OPEN, {"queue": "q", "state": "Closed"}), "queue q closed", "'arena queue open q'"),
    (Reason(reasons.QUEUE_NOT_OPEN, {"queue": "q", "state": "Closing"}), "queue q closing", "queue q is draining"),
    (Reason(reasons.QUEUE_NOT_FOUND, {"queue": "q"}), "queue q not found", "'arena queue create q'"),
])
def test_hints_read_the_code_and_its_numbers(reason: Reason, wording: str, expected: str) -> None:
    assert text(reason) == wording
    assert expected in hint(reason)
    assert hint(msgspec.to_builtins(reason)) == hint(reason)  # as `-o json` carries it


def test_what_the_scheduler_does_about_it_does_not_change_the_hint() -> None:
    r = Reason(reasons.INSUFFICIENT, {"resource": GPU, "need": "2", "free": "0"}).with_params(preempting=1)
    assert text(r) == "gang needs 2 nvidia.com/gpu, 0 free; preempting 1 lower-priority job(s)"
    assert hint(r).startswith("starts when 2 nvidia.com/gpu are free at once")


def test_reasons_without_a_hint() -> None:
    assert hint(Reason(reasons.GANG_UNREACHABLE, {"ready": 1, "size": 3})) == ""
    assert hint(None) == "" and hint({"code": "Insufficient"}) == "" and hint({"nonsense": 1}) == ""
