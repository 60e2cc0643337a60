"""The control plane's own stand-ins for a kubelet (no binaries needed): Secret volumes written atomically,
and an operator that exits before it is ready started again."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_plane import ControlPlane, StartError  # noqa: E402


def _plane(tmp_path: Path, secret: dict[str, bytes]) -> ControlPlane:
    plane = ControlPlane(work=tmp_path / "work", bins=tmp_path / "bin")

    def kubectl(*args: str, **_: object) -> subprocess.CompletedProcess:
        body = {"data": {k: base64.b64encode(v).decode() for k, v in secret.items()}}
        return subprocess.CompletedProcess(args, 0, json.dumps(body), "")

    plane.kubectl = kubectl  # type: ignore[method-assign]
    return plane


def test_a_secret_volume_changes_whole(tmp_path: Path) -> None:
    secret = {"tls.crt": b"crt-1", "tls.key": b"key-1"}
    plane = _plane(tmp_path, secret)
    first, second = tmp_path / "a", tmp_path / "b"
    assert plane.mount_secret("ns", "cert", first, second)
    for target in (first, second):
        assert {p.name: p.read_bytes() for p in target.iterdir() if not p.name.startswith("..")} == secret
        assert (target / "tls.key").is_symlink() and (target / "..data").is_symlink()
    version = (first / "..data").resolve()
    assert plane.mount_secret("ns", "cert", first)  # unchanged: nothing rewritten
    assert (first / "..data").resolve() == version

    secret.update({"tls.crt": b"crt-2", "tls.key": b"key-2"})
    assert plane.mount_secret("ns", "cert", first)
    assert ((first / "tls.crt").read_bytes(), (first / "tls.key").read_bytes()) == (b"crt-2", b"key-2")
    assert not version.exists()  # the old version is gone once the new one is in place
    assert [p.name for p in first.iterdir() if p.name.startswith("..version")] == [(first / "..data").resolve().name]


def test_files_written_by_an_older_harness_are_replaced_by_links(tmp_path: Path) -> None:
    target = tmp_path / "certs"
    target.mkdir()
    (target / "tls.crt").write_bytes(b"stale")
    plane = _plane(tmp_path, {"tls.crt": b"fresh"})
    assert plane.mount_secret("ns", "cert", target)
    assert (target / "tls.crt").is_symlink() and (target / "tls.crt").read_bytes() == b"fresh"


def test_an_empty_secret_is_not_mounted(tmp_path: Path) -> None:
    assert not _plane(tmp_path, {}).mount_secret("ns", "cert", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def _operator(tmp_path: Path) -> ControlPlane:
    """An 'operator' that exits 1 on its first start and runs on the next ones."""
    plane = ControlPlane(work=tmp_path / "work", bins=tmp_path / "bin")
    plane.bins.mkdir()
    exe = plane.bins / "flaky"
    exe.write_text(f"#!/bin/sh\nif [ -e {tmp_path}/started ]; then touch {tmp_path}/ready; exec sleep 30; fi\n"
                   f"touch {tmp_path}/started\necho 'could not start: conflict' >&2\nexit 1\n")
    exe.chmod(0o755)
    return plane


def test_an_operator_that_exits_before_it_is_ready_is_started_again(tmp_path: Path) -> None:
    plane = _operator(tmp_path)
    proc = plane.spawn("flaky")
    try:
        with pytest.warns(UserWarning, match=r"flaky exited \(1\) and was started again:\n.*could not start"):
            plane.wait(proc, lambda: (tmp_path / "ready").exists(), 30, "ready", restarts=2)
        assert proc.restarts == 1 and proc.popen.poll() is None
        assert "--- exited (1); restart 1" in proc.log.read_text()
    finally:
        proc.popen.kill()
        proc.popen.wait()


def test_without_restarts_an_early_exit_fails_the_start(tmp_path: Path) -> None:
    plane = _operator(tmp_path)
    proc = plane.spawn("flaky")
    with pytest.raises(StartError, match=r"flaky exited \(1\) before ready:\n.*could not start"):
        plane.wait(proc, lambda: (tmp_path / "ready").exists(), 30, "ready")
    assert proc.restarts == 0
