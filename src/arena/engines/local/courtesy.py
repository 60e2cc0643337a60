"""Requests first: a reconcile pass steps aside, between jobs, for the quick API requests in progress.

Why: the daemon is one Python process. A pass that binds, starts and observes dozens of jobs holds the GIL for
tens of milliseconds and the store's lock for up to `store.BATCH_HOLD`; a submit or a list arriving meanwhile
waited for the lock, then waited up to the interpreter's switch interval (5 ms) every time it gave the GIL up
for a system call or an SQLite statement (the convoy effect), so a submit took 7 ms at the median and 17 ms at
p90 during a burst, and the submitting client, not the machine, set the job rate. Between two jobs (where the
pass holds no savepoint) the pass now commits what it has and waits until the requests that were in progress
are answered, at most `STEP_WAIT` each time and `PASS_BUDGET` in a whole pass, so a stream of requests slows a
pass but never stops it.

Quick requests are those that never take the loop's lock (reads, and submits, which only insert): a request
that waits for the pass itself (a delete) must not make the pass wait for it.
"""
from __future__ import annotations

import threading
import time

STEP_WAIT = 0.005  # seconds a pass waits at one step for the requests in progress
PASS_BUDGET = 0.025  # seconds a pass may wait in all


class Courtesy:
    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._in_progress = 0
        self._budget = PASS_BUDGET

    def begin(self) -> None:
        """A quick request has arrived (the I/O thread, before handing it to a worker)."""
        with self._cv:
            self._in_progress += 1

    def end(self) -> None:
        """It has been answered."""
        with self._cv:
            self._in_progress -= 1
            if self._in_progress <= 0:
                self._in_progress = 0
                self._cv.notify_all()

    def new_pass(self) -> None:
        self._budget = PASS_BUDGET

    @property
    def pending(self) -> bool:
        return self._in_progress > 0 and self._budget > 0

    def wait(self) -> None:
        """Wait (the GIL and the store released) until no quick request is in progress, within the budgets."""
        start = time.monotonic()
        with self._cv:
            self._cv.wait_for(lambda: self._in_progress == 0, timeout=min(STEP_WAIT, self._budget))
        self._budget -= time.monotonic() - start
