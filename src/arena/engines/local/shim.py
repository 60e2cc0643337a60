"""Per-replica shim: runs one replica, timestamps its output into a log file, records its exit.

Started by the daemon in its own session (`python -I -S shim.py ...`), so it and the replica
outlive a daemon crash; the daemon re-adopts them from the pid and exit files. Standard
library only, and no package import, to start in a few milliseconds.

Log lines are `<RFC3339 UTC timestamp with microseconds> <text>`, like the container
runtime's log format, so `arena logs --since/--timestamps` work.
Usage: shim.py PID_FILE EXIT_FILE LOG_FILE -- ARGV...
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _stamp() -> bytes:
    now = time.time()
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z ").encode()


def _write_atomic(path: str, data: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    pid_file, exit_file, log_file = argv[0], argv[1], argv[2]
    cmd = argv[4:] if argv[3] == "--" else argv[3:]
    _write_atomic(pid_file, str(os.getpid()))
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        # The daemon signals the whole process group; pass it on in case the child left it.
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

    # A handler (not SIG_IGN): handlers reset to default in the exec'd child.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    with open(log_file, "ab", buffering=0) as log:
        try:
            child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            log.write(_stamp() + f"arena: cannot start replica: {exc}\n".encode())
            _write_atomic(exit_file, json.dumps({"code": 127, "ts": time.time(), "error": str(exc)}))
            return 127
        assert child.stdout is not None
        for line in iter(child.stdout.readline, b""):
            if not line.endswith(b"\n"):
                line += b"\n"
            log.write(_stamp() + line)
        code = child.wait()
    if code < 0:  # killed by a signal: report as a shell would (128 + signal)
        code = 128 - code
    _write_atomic(exit_file, json.dumps({"code": code, "ts": time.time()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
