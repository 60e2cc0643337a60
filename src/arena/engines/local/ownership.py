"""Whose `$ARENA_HOME` this is: checked before a client talks to the daemon and before a daemon serves it.

A client sends the daemon its environment (and a job's secrets reach the replicas through it), so a socket or
a home planted by another user would receive them; a store owned by another user would run their jobs as
ours. The home, the socket and the store must belong to the current user (or to root, who can read them
anyway), and the home must not be writable by others (who could replace the socket). The daemon also asks
the kernel who is at the other end of each connection (`SO_PEERCRED`) and serves only its own user and root.
"""
from __future__ import annotations

import os
import stat
import struct

from arena.errors import ArenaError, NotOwner

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    import socket

    from arena.engines.local.paths import Paths

_UCRED = struct.Struct("3i")  # pid, uid, gid


def check(paths: Paths) -> None:
    """Refuse (NotOwner) a home, socket or store that belongs to someone else; absent ones are ours to make."""
    check_files(str(paths.home), str(paths.socket), str(paths.db))


def check_files(home: str, sock: str, store: str) -> None:
    """`check` given the paths as strings (`arena list` answers without loading pathlib)."""
    me = os.getuid()
    for what, path in (("ARENA_HOME", home), ("the daemon's socket", sock), ("the store", store)):
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if st.st_uid not in (me, 0):
            raise NotOwner(what, path, st.st_uid, me)
        if path == home and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ArenaError(f"ARENA_HOME {path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                             f"refusing to use it: 'chmod 700 {path}'")


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None where the kernel cannot say)."""
    import socket  # the daemon's: a command never asks

    try:
        _, uid, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except (OSError, AttributeError, struct.error):
        return None
    return uid


def allowed(uid: int | None) -> bool:
    return uid is None or uid in (os.getuid(), 0)
