"""The native shim's build and cache (`native.py`): built once into the user's cache, trusted only when private,
and None (the Python shim) when asked for or when there is no compiler."""
from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.engines.local import native

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ARENA_SHIM", raising=False)
    native.shim_path.cache_clear()
    yield tmp_path / "cache"
    native.shim_path.cache_clear()


@needs_cc
def test_built_once_into_a_private_cache_directory(cache: Path) -> None:
    path = native.shim_path()
    assert path is not None and path.is_relative_to(cache / "arena" / "native")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and os.access(path, os.X_OK)
    built = path.stat().st_mtime_ns
    native.shim_path.cache_clear()
    assert native.shim_path() == path and path.stat().st_mtime_ns == built  # found, not built again
    assert [p.name for p in path.parent.iterdir()] == [native.NAME]  # no temporary file left


@needs_cc
def test_a_binary_others_could_have_written_is_rebuilt_not_run(cache: Path) -> None:
    path = native.shim_path()
    assert path is not None
    path.write_bytes(b"#!/bin/sh\necho planted\n")
    path.chmod(0o777)
    native.shim_path.cache_clear()
    assert native.shim_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o700 and not path.read_bytes().startswith(b"#!")


def test_the_python_shim_when_asked_for(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SHIM", "python")
    assert native.shim_path() is None
    assert native.why_not() == "ARENA_SHIM=python"
    assert not cache.exists()


def test_the_python_shim_without_a_compiler(cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert native.shim_path() is None
    assert "no C compiler" in native.why_not()


def test_a_compiler_that_fails_leaves_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "badcc"
    bad.write_text("#!/bin/sh\nexit 1\n")
    bad.chmod(0o755)
    monkeypatch.setenv("CC", str(bad))
    assert native.shim_path() is None
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_a_named_binary_is_used_as_it_is(cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = tmp_path / "my-shim"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("ARENA_SHIM", str(exe))
    assert native.shim_path() == exe
    native.shim_path.cache_clear()
    monkeypatch.setenv("ARENA_SHIM", str(tmp_path / "missing"))
    assert native.shim_path() is None
