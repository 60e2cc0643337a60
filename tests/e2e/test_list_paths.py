"""A plain `arena list` (`arena.cli.quick`) prints what the full command prints, against a real daemon and real
jobs in every state, in two namespaces; and the real command takes the quick path."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from arena.cli import quick
from arena.cli.main import _run

pytestmark = pytest.mark.e2e


@pytest.fixture
def jobs(arena, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    arena.run("submit", "py", "--name", "done", "true", check=True)
    arena.run("submit", "py", "--name", "broke", "exit 3", check=True)
    arena.run("submit", "py", "--name", "hog", "--gpus", "4", "sleep 300", check=True)
    arena.run("submit", "py", "--name", "waits", "--workers", "2", "--gpus", "1", "sleep 300", check=True)
    arena.run("submit", "py", "-n", "team-b", "--name", "other", "true", check=True)
    arena.wait_status("done", "SUCCEEDED")
    arena.wait_status("broke", "FAILED")
    arena.wait_status("hog", "RUNNING")
    assert arena.job("waits")["status"] in ("QUEUING", "PENDING")
    monkeypatch.setenv("ARENA_HOME", str(arena.home))
    monkeypatch.delenv("ARENA_ENGINE", raising=False)
    monkeypatch.setattr("time.time", lambda: 4102444800.0)  # one instant for both paths: running jobs' DURATION
    return arena


def _full(argv: list[str], given: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _run("list", argv, given) == 0
    return out.getvalue()


@pytest.mark.parametrize(("argv", "given"), [
    (["list"], {}),
    (["ls"], {}),
    (["list"], {"namespace": "team-b"}),
    (["list"], {"namespace": "nobody-here"}),
    (["list", "-A"], {}),
    (["list", "--all-namespaces"], {"namespace": "team-b"}),
    (["list", "-o", "wide"], {}),
    (["ls", "-A", "--output=wide"], {}),
])
def test_the_quick_path_prints_what_the_full_command_prints(jobs, argv: list[str], given: dict,  # type: ignore[no-untyped-def]
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.list_jobs(argv, given) == 0
    fast = capsys.readouterr().out
    assert fast == _full(argv, given)
    every = any(a in ("-A", "--all-namespaces") for a in argv)
    names = {line.split()[1 if every else 0] for line in fast.splitlines()[1:]}
    expected = {"list": {"done", "broke", "hog", "waits"}, "team-b": {"other"}, "nobody-here": set()}
    if every:
        assert names == {"done", "broke", "hog", "waits", "other"}
    else:
        assert names == expected[given.get("namespace", "list")]


def test_the_command_answers_and_its_errors_are_the_full_commands(jobs) -> None:  # type: ignore[no-untyped-def]
    out = jobs.run("list", check=True).stdout
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "TRAINER", "DURATION", "GPU(Requested)",
                                           "GPU(Allocated)", "NODE"]
    assert {line.split()[1] for line in out.splitlines()[1:]} == {"SUCCEEDED", "FAILED", "RUNNING", "QUEUING"} or \
        {line.split()[1] for line in out.splitlines()[1:]} == {"SUCCEEDED", "FAILED", "RUNNING", "PENDING"}
    spaced = jobs.run("list", "-n", "Team B", check=True)  # not sent as is by the quick path: no job there
    assert [line.split() for line in spaced.stdout.splitlines()] == [out.splitlines()[0].split()]
    bad = subprocess.run([str(Path(sys.executable).parent / "arena"), "list"], capture_output=True, text=True, timeout=60,
                         env={**jobs.env, "ARENA_ENGINE": "bogus"})
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.strip().splitlines() == ["arena: error: --engine: 'bogus' must be one of local, kubernetes"]
