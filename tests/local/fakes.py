"""The local engine's rooms, assembled on a fake clock and fake processes: no process starts, nothing sleeps.

`FakeProcesses` plays the shim's part: `spawn` records what would have started (argv, env, cwd) and
`exit(key, code)` writes the exit file a shim would write; a signalled process exits (143 on SIGTERM).
Tests drive the engine through its interfaces (the API, `loop.reconcile()`), never its internals.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec
import pytest

from arena.engines.local import planner, supervisor
from arena.engines.local.api import SubmitRequest
from arena.engines.local.core import Core, assemble
from arena.engines.local.node import Capacity
from arena.engines.local.paths import Paths, ReplicaFiles
from arena.engines.local.plan import Inputs, LocalPlan
from arena.spec.job import JobSpec
from arena.views import JobView

GiB = 2**30


class FakeClock:
    """A settable clock for tests: `sleep` advances it instead of waiting."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Started(msgspec.Struct):
    pid: int
    argv: list[str]
    env: dict[str, str]
    cwd: str
    exit_file: Path
    files: dict[str, str] = {}  # the job's files as they were on disk when it started
    tag: str = ""  # the replica's name for its processes (supervisor.tag_of)
    alive: bool = True
    signals: list[int] = []


class FakeProcesses:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.started: list[Started] = []
        self._next = 4000

    # ---- the supervisor's interface ----------------------------------------------------------
    def begin(self, argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
              log_bytes: int = 0) -> Callable[[], tuple[int, float]]:
        started = self.spawn(argv, env, cwd, files, tag, log_bytes)
        return lambda: started

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, files: ReplicaFiles, tag: str,
              log_bytes: int = 0) -> tuple[int, float]:
        running = self.shim(files, None, None)
        if running is not None:  # as the shim's lock does: a replica whose shim runs is not started twice
            return running, float(running)
        self._next += 1
        exit_file = files.exit
        exit_file.unlink(missing_ok=True)
        files.pid.write_text(str(self._next))
        job_dir = files.log.parent.parent  # <job dir>/logs/<key>.log
        files = {str(p.relative_to(job_dir)): p.read_text() for p in (job_dir / "etc").rglob("*") if p.is_file()} \
            if (job_dir / "etc").exists() else {}
        self.started.append(Started(self._next, list(argv), dict(env), cwd, exit_file, files, tag))
        return self._next, float(self._next)

    def alive(self, pid: int | None, ctime: float | None) -> bool:
        return any(s.pid == pid and s.alive for s in self.started)

    def shim(self, files: ReplicaFiles, pid: int | None, ctime: float | None) -> int | None:
        return next((s.pid for s in self.started if s.exit_file == files.exit and s.alive), None)

    read_exit = staticmethod(supervisor.read_exit)
    read_pid = staticmethod(supervisor.read_pid)

    def signal_tree(self, pid: int | None, ctime: float | None, sig: int, tag: str = "") -> None:
        """Every process of the replica: its shim by pid, or any of its processes by its tag."""
        for s in self.started:
            if (s.pid == pid or (tag and s.tag == tag)) and s.alive:
                s.signals.append(sig)
                self._end(s, 128 + int(sig))

    def group_alive(self, pid: int | None) -> bool:
        return self.alive(pid, None)

    def any_group_alive(self, pids: Iterable[int | None]) -> bool:
        return any(self.alive(p, None) for p in pids)

    def any_alive(self, procs: Iterable[tuple[int | None, str]]) -> bool:
        return any(self.alive(p, None) for p, _ in procs)

    def release(self, job_uid: str) -> None:
        pass

    # ---- the test's side ---------------------------------------------------------------------
    def _end(self, s: Started, code: int, error: str = "") -> None:
        s.alive = False
        s.exit_file.write_text(json.dumps({"code": code, "ts": self.clock.now(), **({"error": error} if error else {})}))

    def replica(self, key: str, job: str = "") -> Started:
        """The latest start of replica `<task>-<i>` (of `job`, when given)."""
        found = [s for s in self.started if s.env.get("ARENA_REPLICA_NAME", "").endswith(f"-{key}")
                 and (not job or s.env.get("ARENA_JOB_NAME") == job)]
        assert found, f"replica {key} never started"
        return found[-1]

    def exit(self, key: str, code: int = 0, job: str = "", error: str = "") -> None:
        """The replica ends with `code`; `error`: the shim could not start it, and says why."""
        self._end(self.replica(key, job), code, error)

    def vanish(self, key: str, job: str = "") -> None:
        """The shim dies without an exit file (kill -9 of the shim)."""
        self.replica(key, job).alive = False


class Engine:
    """The assembled rooms plus the fakes, with the few verbs tests need."""

    def __init__(self, home: Path, capacity: Capacity, config: dict | None = None) -> None:
        self.clock = FakeClock()
        self.procs = FakeProcesses(self.clock)
        paths = Paths(home)
        paths.ensure()
        self.core: Core = assemble(paths, capacity, config, clock=self.clock, procs=self.procs)

    @property
    def api(self):  # type: ignore[no-untyped-def]
        return self.core.api

    def plan(self, spec: JobSpec, **inputs: object) -> LocalPlan:
        return planner.plan(spec, Inputs(**inputs))  # type: ignore[arg-type]

    def submit(self, spec: JobSpec, **inputs: object) -> JobView:
        return self.api.submit(SubmitRequest(plan=self.plan(spec, **inputs)))

    def reconcile(self, times: int = 1) -> None:
        for _ in range(times):
            self.core.loop.reconcile()

    def get(self, name: str, namespace: str = "default") -> JobView:
        return self.api.get(namespace, name)

    def close(self) -> None:
        self.core.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "home", Capacity(cpu_milli=16000, memory=64 * GiB, gpus=(0, 1, 2, 3), source="declared"))
    yield e
    e.close()
