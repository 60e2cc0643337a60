"""The local engine as the SDK sees it: the `Engine` protocol over the daemon's API.

`plan` runs here, in the submitting process, and is pure once its inputs are gathered (the shell's
environment, the working directory, `mpirun --version`): it is what `--dry-run` prints and what `apply`
sends. Logs are read here too, straight from the replica's log file.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, urlencode

from arena.engines.local.transport import Transport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:  # annotations only: keep CLI start-up light (the views load msgspec: `list_summaries` needs none)
    from typing import Any

    from arena.engines.local.plan import LocalPlan
    from arena.spec.job import JobSpec
    from arena.summary import JobSummary
    from arena.views import DataView, Event, Instance, JobView, NodeView, QueueView

QUEUE_FIELDS = ("weight", "capability", "guarantee", "reclaimable", "state", "kueue")


def _kind(kind: str | None) -> str | None:
    if not kind:
        return None
    from arena import kinds

    return kinds.canonical(kind)


class LocalEngine:
    name = "local"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.transport = Transport(home)

    # ---- submit -------------------------------------------------------------------------------
    def plan(self, spec: JobSpec) -> LocalPlan:
        """The plan of `spec` here; a job larger than the configured limits is refused before it is planned
        (a plan holds every replica's argv and environment)."""
        from arena import config
        from arena.engines.local import planner, probe

        path = self.home / "config"
        config.limits(config.load(path), path).check_job(spec, path)
        return planner.plan(spec, probe.gather(spec, os.environ, os.getcwd()))

    def apply(self, plan: LocalPlan) -> JobView:
        """Send the plan with an idempotency key: if the connection is lost after the daemon committed the
        job, the transport's retry returns that job instead of "already exists"."""
        import uuid

        import msgspec

        body: dict[str, Any] = {"plan": msgspec.to_builtins(plan), "key": uuid.uuid4().hex}
        staged = None
        if plan.spec.sync is not None:  # fetched here, before anything is created; credentials stay in this process
            from arena.engines.local import codesync
            from arena.engines.local.store import is_disk_full

            try:
                staged = codesync.stage(plan.spec.sync, self.home / "staging")
            except OSError as exc:
                if is_disk_full(exc):
                    from arena.errors import DiskFull

                    raise DiskFull(str(self.home)) from None
                raise
            body["staged_code"] = str(staged)
        from arena.views import JobView

        try:
            return self.transport.request("POST", "/v1/jobs", body, type=JobView)
        finally:
            if staged is not None and staged.exists():
                import shutil

                shutil.rmtree(staged, ignore_errors=True)

    def submit(self, spec: JobSpec) -> JobView:
        return self.apply(self.plan(spec))

    # ---- jobs ---------------------------------------------------------------------------------
    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        from arena.views import JobView

        return self.transport.request("GET", self._list_path(namespace, kind), type=list[JobView])

    def list_summaries(self, namespace: str | None, kind: str | None = None) -> list[JobSummary]:
        """The daemon's rows as JSON arrays, decoded by the standard library: no view, no msgspec."""
        from arena import summary

        answer = self.transport.request("GET", self._list_path(namespace, kind, view="summary"))
        try:
            return summary.from_wire(answer)
        except (ValueError, TypeError, KeyError, AttributeError):
            from arena.errors import DaemonError

            raise DaemonError(f"the local daemon at {self.transport.paths.socket} answered a list this client cannot "
                              "read (is it another version?); restart it: arena daemon stop") from None

    def _list_path(self, namespace: str | None, kind: str | None, **extra: str) -> str:
        q = {"all": "1"} if namespace is None else {"namespace": namespace}
        if kind:
            q["kind"] = _kind(kind)  # type: ignore[assignment]
        return f"/v1/jobs?{urlencode({**q, **extra})}"

    def _job_path(self, namespace: str, name: str, suffix: str = "", **query: str | None) -> str:
        q = urlencode({k: v for k, v in query.items() if v is not None})
        return f"/v1/jobs/{quote(namespace, safe='')}/{quote(name, safe='')}{suffix}" + (f"?{q}" if q else "")

    def get(self, namespace: str, name: str, kind: str | None = None, events: bool = True,
            with_spec: bool = False) -> JobView:
        path = self._job_path(namespace, name, kind=_kind(kind), events="1" if events else "0",
                              spec="1" if with_spec else "0")
        from arena.views import JobView

        return self.transport.request("GET", path, type=JobView)

    def delete(self, namespace: str, name: str, kind: str | None = None) -> None:
        self.transport.request("DELETE", self._job_path(namespace, name, kind=_kind(kind)))

    def events(self, namespace: str, name: str, kind: str | None = None) -> list[Event]:
        from arena.views import Event

        return self.transport.request("GET", self._job_path(namespace, name, "/events", kind=_kind(kind)),
                                      type=list[Event])

    def prune(self, since_seconds: float, namespace: str | None, kind: str | None = None) -> list[JobView]:
        body = {"since": since_seconds, "all": namespace is None, "namespace": namespace, "kind": _kind(kind)}
        from arena.views import JobView

        return self.transport.request("POST", "/v1/prune", body, type=list[JobView])

    def logs(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
             container: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False) -> Iterator[str]:
        """Lines of one replica's log (no trailing newline); the chief's by default. `since` is an epoch time.

        A replica here is one process: `-c` may only name the replica itself (or its task)."""
        from arena import logs
        from arena.errors import ArenaError
        from arena.views import FINISHED

        view = self.get(namespace, name, kind, events=False)
        inst = instance_of(view, instance)
        if container not in (None, "", inst.name, inst.task):
            from arena.errors import Unsupported

            raise Unsupported(self.name, f"-c/--container {container!r} (replica {inst.name} is one process, "
                                         "without containers)")

        def done() -> bool:
            try:
                v = self.get(namespace, name, kind, events=False)
            except ArenaError:  # deleted meanwhile: nothing more will be written
                return True
            i = next((x for x in v.instances if x.name == inst.name), None)
            return v.status in FINISHED or i is None or i.status in ("Completed", "Error")  # jobview.ENDED

        return logs.read(Path(inst.logPath), tail=tail, since=since, timestamps=timestamps, follow=follow, done=done)

    # ---- attach, GPU metrics, whoami (engines/local/{attach,gpumetrics,whoami}.py) --------------
    def attach(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
               container: str | None = None, command: Sequence[str] = ()) -> int:
        from arena.engines.local import attach

        return attach.run(self, namespace, name, _kind(kind), instance, container, command)

    def queue_plan(self, op: str, name: str, **fields: Any) -> list[dict[str, Any]]:
        from arena.engines.local import queueplan

        return queueplan.plan(self, op, name, **fields)

    def gpu_metrics(self, view: JobView) -> dict:
        from arena.engines.local import gpumetrics

        return gpumetrics.of_job(view, [self.node()]) if any(i.gpuIndices for i in view.instances) else {}

    def node_metrics(self, nodes: Sequence[NodeView]) -> list[NodeView]:
        """The daemon reads NVML with every node view (N/A without a driver or for declared GPUs): nothing to add."""
        return list(nodes)

    def whoami(self, namespace: str, arena_namespace: str = "arena-system") -> Any:
        from arena.engines.local import whoami

        return whoami.whoami()

    # ---- queues -------------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[QueueView]:
        from arena.views import QueueView

        path = "/v1/queues" if name is None else f"/v1/queues/{quote(name, safe='')}"
        return self.transport.request("GET", path, type=list[QueueView])

    def queue_op(self, op: str, name: str, **fields: Any) -> list[QueueView]:
        unknown = sorted(set(fields) - set(QUEUE_FIELDS))
        if unknown:
            from arena.errors import Unsupported

            raise Unsupported(self.name, f"queue field(s) {', '.join(unknown)}")
        method, path = {"create": ("POST", "/v1/queues"), "update": ("PUT", f"/v1/queues/{quote(name, safe='')}"),
                        "delete": ("DELETE", f"/v1/queues/{quote(name, safe='')}"),
                        "open": ("POST", f"/v1/queues/{quote(name, safe='')}/open"),
                        "close": ("POST", f"/v1/queues/{quote(name, safe='')}/close")}[op]
        body = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
        from arena.views import QueueView

        return self.transport.request(method, path, body, type=list[QueueView])

    # ---- nodes and data -----------------------------------------------------------------------
    def node(self) -> NodeView:
        from arena.views import NodeView

        return self.transport.request("GET", "/v1/node", type=NodeView)

    def nodes(self, names: Sequence[str] = ()) -> list[NodeView]:
        """The machine, the one node here (also under the name `localhost`)."""
        node = self.node()
        return [node] if not names or node.name in names or "localhost" in names else []

    def data(self, op: str = "list", name: str = "", path: str = "", description: str = "",
             namespace: str | None = None) -> list[DataView]:
        """Named directories, shared by every namespace on this machine (`namespace` selects nothing here)."""
        from arena.views import DataView

        if op == "create":
            body = {"name": name, "path": path, "description": description}
            return self.transport.request("POST", "/v1/data", body, type=list[DataView])
        if op == "delete":
            return self.transport.request("DELETE", f"/v1/data/{quote(name, safe='')}", type=list[DataView])
        return self.transport.request("GET", "/v1/data", type=list[DataView])

    # ---- serving ------------------------------------------------------------------------------
    def serving(self) -> Any:
        """`arena serve` on this machine (engines/local/serving): replica sets of the daemon behind a proxy."""
        from arena.engines.local.serving.client import LocalServing

        return LocalServing(self.transport, self)


def instance_of(view: JobView, instance: str | None = None) -> Instance:
    """The chief/master replica by default, as upstream; `-i` picks another (by name or `<task>-<i>`)."""
    from arena.errors import InvalidSpec

    if instance:
        for i in view.instances:
            if i.name == instance or f"{i.task}-{i.index}" == instance:
                return i
        names = ", ".join(i.name for i in view.instances)
        raise InvalidSpec("--instance", f"{instance!r} is not an instance of job {view.name} ({names})")
    if len(view.instances) == 1:
        return view.instances[0]
    for i in view.instances:
        if i.chief:
            return i
    names = ", ".join(i.name for i in view.instances)
    raise InvalidSpec("--instance", f"job {view.name} has {len(view.instances)} instances and no chief; pick one: {names}")
