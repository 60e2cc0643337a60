"""A reconcile pass steps aside for the quick requests in progress (`courtesy`): between two jobs it commits and
waits until they are answered, within a budget, so a submit or a list is not held behind a whole pass; and only
job reads and submits count, never a request that itself waits for the pass."""
from __future__ import annotations

import threading
from pathlib import Path

from arena.engines.local import courtesy as courtesylib
from arena.engines.local.clock import SystemClock
from arena.engines.local.courtesy import Courtesy
from arena.engines.local.daemon import Request, quick
from arena.engines.local.repo import Repo


def _request(method: str, target: str) -> Request:
    return Request(method=method, target=target, length=0, keep_alive=True, head_end=0)


def test_only_job_reads_and_submits_are_quick() -> None:
    assert quick(_request("GET", "/v1/jobs?namespace=default"))
    assert quick(_request("GET", "/v1/jobs/default/a?events=0"))
    assert quick(_request("POST", "/v1/jobs"))
    assert not quick(_request("DELETE", "/v1/jobs/default/a"))  # takes the loop's lock
    assert not quick(_request("POST", "/v1/prune"))
    assert not quick(_request("GET", "/v1/serving"))
    assert not quick(_request("POST", "/v1/queues/q"))


def test_nothing_in_progress_means_no_wait() -> None:
    c = Courtesy()
    c.new_pass()
    assert not c.pending
    c.begin()
    assert c.pending
    c.end()
    assert not c.pending


def test_a_pass_waits_for_a_request_until_it_is_answered(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(courtesylib, "STEP_WAIT", 30.0)
    monkeypatch.setattr(courtesylib, "PASS_BUDGET", 60.0)
    c = Courtesy()
    c.new_pass()
    c.begin()
    answered = threading.Event()

    def answer() -> None:
        answered.set()
        c.end()

    timer = threading.Timer(0.01, answer)
    timer.start()
    c.wait()
    timer.join()
    assert answered.is_set() and not c.pending
    assert c._budget > 30.0  # woken by the answer, not by the end of the step's wait


def test_a_stream_of_requests_slows_a_pass_but_never_stops_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(courtesylib, "STEP_WAIT", 0.001)
    monkeypatch.setattr(courtesylib, "PASS_BUDGET", 0.003)
    c = Courtesy()
    c.new_pass()
    c.begin()  # never answered
    steps = 0
    while c.pending:
        c.wait()
        steps += 1
        assert steps < 1000
    c.new_pass()  # the next pass waits again
    assert c.pending


def test_stepping_aside_commits_and_lets_a_request_use_the_store(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "arena.db", SystemClock())
    done = threading.Event()

    def request() -> None:  # a submit's transaction, in an API thread, while the pass holds the store
        with repo.tx() as tx:
            tx.db.execute("INSERT INTO volumes(name, path, created) VALUES ('from-request', '/x', 0)")
        done.set()
        repo.courtesy.end()

    with repo.batch():
        repo.courtesy.new_pass()
        with repo.tx() as tx:
            tx.db.execute("INSERT INTO volumes(name, path, created) VALUES ('from-pass', '/x', 0)")
        assert repo.store.holding()  # the pass's write is not committed yet: a request would wait for the store
        repo.courtesy.begin()
        worker = threading.Thread(target=request)
        worker.start()
        while not done.is_set():
            repo.step_aside()  # commits, then waits for the request (the pass goes on without it otherwise)
        worker.join()
        assert not repo.store.holding()
        with repo.tx() as tx:  # the pass carries on after it
            tx.db.execute("INSERT INTO volumes(name, path, created) VALUES ('after', '/x', 0)")
    assert [v.name for v in repo.volumes()] == ["after", "from-pass", "from-request"]
    repo.close()


def test_outside_a_pass_nothing_steps_aside(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An API thread that starts a replica itself (through the spawner) must not wait for its own request."""
    monkeypatch.setattr(courtesylib, "STEP_WAIT", 0.001)
    monkeypatch.setattr(courtesylib, "PASS_BUDGET", 0.001)
    repo = Repo(tmp_path / "arena.db", SystemClock())
    repo.courtesy.new_pass()
    repo.courtesy.begin()
    repo.step_aside()  # this thread runs no batch: no wait, so the budget is untouched
    assert repo.courtesy.pending
    repo.courtesy.end()
    repo.close()
