"""Code sync for the local engine: `--sync-mode git|rsync --sync-source SRC`.

Runs in the submitting process, before anything is created, so that a bad source is a clean
bad-input error and git credentials (GIT_SYNC_USERNAME / GIT_SYNC_PASSWORD) stay in this
process: they reach git through an askpass helper reading the environment, never the command
line, the URL, the store or any output. The result lands in a staging directory that the
daemon moves to `<job dir>/code/<project>`, mirroring upstream's `$workingDir/code/<project>`.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from arena.errors import InvalidSpec
from arena.spec.common import project_name
from arena.spec.job import SyncSpec

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$GIT_SYNC_USERNAME" ;;
  *) printf '%s\\n' "$GIT_SYNC_PASSWORD" ;;
esac
"""
_USERINFO = re.compile(r"(://)[^/@\s]+@")


def redact(text: str, env: dict[str, str]) -> str:
    """Remove credentials from a message: URL user-info and the secret values themselves."""
    text = _USERINFO.sub(r"\1***@", text)
    for key in ("GIT_SYNC_PASSWORD", "GIT_SYNC_USERNAME"):
        value = env.get(key)
        if value:
            text = text.replace(value, "***")
    return text


def stage(sync: SyncSpec, staging_root: Path, env: dict[str, str] | None = None) -> Path:
    """Fetch the code into a new staging directory; returns it (holding `<project>/`)."""
    env = dict(os.environ if env is None else env)
    staging_root.mkdir(parents=True, exist_ok=True)
    if sync.mode == "rsync":
        _check_copy_source(sync.source, staging_root)
        name = project_name(str(Path(sync.source).expanduser().resolve()))  # `.` names the directory it is
    else:
        name = project_name(sync.source)
    out = Path(tempfile.mkdtemp(prefix="sync-", dir=staging_root))
    dest = out / (name or "code")
    try:
        if sync.mode == "rsync":
            _copy(sync.source, dest)
        else:
            _clone(sync, dest, env, out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def _check_copy_source(source: str, staging_root: Path) -> None:
    """A directory on this machine, and not one holding ARENA_HOME: copying that would copy the copy."""
    src = Path(source).expanduser()
    if not src.is_dir():
        raise InvalidSpec("--sync-source", f"{source!r} is not a directory on this machine")
    src, root = src.resolve(), staging_root.resolve()
    if src == root or src in root.parents:
        raise InvalidSpec("--sync-source", f"{source!r} holds ARENA_HOME ({root.parent}); sync a directory "
                                           "outside it")


def _copy(source: str, dest: Path) -> None:
    shutil.copytree(Path(source).expanduser(), dest, symlinks=True)


def _clone(sync: SyncSpec, dest: Path, env: dict[str, str], workdir: Path) -> None:
    git = shutil.which("git")
    if git is None:
        raise InvalidSpec("--sync-mode", "git sync needs the git command, which is not installed")
    askpass = workdir / ".askpass"
    askpass.write_text(_ASKPASS)
    askpass.chmod(stat.S_IRWXU)
    env.update(GIT_ASKPASS=str(askpass), GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never")
    cmd = [git, "-c", "credential.helper=", "clone", "--quiet", "--depth", "1"]
    if sync.branch:
        cmd += ["--branch", sync.branch]
    source = sync.source
    if "://" not in source and ":" not in source.split("/")[0] and Path(source).expanduser().exists():
        source = f"file://{Path(source).expanduser().resolve()}"  # --depth needs a URL for local paths
    try:
        proc = subprocess.run([*cmd, source, str(dest)], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise InvalidSpec("--sync-source", f"cloning {redact(sync.source, env)!r} took longer than 600s") from None
    finally:
        askpass.unlink(missing_ok=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        why = redact(lines[-1] if lines else f"git exited with {proc.returncode}", env)
        raise InvalidSpec("--sync-source", f"cannot clone {redact(sync.source, env)!r}: {why}")
