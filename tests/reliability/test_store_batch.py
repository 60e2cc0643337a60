"""A reconcile pass is one store transaction: steps are savepoints, `flush` commits, readers are not starved.

What a batch must keep from one-transaction-per-step: a step that raises is undone alone (the pass goes on
with the next job), what was committed before a flush is on disk for another connection (a daemon killed
after it loses nothing of it), and a reader in another thread waits for one flush, never for the whole pass.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from arena.engines.local import store as storelib
from arena.engines.local.store import Store


def _names(path: Path) -> list[str]:
    """What another connection (another process: the next daemon) sees on disk."""
    con = sqlite3.connect(str(path))
    try:
        return [r[0] for r in con.execute("SELECT name FROM volumes ORDER BY name")]
    finally:
        con.close()


def _add(store: Store, name: str) -> None:
    with store.tx() as conn:
        conn.execute("INSERT INTO volumes(name, path, created) VALUES (?, '/x', 0)", (name,))


def test_a_step_that_raises_is_undone_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "arena.db")
    with store.batch():
        _add(store, "a")
        with pytest.raises(RuntimeError):
            with store.tx() as conn:
                conn.execute("INSERT INTO volumes(name, path, created) VALUES ('broken', '/x', 0)")
                raise RuntimeError("this job's step failed")
        _add(store, "b")
    assert _names(store.path) == ["a", "b"]
    store.close()


def test_flush_puts_the_pass_so_far_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storelib, "BATCH_HOLD", 3600.0)  # only an explicit flush commits
    store = Store(tmp_path / "arena.db")
    with store.batch():
        _add(store, "bound")
        assert _names(store.path) == []  # not yet: one commit per pass
        store.flush()  # as before a replica starts
        assert _names(store.path) == ["bound"]
        _add(store, "started")
    assert _names(store.path) == ["bound", "started"]
    assert store.changes >= 2
    store.close()


def test_a_reader_waits_for_one_flush_not_for_the_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storelib, "BATCH_HOLD", 0.0)  # every step ends with a commit
    store = Store(tmp_path / "arena.db")
    read = threading.Event()

    def reader() -> None:
        store.query("SELECT count(*) FROM volumes")
        read.set()

    with store.batch():
        _add(store, "first")
        t = threading.Thread(target=reader)
        t.start()
        deadline = time.monotonic() + 30
        while not read.is_set():  # the pass goes on; the reader gets in between its steps
            assert time.monotonic() < deadline, "the reader waited for the whole pass"
            _add(store, f"step-{time.monotonic_ns()}")
            time.sleep(0.01)
        t.join()
    store.close()


def test_outside_a_batch_each_transaction_commits_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "arena.db")
    _add(store, "alone")
    store.flush()  # nothing to do outside a batch
    assert _names(store.path) == ["alone"]
    store.close()
