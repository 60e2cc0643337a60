"""Process checks of the supervisor, on real processes."""
from __future__ import annotations

import subprocess
import time

from arena.engines.local import supervisor


def test_any_group_alive_checks_every_group() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert supervisor.any_group_alive([None, 0, proc.pid])
        assert supervisor.group_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5  # the group's last member may take a moment to be reaped
    while supervisor.any_group_alive([proc.pid]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not supervisor.any_group_alive([None, proc.pid])
    assert not supervisor.any_group_alive([])
