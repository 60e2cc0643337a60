"""Time for the local engine, injected: the rooms never read the system clock themselves.

Timestamps in the store, deadlines, TTLs, grace periods and the delete wait all go through a `Clock`,
so tests step over minutes of grace periods without sleeping (a fake clock whose `sleep` advances it).
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time, seconds since the epoch: what the store records."""
        ...

    def monotonic(self) -> float:
        """For measuring waits (immune to wall-clock jumps)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM = SystemClock()
