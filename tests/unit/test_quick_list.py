"""`arena list` answered without the parser (`arena.cli.quick`): when it answers, and that it steps aside (None)
for anything it does not handle, before printing anything. Against a scripted daemon on a real Unix socket."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.cli import quick
from arena.summary import FIELDS

ROW = ["train", "default", "PyTorchJob", "PYTORCHJOB", "SUCCEEDED", 1000.0, 1001.0, 1091.0, 0, 0, "127.0.0.1",
       "default", "N/A", 0, ""]
TABLE = ("NAME    STATUS      TRAINER      DURATION   GPU(Requested)   GPU(Allocated)   NODE\n"
         "train   SUCCEEDED   PYTORCHJOB   90s        0                0                127.0.0.1\n")


class Daemon:
    """Answers every connection on `home/arenad.sock` with `answer` (status, body), noting each request line."""

    def __init__(self, home: Path) -> None:
        self.answer: tuple[int, bytes] = (200, json.dumps({"fields": FIELDS, "rows": [ROW]}).encode())
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(home / "arenad.sock"))
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data.split(b"\r\n", 1)[0].decode())
                status, body = self.answer
                conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.delenv("ARENA_ENGINE", raising=False)
    monkeypatch.setattr("time.time", lambda: 2000.0)
    return home


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    d = Daemon(home)
    yield d
    d.sock.close()


def test_a_plain_list_is_answered_with_the_table(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.list_jobs(["list"], {}) == 0
    assert capsys.readouterr().out == TABLE
    assert daemon.requests == ["GET /v1/jobs?namespace=default&view=summary HTTP/1.1"]


@pytest.mark.parametrize(("argv", "given", "request_line"), [
    (["ls"], {}, "GET /v1/jobs?namespace=default&view=summary HTTP/1.1"),
    (["list"], {"namespace": "team-b"}, "GET /v1/jobs?namespace=team-b&view=summary HTTP/1.1"),
    (["list", "-A"], {}, "GET /v1/jobs?all=1&view=summary HTTP/1.1"),
    (["list", "--allNamespaces"], {"namespace": "x"}, "GET /v1/jobs?all=1&view=summary HTTP/1.1"),
    (["list", "-o", "wide"], {}, "GET /v1/jobs?namespace=default&view=summary HTTP/1.1"),
    (["list", "-owide", "-A"], {}, "GET /v1/jobs?all=1&view=summary HTTP/1.1"),
    (["ls", "--output", "wide"], {}, "GET /v1/jobs?namespace=default&view=summary HTTP/1.1"),
    (["list", "--output=wide"], {}, "GET /v1/jobs?namespace=default&view=summary HTTP/1.1"),
])
def test_the_plain_forms_ask_for_their_namespace(daemon: Daemon, argv: list[str], given: dict,
                                                 request_line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.list_jobs(argv, given) == 0
    assert daemon.requests == [request_line]
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[0] == ("NAMESPACE" if "-A" in argv or "--allNamespaces" in argv else "NAME")
    assert (header[-4:] == ["QUEUE", "PRIORITY", "POSITION", "REASON"]) == any("wide" in a for a in argv)


def test_wide_adds_the_queue_columns(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.list_jobs(["list", "-o", "wide"], {}) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["train", "SUCCEEDED", "PYTORCHJOB", "90s", "0", "0",
                                                              "127.0.0.1", "default", "N/A", "-", "-"]


@pytest.mark.parametrize(("argv", "given"), [
    (["list", "-o", "json"], {}),
    (["list", "-o"], {}),
    (["list", "--out", "wide"], {}),  # argparse's abbreviation: parsed by the full command
    (["list", "-o=wide"], {}),
    (["list", "-T", "tfjob"], {}),
    (["list", "--help"], {}),
    (["list"], {"loglevel": "debug"}),
    (["list"], {"engine": "local"}),
    (["list"], {"pprof": True}),
    (["list"], {"namespace": "Team B"}),  # not a name to send as is: the full command words what happens
    (["get", "x"], {}),
])
def test_any_other_line_goes_to_the_full_command(daemon: Daemon, argv: list[str], given: dict,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert quick.list_jobs(argv, given) is None
    assert daemon.requests == [] and capsys.readouterr().out == ""


@pytest.mark.parametrize("answer", [
    (503, b'{"error": {"message": "busy"}}'),
    (404, b'{"error": {"message": "no"}}'),
    (200, b"not json"),
    (200, json.dumps({"fields": FIELDS, "rows": [ROW]}).encode() + b" trailing"),
    (200, json.dumps({"fields": list(reversed(FIELDS)), "rows": [list(reversed(ROW))]}).encode()),  # another version
    (200, json.dumps({"fields": FIELDS, "rows": [ROW[:-1]]}).encode()),
    (200, json.dumps({"fields": FIELDS, "rows": [dict(zip(FIELDS, ROW))]}).encode()),
    (200, json.dumps([{"name": "train"}]).encode()),  # a daemon from before summaries
    (200, json.dumps({"fields": FIELDS, "rows": [[*ROW[:6], "soon", *ROW[7:]]]}).encode()),  # a start time in words
    (200, b'{"fields": [], "rows": [NaN]}'),
], ids=["busy", "error", "not-json", "trailing", "other-fields", "short-row", "row-object", "views", "bad-value", "nan"])
def test_an_unexpected_answer_goes_to_the_full_command(daemon: Daemon, answer: tuple[int, bytes],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    daemon.answer = answer
    assert quick.list_jobs(["list"], {}) is None
    assert len(daemon.requests) == 1 and capsys.readouterr().out == ""


def test_a_config_file_or_another_engine_goes_to_the_full_command(daemon: Daemon, home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_ENGINE", "kubernetes")
    assert quick.list_jobs(["list"], {}) is None
    monkeypatch.setenv("ARENA_ENGINE", "bogus")
    assert quick.list_jobs(["list"], {}) is None
    monkeypatch.setenv("ARENA_ENGINE", "local")
    (home / "config").write_text("namespace: team-b\n")  # YAML: read by the full command only
    assert quick.list_jobs(["list"], {}) is None
    assert daemon.requests == []


def test_no_daemon_goes_to_the_full_command(home: Path) -> None:
    """The full command starts the daemon (and words what fails)."""
    assert quick.list_jobs(["list"], {}) is None


def test_a_home_others_can_write_goes_to_the_full_command(daemon: Daemon, home: Path) -> None:
    home.chmod(0o777)
    try:
        assert quick.list_jobs(["list"], {}) is None
    finally:
        home.chmod(0o700)
    assert daemon.requests == []  # nothing was sent to a socket someone else could have planted


def test_a_plain_list_loads_neither_the_parser_nor_pathlib(daemon: Daemon, home: Path) -> None:
    """What the quick path is for: the modules that were most of a plain list's start stay unloaded."""
    code = ("import sys\n"
            "from arena.cli.main import main\n"
            "code = main(['list'])\n"
            "heavy = ('argparse', 'pathlib', 'socket', 'json', 're', 'msgspec', 'arena.client')\n"
            "print(code, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ARENA_HOME": str(home)})
    assert proc.stdout.startswith("NAME")
    assert proc.stderr.strip() == "0 []"
