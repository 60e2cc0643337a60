"""Per-replica shim: runs one replica, timestamps its output into a log file, records its exit.

Forked by the spawner process (`spawnd.py`, which has this module imported) or, without one, started
by the daemon (`python -I -S shim.py ...`); either way in its own session, so it and the replica
outlive a daemon crash; the daemon re-adopts them from the lock, pid and exit files. Standard
library only, and no package import, to start in a few milliseconds (the daemon imports the
process helpers below from here, so both sides find a replica's processes the same way).

What it guarantees:
- **One shim per replica.** It holds a POSIX lock on the replica's lock file for its whole life and
  runs nothing unless it got it, so a replica started twice (a daemon killed between starting a shim
  and recording it, then starting it again) runs once; the lock's holder is how the daemon tells
  whether a shim runs (no pid to be reused). Nor does it run when the exit file is there: the daemon
  removes it before each start, so a second shim of the same start (a spawn request sent again after
  the spawner died before answering) finds the first one's run recorded and leaves it at that.
- **The replica's exit is its main process's exit**, as a container's is: when the command exits, the
  shim ends whatever it left behind (background jobs, double-forked daemons, children that ignore
  SIGTERM) and records the main process's code, even while a leftover still holds its stdout.
- **Every descendant is found**: in the replica's own cgroup (v2) when the machine allows it, else
  by its process group and by the marker variable (ARENA_REPLICA_UID) that every descendant inherits.
  The shim is also a child subreaper, so orphans of the replica are reaped here.
- **Logs are bounded**: lines are cut at 64 KiB, and past `--log-bytes` the log is rotated (the older
  half kept in `<log>.1`) with a marker line saying so.

Log lines are `<RFC3339 UTC timestamp with microseconds> <text>`, like the container
runtime's log format, so `arena logs --since/--timestamps` work.
Usage: shim.py --lock F --pid F --exit F --log F [--cgroup DIR] [--marker TAG] [--log-bytes N] -- ARGV...
"""
from __future__ import annotations

import _thread
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import time

MARKER = "ARENA_REPLICA_UID"  # inherited by every descendant of a replica: "<job uid>/<key>"
AFFINITY = "ARENA_CPU_AFFINITY"  # the cores the replica is pinned to ("0,1"), when it requests CPUs (cpuset.py)
LINE_MAX = 64 * 1024  # a longer line (a progress bar without newlines) is cut into pieces of this size
LEFTOVER_WAIT = 5.0  # seconds to end what the main process left behind before reporting anyway
GONE_STEP = 0.001  # seconds between two looks at a killed cgroup's emptiness
PR_SET_CHILD_SUBREAPER = 36


# ---- process helpers, shared with the daemon (supervisor.py) ---------------------------------------
def marked(tag: str, skip: int = 0) -> list[int]:
    """Pids of the live processes whose environment carries the replica's marker (one walk of /proc).

    Unreadable entries (another user's processes, a process that just exited) are skipped: a replica's
    processes run as the user who started it."""
    needle = f"\0{MARKER}={tag}\0".encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == skip:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                data = f.read()
        except OSError:
            continue
        if needle in b"\0" + data and not zombie(int(name)):
            out.append(int(name))
    return out


def in_group(pgid: int, skip: int = 0) -> list[int]:
    """Pids of the live processes of process group `pgid`."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == skip:
            continue
        try:
            if os.getpgid(int(name)) == pgid and not zombie(int(name)):
                out.append(int(name))
        except OSError:
            continue
    return out


def zombie(pid: int) -> bool:
    """True for a process that has exited and waits to be reaped (or is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


def cgroup_members(cgroup: str) -> list[int]:
    """Live pids in the cgroup (and its children); empty when it does not exist."""
    out = []
    for root, _dirs, _files in os.walk(cgroup):
        try:
            with open(os.path.join(root, "cgroup.procs")) as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    return [p for p in out if not zombie(p)]


def cgroup_kill(cgroup: str) -> bool:
    """SIGKILL every process of the cgroup at once (`cgroup.kill`, Linux 5.14+): nothing can fork away."""
    try:
        with open(os.path.join(cgroup, "cgroup.kill"), "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def kill_members(cgroup: str) -> None:
    """SIGKILL every process of the cgroup: at once where the kernel can, else one by one."""
    if cgroup_kill(cgroup):
        return
    for pid in cgroup_members(cgroup):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # gone already


def fresh_cgroup(cgroup: str) -> str:
    """The replica's cgroup, made here (by the one shim that holds the replica's lock, off the daemon's path) and
    empty: what an earlier run left in it is ended first. '' when it cannot be made: the marker then finds the
    replica's processes."""
    try:
        os.mkdir(cgroup)  # the usual case: its job's cgroup is there, its own is not
        return cgroup
    except FileExistsError:
        # SIGKILL lands as each process next runs, and the cgroup empties a moment later: the replica starts once
        # they are gone (else their exit could outlast the replica's and keep its cgroup).
        deadline = time.monotonic() + LEFTOVER_WAIT
        while True:
            kill_members(cgroup)
            if cgroup_remove(cgroup) != errno.EBUSY or time.monotonic() >= deadline:
                break
            time.sleep(GONE_STEP)
    except FileNotFoundError:  # its job's cgroup first
        pass
    except OSError:
        return ""
    try:
        os.makedirs(cgroup, exist_ok=True)
    except OSError:
        return ""
    return cgroup


def cgroup_remove(cgroup: str) -> int:
    """Remove the (empty) cgroup and its empty children; a populated one stays. 0 when it is gone, else the errno
    of its own rmdir (EBUSY: populated)."""
    try:
        os.rmdir(cgroup)  # the usual case: no child cgroup
        return 0
    except FileNotFoundError:
        return 0
    except OSError:
        pass
    for root, _dirs, _files in os.walk(cgroup, topdown=False):
        try:
            os.rmdir(root)
        except FileNotFoundError:
            pass
        except OSError as e:
            if root == cgroup:
                return e.errno or 0
    return 0


def lock_holder(path: str) -> int | None:
    """The pid holding the POSIX lock on `path` (a running shim), None when nobody does.

    Tested with F_GETLK, which takes nothing: probing never makes a starting shim lose its lock."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
        query = struct.pack("hhqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        l_type, _, _, _, l_pid = struct.unpack("hhqqixxxx", answer)
        return l_pid if l_type != fcntl.F_UNLCK and l_pid > 0 else None
    except OSError:
        return None
    finally:
        os.close(fd)


def end_all(cgroup: str, tag: str, pgid: int, me: int, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every process of the replica but `me`: its cgroup, else its marker; and its process group.

    Returns what was signalled (empty: nothing of it is left)."""
    members = cgroup_members(cgroup) if cgroup else []
    if members and sig == signal.SIGKILL:
        cgroup_kill(cgroup)
    targets = set(members)
    if not members and tag:
        targets.update(marked(tag, skip=me))
    if pgid:
        targets.update(in_group(pgid, skip=me))
    targets.discard(me)
    # Each process group whole first (one killpg reaches a shell and its command at once: signalled one by one,
    # a shell whose command died first would carry on with its next line), never the caller's own group.
    own = os.getpgid(0)
    groups = set()
    for pid in targets:
        try:
            groups.add(os.getpgid(pid))
        except OSError:
            pass
    for group in groups - {own, 0, 1}:
        try:
            os.killpg(group, sig)
        except OSError:
            pass
    for pid in targets:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    return sorted(targets)


# ---- the shim itself -------------------------------------------------------------------------------
def _stamp() -> bytes:
    now = time.time()
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z ").encode()


def _write_atomic(path: str, data: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


class Log:
    """The replica's log file, rotated past `limit` bytes: the newest half stays, the older half moves to
    `<log>.1` (replacing the one before), and the new file starts with a line saying so."""

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self.limit = limit
        try:
            self.f = open(path, "ab", buffering=0)
        except FileNotFoundError:  # its folder (`logs/`): the job's first replica to start makes it
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.f = open(path, "ab", buffering=0)
        self.size = self.f.tell()

    def write(self, text: bytes) -> None:
        line = _stamp() + text
        if self.limit and self.size + len(line) > max(self.limit // 2, 1) and self.size:
            self.rotate()
        self.f.write(line)
        self.size += len(line)

    def rotate(self) -> None:
        self.f.close()
        os.replace(self.path, self.path + ".1")
        self.f = open(self.path, "ab", buffering=0)
        name = os.path.basename(self.path)
        marker = (f"arena: log rotated at {self.size} bytes (limits.log_bytes_per_replica {self.limit}): "
                  f"the previous part is in {name}.1, older output was dropped\n").encode()
        self.f.write(_stamp() + marker)
        self.size = self.f.tell()

    def close(self) -> None:
        self.f.close()


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    split = argv.index("--")
    opts, cmd = argv[:split], argv[split + 1:]
    return {opts[i].lstrip("-"): opts[i + 1] for i in range(0, len(opts) - 1, 2)}, cmd


def _join(cgroup: str) -> None:
    """In the replica's child, before exec: move into its cgroup (best effort; the marker still finds it)."""
    _move(cgroup, os.getpid())


def _move(cgroup: str, pid: int) -> bool:
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return True
    except OSError:
        return False


def _holds(cgroup: str, pid: int) -> bool:
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            return str(pid) in f.read().split()
    except OSError:
        return False


def own_cgroup() -> str:
    """This process's cgroup v2 directory ('' when there is none to return to): the shim steps into the replica's
    cgroup to start it, then back here."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next((line[3:].strip() for line in f if line.startswith("0::")), "")
        with open("/proc/self/mounts") as f:
            mount = next((m.split()[1] for m in f if m.split()[2:3] == ["cgroup2"]), "")
    except (OSError, IndexError):
        return ""
    if not path or not mount or "/.." in path:
        return ""
    home = os.path.normpath(mount + path)
    return home if os.access(os.path.join(home, "cgroup.procs"), os.W_OK) else ""


HOME_CGROUP: list[str] = []  # the spawner fills it once (its shims share its cgroup); else found per shim


class Child:
    """The replica's main process: its pid, the read end of its output, its exit code once reaped."""

    def __init__(self, pid: int, out: int) -> None:
        self.pid = pid
        self.out = out
        self.returncode: int | None = None


def _start(cmd: list[str], env: dict[str, str] | None, cgroup: str) -> Child:
    """Start the replica's main process, in its cgroup when it has one.

    Cheapest first: this shim steps into the replica's cgroup, starts the child with `posix_spawn` (vfork and
    exec, none of this process copied), and steps back to its own cgroup, so the child is in the replica's
    cgroup from its first instruction and the shim is not (a `cgroup.kill` of the replica must not end the
    shim that records its exit). Where the shim cannot step back, the child joins from a `preexec_fn`, which
    costs a full fork of this process."""
    if not cgroup:
        return _spawn(cmd, env)
    if not HOME_CGROUP:
        HOME_CGROUP.append(own_cgroup())
    home, me = HOME_CGROUP[0], os.getpid()
    if home and _move(cgroup, me):
        try:
            return _spawn(cmd, env)
        finally:
            if not _move(home, me):  # cannot happen where the step in worked; never stay in the replica's cgroup
                os._exit(70)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=lambda: _join(cgroup))
    assert proc.stdout is not None
    out = os.dup(proc.stdout.fileno())
    proc.stdout.close()
    return Child(proc.pid, out)


def _spawn(cmd: list[str], env: dict[str, str] | None) -> Child:
    """`posix_spawnp` with stdin from /dev/null and stdout and stderr into one pipe; the signals Python
    ignores (SIGPIPE, SIGXFSZ) back to their defaults, as `Popen` restores them."""
    r, w = os.pipe()  # both close on exec; the dup2s below are what the child keeps
    try:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ if env is None else env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)],
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return Child(pid, r)


_PRCTL: list = []  # libc's prctl, loaded once (the spawner loads it before forking shims)


def load_prctl() -> None:
    if not _PRCTL:
        try:
            import ctypes

            _PRCTL.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):  # pragma: no cover - non-Linux
            _PRCTL.append(None)


def _subreaper() -> None:
    load_prctl()
    if _PRCTL[0] is not None:
        _PRCTL[0](PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _pin(cores: str, log: Log) -> None:
    """Pin this shim, and so the replica it starts, to `cores`; a core this machine does not allow any more is
    logged, and the replica runs unpinned rather than not at all."""
    try:
        os.sched_setaffinity(0, [int(c) for c in cores.split(",")])
    except (OSError, ValueError, AttributeError) as exc:
        log.write(f"arena: cannot pin the replica to CPUs {cores}: {exc}\n".encode())


def main(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run the replica; `env` is its environment (None: this process's, as when started as a script)."""
    opts, cmd = _options(argv)
    import fcntl

    lock = os.open(opts["lock"], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another shim runs this replica: it is the one (it writes the pid and exit files)
    pid_file, exit_file = opts["pid"], opts["exit"]
    if os.path.exists(exit_file):  # this start has run already: a spawn retried after its answer was lost
        return 0
    cgroup, tag = opts.get("cgroup", ""), opts.get("marker", "")
    me = os.getpid()
    try:  # its own session and group (the daemon starts it so): ending the group's leftovers ends nothing else
        os.setsid()
    except OSError:  # already a group leader
        pass
    _write_atomic(pid_file, str(me))
    _subreaper()
    child: Child | None = None
    stopped: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        # The daemon signals every process of the replica; pass it on in case the child left the group.
        stopped.append(signum)
        if child is not None and child.returncode is None:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    # A handler (not SIG_IGN): handlers reset to default in the exec'd child.
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    try:
        log = Log(opts["log"], int(opts.get("log-bytes", "0")))
    except OSError as exc:  # as shim.c: the exit file says why
        why = f"cannot open the log: [Errno {exc.errno}] {os.strerror(exc.errno or 0)}: {opts['log']!r}"
        _write_atomic(exit_file, json.dumps({"code": 127, "ts": time.time(), "error": why}))
        return 127
    if cores := (os.environ if env is None else env).get(AFFINITY):
        _pin(cores, log)
    if stopped:  # stopped before it started: nothing to run
        log.close()
        _write_atomic(exit_file, json.dumps({"code": 128 + stopped[0], "ts": time.time()}))
        return 0
    cgroup = fresh_cgroup(cgroup) if cgroup else ""
    try:
        child = _start(cmd, env, cgroup)
    except (OSError, subprocess.SubprocessError) as exc:
        if cgroup:
            cgroup_remove(cgroup)
        log.write(f"arena: cannot start replica: {exc}\n".encode())
        log.close()
        _write_atomic(exit_file, json.dumps({"code": 127, "ts": time.time(), "error": str(exc)}))
        return 127
    if stopped:
        forward(stopped[0], None)
    # In its cgroup, every descendant is found there; else by the marker (a walk over every process's environment).
    joined = bool(cgroup) and _holds(cgroup, child.pid)
    out = open(child.out, "rb")
    pumping = _thread.allocate_lock()  # held while the pump runs: released when the output is drained
    pumping.acquire()

    def pump() -> None:
        try:
            for line in iter(lambda: out.readline(LINE_MAX), b""):
                log.write(line if line.endswith(b"\n") else line + b"\n")
        finally:
            pumping.release()

    _thread.start_new_thread(pump, ())  # a bare thread: `threading` costs more than the rest of a short replica
    status = _wait_main(child.pid)
    child.returncode = os.waitstatus_to_exitcode(status)
    code = child.returncode if child.returncode >= 0 else 128 - child.returncode  # killed: as a shell reports it
    # The main process is gone: end what it left behind, as a container's end does, then drain its output.
    # A subreaper with no child left has no descendant left (orphans are re-parented here): nothing to look for.
    deadline = time.monotonic() + LEFTOVER_WAIT
    while not _reap() and end_all(cgroup, "" if joined else tag, os.getpgid(0), me) and time.monotonic() < deadline:
        time.sleep(0.01)
    drained = pumping.acquire(timeout=max(deadline - time.monotonic(), 0.5))
    _reap()
    if cgroup:
        cgroup_remove(cgroup)
    if drained:
        log.close()
    _write_atomic(exit_file, json.dumps({"code": code, "ts": time.time()}))
    return 0


def _wait_main(pid: int) -> int:
    """Wait for the main process, reaping any orphan of the replica that was re-parented here meanwhile."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:  # pragma: no cover - the main process is our child until we reap it
            return 0
        if got == pid:
            return status


def _reap() -> bool:
    """Reap what has exited; True when no child is left at all."""
    while True:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if not got:
            return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
