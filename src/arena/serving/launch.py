"""A serving replica's launcher: its extra ports, then `exec` of the server.

The scheduler binds one port per replica (`PORT`, the REST port). A model server usually opens more —
gRPC, metrics — so a replica that needs them starts as `python -I -S launch.py --port GRPC_PORT ... --
ARGV...` (standard library only, no package import: a few milliseconds), which

1. picks a free loopback port for each `--port VAR`, keeping the previous run's when it is still free
   (a restarted replica keeps its address), and exports it;
2. records them in `$ARENA_JOB_DIR/<task>-<index>.serving.json` (in `status/` there for a job created before
   the replicas' status files moved to the job's folder), where the daemon reads them for its proxy and for
   `arena serve get`;
3. `exec`s ARGV, so that the server is the shim's child and receives its signals.

Restarts and their back-off (CrashLoopBackOff) are the reconcile loop's, as for every replica.
"""
from __future__ import annotations

import json
import os
import random
import socket
import sys

PORTS = (30000, 32700)  # above the replicas' 20000-29999, below Linux's ephemeral range


def state_path() -> str:
    job_dir = os.environ.get("ARENA_JOB_DIR", ".")
    key = f"{os.environ.get('ARENA_TASK', 'replica')}-{os.environ.get('ARENA_REPLICA_INDEX', '0')}"
    legacy = os.path.join(job_dir, "status")  # arena.engines.local.paths.status_dir, without its imports
    return os.path.join(legacy if os.path.isdir(legacy) else job_dir, f"{key}.serving.json")


def read(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write(path: str, data: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick(previous: object, taken: set[int]) -> int:
    if isinstance(previous, int) and previous not in taken and free(previous):
        return previous
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(*PORTS)
        if port not in taken and free(port):
            return port
    raise SystemExit("arena: no free port for the replica")


def main(argv: list[str]) -> int:
    names: list[str] = []
    while len(argv) >= 2 and argv[0] == "--port":
        names.append(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: launch.py [--port VAR]... -- ARGV...", file=sys.stderr)
        return 2
    path = state_path()
    old = read(path).get("ports")
    old = old if isinstance(old, dict) else {}
    ports: dict[str, int] = {}
    for name in names:
        ports[name] = pick(old.get(name), set(ports.values()))
    try:
        write(path, {"ports": ports, "pid": os.getpid()})
    except OSError as exc:
        print(f"arena: cannot record the replica's ports in {path}: {exc}", file=sys.stderr, flush=True)
    os.environ.update({k: str(v) for k, v in ports.items()})
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"arena: cannot start {argv[0]}: {exc}", file=sys.stderr, flush=True)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
