"""The spawner process: forks a ready shim per replica, so no replica waits for an interpreter to start.

Started by the daemon (`python -I -S spawnd.py FD_REQ FD_NOTE PADDING [NATIVE_SHIM]`) in its own session, with
the shim's code already imported. Standard library only, like the shim: it must start shims quickly and hold
nothing the replicas could inherit. With a native shim (`native.py`, the same shim in C) each request is one
`posix_spawn` of it in a new session, with the replica's environment, its working directory as `--cwd` and
every signal back to its default. Without one, the spawner forks and the child becomes the shim exactly as
`python -I -S shim.py` would (its own session, the replica's environment and working directory, then
`shim.main`). Either way every guarantee in shim.py's docstring holds unchanged: the lock, the exit file, the
cgroup / group / marker clean-up, the subreaper, the bounded logs. A native shim that cannot be exec'd (its
cached binary removed) sends this request and every later one down the fork path.

Why a separate process and not a fork of the daemon: the daemon is large (forking it costs milliseconds and
copies its threads' locks), and a replica must not depend on it. Replicas outlive both: each shim leads its own
session, so a `kill -9` of the spawner or of the daemon ends neither the shims nor their replicas (orphaned
shims are re-parented to the daemon, a subreaper, or to init), and the daemon re-adopts them from their lock,
pid and exit files as before.

Protocol, one JSON object per line. On FD_REQ the daemon sends `{"argv": [...], "env": {...}, "cwd": "..."}`
(argv: the shim's options, `--`, the replica's command) and reads back `{"pid": N}` right after the fork,
or `{"error": "...", "errno": N, "filename": ...}` when it cannot start (a missing working directory fails as
`Popen(cwd=...)` would; one removed after that check ends the replica with 127 and a line in its log).
On FD_NOTE the spawner writes a byte whenever shims exit, so the daemon's loop wakes on exits instead of
polling. End of file on FD_REQ (the daemon is gone) ends the spawner; its shims carry on.
"""
from __future__ import annotations

import errno
import gc
import json
import os
import selectors
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's directory out

import shim  # noqa: E402  (the shim's code, imported once: every fork starts with it ready)

import ctypes  # noqa: E402,F401  (what the shim imports lazily, for its subreaper call: imported once here)
import fcntl  # noqa: E402

shim.load_prctl()  # what every shim needs, found once here
shim.HOME_CGROUP.append(shim.own_cgroup())


def _child(req: dict, keep: tuple[int, ...]) -> int:
    """In the forked child: become the shim, as `python -I -S shim.py ARGV` started in a new session would."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # as the interpreter leaves them at start
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for fd in keep:
        os.close(fd)
    os.setsid()
    _title(["arena-shim", *req["argv"]])
    try:
        os.chdir(req["cwd"])
    except OSError as exc:  # the directory went away since the spawner looked: the replica cannot start
        return _unstartable(req["argv"], f"cannot start replica: {exc}")
    return shim.main(list(req["argv"]), dict(req["env"]))


def _title(words: list[str]) -> None:
    """Show the shim as what it is in `ps` (its options name the replica's files), not as the spawner: the
    words are written over this process's argument area, which the spawner's padding argument makes room for.
    Best effort: where /proc/self/mem cannot be written the spawner's command line stays."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rfind(b")") + 2:].split()  # from field 3 (state): arg_start, arg_end are 48 and 49
        start, end = int(fields[45]), int(fields[46])
        data = b"\0".join(w.encode() for w in words)[:end - start - 1]
        fd = os.open("/proc/self/mem", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, data + b"\0" * (end - start - len(data)), start)
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        pass


def _unstartable(argv: list[str], why: str) -> int:
    """Record, as the shim would, a replica that could not start: a line in its log, exit 127."""
    opts, _ = shim._options(argv)
    try:
        lock = os.open(opts["lock"], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another shim runs it: that one reports
    except OSError:
        return 0
    try:
        log = shim.Log(opts["log"], 0)
        log.write(f"arena: {why}\n".encode())
        log.close()
        shim._write_atomic(opts["exit"], json.dumps({"code": 127, "ts": time.time(), "error": why}))
    except OSError:
        pass
    return 127


def _check_dir(cwd: str) -> dict | None:
    """Why the replica cannot start in `cwd` (as `Popen(cwd=...)` says it), None when it can."""
    try:
        st = os.stat(cwd)
    except OSError as exc:
        return {"error": exc.strerror, "errno": exc.errno, "filename": cwd}
    if not stat.S_ISDIR(st.st_mode):
        return {"error": os.strerror(errno.ENOTDIR), "errno": errno.ENOTDIR, "filename": cwd}
    if not os.access(cwd, os.X_OK):
        return {"error": os.strerror(errno.EACCES), "errno": errno.EACCES, "filename": cwd}
    return None


NATIVE: list[str] = []  # the native shim's path, while it can be exec'd
# every signal but KILL and STOP goes back to its default in a native shim
_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


def _spawn_native(req: dict) -> dict | None:
    """posix_spawn the native shim; None when its binary cannot be exec'd (the fork path takes over)."""
    argv = list(req["argv"])
    split = argv.index("--")
    argv[split:split] = ["--cwd", req["cwd"]]
    try:
        pid = os.posix_spawn(NATIVE[0], ["arena-shim", *argv], req["env"], setsid=True, setsigmask=(),
                             setsigdef=_SIGNALS)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.ELOOP):
            NATIVE.clear()
            return None
        return {"error": exc.strerror, "errno": exc.errno or 0}
    except (ValueError, TypeError) as exc:  # a NUL in argv or environment (the daemon refuses them before)
        return {"error": str(exc), "errno": errno.EINVAL}
    return {"pid": pid}


def _fork(req: dict, keep: tuple[int, ...]) -> dict:
    """Start one shim; its pid, or why it cannot start. Answered at once: the child needs no more of us."""
    bad = _check_dir(req["cwd"])
    if bad is not None:
        return bad
    if NATIVE and (answer := _spawn_native(req)) is not None:
        return answer
    try:
        pid = os.fork()
    except OSError as exc:
        return {"error": exc.strerror, "errno": exc.errno or 0}
    if pid == 0:  # pragma: no cover - runs in the child (seen through the shim's files)
        code = 127
        try:
            code = _child(req, keep)
        except BaseException as exc:  # never return into the spawner's loop
            code = _unstartable(req["argv"], f"cannot start replica: {type(exc).__name__}: {exc}")
        finally:
            os._exit(code)
    return {"pid": pid}


def _reap(note: int) -> None:
    """Reap exited shims; tell the daemon (one byte; a full pipe already says so)."""
    reaped = False
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if not pid:
            break
        reaped = True
    if reaped:
        try:
            os.write(note, b"x")
        except (BlockingIOError, BrokenPipeError):
            pass


def serve(req_fd: int, note_fd: int) -> int:
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w, note_fd):
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up fd carries it
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for fd in (req_fd, note_fd):  # passed to us inheritable: no shim may hold the daemon's ends open
        os.set_inheritable(fd, False)
    requests = os.fdopen(req_fd, "rb", buffering=0)
    sel = selectors.DefaultSelector()
    sel.register(req_fd, selectors.EVENT_READ, "req")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    keep = (req_fd, note_fd, wake_r, wake_w, sel.fileno())
    gc.freeze()  # what is here now is never collected: a forked shim's collections do not touch (and copy) it
    buf = b""
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                _reap(note_fd)
                continue
            data = requests.read(65536)
            if not data:  # the daemon is gone: the shims carry on without us
                return 0
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                answer = _fork(json.loads(line), keep)
                out = json.dumps(answer).encode() + b"\n"
                while out:
                    try:
                        out = out[os.write(req_fd, out):]
                    except InterruptedError:  # pragma: no cover
                        continue
                    except BrokenPipeError:
                        return 0
        _reap(note_fd)


if __name__ == "__main__":  # argv[3] is padding: room for each forked shim's title (`_title`); argv[4] the native shim
    if len(sys.argv) > 4 and sys.argv[4]:
        NATIVE.append(sys.argv[4])
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
