"""The serving half of the Engine interface (`Engine.serving()`): what `arena serve` and `Client.serve_*` use.

Both engines implement it, or raise `arena.errors.Unsupported`. Like job submission, a serving submit is
two steps: `plan(spec)` is pure and returns exactly what `apply` sends (`--dry-run` prints it), and
`submit(spec)` is `apply(plan(spec))`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from arena.serving.spec import ServingSpec, ServingUpdate, TrafficSplit
    from arena.serving.views import ServingView


class ServingPlan(Protocol):
    spec: ServingSpec

    def document(self) -> Any: ...

    def text(self, fmt: str) -> str: ...


class Serving(Protocol):
    def plan(self, spec: ServingSpec) -> ServingPlan: ...

    def apply(self, plan: ServingPlan) -> ServingView: ...

    def submit(self, spec: ServingSpec) -> ServingView: ...

    def list(self, namespace: str | None, type: str | None = None) -> list[ServingView]: ...

    def get(self, namespace: str, name: str, version: str | None = None, type: str | None = None) -> ServingView: ...

    def delete(self, namespace: str, name: str, version: str | None = None,
               type: str | None = None) -> list[ServingView]: ...

    def update(self, update: ServingUpdate) -> ServingView: ...

    def traffic_split(self, split: TrafficSplit) -> list[ServingView]: ...

    def logs(self, namespace: str, name: str, version: str | None = None, type: str | None = None,
             instance: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False, container: str | None = None) -> Iterator[str]:
        """Lines of one instance's log: on a cluster its main container, or `container`."""
        ...

    def attach(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
               instance: str | None = None, container: str | None = None, command: Sequence[str] = ()) -> int:
        """Run `command` (default: a shell) where an instance serves, on this terminal; its exit code."""
        ...
