"""The native shim (shim.c) is the Python shim (shim.py): every scenario runs against both, with one expectation.

Same files (lock, pid, exit, log, `<log>.1`), same formats (the log's stamped lines, the exit file's JSON) and
same texts (errors as Python's `str(OSError)`), the same cut of long lines and rotation, the same lock, the
same ending of what a replica leaves behind (its process group, its marker, its cgroup), and signals passed
on to the replica. The Python shim has no `--cwd`: its side of those cases is spawnd.py's (chdir in the shim,
`_unstartable` when that fails). What only the native shim does (refusing bad usage, a signal pending before
the replica starts, a clean signal state whatever it inherited) is tested on it alone.

Nothing here measures time: waits are bounded, never asserted.
"""
from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from arena.engines.local import shim as shimlib
from arena.engines.local import supervisor

from .conftest import running, wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the shims are Linux programs")

SHIM_PY = Path(shimlib.__file__)
SHIM_C = SHIM_PY.with_name("shim.c")
CFLAGS = ("-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror")
LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (.*)", re.S)
PIECE = 64 * 1024
# spawnd.py's child, for the Python side of --cwd: chdir as the spawner's fork does, then the shim.
SPAWND_CHILD = """
import os, sys
sys.path.insert(0, sys.argv[1])
import shim, spawnd
cwd, argv = sys.argv[2], sys.argv[3:]
try:
    os.chdir(cwd)
except OSError as exc:
    sys.exit(spawnd._unstartable(argv, f"cannot start replica: {exc}"))
sys.exit(shim.main(argv))
"""


@pytest.fixture(scope="session")
def native_exe() -> Path | None:
    """The engine's compiled shim (native.shim_path); None without a compiler (its cases then skip)."""
    from arena.engines.local import native

    return native.shim_path()


@dataclass
class Shim:
    kind: str  # "python" or "native"
    prefix: list[str]
    started: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, files: Files, cmd: list, options: list[str] | tuple[str, ...] = (),
             workdir: str | None = None) -> list:
        """The shim's command line; `workdir`: the replica's directory as the spawner gives it (`--cwd` to the
        native shim; for the Python one, spawnd.py's fork: chdir, then the shim)."""
        opts = [*files.options(), *options]
        if workdir is None:
            return [*self.prefix, *opts, "--", *cmd]
        if self.kind == "native":
            return [*self.prefix, *opts, "--cwd", workdir, "--", *cmd]
        return [sys.executable, "-I", "-S", "-c", SPAWND_CHILD, str(SHIM_PY.parent), workdir, *opts, "--", *cmd]

    def start(self, files: Files, cmd: list, options: list[str] | tuple[str, ...] = (), workdir: str | None = None,
              **popen) -> subprocess.Popen:  # type: ignore[no-untyped-def]
        proc = subprocess.Popen(self.argv(files, cmd, options, workdir), start_new_session=True,
                                stdin=subprocess.DEVNULL, **popen)
        self.started.append(proc)
        return proc

    def run(self, files: Files, cmd: list, options: list[str] | tuple[str, ...] = (), workdir: str | None = None,
            **popen) -> int:  # type: ignore[no-untyped-def]
        return self.start(files, cmd, options, workdir, **popen).wait(60)


def _shim(kind: str, native_exe: Path | None) -> Iterator[Shim]:
    if kind == "native":
        if native_exe is None:
            pytest.skip("no C compiler for the native shim")
        s = Shim("native", [str(native_exe)])
    else:
        s = Shim("python", [sys.executable, "-I", "-S", str(SHIM_PY)])
    yield s
    for proc in s.started:  # a test that failed half-way: its shim's group (the replica and what it left) ends
        if proc.poll() is None:
            for end in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
                try:
                    end()
                except OSError:
                    pass
            proc.wait(10)


@pytest.fixture(params=["python", "native"])
def shim(request: pytest.FixtureRequest, native_exe: Path | None) -> Iterator[Shim]:
    yield from _shim(request.param, native_exe)


@pytest.fixture
def native(native_exe: Path | None) -> Iterator[Shim]:
    """The native shim alone: what the Python one does not do (or does otherwise)."""
    yield from _shim("native", native_exe)


@dataclass
class Files:
    lock: Path
    pid: Path
    exit: Path
    log: Path

    @classmethod
    def under(cls, root: Path, name: str = "r") -> Files:
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        return cls(d / "r.lock", d / "r.pid", d / "r.exit", d / "r.log")

    def options(self) -> list[str]:
        return ["--lock", str(self.lock), "--pid", str(self.pid), "--exit", str(self.exit), "--log", str(self.log)]

    def exit_doc(self) -> dict:
        """The exit file, checked to be exactly json.dumps of what it holds (key order, float repr and all)."""
        text = self.exit.read_text()
        doc = json.loads(text)
        assert text == json.dumps(doc), text
        assert list(doc)[:2] == ["code", "ts"] and isinstance(doc["ts"], float)
        return doc

    def lines(self, path: Path | None = None) -> list[str]:
        """The log's lines, without their stamps (each checked: `<RFC3339 UTC with microseconds> <text>\\n`)."""
        data = (path or self.log).read_bytes()
        assert data == b"" or data.endswith(b"\n")
        out = []
        for raw in data.decode().split("\n")[:-1]:
            m = LINE.fullmatch(raw)
            assert m, raw[:200]
            time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
            out.append(m.group(2))
        return out


def _wait_file(path: Path, proc: subprocess.Popen, pred: Callable[[str], bool] = bool) -> str:
    text = wait_until(lambda: path.exists() and pred(path.read_text()) and path.read_text(), 30, 0.01)
    assert text, f"{path} never showed what was expected (the shim: {proc.poll()})"
    return text


def _unique_sleep() -> str:
    return f"{random.randrange(100_000, 999_999)}"


def _gone(argv: tuple[str, ...]) -> bool:
    return not running({argv})


# ---- the exit and the log ------------------------------------------------------------------------------
def test_the_exit_code_the_exit_file_and_the_pid_file(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    proc = shim.start(files, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert proc.wait(60) == 0
    assert files.exit_doc() == {"code": 3, "ts": files.exit_doc()["ts"]}
    assert files.pid.read_text() == str(proc.pid)  # no newline
    assert files.lines() == ["out", "err"]
    assert not files.exit.with_name("r.exit.tmp").exists() and not files.pid.with_name("r.pid.tmp").exists()
    assert files.lock.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("script", "code"), [("kill -9 $$", 137), ("kill -TERM $$", 143), ("exit 0", 0),
                                              ("exit 255", 255)])
def test_a_killed_replica_exits_128_plus_its_signal(shim: Shim, tmp_path: Path, script: str, code: int) -> None:
    files = Files.under(tmp_path)
    assert shim.run(files, ["sh", "-c", script]) == 0
    assert files.exit_doc()["code"] == code
    assert files.lines() == []


def test_lines_partial_lines_and_a_last_line_without_newline(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    files.log.write_bytes(b"2024-01-01T00:00:00.000000Z before\n")  # appended to, never truncated
    script = "printf 'par'; sleep 0.2; printf 'tial\\n'; echo err >&2; echo; printf 'caf\\303\\251\\tx\\n'; printf last"
    assert shim.run(files, ["sh", "-c", script]) == 0
    assert files.lines() == ["before", "partial", "err", "", "café\tx", "last"]


def test_a_long_line_is_cut_in_pieces_of_64_KiB(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    script = ("head -c 200000 /dev/zero | tr '\\0' x; echo; "
              "head -c 65535 /dev/zero | tr '\\0' y; echo; "   # fits with its newline
              "head -c 65536 /dev/zero | tr '\\0' z; echo; "   # its newline is a line of its own
              "head -c 70000 /dev/zero | tr '\\0' w")          # the last, without newline
    assert shim.run(files, ["sh", "-c", script]) == 0
    lines = files.lines()
    assert [len(x) for x in lines] == [PIECE, PIECE, PIECE, 200000 - 3 * PIECE, PIECE - 1, PIECE, 0, PIECE,
                                       70000 - PIECE]
    assert [x[:1] for x in lines] == ["x"] * 4 + ["y", "z", ""] + ["w"] * 2


def _rotated(before: list[str], lines: list[str], limit: int, name: str) -> tuple[list[str], list[str]]:
    """shim.py's Log on paper: what `<log>.1` and the log hold after these lines are written to a log holding
    `before` (every line stamped: 28 bytes)."""
    older: list[str] = []
    current = list(before)
    size = sum(28 + len(text.encode()) + 1 for text in before)
    for text in lines:
        length = 28 + len(text.encode()) + 1
        if size + length > max(limit // 2, 1) and size:
            older = current
            marker = (f"arena: log rotated at {size} bytes (limits.log_bytes_per_replica {limit}): "
                      f"the previous part is in {name}.1, older output was dropped")
            current = [marker]
            size = 28 + len(marker) + 1
        current.append(text)
        size += length
    return older, current


def test_the_log_is_rotated_past_log_bytes_with_a_marker(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    files.log.write_text("2024-01-01T00:00:00.000000Z before\n")
    script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
    assert shim.run(files, ["sh", "-c", script], ["--log-bytes", "4096"]) == 0
    older, current = _rotated(["before"], [f"line {i}" for i in range(300)], 4096, files.log.name)
    assert files.lines(files.log.with_name("r.log.1")) == older
    assert files.lines() == current
    assert current[0].startswith("arena: log rotated at ") and current[-1] == "line 299"


# ---- one shim per replica --------------------------------------------------------------------------------
def test_a_second_shim_with_the_same_lock_runs_nothing(shim: Shim, tmp_path: Path) -> None:
    first = Files.under(tmp_path, "first")
    proc = shim.start(first, ["sh", "-c", "echo ready; exec sleep 60"])
    _wait_file(first.log, proc, lambda t: "ready" in t)
    assert shimlib.lock_holder(str(first.lock)) == proc.pid  # the POSIX lock the daemon probes
    second = Files.under(tmp_path, "second")
    second.lock = first.lock
    ran = tmp_path / "ran"
    assert shim.run(second, ["touch", str(ran)]) == 0
    assert not ran.exists() and not second.pid.exists() and not second.exit.exists() and not second.log.exists()
    os.kill(proc.pid, signal.SIGTERM)  # passed on to the replica (`sleep`: killed by it)
    assert proc.wait(30) == 0
    assert first.exit_doc()["code"] == 128 + signal.SIGTERM
    assert shimlib.lock_holder(str(first.lock)) is None


def test_an_exit_file_already_there_means_this_start_has_run(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    files.exit.write_text('{"code": 0, "ts": 1.0}')
    ran = tmp_path / "ran"
    assert shim.run(files, ["touch", str(ran)]) == 0
    assert not ran.exists() and not files.pid.exists() and not files.log.exists()
    assert files.exit.read_text() == '{"code": 0, "ts": 1.0}'


# ---- what the replica leaves behind ----------------------------------------------------------------------
def test_a_background_leftover_is_ended_by_its_process_group(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    n = _unique_sleep()
    try:
        assert shim.run(files, ["sh", "-c", f"sleep {n} & echo started"]) == 0
        assert files.exit_doc()["code"] == 0 and files.lines() == ["started"]
        assert _gone(("sleep", n))  # killed and reaped before the exit was recorded
    finally:
        for p in running({("sleep", n)}):
            p.kill()


def test_a_leftover_in_its_own_session_is_ended_by_the_marker(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    n = _unique_sleep()
    tag = f"native-test-{uuid.uuid4().hex}/worker-0"
    ready = tmp_path / "setsid-done"
    # The main process exits only once its child has left the group (setsid runs before the shell writes).
    script = (f"(setsid sh -c 'echo $$ > {ready}; exec sleep {n}' >/dev/null 2>&1 &); "
              f"while [ ! -s {ready} ]; do sleep 0.01; done; echo detached")
    env = {**os.environ, shimlib.MARKER: tag}
    try:
        assert shim.run(files, ["sh", "-c", script], ["--marker", tag], env=env) == 0
        assert files.exit_doc()["code"] == 0 and files.lines() == ["detached"]
        assert _gone(("sleep", n))
    finally:
        for p in running({("sleep", n)}):
            p.kill()


def test_sigterm_reaches_the_replica_and_its_handler_decides_the_code(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    proc = shim.start(files, ["sh", "-c", script])
    _wait_file(files.log, proc, lambda t: "ready" in t)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0
    assert files.exit_doc()["code"] == 7
    assert files.lines() == ["ready", "got TERM"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_each_stop_signal_is_passed_on(shim: Shim, tmp_path: Path, sig: int) -> None:
    files = Files.under(tmp_path)
    proc = shim.start(files, ["sh", "-c", f"cat {files.pid}; echo; exec sleep 60"])
    _wait_file(files.log, proc, lambda t: len(t.splitlines()) == 1)
    assert files.lines() == [str(proc.pid)]  # the pid file is there before the replica starts
    os.kill(proc.pid, sig)
    assert proc.wait(30) == 0
    assert files.exit_doc()["code"] == 128 + sig


def test_a_leftover_nothing_can_find_does_not_hold_up_the_exit(shim: Shim, tmp_path: Path) -> None:
    """Its own session, no marker, no cgroup, and the output pipe still open: the exit is recorded all the same
    (after the leftover wait), and the leftover runs on (what the daemon's own clean-up is for)."""
    files = Files.under(tmp_path)
    n = _unique_sleep()
    ready = tmp_path / "setsid-done"
    script = (f"(setsid sh -c 'echo $$ > {ready}; exec sleep {n}' &); "
              f"while [ ! -s {ready} ]; do sleep 0.01; done; echo main done")
    try:
        assert shim.run(files, ["sh", "-c", script]) == 0
        assert files.exit_doc()["code"] == 0 and files.lines() == ["main done"]
        assert not _gone(("sleep", n))
    finally:
        for p in running({("sleep", n)}):
            p.kill()


def test_the_replica_in_its_cgroup_and_the_shim_not(shim: Shim, tmp_path: Path) -> None:
    if supervisor.cgroup_root() is None:
        pytest.skip("no cgroup v2 this user may create here")
    tag = f"native-test-{uuid.uuid4().hex}/master-0"
    cg = supervisor.cgroup_of(tag)
    assert cg is not None and not cg.parent.exists()  # the shim makes it, its job's cgroup first
    files = Files.under(tmp_path)
    n = _unique_sleep()
    # A leftover in its own session and without the marker: only the cgroup finds it.
    script = f"(setsid sleep {n} >/dev/null 2>&1 &); echo ready; exec sleep 60"
    try:
        proc = shim.start(files, ["sh", "-c", script], ["--cgroup", str(cg), "--marker", tag])
        _wait_file(files.log, proc, lambda t: "ready" in t)
        (replica,) = [p for p in psutil.Process(proc.pid).children() if p.cmdline() == ["sleep", "60"]]
        members = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(shimlib.cgroup_members(str(cg))), 30, 0.01)
        assert members and replica.pid in members and proc.pid not in members  # the replica and its leftover
        assert _cgroup(replica.pid).endswith(tag) and not _cgroup(proc.pid).endswith(tag)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
        assert files.exit_doc()["code"] == 128 + signal.SIGTERM
        assert _gone(("sleep", n))
        assert not cg.exists()  # removed by the shim
    finally:
        for p in running({("sleep", n)}):
            p.kill()
        if cg.exists():
            shimlib.cgroup_kill(str(cg))
            wait_until(lambda: not shimlib.cgroup_members(str(cg)), 10, 0.01)
            shimlib.cgroup_remove(str(cg))
        shimlib.cgroup_remove(str(cg.parent))


def test_an_earlier_runs_leftover_in_the_cgroup_is_ended_first(shim: Shim, tmp_path: Path) -> None:
    """The shim that holds the replica's lock empties its cgroup before it starts the replica, so the replica is
    alone there and its end takes the cgroup with it; and a replica that cannot start leaves no cgroup behind."""
    if supervisor.cgroup_root() is None:
        pytest.skip("no cgroup v2 this user may create here")
    tag = f"native-test-{uuid.uuid4().hex}/master-0"
    cg = supervisor.cgroup_of(tag)
    assert cg is not None
    n = _unique_sleep()
    cg.mkdir(parents=True)
    # An earlier run's leftovers, in the cgroup: many, so that they take a while to die once killed.
    old = [subprocess.Popen(["sleep", n], start_new_session=True) for _ in range(40)]
    try:
        for p in old:
            (cg / "cgroup.procs").write_text(str(p.pid))
        files = Files.under(tmp_path)
        options = ["--cgroup", str(cg), "--marker", tag]
        assert shim.run(files, ["cat", str(cg / "cgroup.procs")], options) == 0
        assert [p.wait(30) for p in old] == [-signal.SIGKILL] * len(old)
        assert files.exit_doc()["code"] == 0 and files.lines()  # cat's own pid (and shim.py's, stepping out)
        assert not set(files.lines()) & {str(p.pid) for p in old}
        assert not cg.exists()
        files.exit.unlink()
        assert shim.run(files, ["arena-no-such-command"], options, cwd=tmp_path) == 127
        assert files.exit_doc()["code"] == 127 and not cg.exists()
    finally:
        for p in old:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shimlib.cgroup_remove(str(cg))
        shimlib.cgroup_remove(str(cg.parent))


def test_where_the_kernel_has_no_cgroup_kill_each_member_is_killed_on_its_own(tmp_path: Path) -> None:
    """Before Linux 5.14 `cgroup.kill` cannot be written: the leftovers of a cgroup are then signalled one by one
    (a folder stands in for the cgroup, its `cgroup.kill` a folder so that the write fails)."""
    cg = tmp_path / "cg"
    (cg / "cgroup.kill").mkdir(parents=True)
    old = subprocess.Popen(["sleep", _unique_sleep()], start_new_session=True)
    try:
        (cg / "cgroup.procs").write_text(f"{old.pid}\n")
        assert not shimlib.cgroup_kill(str(cg))
        shimlib.kill_members(str(cg))
        assert old.wait(30) == -signal.SIGKILL
    finally:
        if old.poll() is None:
            old.kill()
            old.wait(10)


def _cgroup(pid: int) -> str:
    return next(line[3:].strip() for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if line.startswith("0::"))


# ---- a replica that cannot start -------------------------------------------------------------------------
def _not_started(shim: Shim, files: Files, tmp_path: Path, cmd: list, err: int, filename: str) -> None:
    assert shim.run(files, cmd, cwd=tmp_path) == 127
    text = str(OSError(err, os.strerror(err), filename))  # as Python says it: "[Errno N] <strerror>: '<file>'"
    doc = files.exit_doc()
    assert doc == {"code": 127, "ts": doc["ts"], "error": text}
    assert files.lines() == [f"arena: cannot start replica: {text}"]
    assert files.pid.exists()


@pytest.mark.parametrize("name", ["arena-no-such-command", "arena-no-such-'command' caf\u00e9\x01\\",
                                  b"arena-no-such-\xff-command"], ids=["plain", "quoted", "undecodable"])
def test_a_command_not_found(shim: Shim, tmp_path: Path, name: str | bytes) -> None:
    _not_started(shim, Files.under(tmp_path), tmp_path, [name, "arg"], errno.ENOENT, os.fsdecode(name))


def test_an_empty_command_name_is_not_found(native: Shim, tmp_path: Path) -> None:
    """posix_spawnp in Python refuses an empty name with a ValueError (the Python shim dies without an exit file);
    the native shim records it as the command not found."""
    _not_started(native, Files.under(tmp_path), tmp_path, ["", "arg"], errno.ENOENT, "")


def test_a_file_that_is_no_program(shim: Shim, tmp_path: Path) -> None:
    script = tmp_path / "no-shebang"
    script.write_text("echo would run under sh\n")
    script.chmod(0o755)
    # posix_spawnp runs no shell for it (execvp would): ENOEXEC, as the Python shim reports.
    _not_started(shim, Files.under(tmp_path, "a"), tmp_path, ["./no-shebang"], errno.ENOEXEC, "./no-shebang")
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    _not_started(shim, Files.under(tmp_path, "b"), tmp_path, [str(plain)], errno.EACCES, str(plain))
    env_path = f"{tmp_path}:{os.environ['PATH']}"
    files = Files.under(tmp_path, "c")
    assert shim.run(files, ["not-executable"], env={**os.environ, "PATH": env_path}) == 127
    assert files.exit_doc()["error"] == str(OSError(errno.EACCES, os.strerror(errno.EACCES), "not-executable"))


def test_the_working_directory(shim: Shim, tmp_path: Path) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    files = Files.under(tmp_path)
    assert shim.run(files, ["sh", "-c", "pwd; ls"], workdir=str(work)) == 0
    assert files.exit_doc()["code"] == 0 and files.lines() == [str(work)]


def test_a_missing_working_directory_is_127(shim: Shim, tmp_path: Path) -> None:
    if shim.kind == "python":
        from arena.engines.local import spawnd  # noqa: F401  (spawnd's `_unstartable` is the reference)

        if not hasattr(spawnd, "_unstartable"):
            pytest.skip("spawnd.py no longer has `_unstartable` to compare with")
    gone = tmp_path / "gone 'dir'"
    files = Files.under(tmp_path)
    ran = tmp_path / "ran"
    assert shim.run(files, ["touch", str(ran)], workdir=str(gone)) == 127
    why = "cannot start replica: " + str(OSError(errno.ENOENT, os.strerror(errno.ENOENT), str(gone)))
    doc = files.exit_doc()
    assert doc == {"code": 127, "ts": doc["ts"], "error": why}
    assert files.lines() == [f"arena: {why}"]
    assert not ran.exists() and not files.pid.exists()


def test_the_logs_folder_is_made_by_the_shim(shim: Shim, tmp_path: Path) -> None:
    """The daemon no longer makes a job's `logs/` (an inode fewer in its hot path): the first shim to open its
    log there makes it, and a second one finds it made."""
    files = Files.under(tmp_path)
    files.log = files.log.parent / "logs" / "r.log"
    assert shim.run(files, ["sh", "-c", "echo one"]) == 0
    assert files.exit_doc()["code"] == 0 and files.lines() == ["one"]
    files.exit.unlink()
    assert shim.run(files, ["sh", "-c", "echo two"]) == 0
    assert files.lines() == ["one", "two"]


def test_a_log_that_cannot_be_opened_ends_the_start_with_127_and_why(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path)
    (files.log.parent / "logs").write_text("a file where the folder should be")
    files.log = files.log.parent / "logs" / "r.log"
    ran = tmp_path / "ran"
    assert shim.run(files, ["touch", str(ran)]) == 127
    why = "cannot open the log: " + str(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(files.log)))
    doc = files.exit_doc()
    assert doc == {"code": 127, "ts": doc["ts"], "error": why}
    assert not ran.exists()


# ---- CPU affinity ----------------------------------------------------------------------------------------
CORE = min(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cores", "error"), [
    (str(CORE), None),
    (f" {CORE} ,{CORE}", None),
    ("x", "invalid literal for int() with base 10: 'x'"),
    (f"{CORE},", "invalid literal for int() with base 10: ''"),
    ("-1", "negative CPU number"),
    ("9" * 300 + "x", "invalid literal for int() with base 10: '" + "9" * 199),  # its repr cut at 200
    ("99999", str(OSError(errno.EINVAL, os.strerror(errno.EINVAL)))),
])
def test_the_replica_is_pinned_or_says_why_not(shim: Shim, tmp_path: Path, cores: str, error: str | None) -> None:
    files = Files.under(tmp_path)
    env = {**os.environ, "ARENA_CPU_AFFINITY": cores}
    assert shim.run(files, ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"], env=env) == 0
    lines = files.lines()
    allowed = lines[-1].split(":", 1)[1].strip()
    if error is None:
        assert lines == [lines[-1]] and allowed == str(CORE)
    else:
        assert lines[0] == f"arena: cannot pin the replica to CPUs {cores}: {error}"
        assert allowed == Path("/proc/self/status").read_text().split("Cpus_allowed_list:")[1].split()[0]


SIGNAL_STATE = ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]  # the replica's own (a shell's varies as it forks)


def _signal_state(files: Files, low: bool = False) -> tuple[int, int]:
    """(blocked, ignored) of the replica, as masks; `low`: signals 1 to 31 only."""
    blocked, ignored = (int(line.split("\t")[1], 16) for line in files.lines())
    return (blocked & 0x7FFFFFFF, ignored & 0x7FFFFFFF) if low else (blocked, ignored)


def test_the_replica_starts_with_every_signal_default_and_only_its_output_open(shim: Shim, tmp_path: Path) -> None:
    files = Files.under(tmp_path, "a")
    assert shim.run(files, SIGNAL_STATE) == 0
    # glibc's posix_spawn (the Python shim's) leaves its own signals, 32 and 33, ignored in the replica
    assert _signal_state(files, low=shim.kind == "python") == (0, 0)
    files = Files.under(tmp_path, "b")
    assert shim.run(files, ["ls", "/proc/self/fd"]) == 0
    assert sorted(files.lines(), key=int) == ["0", "1", "2", "3"]  # 3: the directory `ls` reads
    files = Files.under(tmp_path, "c")
    assert shim.run(files, ["sh", "-c", "readlink /proc/self/fd/0; cat; echo $?"]) == 0
    assert files.lines() == ["/dev/null", "0"]


# ---- the native shim alone -------------------------------------------------------------------------------
def test_the_source_compiles_without_a_warning(tmp_path: Path) -> None:
    from arena.engines.local import native

    cc = native._compiler()
    if cc is None:
        pytest.skip("no C compiler")
    done = subprocess.run([cc, *CFLAGS, "-o", str(tmp_path / "arena-shim"), str(SHIM_C)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("args", [
    ["--pid", "P", "--exit", "E", "--log", "L", "--", "true"],                    # no --lock
    ["--lock", "K", "--pid", "P", "--exit", "E", "--log", "L", "true"],           # no --
    ["--lock", "K", "--pid", "P", "--exit", "E", "--log", "L", "--"],             # no command
    ["--lock", "K", "--pid", "P", "--exit", "E", "--log", "L", "--bogus", "1", "--", "true"],
    ["--lock", "K", "--pid", "P", "--exit", "E", "--log", "L", "--cgroup", "--", "true"],
    ["--lock", "K", "--pid", "P", "--exit", "E", "--log", "L", "--log-bytes", "1k", "--", "true"],
], ids=["missing-option", "no-separator", "no-command", "unknown-option", "no-value", "bad-number"])
def test_bad_usage_touches_nothing(native: Shim, tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run([*native.prefix, *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("arena-shim: ") and "usage: arena-shim --lock F" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_signal_before_the_replica_starts_runs_nothing(native: Shim, tmp_path: Path) -> None:
    """A SIGTERM pending when the shim starts (the daemon stopped the replica at once): 143, nothing run."""
    files = Files.under(tmp_path)
    ran = tmp_path / "ran"

    def pending_term() -> None:  # blocked and raised: it stays pending across the exec
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        os.kill(os.getpid(), signal.SIGTERM)

    assert native.run(files, ["touch", str(ran)], preexec_fn=pending_term) == 0
    assert files.exit_doc() == {"code": 128 + signal.SIGTERM, "ts": files.exit_doc()["ts"]}
    assert not ran.exists() and files.pid.exists() and files.lines() == []


def test_what_the_shim_inherits_does_not_reach_the_replica(native: Shim, tmp_path: Path) -> None:
    """Ignored and blocked signals of whoever started the shim are the replica's defaults again."""
    files = Files.under(tmp_path)

    def dirty() -> None:
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the shim still reaps (and sees its replica's exit)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})

    assert native.run(files, SIGNAL_STATE, preexec_fn=dirty) == 0
    assert files.exit_doc()["code"] == 0
    assert _signal_state(files) == (0, 0)


def test_started_by_posix_spawn_as_the_spawner_starts_it(native: Shim, tmp_path: Path) -> None:
    """The spawner's way: posix_spawn in a new session, every signal default (glibc then leaves its own two
    ignored in the shim: the replica has them default again)."""
    files = Files.under(tmp_path)
    spawner = ("import os, signal, sys\n"
               "signals = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]\n"
               "pid = os.posix_spawn(sys.argv[1], ['arena-shim', *sys.argv[2:]], dict(os.environ), setsid=True,\n"
               "                     setsigmask=(), setsigdef=signals)\n"
               "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")
    proc = subprocess.Popen([sys.executable, "-I", "-c", spawner, native.prefix[0], *files.options(), "--",
                             *SIGNAL_STATE])
    native.started.append(proc)
    assert proc.wait(60) == 0
    assert files.exit_doc()["code"] == 0 and _signal_state(files) == (0, 0)


def test_relative_paths_with_cwd_are_the_starting_directory(native: Shim, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "st").mkdir()
    rel = Files(Path("st/r.lock"), Path("st/r.pid"), Path("st/r.exit"), Path("st/r.log"))
    done = subprocess.run([*native.prefix, *rel.options(), "--cwd", str(work), "--", "pwd"], cwd=tmp_path,
                          start_new_session=True, timeout=60)
    assert done.returncode == 0
    files = Files.under(tmp_path, "st")
    assert files.exit_doc()["code"] == 0 and files.lines() == [str(work)]
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(("cores", "error"), [
    ("9" * 30, "Python int too large to convert to C long"),
    (str(2**31), "CPU number too large"),
])
def test_a_cpu_number_python_cannot_take_is_logged(native: Shim, tmp_path: Path, cores: str, error: str) -> None:
    """The Python shim dies of these OverflowErrors (nothing recorded); the native one logs them as any other
    reason the replica cannot be pinned, and runs it unpinned."""
    files = Files.under(tmp_path)
    assert native.run(files, ["true"], env={**os.environ, "ARENA_CPU_AFFINITY": cores}) == 0
    assert files.exit_doc()["code"] == 0
    assert files.lines() == [f"arena: cannot pin the replica to CPUs {cores}: {error}"]


# ---- any output, in any chunks -----------------------------------------------------------------------------
WRITER = """
import os, random, sys, time
rng = random.Random(int(sys.argv[1]))
data = bytearray()
for _ in range(400):  # lines of every length around the cut, any bytes (NUL, CR, invalid UTF-8) but newlines
    n = rng.choice([0, 1, 2, 100, 65534, 65535, 65536, 65537, 131072, 131073, rng.randrange(200000)])
    data += bytes(rng.choice(b"ab\\x00\\r\\xff\\xc3\\t ") for _ in range(n % 7)) + b"y" * max(n - 7, 0)
    if rng.random() < 0.9:
        data += b"\\n"
fd, at = sys.stdout.fileno(), 0
while at < len(data):  # in chunks of any size, now and then a pause mid-line
    k = rng.choice([1, 7, 4096, 65536, 100000])
    at += os.write(fd, data[at:at + k])
    if rng.random() < 0.01:
        time.sleep(0.01)
"""


def _pieces(data: bytes) -> list[bytes]:
    """readline(64 KiB) over the stream, as shim.py's pump reads it: each piece, with the newline it gets."""
    out, at = [], 0
    while at < len(data):
        end = data.find(b"\n", at, at + PIECE)
        piece = data[at:end + 1] if end >= 0 else data[at:at + PIECE]
        out.append(piece if piece.endswith(b"\n") else piece + b"\n")
        at += len(piece)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_any_output_in_any_chunks_is_logged_as_readline_cuts_it(shim: Shim, tmp_path: Path, seed: int) -> None:
    files = Files.under(tmp_path)
    out = tmp_path / "expected"
    with open(out, "wb") as f:  # what the writer writes, captured once without a shim
        subprocess.run([sys.executable, "-I", "-c", WRITER, str(seed)], stdout=f, check=True, timeout=60)
    assert shim.run(files, [sys.executable, "-I", "-c", WRITER, str(seed)]) == 0
    stamp = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ")
    logged = files.log.read_bytes().split(b"\n")
    assert logged[-1] == b""
    assert all(stamp.match(line) for line in logged[:-1])
    assert [line[28:] + b"\n" for line in logged[:-1]] == _pieces(out.read_bytes())
