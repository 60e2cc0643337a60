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
from collections.abc import Callable
from pathlib import Path

SPAWND = Path(__file__).with_name("spawnd.py")
PID_FILE = "spawner.pid"  # in ARENA_HOME: which process is the spawner (tests kill it)
TITLE_ROOM = 4096  # bytes of padding in the spawner's argv: each forked shim writes its own command line there
ANSWER_WAIT = 10.0  # seconds for a fork to be answered before the spawner counts as hung


class SpawnerGone(Exception):
    """The spawner died or hung before answering."""


class Link:
    """A running spawner: its request socket, its exit notes, and a lock so one request is in flight at a time."""

    def __init__(self, home: Path, wake: Callable[[], None]) -> None:
        self.home = home
        self.wake = wake
        self.mu = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.reader: object = None  # the socket's file for answers

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Fork a shim running `argv` (its options, `--`, the command); its pid. OSError as `Popen` raises it
        (a missing working directory); SpawnerGone when two spawners in a row died on it."""
        line = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode() + b"\n"
        with self.mu:
            for attempt in (1, 2):
                try:
                    answer = self._ask(line)
                    break
                except (OSError, ValueError, SpawnerGone):
                    self._drop()
                    if attempt == 2:
                        raise SpawnerGone("the spawner process did not answer") from None
        if "pid" in answer:
            return int(answer["pid"])
        err = int(answer.get("errno") or 0)
        if answer.get("filename"):
            raise OSError(err, str(answer.get("error", "cannot start")), str(answer["filename"]))
        raise OSError(err, str(answer.get("error", "cannot start")))

    def _ask(self, line: bytes) -> dict:
        if self.sock is None:
            self._start()
        assert self.sock is not None
        self.sock.sendall(line)
        reply = self.reader.readline()  # type: ignore[attr-defined]
        if not reply:
            raise SpawnerGone
        return json.loads(reply)

    def _start(self) -> None:
        mine, theirs = socket.socketpair()
        note_r, note_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SPAWND), str(theirs.fileno()), str(note_w), " " * TITLE_ROOM],
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
