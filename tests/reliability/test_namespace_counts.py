"""The jobs a namespace holds are counted by the store's triggers, in the transaction that adds or removes a job:
the count a submit checks against `limits.jobs_per_namespace` is always the rows' own count, also for a store
made before the counts existed and after a rolled-back submit."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arena.engines.local.clock import SystemClock
from arena.engines.local.repo import Repo


def _add(repo: Repo, namespace: str, name: str) -> str:
    uid = f"{namespace}-{name}"
    with repo.tx() as tx:
        tx.insert_job(uid, namespace, name, "pytorchjob", "{}", "{}", "default", 0, None, 0, f"/nowhere/{uid}", None,
                      [("master-0", "master", 0)])
    return uid


def _counts(repo: Repo) -> dict[str, int]:
    with repo.tx() as tx:
        return {ns: tx.count_jobs(ns) for ns in ("a", "b", "c")}


def _truth(path: Path) -> dict[str, int]:
    con = sqlite3.connect(str(path))
    try:
        rows = dict(con.execute("SELECT namespace, COUNT(*) FROM jobs GROUP BY namespace").fetchall())
    finally:
        con.close()
    return {ns: rows.get(ns, 0) for ns in ("a", "b", "c")}


def test_counts_follow_inserts_and_deletes(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "arena.db", SystemClock())
    uids = [_add(repo, "a", f"j{i}") for i in range(3)] + [_add(repo, "b", "x")]
    assert _counts(repo) == {"a": 3, "b": 1, "c": 0}
    with repo.tx() as tx:
        tx.delete_job(uids[0])
    assert _counts(repo) == {"a": 2, "b": 1, "c": 0} == _truth(tmp_path / "arena.db")
    repo.close()


def test_a_rolled_back_submit_counts_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "arena.db", SystemClock())
    _add(repo, "a", "kept")
    with pytest.raises(RuntimeError):
        with repo.tx() as tx:
            tx.insert_job("a-gone", "a", "gone", "pytorchjob", "{}", "{}", "default", 0, None, 0, "/nowhere", None, [])
            raise RuntimeError("the submit failed after its insert")
    assert _counts(repo) == {"a": 1, "b": 0, "c": 0} == _truth(tmp_path / "arena.db")
    repo.close()


def test_a_store_made_before_the_counts_gets_them_from_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    repo = Repo(path, SystemClock())
    for i in range(4):
        _add(repo, "a" if i % 2 else "b", f"j{i}")
    repo.close()
    con = sqlite3.connect(str(path))  # as an older Arena left it
    con.executescript("DROP TRIGGER namespace_jobs_insert; DROP TRIGGER namespace_jobs_delete;"
                      " DROP TABLE namespace_jobs;")
    con.close()
    repo = Repo(path, SystemClock())
    assert _counts(repo) == {"a": 2, "b": 2, "c": 0}
    _add(repo, "c", "new")
    assert _counts(repo) == {"a": 2, "b": 2, "c": 1} == _truth(path)
    repo.close()
