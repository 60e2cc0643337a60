"""Each job's plan is kept apart from its row (`store.PLANS_APART`): a new job's plan is read back whole, a store
made when plans lived in the job rows has them moved once, in one transaction, and a deleted job takes its plan
with it."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from arena.engines.local.clock import SystemClock
from arena.engines.local.repo import Repo

PLAN = '{"replicas": [{"argv": ["python", "train.py"]}]}'


def _add(repo: Repo, name: str, plan: str = PLAN) -> str:
    uid = f"uid-{name}"
    with repo.tx() as tx:
        tx.insert_job(uid, "default", name, "pytorchjob", "{}", plan, "default", 0, None, 0, f"/nowhere/{uid}", None,
                      [("master-0", "master", 0)])
    return uid


def _sql(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_plan_lives_apart_from_the_job_row_and_goes_with_the_job(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    repo = Repo(path, SystemClock())
    uid = _add(repo, "a")
    assert repo.plan_source(uid) == (PLAN, "{}", "{}")
    assert _sql(path, "SELECT plan FROM jobs") == [("",)]
    with repo.tx() as tx:
        tx.delete_job(uid)
    assert _sql(path, "SELECT COUNT(*) FROM plans") == [(0,)]
    repo.close()


def test_a_store_made_with_plans_in_its_rows_has_them_moved_once(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    repo = Repo(path, SystemClock())
    uids = [_add(repo, f"j{i}", PLAN.replace("train", f"train{i}")) for i in range(3)]
    repo.close()
    con = sqlite3.connect(str(path))  # as an older Arena left it: plans in the rows, no version
    con.execute("UPDATE jobs SET plan=(SELECT plan FROM plans WHERE job_uid=jobs.uid)")
    con.execute("DELETE FROM plans")
    con.execute("PRAGMA user_version=0")
    con.commit()
    con.close()
    repo = Repo(path, SystemClock())
    assert [repo.plan_source(u)[0] for u in uids] == [PLAN.replace("train", f"train{i}") for i in range(3)]
    assert _sql(path, "SELECT DISTINCT plan FROM jobs") == [("",)]
    assert _sql(path, "PRAGMA user_version") == [(1,)]
    repo.close()
