"""Code sync, data volumes and TensorBoard on the local engine."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def bare_repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "proj"
    work.mkdir()
    (work / "train.py").write_text('print("synced code ran")\n')
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "init"], check=True)
    bare = tmp_path / "proj.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def test_git_sync_from_local_bare_repo(arena, bare_repo):
    arena.env["GIT_SYNC_USERNAME"] = "alice"
    arena.env["GIT_SYNC_PASSWORD"] = "s3cr3t-token"
    r = arena.run("submit", "py", "--name", "synced", "--sync-mode", "git", "--sync-source", str(bare_repo), "--wait",
                  "python code/proj/train.py", check=True)
    assert arena.run("logs", "synced", check=True).stdout.strip() == "synced code ran"
    outputs = r.stdout + r.stderr + arena.run("get", "synced", "-o", "yaml", check=True).stdout \
        + arena.run("get", "synced", "-e").stdout + (arena.home / "arenad.log").read_text()
    assert "s3cr3t-token" not in outputs
    db = (arena.home / "arena.db").read_bytes()
    assert b"s3cr3t-token" not in db


def test_git_sync_missing_repo_is_clear_error_and_creates_nothing(arena, tmp_path):
    before = arena.store_snapshot()
    r = arena.run("submit", "py", "--name", "nosync", "--sync-mode", "git", "--sync-source", str(tmp_path / "no.git"),
                  "true")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "--sync-source" in r.stderr and "cannot clone" in r.stderr
    assert arena.store_snapshot() == before


def test_rsync_mode_copies_a_directory(arena, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("copied\n")
    arena.run("submit", "py", "--name", "copied", "--sync-mode", "rsync", "--sync-source", str(src), "--wait",
              "cat code/src/hello.txt", check=True)
    assert arena.run("logs", "copied", check=True).stdout.strip() == "copied"
    r = arena.run("submit", "py", "--name", "nocopy", "--sync-mode", "rsync", "--sync-source", str(tmp_path / "x"),
                  "true")
    assert r.returncode == 2 and "--sync-source" in r.stderr


def test_rsync_of_the_current_directory_and_of_one_holding_arena_home(arena, tmp_path):
    """`--sync-source .` ended in a traceback (the copy went onto its own staging folder); a source holding
    ARENA_HOME would copy the copy."""
    src = tmp_path / "proj"
    src.mkdir()
    (src / "hello.txt").write_text("here\n")
    arena.run("submit", "py", "--name", "dot", "--sync-mode", "rsync", "--sync-source", ".", "--wait",
              "cat code/proj/hello.txt", check=True, cwd=src)
    assert arena.run("logs", "dot", check=True).stdout.strip() == "here"
    r = arena.run("submit", "py", "--name", "home", "--sync-mode", "rsync", "--sync-source", str(arena.home.parent),
                  "true")
    assert r.returncode == 2 and "holds ARENA_HOME" in r.stderr and "Traceback" not in r.stderr


def test_data_volumes_and_data_dirs_are_exposed(arena, tmp_path):
    vol = tmp_path / "vol"
    arena.run("data", "create", "digits", "--path", str(vol), check=True)
    (vol / "x.txt").write_text("from volume\n")
    host = tmp_path / "host"
    host.mkdir()
    (host / "y.txt").write_text("from host dir\n")
    assert [v["name"] for v in arena.json("data", "list")] == ["digits"]
    arena.run("submit", "py", "--name", "reader", "-d", "digits:/data/digits", "--data-dir", f"{host}:/scratch",
              "--wait", 'cat "$ARENA_MNT/data/digits/x.txt" "$ARENA_MNT/scratch/y.txt"', check=True)
    assert arena.run("logs", "reader", check=True).stdout.splitlines() == ["from volume", "from host dir"]
    r = arena.run("submit", "py", "--name", "r2", "-d", "missing:/data", "true")
    assert r.returncode == 2 and "--data" in r.stderr
    r = arena.run("submit", "py", "--name", "r3", "--data-dir", str(tmp_path / "nope"), "true")
    assert r.returncode == 2 and "--data-dir" in r.stderr
    arena.run("data", "delete", "digits", check=True)
    assert arena.json("data", "list") == []


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="needs the 'tensorboard' extra")
def test_tensorboard_serves_while_job_runs_and_stops_with_it(arena, tmp_path):
    arena.run("submit", "py", "--name", "tb", "--tensorboard", "--logdir", str(tmp_path / "logs"), "sleep 300",
              check=True)
    job = arena.wait_for("tb", lambda j: bool(j["tensorboard"]))
    url = arena.run("logviewer", "tb", check=True).stdout.split()[-1]
    assert url == job["tensorboard"] and url.startswith("http://127.0.0.1:")
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                assert resp.status == 200
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    arena.run("delete", "tb", check=True)
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
