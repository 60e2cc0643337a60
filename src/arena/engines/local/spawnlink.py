"""The daemon's end of the spawner process (`spawnd.py`): ask it for a shim, hear when shims exit.

One spawner per daemon, started on first use and again whenever it is found gone (killed, crashed): a
request that gets no answer is sent once more to a fresh spawner. That is safe because starting a replica
is idempotent: the replica's lock lets exactly one shim run it, and the loop adopts the lock's holder if the
pid it recorded is the other one. Without a spawner (`ARENA_SPAWNER=0`, or before the daemon configures one)
the supervisor starts `python -I -S shim.py` itself, as before.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec

from arena.engines.local import native

SPAWND = Path(__file__).with_name("spawnd.py")
PID_FILE = "spawner.pid"  # in ARENA_HOME: which process is the spawner (tests kill it)
TITLE_ROOM = 4096  # bytes of padding in the spawner's argv: each forked shim writes its own command line there
ANSWER_WAIT = 10.0  # seconds for a fork to be answered before the spawner counts as hung
IN_FLIGHT = 64  # requests sent and not yet answered, at most


class SpawnerGone(Exception):
    """The spawner died or hung before answering."""


_GONE: dict = {}  # the answer of a request no spawner answered


def _line(request: dict) -> bytes:
    """One request as a JSON line. msgspec costs a seventh of `json` (the env is the bulk of every replica's
    start); a string that is not valid UTF-8 (an environment value with surrogate escapes) goes the `json` way,
    escaped as it always was. The spawner reads either with `json.loads`."""
    try:
        return msgspec.json.encode(request) + b"\n"
    except UnicodeEncodeError:
        return json.dumps(request).encode() + b"\n"


class Ticket:
    """One request sent to the spawner; `Link.result` waits for its answer. Requests are answered in the order
    they were sent, so several can be in flight: a reconcile pass that starts many replicas sends them all,
    then reads the pids, instead of waiting for each fork in turn."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.answer: dict | None = None


class Link:
    """A running spawner: its request socket, its exit notes, the requests in flight, and a lock around them."""

    def __init__(self, home: Path, wake: Callable[[], None]) -> None:
        self.home = home
        self.wake = wake
        self.mu = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.reader: object = None  # the socket's file for answers
        self.pending: deque[Ticket] = deque()  # sent, not yet answered, oldest first
        self.broken = False  # a send failed: the requests in flight go to a fresh spawner

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Fork a shim running `argv` (its options, `--`, the command); its pid. OSError as `Popen` raises it
        (a missing working directory); SpawnerGone when two spawners in a row died on it."""
        return self.result(self.send(argv, env, cwd))

    def send(self, argv: list[str], env: dict[str, str], cwd: str) -> Ticket:
        """Ask for a shim without waiting for the fork (see `Ticket`). At most IN_FLIGHT unanswered: past that,
        the oldest answer is read first (kept on its ticket), so that neither side blocks writing to the other."""
        ticket = Ticket(_line({"argv": argv, "env": env, "cwd": cwd}))
        while True:
            with self.mu:
                oldest = self.pending[0] if len(self.pending) >= IN_FLIGHT else None
            if oldest is None:
                break
            try:
                self.result(oldest)
            except (OSError, SpawnerGone):
                pass  # kept on that ticket: its own caller hears of it
        with self.mu:
            self.pending.append(ticket)
            if not self.broken:
                try:
                    if self.sock is None:
                        self._start()
                    assert self.sock is not None
                    self.sock.sendall(ticket.line)
                except (OSError, ValueError):
                    self.broken = True  # `result` starts a fresh spawner and sends what is in flight again
        return ticket

    def result(self, ticket: Ticket) -> int:
        """The pid of the shim `ticket` asked for (OSError, SpawnerGone as `spawn` says)."""
        with self.mu:
            failures = 0
            while ticket.answer is None:
                try:
                    if self.broken or self.sock is None:
                        raise SpawnerGone
                    reply = self.reader.readline()  # type: ignore[attr-defined]
                    if not reply:
                        raise SpawnerGone
                    self.pending.popleft().answer = json.loads(reply)
                except (OSError, ValueError, SpawnerGone):
                    failures += 1
                    self._drop()
                    if failures == 2:  # the requests in flight start the slow way (supervisor); the next, afresh
                        while self.pending:
                            self.pending.popleft().answer = _GONE
                        break
                    self._resend()
        answer = ticket.answer
        if answer is _GONE or answer is None:
            raise SpawnerGone("the spawner process did not answer")
        if "pid" in answer:
            return int(answer["pid"])
        err = int(answer.get("errno") or 0)
        if answer.get("filename"):
            raise OSError(err, str(answer.get("error", "cannot start")), str(answer["filename"]))
        raise OSError(err, str(answer.get("error", "cannot start")))

    def _resend(self) -> None:
        """Send every request still in flight to a fresh spawner, in order. Safe: a shim already forked for one
        holds the replica's lock, or has recorded its exit, and the second shim then runs nothing."""
        try:
            self._start()
            assert self.sock is not None
            for t in self.pending:
                self.sock.sendall(t.line)
        except (OSError, ValueError):
            self.broken = True

    def _start(self) -> None:
        shim = native.shim_path()
        mine, theirs = socket.socketpair()
        note_r, note_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SPAWND), str(theirs.fileno()), str(note_w), " " * TITLE_ROOM,
                 str(shim or "")],
                pass_fds=(theirs.fileno(), note_w), cwd="/", start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except BaseException:
            mine.close()
            os.close(note_r)
            raise
        finally:
            theirs.close()
            os.close(note_w)
        mine.settimeout(ANSWER_WAIT)
        self.sock = mine
        self.reader = mine.makefile("rb")
        try:
            tmp = self.home / f".{PID_FILE}.tmp"
            tmp.write_text(str(self.proc.pid))
            tmp.replace(self.home / PID_FILE)
        except OSError:
            pass
        threading.Thread(target=self._notes, args=(note_r,), daemon=True, name="spawner-notes").start()

    def _notes(self, fd: int) -> None:
        """Wake the loop whenever shims exit; at end of file the spawner is gone (the loop looks once more)."""
        try:
            while os.read(fd, 4096):
                self.wake()
        except OSError:
            pass
        finally:
            os.close(fd)
            self.wake()

    def _drop(self) -> None:
        """Forget a spawner that failed us, ending it if it still runs (hung): its shims run on regardless."""
        self.broken = False
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
        for f in (self.reader, self.sock):
            try:
                f.close()  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass
        self.proc, self.sock, self.reader = None, None, None

    def close(self) -> None:
        with self.mu:
            self._drop()


_LINK: list[Link] = []


def configure(home: Path, wake: Callable[[], None]) -> None:
    """The daemon's spawner from now on (unless `ARENA_SPAWNER=0`): started at once, so the first job waits for
    nothing."""
    if os.environ.get("ARENA_SPAWNER", "1") in ("0", "false", "off", "no"):
        return
    link = Link(home, wake)
    _LINK[:] = [link]
    try:
        with link.mu:
            link._start()
    except OSError:
        link._drop()


def current() -> Link | None:
    return _LINK[0] if _LINK else None
