"""The SDK facade: `from arena import Client`. The CLI is one of its users.

    from arena import Client
    c = Client()                                    # engine/namespace from flags, env, config
    job = c.submit_pytorchjob(name="mnist", workers=2, command="python train.py")
    c.wait("mnist")
    print("".join(c.logs("mnist")))
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from arena import config as arena_config
from typing import TYPE_CHECKING

from arena.errors import ArenaError, EngineUnavailable, InvalidSpec
from arena.views import FINISHED, Instance, JobView, NodeView

if TYPE_CHECKING:  # annotations only: keep CLI start-up light
    from arena.engines.base import Engine
    from arena.spec.job import JobSpec


def make_engine(name: str, home: Path, namespace: str | None = None, config: dict | None = None,
                **kubernetes: Any) -> Engine:
    if name == "local":
        from arena.engines.local.engine import LocalEngine

        return LocalEngine(home)
    try:
        from arena.engines.kubernetes.engine import KubernetesEngine
    except ImportError as exc:  # lightkube is the 'kubernetes' extra
        raise EngineUnavailable(f"--engine: the kubernetes engine needs the 'kubernetes' extra "
                                f"(pip install 'arena-ml[kubernetes]'): {exc}") from None
    kw = {k: v for k, v in kubernetes.items() if k in ("kubeconfig", "context")}
    return KubernetesEngine(namespace=namespace, arena_config=config or {}, **kw)


class Client:
    """One engine, one default namespace. Methods return typed views (arena.views)."""

    def __init__(self, engine: str | None = None, namespace: str | None = None, home: str | Path | None = None,
                 **kubernetes: Any) -> None:
        self.home = Path(home).expanduser() if home else arena_config.home()
        cfg = arena_config.load(self.home / "config")
        self.config = cfg
        self.engine_name = arena_config.engine_name(engine, cfg)
        self._kubernetes = kubernetes
        self._engine: Engine | None = None
        if self.engine_name == "kubernetes":  # -n, config, then the kubeconfig context's namespace
            from arena.engines.kubernetes.kubeconfig import resolve_namespace

            self.namespace = resolve_namespace(namespace, cfg, kubernetes.get("kubeconfig"), kubernetes.get("context"))
        else:
            self.namespace = arena_config.namespace(namespace, cfg)

    @property
    def engine(self) -> Engine:
        """Created on first use, so that pure operations (dry-run) never load an API client."""
        if self._engine is None:
            self._engine = make_engine(self.engine_name, self.home, self.namespace, self.config, **self._kubernetes)
        return self._engine

    # ---- submit ---------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> JobView:
        return self.engine.submit(spec)

    def plan(self, spec: JobSpec) -> Any:
        """What submit would send, without sending it: manifests (kubernetes) or the resolved spec (local)."""
        if self.engine_name == "kubernetes":
            import os

            from arena.engines.kubernetes import planner

            return planner.plan(spec, os.environ)
        from arena.spec import job as jobspec

        return jobspec.to_builtins(spec)

    def submit_pytorchjob(self, **opts: Any) -> JobView:
        from arena.spec import pytorchjob

        opts.setdefault("namespace", self.namespace)
        return self.submit(pytorchjob.build(**opts))

    # ---- read -----------------------------------------------------------------------------
    def get(self, name: str, namespace: str | None = None, events: bool = True, with_spec: bool = False) -> JobView:
        return self.engine.get(namespace or self.namespace, name, events=events, with_spec=with_spec)

    def list(self, all_namespaces: bool = False, kind: str | None = None,
             namespace: str | None = None) -> list[JobView]:
        return self.engine.list(None if all_namespaces else (namespace or self.namespace), kind)

    def node(self) -> NodeView:
        return self.engine.node()

    def wait(self, name: str, namespace: str | None = None, timeout: float | None = None, poll: float = 0.25,
             on_change: Callable[[JobView], None] | None = None) -> JobView:
        """Block until the job finishes; `on_change` sees every status change (for live lines)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            view = self.get(name, namespace, events=False)
            key = (view.status, view.phase, view.restarts, sum(1 for i in view.instances if i.status == "Running"))
            if on_change is not None and key != last:
                on_change(view)
            last = key
            if view.status in FINISHED:
                return view
            if deadline is not None and time.monotonic() >= deadline:
                raise ArenaError(f"timed out waiting for job {name!r} (status {view.status})")
            time.sleep(poll)

    def instance(self, view: JobView, instance: str | None = None) -> Instance:
        """The chief/master replica by default, as upstream; -i picks another."""
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

    def logs(self, name: str, namespace: str | None = None, instance: str | None = None, follow: bool = False,
             tail: int = -1, since: float | None = None, timestamps: bool = False) -> Iterator[str]:
        """Lines of one replica's log (no trailing newline). `since` is an epoch time."""
        if hasattr(self.engine, "logs"):  # the cluster serves logs through its API
            return self.engine.logs(namespace or self.namespace, name, instance=instance,  # type: ignore[attr-defined]
                                    follow=follow, tail=tail, since=since, timestamps=timestamps)
        from arena import logs

        view = self.get(name, namespace, events=False)
        inst = self.instance(view, instance)

        def done() -> bool:
            try:
                v = self.get(name, namespace, events=False)
            except ArenaError:
                return True
            i = next((x for x in v.instances if x.name == inst.name), None)
            return v.status in FINISHED or i is None or i.status in ("Succeeded", "Failed")

        return logs.read(Path(inst.logPath), tail=tail, since=since, timestamps=timestamps, follow=follow, done=done)

    # ---- queues ---------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[Any]:
        """Queues with weight, state, capability, deserved share, allocation and job counts."""
        return self.engine.queues(name)  # type: ignore[attr-defined]

    def queue(self, op: str, name: str, **fields: Any) -> list[Any]:
        """op: create | update | delete | open | close; fields: weight, capability, guarantee, reclaimable, state."""
        return self.engine.queue_op(op, name, **fields)  # type: ignore[attr-defined]

    # ---- delete ---------------------------------------------------------------------------
    def delete(self, name: str, namespace: str | None = None) -> None:
        self.engine.delete(namespace or self.namespace, name)

    def prune(self, since: str | float, all_namespaces: bool = False) -> list[JobView]:
        from arena.spec import duration

        seconds = since if isinstance(since, (int, float)) else duration.parse_seconds(since, "--since")
        return self.engine.prune(float(seconds), None if all_namespaces else self.namespace)
