"""The interface both engines implement; the SDK facade talks only to this."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: keep CLI start-up light
    from arena.spec.job import JobSpec
    from arena.views import JobView, NodeView


class Engine(Protocol):
    name: str

    def submit(self, spec: JobSpec) -> JobView: ...

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]: ...

    def get(self, namespace: str, name: str, events: bool = True, with_spec: bool = False) -> JobView: ...

    def delete(self, namespace: str, name: str) -> None: ...

    def prune(self, since_seconds: float, namespace: str | None) -> list[JobView]: ...

    def node(self) -> NodeView: ...
