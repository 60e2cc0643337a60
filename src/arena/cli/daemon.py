"""`arena daemon start | stop [--stop-jobs] | status | logs | repair`."""
from __future__ import annotations

import argparse
import os
import signal

from arena.cli.parser import add_global


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    p.add_argument("action", choices=("start", "stop", "status", "logs", "repair"),
                   help="repair: make a damaged store usable again (restores its backup) and settle the jobs "
                        "found on disk that it does not know")
    p.add_argument("--stop-jobs", action="store_true",
                   help="stop: end every running job too (by default they keep running and are re-adopted "
                        "by the next daemon)")
    add_global(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from arena import config
    from arena.engines.local.transport import Transport

    home = config.home()
    t = Transport(home, autostart=False)
    if args.action == "logs":
        try:
            print(t.paths.daemon_log.read_text(), end="")
        except FileNotFoundError:
            pass
        return 0
    if args.action == "repair":
        return _repair(t)
    running = t.alive()
    if args.action == "start":
        if not running:
            t.start_daemon()
        info = t.request("GET", "/v1/ping")
        print(f"arenad running (pid {info['pid']}, home {info['home']})")
        return 0
    if args.action == "status":
        if not running:
            print(f"arenad not running (home {home})")
            return 1
        info = t.request("GET", "/v1/ping")
        cap = info["capacity"]
        print(f"arenad running (pid {info['pid']}, version {info['version']}, home {info['home']})")
        print(f"capacity ({cap['source']}): cpu={cap['cpu_milli'] // 1000} memory={cap['memory']} "
              f"gpus={len(cap['gpus'])}")
        return 0
    # stop: replicas keep running under their shims and are re-adopted by the next daemon, unless --stop-jobs
    if not running:
        print("arenad not running")
        return 0
    stopped: list[str] = []
    if args.stop_jobs:
        stopped = t.request("POST", "/v1/daemon/stop", {"stop_jobs": True})["stopped"]
    pid = t.request("GET", "/v1/ping")["pid"]
    t.close()
    os.kill(pid, signal.SIGTERM)
    if not t.wait_exited():
        from arena.errors import DaemonError

        raise DaemonError(f"arenad (pid {pid}) did not exit within 30 s of SIGTERM; see 'arena daemon logs'")
    if args.stop_jobs:
        print(f"arenad stopped (pid {pid}); {len(stopped)} running job(s) stopped"
              + (f": {', '.join(stopped)}" if stopped else ""))
    else:
        print(f"arenad stopped (pid {pid}); running jobs keep running and are re-adopted on the next start")
    return 0


def _repair(t) -> int:  # type: ignore[no-untyped-def]
    from arena.engines.local import integrity

    if t.alive():
        from arena.errors import ArenaError

        raise ArenaError("arenad is running; stop it first with 'arena daemon stop', then run 'arena daemon repair'")
    t.check_ownership()
    for line in integrity.repair(t.paths):
        print(line)
    return 0
