"""`arena get`'s "To start" line, from the scheduler's reasons."""
from __future__ import annotations

import pytest

from arena.engines.local.hints import hint


@pytest.mark.parametrize("reason,expected", [
    ("gang needs 4 nvidia.com/gpu, 1 free", "starts when 4 nvidia.com/gpu are free at once (now 1)"),
    ("gang needs 4 nvidia.com/gpu, 1 free (1 reserved)", "starts when 4 nvidia.com/gpu are free at once (now 1)"),
    ("gang needs 8 nvidia.com/gpu, node has 4", "never on this machine (4 nvidia.com/gpu in all)"),
    ("gang needs 3 nvidia.com/gpu, queue a capability 2", "never within queue a's capability (2 nvidia.com/gpu)"),
    ("queue team-a capability nvidia.com/gpu 2/2", "starts when queue team-a has room under its capability"),
    ("queue q closed", "'arena queue open q'"),
])
def test_hints(reason, expected):
    assert expected in hint(reason)


def test_unknown_reason_has_no_hint():
    assert hint("something else") == ""
