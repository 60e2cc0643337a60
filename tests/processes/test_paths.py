"""A job's paths stay in its folder, and its folder goes with it.

Mount paths (`-d`, `--data-dir`) are normalised as a container runtime resolves them inside its root
(`/../../tmp/x` is `/tmp/x` under the job's `mnt/`), so no link lands outside the job; a mount path that
names nothing or lies inside another mount is refused with one line naming the flag. Deleting a job
removes its folder and its name's (and namespace's) folder once empty. A relative `--working-dir` is
where the user typed the command.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from arena.engines.local import paths
from arena.errors import InvalidSpec

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("given, kept", [("/data", "data"), ("data/", "data"), ("/a/./b//c", "a/b/c"),
                                         ("/../../../../tmp/x", "tmp/x"), ("../x", "x"), ("/a/../b", "b")])
def test_mount_points_are_normalised_inside_the_job(given: str, kept: str) -> None:
    assert paths.mount_point(given, "--data") == kept


@pytest.mark.parametrize("given", ["/", "", "/..", ".", "a/.."])
def test_a_mount_point_naming_nothing_is_refused(given: str) -> None:
    with pytest.raises(InvalidSpec, match="--data"):
        paths.mount_point(given, "--data")


def test_a_mount_inside_another_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="--data-dir.*overlaps the mount at /data"):
        paths.mount_link(tmp_path, "/data/sub", "--data-dir", ["data"])


def test_a_link_through_an_existing_link_is_refused(tmp_path: Path) -> None:
    """Even a mount point that normalises inside `mnt/` is refused when a link on its way leads out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    job = tmp_path / "job"
    (job / "mnt").mkdir(parents=True)
    (job / "mnt" / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidSpec, match="outside the job's folder"):
        paths.mount_link(job, "/a/b", "--data")
    assert not (outside / "b").exists()


UID1, UID2 = "0123456789abcdef" * 2, "fedcba9876543210" * 2


def test_removing_a_job_dir_removes_its_empty_namespace(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    one, two = jobs / "ns" / f"a.{UID1}", jobs / "ns" / f"b.{UID2}"
    for d in (one, two):
        (d / "logs").mkdir(parents=True)
    paths.remove_job_dir(one)
    assert not one.exists() and two.exists()
    paths.remove_job_dir(two)
    assert not (jobs / "ns").exists() and jobs.exists()


def test_removing_a_job_dir_of_the_older_layout_removes_its_empty_parents(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    one, two = jobs / "ns" / "a" / UID1, jobs / "ns" / "b" / UID2
    for d in (one, two):
        (d / "logs").mkdir(parents=True)
    paths.remove_job_dir(one)
    assert not (jobs / "ns" / "a").exists() and (jobs / "ns").exists()
    paths.remove_job_dir(two)
    assert not (jobs / "ns").exists() and jobs.exists()


def test_a_job_dir_name_is_its_name_and_uid() -> None:
    assert paths.job_dir_name(f"train-1.{UID1}") == ("train-1", UID1)
    for other in ("train-1", UID1, f".{UID1}", f"train.{UID1[:-1]}", f"train.{UID1.upper()}", "a.b"):
        assert paths.job_dir_name(other) is None, other
    assert paths.Paths(Path("/h")).job_dir("ns", "train-1", UID1) == Path("/h/jobs/ns") / f"train-1.{UID1}"


def test_status_files_sit_in_the_job_dir_or_in_its_older_status_folder(tmp_path: Path) -> None:
    new, old = tmp_path / f"new.{UID1}", tmp_path / "old" / UID2
    (new / "logs").mkdir(parents=True)
    (old / "status").mkdir(parents=True)
    assert paths.ReplicaFiles.of(new, "worker-0").exit == new / "worker-0.exit"
    assert paths.ReplicaFiles.of(new, "worker-0").log == new / "logs" / "worker-0.log"
    assert paths.ReplicaFiles.of(old, "worker-0").exit == old / "status" / "worker-0.exit"
    assert paths.ReplicaFiles.of(old, "worker-0").lock == old / "status" / "worker-0.lock"


def test_a_climbing_data_mount_stays_in_the_job_and_goes_with_it(arena, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vol = tmp_path / "vol"
    arena.run("data", "create", "vol", "--path", str(vol), check=True)
    escape = f"arena-escape-{random.randrange(10**9)}"
    target = Path("/tmp") / escape
    climb = "/" + "../" * 12 + f"tmp/{escape}"
    arena.run("submit", "py", "--name", "climb", "-d", f"vol:{climb}", "--wait", 'ls "$ARENA_MNT"/tmp', check=True)
    try:
        assert not os.path.lexists(target), "a mount made a link outside the job's folder"
        job = arena.job("climb")
        assert (Path(job["jobDir"]) / "mnt" / "tmp" / escape).resolve() == vol.resolve()
        assert arena.run("logs", "climb", check=True).stdout.split() == [escape]
        arena.run("delete", "climb", check=True)
        assert not os.path.lexists(target)
        assert list((arena.home / "jobs").iterdir()) == []  # no empty folder left behind
    finally:
        if os.path.islink(target):
            target.unlink()


def test_an_overlapping_mount_is_refused_with_one_line(arena, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b"):
        arena.run("data", "create", name, "--path", str(tmp_path / name), check=True)
    before = arena.store_snapshot()
    r = arena.run("submit", "py", "--name", "nest", "-d", "a:/data", "-d", "b:/data/sub", "true")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--data" in r.stderr and "Traceback" not in r.stderr
    assert arena.store_snapshot() == before


def test_deleting_jobs_leaves_no_empty_folders(arena) -> None:  # type: ignore[no-untyped-def]
    arena.run("submit", "py", "--name", "one", "--wait", "true", check=True)
    arena.run("submit", "py", "--name", "two", "-n", "other", "--wait", "true", check=True)
    arena.run("delete", "one", check=True)
    arena.run("delete", "two", "-n", "other", check=True)
    assert list((arena.home / "jobs").iterdir()) == []


def test_a_relative_working_dir_is_the_callers(arena, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    arena.run("submit", "py", "--name", "wd", "--working-dir", "sub", "--wait", "pwd", check=True,
              cwd=tmp_path / "proj")
    assert arena.run("logs", "wd", check=True).stdout.strip() == str(tmp_path / "proj" / "sub")
    assert arena.job("wd")["status"] == "SUCCEEDED"


def test_the_integrity_scan_finds_jobs_of_both_layouts(tmp_path: Path) -> None:
    from arena.engines.local import integrity

    home = paths.Paths(tmp_path)
    new = home.job_dir("ns", "new", UID1)
    old = home.jobs / "ns" / "old" / UID2
    (new / "logs").mkdir(parents=True)
    (old / "status").mkdir(parents=True)
    (new / "master-0.exit").write_text('{"code": 0}')
    (old / "status" / "master-0.exit").write_text('{"code": 3}')
    for d in (new, old):
        (d / "job.json").write_text('{"plan": "{}"}')
    found = {s.name: s for s in integrity.scan(home, set())}
    assert {(s.namespace, s.name, s.uid, s.path) for s in found.values()} == {("ns", "new", UID1, new),
                                                                              ("ns", "old", UID2, old)}
    assert found["new"].exited == {"master-0": {"code": 0}} and found["old"].exited == {"master-0": {"code": 3}}
    assert found["new"].record == found["old"].record == {"plan": "{}"}
    assert integrity.scan(home, {UID1, UID2}) == []
