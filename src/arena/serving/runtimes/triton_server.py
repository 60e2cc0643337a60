"""Start the nvidia-pytriton wheel's `tritonserver` as PyTriton would, then get out of the way (`exec`).

    python -m arena.serving.runtimes.triton_server --python ~/triton/bin/python -- \\
        .../pytriton/tritonserver/bin/tritonserver --http-port=8000 --model-repository=/models

What `arena serve triton` runs on the local engine when its `tritonserver` is the wheel's (a real Triton
install on PATH runs as it is). The wheel's server cannot run bare: its python backend needs the stub of the
models' Python beside it, the stub needs the wheel's libraries and that Python's libpython, and the stub's
embedded interpreter is whichever `python3` comes first on PATH. So at each start this

1. puts together a backend directory for `--python`'s version under `$ARENA_JOB_DIR/triton` (links only);
2. sets LD_LIBRARY_PATH (the wheel's libraries, the Python's libdir) and puts the Python's `bin` first on PATH;
3. adds `--backend-directory`, `--cache-directory` and a shared-memory prefix of the replica's own (two
   servers with the python backend on one machine otherwise share their regions' names), unless given;
4. `exec`s the server, so that the shim signals it directly.

A Python that cannot serve (no numpy, numpy 2, no stub for its version) is one line on stderr and exit 1;
`arena serve triton` checks the same before submitting.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from arena.serving.runtimes import triton_wheel


def options(argv: list[str], root: Path, backends: Path) -> list[str]:
    """The server's arguments with what the wheel's layout needs, where the caller did not say otherwise."""
    given = " ".join(argv)
    extra: list[str] = []
    if "--backend-directory" not in given:
        extra.append(f"--backend-directory={backends}")
    if "--cache-directory" not in given:
        extra.append(f"--cache-directory={root / 'caches'}")
    if "shm-region-prefix-name" not in given:
        extra.append(f"--backend-config=python,shm-region-prefix-name={shm_prefix()}")
    return [*argv, *extra]


def shm_prefix() -> str:
    """The replica's own prefix for the python backend's shared-memory regions (the job's uid: unique across
    namespaces and Arena homes; the replica's index: unique within the job)."""
    uid = os.environ.get("ARENA_JOB_UID")
    if not uid:
        return f"arena_pid{os.getpid()}_"
    return f"arena_{uid}_{os.environ.get('ARENA_TASK', '')}{os.environ.get('ARENA_REPLICA_INDEX', '')}_"


def remove_stale_regions(prefix: str, shm: Path = Path("/dev/shm")) -> None:
    """A server killed with SIGKILL leaves its regions behind; the replica's next start removes them (the
    prefix is this replica's alone, and the replica runs one server at a time)."""
    for region in shm.glob(f"{prefix}*"):
        region.unlink(missing_ok=True)


def environment(info: triton_wheel.PythonInfo, root: Path) -> dict[str, str]:
    """The wheel's libraries and the Python's libpython found by the server and the stub; that Python's `bin`
    first on PATH, because the stub's embedded interpreter takes the first `python3` there as its home."""
    env = dict(os.environ)
    libs = [str(triton_wheel.libs_of(root))]
    if info.libdir and (Path(info.libdir) / f"libpython{info.version}.so.1.0").is_file():
        libs.append(info.libdir)
    env["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, *filter(None, [env.get("LD_LIBRARY_PATH", "")])])
    env["PATH"] = os.pathsep.join([str(Path(info.python).parent), *filter(None, [env.get("PATH", "")])])
    return env


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="triton_server", description=__doc__.split("\n")[0])
    parser.add_argument("--python", required=True, help="the Python that runs the models (numpy<2)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- tritonserver and its arguments")
    opts = parser.parse_args(args)
    argv = opts.argv[1:] if opts.argv[:1] == ["--"] else opts.argv
    if not argv:
        raise SystemExit("arena: triton_server: no tritonserver command after --")
    root = triton_wheel.root_of(argv[0])
    if root is None:
        raise SystemExit(f"arena: {argv[0]} is not the nvidia-pytriton wheel's tritonserver")
    try:
        info = triton_wheel.probe(opts.python)
    except LookupError as exc:
        raise SystemExit(f"arena: the python backend's Python: {exc}") from None
    why = triton_wheel.problem(info, root)
    if why:
        raise SystemExit(f"arena: serve triton: {why}")
    where = Path(os.environ.get("ARENA_JOB_DIR") or ".") / "triton"
    try:
        backends = triton_wheel.backend_dir(root, info.version, where)
    except OSError as exc:
        raise SystemExit(f"arena: serve triton: cannot put the backend directory together in {where}: {exc}") from None
    full = options(argv, root, backends)
    if "shm-region-prefix-name" not in " ".join(argv):
        remove_stale_regions(shm_prefix())
    sys.stdout.flush()
    os.execve(full[0], full, environment(info, root))


if __name__ == "__main__":
    main()
