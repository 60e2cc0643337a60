"""Nothing let in: the CLI refuses an ARENA_HOME, socket or store that belongs to another user (it would hand
them the job's environment and secrets), and the daemon serves only its own user and root (SO_PEERCRED)."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")

OTHER = 12345


def refused(proc, what: str) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert what in lines[0], lines[0]
    return lines[0]


def test_a_home_owned_by_another_user_is_refused(arena):
    arena.home.mkdir(mode=0o700)
    os.chown(arena.home, OTHER, OTHER)
    line = refused(arena.run("list"), "ARENA_HOME")
    assert f"uid {OTHER}" in line
    assert not (arena.home / "arenad.sock").exists()  # no daemon was started there


def test_a_home_others_can_write_is_refused(arena):
    arena.home.mkdir()
    arena.home.chmod(0o777)
    refused(arena.run("submit", "py", "--name", "x", "true"), "writable by other users")


def test_a_socket_planted_by_another_user_is_refused(arena):
    arena.run("daemon", "start", check=True)
    os.chown(arena.home / "arenad.sock", OTHER, OTHER)
    refused(arena.run("submit", "py", "--name", "secret", "-e", "TOKEN=s3cr3t", "true"), "socket")
    assert arena.store_snapshot()[0] == []


def test_a_store_owned_by_another_user_is_refused(arena):
    arena.run("daemon", "start", check=True)
    arena.run("daemon", "stop", check=True)
    os.chown(arena.home / "arena.db", OTHER, OTHER)
    refused(arena.run("list"), "store")


def _ping_as(uid: int, home) -> bytes:  # type: ignore[no-untyped-def]
    """GET /v1/ping from a child process running as `uid`. It reaches the socket through a descriptor of the
    home opened before dropping root, so the test's own parent folders need not be opened to that user."""
    import socket

    dir_fd = os.open(home, os.O_PATH)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(f"/proc/self/fd/{dir_fd}/arenad.sock")
            try:
                s.sendall(b"GET /v1/ping HTTP/1.1\r\nConnection: close\r\n\r\n")
            except BrokenPipeError:
                pass  # refused at once: the answer is already waiting
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                os.write(w, chunk)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(w, f"CHILD ERROR {exc!r}".encode())
        os._exit(0)
    os.close(w)
    os.close(dir_fd)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data


def test_the_daemon_refuses_a_connection_from_another_user(arena):
    arena.run("daemon", "start", check=True)
    arena.home.chmod(0o711)  # let the other user reach the socket at all: the daemon must still say no
    (arena.home / "arenad.sock").chmod(0o666)
    try:
        data = _ping_as(65534, arena.home)
    finally:
        arena.home.chmod(0o700)
    text = data.decode(errors="replace")
    assert not text.startswith("CHILD ERROR"), text
    status_line, _, rest = text.partition("\r\n")
    assert " 403 " in status_line, text
    assert "may not use the daemon" in rest and '"pid"' not in rest
    assert arena.run("list").returncode == 0  # its own user is still served
