"""The shim's timestamped log format and the reader behind `arena logs`."""
from __future__ import annotations

import threading
import time

from arena import logs


def write(path, lines):
    with open(path, "a") as f:
        for ts, text in lines:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z {text}\n")


def test_parse_line_round_trip():
    ts, stamp, text = logs.parse_line(b"2026-01-02T03:04:05.250000Z hello world\n")
    assert stamp == "2026-01-02T03:04:05.250000Z" and text == "hello world"
    assert abs(ts - 1767323045.25) < 1e-3
    assert logs.parse_line(b"no stamp here\n") == (None, "", "no stamp here")


def test_tail_since_and_timestamps(tmp_path):
    p = tmp_path / "r.log"
    now = time.time()
    write(p, [(now - 100, "old"), (now - 5, "new1"), (now - 1, "new2")])
    assert list(logs.read(p)) == ["old", "new1", "new2"]
    assert list(logs.read(p, tail=2)) == ["new1", "new2"]
    assert list(logs.read(p, tail=0)) == []
    assert list(logs.read(p, since=now - 10)) == ["new1", "new2"]
    assert all(line.endswith(("old", "new1", "new2")) and "Z " in line for line in logs.read(p, timestamps=True))


def test_follow_reads_until_done(tmp_path):
    p = tmp_path / "r.log"
    write(p, [(time.time(), "first")])
    done = threading.Event()

    def producer():
        for i in range(3):
            time.sleep(0.05)
            write(p, [(time.time(), f"more{i}")])
        done.set()

    threading.Thread(target=producer).start()
    assert list(logs.read(p, follow=True, done=done.is_set, poll=0.01)) == ["first", "more0", "more1", "more2"]
