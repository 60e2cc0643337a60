"""Starting what the plan says: a replica (or TensorBoard) under its shim, with the bind-time values filled in.

The argv, environment, working directory and files come from the job's `LocalPlan` unchanged except for
its placeholders (ports, GPUs, job uid and directory), which are substituted here from what the binder
recorded. The job's files are (re)written before each start, atomically and only when they changed, so a
replica already running never reads a half-written file.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from arena.engines.local import faults
from arena.engines.local.catalog import Catalog
from arena.engines.local.clock import Clock
from arena.engines.local.effects import Effects
from arena.engines.local.isolation import isolated
from arena.engines.local.plan import LOOPBACK, TENSORBOARD, Bindings, LocalPlan
from arena.engines.local.plan import port as placeholder_port
from arena.engines.local.paths import ReplicaFiles
from arena.engines.local.ports import Ports
from arena.engines.local.repo import Repo
from arena.engines.local.rows import JobRow, ReplicaRow
from arena.engines.local.supervisor import Processes, tag_of

LOG_BYTES = 2**30  # a replica's log is rotated past this (`limits.log_bytes_per_replica` in the config file)


class Spawner:
    def __init__(self, repo: Repo, catalog: Catalog, effects: Effects, procs: Processes, ports: Ports,
                 clock: Clock, log_bytes: int = LOG_BYTES) -> None:
        self.repo = repo
        self.catalog = catalog
        self.effects = effects
        self.procs = procs
        self.ports = ports
        self.clock = clock
        self.log_bytes = log_bytes
        self._pending: list[tuple[JobRow, str, bool, Callable[[], tuple[int, float]]]] = []  # forks asked for

    def bindings(self, job: JobRow, reps: list[ReplicaRow] | None = None) -> Bindings:
        reps = self.repo.replicas(job.uid) if reps is None else reps
        ports = {r.key: r.port for r in reps if r.port}
        if job.tb_port:
            ports[TENSORBOARD] = job.tb_port
        return Bindings.of(job.uid, job.job_dir, ports, {r.key: r.gpus for r in reps}, {r.key: r.cpus for r in reps})

    def start_replica(self, uid: str, key: str, in_place: bool = False, defer: bool = False,
                      rows: tuple[JobRow, list[ReplicaRow]] | None = None) -> None:
        """Start (or, `in_place`, restart) a bound replica; idempotent, as the shim's lock makes it: a replica
        whose shim already runs is recorded as running, not started twice. With `defer`, the start is asked for
        and recorded by `settle` (the binder starts a pass's replicas together). `rows`: the job and its replicas
        as the caller has just read them in this pass (else read here)."""
        if rows is None:
            job, reps = self.repo.job(uid), self.repo.replicas(uid)
        else:
            job, reps = rows
        if job is None or job.finished is not None or not any(r.key == key for r in reps):
            return
        plan = self.catalog.plan(uid)
        if plan is None:
            return
        bindings = self.bindings(job, reps)
        launch = bindings.replica(plan.replica(key))
        files = ReplicaFiles.of(job.job_dir, key)
        try:
            write_files(Path(job.job_dir), bindings.files(plan.files))  # the log (and `logs/`) are the shim's to make
            self.repo.flush()  # the bind is on disk before the replica runs on it
            result = self.procs.begin(launch.argv, launch.env, launch.cwd, files, tag_of(uid, key), self.log_bytes)
        except OSError as exc:
            self._unstartable(job, key, exc)
            return
        self._pending.append((job, key, in_place, result))
        if not defer:
            self.settle()

    def settle(self) -> None:
        """Record the replicas whose forks were asked for: each one's pid, or why it could not start."""
        pending, self._pending = self._pending, []
        for job, key, in_place, result in pending:
            self.repo.step_aside()
            with isolated(self.repo, self.catalog, self.effects, job.uid):
                try:
                    pid, ctime = result()
                except OSError as exc:
                    self._unstartable(job, key, exc)
                    continue
                faults.crash("replica-spawned", job.job_dir)  # tests: a daemon killed before recording a start
                if self.started(job, key, pid, ctime, in_place):
                    continue
                now = self.repo.job(job.uid)  # ended meanwhile (a sibling could not start)
                self.effects.terminate(job.uid, now.reason if now is not None else "job removed")

    def _unstartable(self, job: JobRow, key: str, exc: OSError) -> None:
        with self.repo.tx() as tx:
            self.effects.finish(tx, job.uid, False, f"cannot start {job.name}-{key}: {exc}")
        self.effects.terminate(job.uid, str(exc))

    def started(self, job: JobRow, key: str, pid: int, ctime: float | None, in_place: bool = False) -> bool:
        """Record a replica's shim as running: just started, or found running (adopted) after a daemon that
        started it died before recording it. False when its job has ended (or is gone) meanwhile."""
        uid, name = job.uid, f"{job.name}-{key}"
        with self.repo.tx() as tx:
            tx.replica_running(uid, key, pid, ctime)
            # No pid in the message: a replica restarting in place keeps one row with a count (its pid is shown with
            # the instance).
            tx.event(uid, "Started", f"started {name}", source=f"pod/{name}", aggregate=in_place)
            state = tx.job_state(uid)
            if state is not None and state[0] is None and tx.count_replicas(uid, ("Pending", "Starting")) == 0:
                tx.set_phase(uid, "Running", "all replicas running", "RUNNING")
        return state is not None and state[0] is None

    def start_tensorboard(self, uid: str) -> None:
        """TensorBoard for the job on a free loopback port, under a shim like any replica."""
        job = self.repo.job(uid)
        plan: LocalPlan | None = self.catalog.plan(uid) if job is not None else None
        if job is None or plan is None or plan.tensorboard is None:
            return
        port = self.ports.allocate()
        proc = Bindings({**self.bindings(job).values, placeholder_port(TENSORBOARD): str(port)}).process(plan.tensorboard)
        try:
            for d in proc.dirs:
                Path(d).mkdir(parents=True, exist_ok=True)
            self.repo.flush()
            pid, ctime = self.procs.spawn(proc.argv, proc.env, proc.cwd, ReplicaFiles.of(job.job_dir, TENSORBOARD),
                                          tag_of(uid, TENSORBOARD), self.log_bytes)
        except OSError as exc:
            with self.repo.tx() as tx:
                tx.event(uid, "TensorboardFailed", f"cannot start tensorboard: {exc}", "Warning")
            return
        with self.repo.tx() as tx:
            tx.job_tensorboard(uid, pid, ctime, port)
            tx.event(uid, "Tensorboard", f"tensorboard at http://{LOOPBACK}:{port} (logdir {', '.join(proc.dirs)})")


def write_files(job_dir: Path, files: dict[str, str]) -> None:
    """The job's files, each replaced whole and left alone when unchanged; never outside the job directory."""
    if not files:
        return
    root = job_dir.resolve()
    for relative, text in files.items():
        path = (job_dir / relative).resolve()
        if root not in path.parents:
            raise OSError(f"job file {relative!r} is outside the job directory")
        try:
            if path.read_text() == text:
                continue
        except OSError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
