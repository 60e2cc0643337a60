"""Bad input: one line on stderr naming the flag and rule, exit 2, nothing created."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e

BAD = [
    (["--name", "Bad_Name", "true"], "--name"),
    (["--name", "a" * 50, "true"], "--name"),
    (["--name", "-lead", "true"], "--name"),
    (["--name", "ok", "--cpu", "two", "true"], "--cpu"),
    (["--name", "ok", "--memory", "4GB", "true"], "--memory"),
    (["--name", "ok", "--gpus", "1.5", "true"], "--gpus"),
    (["--name", "ok", "--gpus", "9", "true"], "--gpus"),  # more than the declared machine has
    (["--name", "ok", "-e", "NOEQUALS", "true"], "--env"),
    (["--name", "ok", "-e", "1BAD=x", "true"], "--env"),
    (["--name", "ok", "-l", "bad label=x", "true"], "--label"),
    (["--name", "ok", "--workers", "0", "true"], "--workers"),
    (["--name", "ok", "--retry", "-1", "true"], "--retry"),
    (["--name", "ok", "--nproc-per-node", "many", "true"], "--nproc-per-node"),
    (["--name", "ok", "--no-such-flag", "true"], "--no-such-flag"),
    (["--name", "ok", "--priority", "urgent", "true"], "--priority"),
    (["--name", "ok", "--queue", "nope", "true"], "--queue"),
    (["--name", "ok", "--clean-task-policy", "Sometimes", "true"], "--clean-task-policy"),
    (["--name", "ok", "--running-timeout", "soon", "true"], "--running-timeout"),
    (["--name", "ok"], "command"),
    (["true"], "--name"),
]


@pytest.mark.parametrize("args,flag", BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_submit_is_one_line_exit_2_and_creates_nothing(arena, args, flag):
    arena.run("submit", "py", "--name", "keep", "true", check=True)  # a store with something in it
    arena.wait_status("keep", "SUCCEEDED")
    before = arena.store_snapshot()
    r = arena.run("submit", "pytorchjob", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arena: error:") and flag in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert arena.store_snapshot() == before


def test_duplicate_name_is_rejected_and_original_untouched(arena):
    arena.run("submit", "py", "--name", "dup", "sleep 300", check=True)
    arena.wait_status("dup", "RUNNING")
    time.sleep(0.5)  # let the shim write its pid file
    before = arena.store_snapshot()
    r = arena.run("submit", "py", "--name", "dup", "true")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.strip() == \
        "arena: error: the job dup is already exist, please delete it first. use 'arena delete dup'"
    assert arena.store_snapshot() == before


def test_bad_input_before_any_daemon_starts_nothing(arena):
    r = arena.run("submit", "py", "--name", "X", "true")
    assert r.returncode == 2
    assert arena.daemon_pid() is None


@pytest.mark.parametrize("args", [["list", "--bogus"], ["logs"], ["prune"], ["prune", "--since", "later"],
                                  ["get", "x", "-o", "xml"], ["nosuchcommand"], ["list", "-T", "nojob"]])
def test_other_usage_errors_are_one_line_exit_2(arena, args):
    r = arena.run(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_job_is_exit_1_one_line(arena):
    r = arena.run("get", "ghost")
    assert r.returncode == 1 and r.stderr.strip() == \
        "arena: error: Not found training job ghost in namespace default,please use 'arena submit' to create it."


def test_engine_kubernetes_without_cluster_is_one_clear_line(arena, tmp_path):
    arena.env["KUBECONFIG"] = str(tmp_path / "missing-kubeconfig")
    arena.env["HOME"] = str(tmp_path)
    r = arena.run("list", "--engine", "kubernetes")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "kubeconfig" in r.stderr.lower()
    assert "Traceback" not in r.stderr


def test_volcano_plugin_the_local_engine_does_not_model_is_refused(arena):
    before = arena.store_snapshot()
    r = arena.run("submit", "vj", "--name", "sshjob", "--task", "w:2", "--plugin", "ssh", "true")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--plugin" in r.stderr
    assert "ssh" in r.stderr and arena.store_snapshot() == before
