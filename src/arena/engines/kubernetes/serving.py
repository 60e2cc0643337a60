"""`arena serve` on the Kubernetes engine.

`plan` renders what upstream's charts render (`render/serving.py`): a Deployment and a Service per version for
custom, tensorflow and triton, a KServe InferenceService for kserve, validated against the CRDs like the job
kinds' manifests; `arena serve TYPE --dry-run --engine kubernetes` prints it. Creating, listing, updating and
splitting traffic on a cluster are not built yet: each says so in one line (`Unsupported`, exit 1).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from arena.errors import ArenaError, Unsupported
from arena.serving.spec import ServingSpec

if TYPE_CHECKING:
    from arena.serving.spec import ServingUpdate, TrafficSplit
    from arena.serving.views import ServingView

NOT_YET = "arena serve {what} (the manifests render: --dry-run prints them; applying them is not built yet)"


class KubeServingPlan(msgspec.Struct, frozen=True):
    spec: ServingSpec
    manifests: list[dict[str, Any]]

    def document(self) -> list[dict[str, Any]]:
        return self.manifests

    def text(self, fmt: str) -> str:
        from arena.engines.kubernetes.render.serving import plan_text

        return plan_text(self.manifests, fmt)


class KubeServing:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def plan(self, spec: ServingSpec) -> KubeServingPlan:
        from arena.engines.kubernetes.render.serving import ServingContext
        from arena.serving import types

        try:
            user_id, user_name = self.engine._owner()
        except (ArenaError, AttributeError):
            user_id = user_name = None
        secrets = tuple(s for s in str((getattr(self.engine, "arena_config", None) or {}).get("imagePullSecrets", ""))
                        .split(",") if s)
        ctx = ServingContext(user_id=user_id, user_name=user_name, created=int(time.time()), pull_secrets=secrets)
        return KubeServingPlan(spec, types.get(spec.type).k8s_render(spec, ctx))

    def apply(self, plan: Any) -> ServingView:
        raise Unsupported("kubernetes", NOT_YET.format(what=plan.spec.type))

    def submit(self, spec: ServingSpec) -> ServingView:
        return self.apply(self.plan(spec))

    def list(self, namespace: str | None, type: str | None = None) -> list[ServingView]:  # noqa: A002
        raise Unsupported("kubernetes", NOT_YET.format(what="list"))

    def get(self, namespace: str, name: str, version: str | None = None,
            type: str | None = None) -> ServingView:  # noqa: A002
        raise Unsupported("kubernetes", NOT_YET.format(what="get"))

    def delete(self, namespace: str, name: str, version: str | None = None,
               type: str | None = None) -> list[ServingView]:  # noqa: A002
        raise Unsupported("kubernetes", NOT_YET.format(what="delete"))

    def update(self, update: ServingUpdate) -> ServingView:
        raise Unsupported("kubernetes", NOT_YET.format(what="update"))

    def traffic_split(self, split: TrafficSplit) -> list[ServingView]:
        raise Unsupported("kubernetes", NOT_YET.format(what="traffic-split"))

    def logs(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
             instance: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False) -> Iterator[str]:
        raise Unsupported("kubernetes", NOT_YET.format(what="logs"))
