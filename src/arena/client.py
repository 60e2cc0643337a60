"""The SDK facade: `from arena import Client`. The CLI is one of its users.

    from arena import Client
    c = Client()                                    # engine/namespace from flags, env, config
    job = c.submit_pytorchjob(name="mnist", workers=2, command="python train.py")
    c.wait("mnist")
    print("\\n".join(c.logs("mnist")))

Every method goes through the declared `Engine` interface (`arena.engines.base`); both engines
implement all of it or raise `arena.errors.Unsupported`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from arena import config as arena_config
from arena import debuglog
from arena.errors import ArenaError, EngineUnavailable
from arena.serving.sdk import ServingClient
from arena.summary import FINISHED

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:  # annotations only: keep CLI start-up light (the views load msgspec)
    from typing import Any

    from arena.engines.base import Engine, Plan
    from arena.spec.job import JobSpec
    from arena.summary import JobSummary
    from arena.views import DataView, Event, GpuMetrics, JobView, NodeView, QueueView, UserView


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
    kw = {k: v for k, v in kubernetes.items() if k in ("kubeconfig", "context", "arena_namespace")}
    return KubernetesEngine(namespace=namespace, arena_config=config or {}, **kw)


class Client(ServingClient):
    """One engine, one default namespace. Methods return typed views (arena.views); `serve_*` (arena.serving.sdk)."""

    def __init__(self, engine: str | None = None, namespace: str | None = None, home: str | Path | None = None,
                 arena_namespace: str = "arena-system", **kubernetes: Any) -> None:
        self.home = Path(home).expanduser() if home else arena_config.home()
        self.arena_namespace = arena_namespace or "arena-system"
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
        """Created on first use, so that commands that need no engine never load one."""
        if self._engine is None:
            debuglog.log("engine %s, namespace %s", self.engine_name, self.namespace)
            self._engine = make_engine(self.engine_name, self.home, self.namespace, self.config,
                                       **{"arena_namespace": self.arena_namespace, **self._kubernetes})
        return self._engine

    # ---- submit ---------------------------------------------------------------------------
    def plan(self, spec: JobSpec) -> Plan:
        """What submit would send, without sending it (`--dry-run` prints `plan.text(fmt)`)."""
        return self.engine.plan(spec)

    def apply(self, plan: Plan) -> JobView:
        return self.engine.apply(plan)

    def submit(self, spec: JobSpec) -> JobView:
        if debuglog.enabled:  # the same two steps, with the plan shown between them
            plan = self.engine.plan(spec)
            debuglog.dump(f"plan of {spec.kind} {spec.namespace}/{spec.name}", plan.document())
            return self.engine.apply(plan)
        return self.engine.submit(spec)

    def spec(self, kind: str, **opts: Any) -> JobSpec:
        """A JobSpec from keyword arguments named as the CLI's flags (`workers=2`, `gpus=1`, `env=["K=V"]`),
        through the same kind-declared mapping as the CLI and job files."""
        from arena import kinds

        opts.setdefault("namespace", self.namespace)
        return kinds.get(kind, "kind").spec_from_options(opts)

    def submit_job(self, kind: str, **opts: Any) -> JobView:
        return self.submit(self.spec(kind, **opts))

    def __getattr__(self, attr: str) -> Callable[..., JobView]:
        """`submit_<kind>(**opts)` for every kind of the registry (`submit_pytorchjob`, `submit_tfjob`, ...)."""
        if attr.startswith("submit_"):
            from arena import kinds

            kind = attr.removeprefix("submit_")
            if kind in kinds.names():
                return lambda **opts: self.submit_job(kind, **opts)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    # ---- read -----------------------------------------------------------------------------
    def get(self, name: str, namespace: str | None = None, events: bool = True, with_spec: bool = False,
            kind: str | None = None) -> JobView:
        debuglog.log("get job %s/%s (kind %s)", namespace or self.namespace, name, kind or "any")
        return self.engine.get(namespace or self.namespace, name, kind=_kind(kind), events=events,
                               with_spec=with_spec)

    def list(self, all_namespaces: bool = False, kind: str | None = None,
             namespace: str | None = None) -> list[JobView]:
        debuglog.log("list jobs in %s (kind %s)", "all namespaces" if all_namespaces else namespace or self.namespace,
                     kind or "any")
        return self.engine.list(None if all_namespaces else (namespace or self.namespace), _kind(kind))

    def list_summaries(self, all_namespaces: bool = False, kind: str | None = None,
                       namespace: str | None = None) -> list[JobSummary]:
        """`list` as its table shows it (name, status, times, GPUs, node, queue): a light named tuple per job,
        fetched and decoded at a fraction of a full view's cost. `arena list` prints these."""
        debuglog.log("list job summaries in %s (kind %s)",
                     "all namespaces" if all_namespaces else namespace or self.namespace, kind or "any")
        return self.engine.list_summaries(None if all_namespaces else (namespace or self.namespace), _kind(kind))

    def events(self, name: str, namespace: str | None = None, kind: str | None = None) -> list[Event]:
        return self.engine.events(namespace or self.namespace, name, kind=_kind(kind))

    def nodes(self, names: Sequence[str] = ()) -> list[NodeView]:
        return self.engine.nodes(names)

    def node_metrics(self, nodes: Sequence[NodeView]) -> list[NodeView]:
        """The nodes with each GPU's live figures (`top node --metric`)."""
        return self.engine.node_metrics(nodes)

    def node(self) -> NodeView:
        """The first node: the machine itself on the local engine."""
        return self.nodes()[0]

    def wait(self, name: str, namespace: str | None = None, timeout: float | None = None, poll: float = 0.25,
             on_change: Callable[[JobView], None] | None = None, kind: str | None = None) -> JobView:
        """Block until the job finishes; `on_change` sees every status change (for live lines)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            view = self.get(name, namespace, events=False, kind=kind)
            key = (view.status, view.phase, view.restarts, sum(1 for i in view.instances if i.status == "Running"))
            if on_change is not None and key != last:
                on_change(view)
            last = key
            if view.status in FINISHED:
                return view
            if deadline is not None and time.monotonic() >= deadline:
                raise ArenaError(f"timed out waiting for job {name!r} (status {view.status})")
            time.sleep(poll)

    def logs(self, name: str, namespace: str | None = None, instance: str | None = None, follow: bool = False,
             tail: int = -1, since: float | None = None, timestamps: bool = False, kind: str | None = None,
             container: str | None = None) -> Iterator[str]:
        """Lines of one replica's log (no trailing newline). `since` is an epoch time."""
        return self.engine.logs(namespace or self.namespace, name, kind=_kind(kind), instance=instance,
                                container=container, follow=follow, tail=tail, since=since, timestamps=timestamps)

    # ---- queues ---------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[QueueView]:
        """Queues with weight, state, capability, deserved share, allocation and job counts."""
        return self.engine.queues(name)

    def queue(self, op: str, name: str, **fields: Any) -> list[QueueView]:
        """op: create | update | delete | open | close; fields: weight, capability, guarantee, reclaimable, state."""
        debuglog.log("queue %s %s %s", op, name, {k: v for k, v in fields.items() if v is not None})
        return self.engine.queue_op(op, name, **fields)

    def queue_plan(self, op: str, name: str, **fields: Any) -> list[dict[str, Any]]:
        """What `queue(op, name, **fields)` would create or change, with nothing changed."""
        return self.engine.queue_plan(op, name, **fields)

    # ---- data -----------------------------------------------------------------------------
    def data(self, op: str = "list", name: str = "", path: str = "", description: str = "",
             all_namespaces: bool = False) -> list[DataView]:
        return self.engine.data(op, name, path, description, namespace=None if all_namespaces else self.namespace)

    # ---- delete ---------------------------------------------------------------------------
    def delete(self, name: str, namespace: str | None = None, kind: str | None = None) -> None:
        debuglog.log("delete job %s/%s (kind %s)", namespace or self.namespace, name, kind or "any")
        self.engine.delete(namespace or self.namespace, name, kind=_kind(kind))

    def prune(self, since: str | float, all_namespaces: bool = False, kind: str | None = None) -> list[JobView]:
        from arena.spec import duration

        seconds = since if isinstance(since, (int, float)) else duration.parse_seconds(since, "--since")
        debuglog.log("prune jobs finished more than %ss ago", seconds)
        return self.engine.prune(float(seconds), None if all_namespaces else self.namespace, kind=_kind(kind))

    # ---- attach, GPU metrics, whoami ------------------------------------------------------
    def attach(self, name: str, namespace: str | None = None, instance: str | None = None,
               container: str | None = None, command: Sequence[str] = (), kind: str | None = None) -> int:
        """Run `command` (default: a shell) where one instance of the job runs, on this terminal; its exit
        code. Locally: in the replica's environment and working directory; on a cluster: exec in the pod."""
        debuglog.log("attach to %s/%s instance %s: %s", namespace or self.namespace, name, instance or "(chief)",
                     " ".join(command) or "(shell)")
        return self.engine.attach(namespace or self.namespace, name, kind=_kind(kind), instance=instance,
                                  container=container, command=command)

    def gpu_metrics(self, view: JobView) -> GpuMetrics:
        """instance -> GPU id -> live figures, for the instances that have them (N/A otherwise)."""
        return self.engine.gpu_metrics(view)

    def whoami(self) -> UserView:
        """The user Arena acts as: upstream's {Name, Id, IsAdminUser}, and whether the namespace isolates."""
        return self.engine.whoami(self.namespace, self.arena_namespace)


def _kind(kind: str | None) -> str | None:
    """A kind's canonical name (aliases accepted), or None for every kind."""
    if not kind:
        return None
    from arena import kinds

    return kinds.canonical(kind, "--type")
