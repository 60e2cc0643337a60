"""The interface both engines implement; the SDK facade (`arena.client`) talks only to this.

Every operation the CLI or the SDK uses is declared here, each with an optional job kind. An
engine implements all of it, or raises `arena.errors.Unsupported` for what it cannot do (the CLI
prints that as one line, exit 1). Nothing above this layer asks an engine what it has
(`hasattr`/`getattr`): the declaration is the contract.

Submitting is two steps (STYLE §1): `plan(spec)` is pure and returns the exact thing `apply`
sends — manifests on Kubernetes, each replica's argv, env, working directory and files locally —
and `submit(spec)` is `apply(plan(spec))`. `--dry-run` prints `plan(spec).document()`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: keep CLI start-up light
    from arena.serving.base import Serving
    from arena.spec.job import JobSpec
    from arena.summary import JobSummary
    from arena.views import DataView, Event, GpuMetrics, JobView, NodeView, QueueView, UserView


class Plan(Protocol):
    """What `apply` receives. `document()` is what `--dry-run` prints (JSON/YAML-able builtins)."""

    spec: JobSpec

    def document(self) -> Any: ...

    def text(self, fmt: str) -> str:
        """The plan as `--dry-run -o yaml|json` prints it (Kubernetes: a multi-document YAML stream)."""
        ...


class Engine(Protocol):
    name: str

    # ---- submit ---------------------------------------------------------------------------
    def plan(self, spec: JobSpec) -> Plan: ...

    def apply(self, plan: Plan) -> JobView: ...

    def submit(self, spec: JobSpec) -> JobView: ...  # apply(plan(spec))

    # ---- jobs -----------------------------------------------------------------------------
    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]: ...

    def list_summaries(self, namespace: str | None, kind: str | None = None) -> list[JobSummary]:
        """`list` as its table shows it: one `JobSummary` per job, cheap to fetch and to decode."""
        ...

    def get(self, namespace: str, name: str, kind: str | None = None, events: bool = True,
            with_spec: bool = False) -> JobView: ...

    def delete(self, namespace: str, name: str, kind: str | None = None) -> None: ...

    def logs(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
             container: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False) -> Iterator[str]: ...

    def events(self, namespace: str, name: str, kind: str | None = None) -> list[Event]: ...

    def prune(self, since_seconds: float, namespace: str | None, kind: str | None = None) -> list[JobView]: ...

    def attach(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
               container: str | None = None, command: Sequence[str] = ()) -> int:
        """Run `command` (default: a shell) where an instance runs, on this terminal; its exit code.
        Locally: the replica's environment and working directory. On a cluster: exec in the pod."""
        ...

    def gpu_metrics(self, view: JobView) -> GpuMetrics:
        """Live figures of the GPUs each instance holds (`get -g`, `top job`): NVML locally, Prometheus
        on a cluster when one is configured; instances without figures are left out."""
        ...

    # ---- identity -------------------------------------------------------------------------
    def whoami(self, namespace: str, arena_namespace: str = "arena-system") -> UserView:
        """The user Arena acts as (`arena whoami`): name, upstream's Id, admin, isolation."""
        ...

    # ---- queues ---------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[QueueView]: ...

    def queue_op(self, op: str, name: str, **fields: Any) -> list[QueueView]: ...

    def queue_plan(self, op: str, name: str, **fields: Any) -> list[dict[str, Any]]:
        """What `queue_op` would create or change, validated, with nothing changed (`--dry-run`)."""
        ...

    # ---- nodes and data -------------------------------------------------------------------
    def nodes(self, names: Sequence[str] = ()) -> list[NodeView]: ...

    def node_metrics(self, nodes: Sequence[NodeView]) -> list[NodeView]:
        """`nodes` with each GPU's live figures in `gpus` (`top node --metric`): Prometheus on a cluster when one
        is configured; locally NVML's, which the node view carries already."""
        ...

    def data(self, op: str = "list", name: str = "", path: str = "", description: str = "",
             namespace: str | None = None) -> list[DataView]: ...

    # ---- serving (`arena serve`) ----------------------------------------------------------
    def serving(self) -> Serving:
        """The serving half of the engine (`arena.serving.base.Serving`): serving jobs, their versions, traffic."""
        ...
