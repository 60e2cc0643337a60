"""`arena serve` on the local engine, as the SDK sees it: the `Serving` interface over the daemon's API.

Planning runs here, in the submitting process (it reads this shell's environment and where the type's
server is installed, once); logs are read here too, straight from the replica's log file.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from arena.engines.local.engine import LocalEngine
    from arena.engines.local.serving.plan import ServingPlan
    from arena.engines.local.transport import Transport
    from arena.serving.spec import ServingSpec, ServingUpdate, TrafficSplit
    from arena.serving.views import ServingInstance, ServingView

FIRST_REVISION = "00001"


class LocalServing:
    def __init__(self, transport: Transport, engine: LocalEngine | None = None) -> None:
        self.transport = transport
        self.engine = engine  # for attach: it runs the job attach of the instance's generation

    def plan(self, spec: ServingSpec) -> ServingPlan:
        import msgspec

        from arena.engines.local.serving import plan as planning
        from arena.serving import types

        if types.get(spec.type).versionless and not spec.version:  # kserve: its revisions are the versions
            spec = msgspec.structs.replace(spec, version=FIRST_REVISION)
        planning.check_local(spec)
        return planning.plan(spec, planning.gather(spec, os.environ, os.getcwd()))

    def apply(self, plan: ServingPlan) -> ServingView:
        import msgspec

        from arena.serving.views import ServingView

        return self.transport.request("POST", "/v1/serving", {"plan": msgspec.to_builtins(plan)}, type=ServingView)

    def submit(self, spec: ServingSpec) -> ServingView:
        return self.apply(self.plan(spec))

    def _path(self, namespace: str, name: str, suffix: str = "", **query: str | None) -> str:
        q = urlencode({k: v for k, v in query.items() if v})
        return f"/v1/serving/{quote(namespace)}/{quote(name)}{suffix}" + (f"?{q}" if q else "")

    def list(self, namespace: str | None, type: str | None = None) -> list[ServingView]:  # noqa: A002
        from arena.serving.views import ServingView

        q: dict[str, str] = {"all": "1"} if namespace is None else {"namespace": namespace}
        if type:
            q["type"] = type
        return self.transport.request("GET", f"/v1/serving?{urlencode(q)}", type=list[ServingView])

    def get(self, namespace: str, name: str, version: str | None = None,
            type: str | None = None) -> ServingView:  # noqa: A002
        from arena.serving.views import ServingView

        return self.transport.request("GET", self._path(namespace, name, version=version, type=type), type=ServingView)

    def delete(self, namespace: str, name: str, version: str | None = None,
               type: str | None = None) -> list[ServingView]:  # noqa: A002
        from arena.serving.views import ServingView

        return self.transport.request("DELETE", self._path(namespace, name, version=version, type=type),
                                      type=list[ServingView])

    def update(self, update: ServingUpdate) -> ServingView:
        """The new generation runs in this shell's environment, with the servers found from here; in the job's
        first working directory (its relative paths keep their meaning)."""
        import msgspec

        from arena.engines.local.serving import plan as planning
        from arena.serving.spec import ServingSpec
        from arena.serving.views import ServingView

        probe = ServingSpec(type=update.type, name=update.name, command=update.command)
        inputs = planning.gather(probe, os.environ, os.getcwd())
        return self.transport.request("PUT", self._path(update.namespace, update.name),
                                      {"update": msgspec.to_builtins(update), "inputs": msgspec.to_builtins(inputs)},
                                      type=ServingView)

    def traffic_split(self, split: TrafficSplit) -> list[ServingView]:
        import msgspec

        from arena.serving.views import ServingView

        return self.transport.request("POST", self._path(split.namespace, split.name, "/traffic"),
                                      {"split": msgspec.to_builtins(split)}, type=list[ServingView])

    def logs(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
             instance: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False, container: str | None = None) -> Iterator[str]:
        """Lines of one instance's log; the only instance when there is one (upstream asks for `-i` otherwise).
        An instance is one process: the only container name is the instance's own, as `attach` takes it."""
        from pathlib import Path

        from arena import logs
        from arena.errors import ArenaError
        from arena.serving.views import pick_instance

        view = self.get(namespace, name, version, type)
        inst = pick_instance(view, instance)
        if container not in (None, "", inst.name):
            from arena.errors import Unsupported

            raise Unsupported("local", f"-c/--container {container!r} (an instance here is one process)")

        def done() -> bool:
            try:
                v = self.get(namespace, name, version, type)
            except ArenaError:
                return True
            return not any(i.name == inst.name for i in v.instances)

        return logs.read(Path(inst.logPath), tail=tail, since=since, timestamps=timestamps, follow=follow, done=done)

    def attach(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
               instance: str | None = None, container: str | None = None, command: Sequence[str] = ()) -> int:
        """A shell (or the command) in one replica's environment and directory: the replica of the generation's
        job that the instance is (`<name>-<version>-<generation>-<index>` is replica `index` of job
        `<name>.<version>.<generation>`), through the job attach."""
        import sys

        from arena.engines.local import attach as job_attach
        from arena.engines.local.serving.plan import job_name
        from arena.errors import ArenaError
        from arena.serving.views import attach_greeting, attach_instance

        if self.engine is None:
            raise ArenaError("serve attach needs the local engine")
        view = self.get(namespace, name, version, type)
        inst = attach_instance(view, instance)
        generation, index = inst.name.rsplit("-", 2)[1:]
        job = job_name(name, inst.version, int(generation))
        replica = next((i.name for i in self.engine.get(namespace, job, events=False).instances
                        if str(i.index) == index), None)
        if replica is None:
            raise ArenaError(f"instance {inst.name} of serving job {name} is gone")
        if container not in (None, "", inst.name):
            from arena.errors import Unsupported

            raise Unsupported("local", f"-c/--container {container!r} (an instance here is one process)")
        sys.stderr.write(attach_greeting(inst.name, inst.name) + "\n")
        return job_attach.run(self.engine, namespace, job, None, replica, None, command)

def serving(engine: Any) -> LocalServing:
    return LocalServing(engine.transport, engine)
