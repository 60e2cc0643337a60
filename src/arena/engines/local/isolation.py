"""One job's failure stays that job's: the reconcile loop and the binder process each job inside `isolated`.

Before this, one job whose processing raised (a stored value an older daemon accepted, a bug on an unusual
state) stopped the whole pass on every tick: no other job was scheduled, observed or deleted. Now such a
job ends FAILED with the reason, its processes are stopped, and the pass goes on with the next job.
Failures of the machine rather than of the job (a full disk, a locked store) are not the job's fault and
pass through: the loop logs them and tries again.
"""
from __future__ import annotations

import sqlite3
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from arena.engines.local.catalog import Catalog
from arena.engines.local.effects import Effects
from arena.engines.local.repo import Repo
from arena.engines.local.store import is_disk_full
from arena.errors import DiskFull

PREFIX = "the daemon could not process this job"


@contextmanager
def isolated(repo: Repo, catalog: Catalog, effects: Effects, uid: str) -> Iterator[None]:
    """Run one job's step; if it raises, fail that job (not the pass) and carry on."""
    try:
        yield
    except Exception as exc:
        if environmental(exc):
            raise
        quarantine(repo, catalog, effects, uid, exc)


def environmental(exc: BaseException) -> bool:
    return isinstance(exc, (DiskFull, sqlite3.OperationalError)) or is_disk_full(exc)


def quarantine(repo: Repo, catalog: Catalog, effects: Effects, uid: str, exc: BaseException) -> None:
    """End the job FAILED with the reason (a finished job keeps its status) and stop its processes, so that no
    step of the loop needs anything more of it."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    reason = f"{PREFIX} ({text})"
    row = repo.job(uid)
    if row is None:
        return
    first = not row.reason.startswith(PREFIX)
    with repo.tx() as tx:
        if row.finished is None:
            tx.job_finished(uid, reason, None)
            tx.set_phase(uid, "Failed", reason, "FAILED")
        tx.event(uid, "Failed" if row.finished is None else "Warning", reason, "Warning", "daemon")
    effects.terminate(uid, reason)
    effects.stop_tensorboard(row)
    with repo.tx() as tx:
        tx.job_tensorboard(uid, None, None, None)
    catalog.forget(uid)
    if first:
        try:
            print(f"arenad: job {row.namespace}/{row.name}: {reason}", file=sys.stderr, flush=True)
            traceback.print_exception(exc, file=sys.stderr)
        except (OSError, ValueError):
            pass
