"""`Client.serve_*`: serving jobs from Python, through the same options and engine calls as `arena serve`.

    from arena import Client
    c = Client()
    c.serve("custom", name="digits", replicas=2, restful_port=8080, command="python serve.py")
    c.serve_traffic_split("digits", {"v1": 80, "v2": 20})
    for v in c.serve_list():
        print(v.name, v.version, v.availableInstances, v.ip, v.ports_text)
    c.serve_delete("digits", version="v1")

Keyword arguments are the `arena serve TYPE` flags' names (`restful_port`, `model_name`, `env=["K=V"]` or
`env={"K": "V"}`), mapped by `arena.serving.options`, the CLI's own path. `Client` takes these methods from
`ServingClient`; every one goes through `Engine.serving()` (`arena.serving.base.Serving`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

    from arena.engines.base import Engine
    from arena.serving.base import Serving, ServingPlan
    from arena.serving.spec import ServingSpec
    from arena.serving.views import ServingView


class ServingClient:
    """The serving methods of `arena.Client` (a mixin: `engine` and `namespace` are the client's)."""

    engine: Engine
    namespace: str

    @property
    def serving(self) -> Serving:
        return self.engine.serving()

    def serve_spec(self, type: str, **opts: Any) -> ServingSpec:  # noqa: A002 - upstream's word
        """A `ServingSpec` from keyword arguments named as `arena serve TYPE`'s flags."""
        from arena.serving.options import spec_from_options

        namespace = opts.pop("namespace", None) or self.namespace
        return spec_from_options(type, opts, namespace=namespace)

    def serve_plan(self, spec: ServingSpec) -> ServingPlan:
        """What `serve_submit` would send, without sending it (`arena serve TYPE --dry-run`)."""
        return self.serving.plan(spec)

    def serve_submit(self, spec: ServingSpec) -> ServingView:
        return self.serving.submit(spec)

    def serve(self, type: str, **opts: Any) -> ServingView:  # noqa: A002
        """Submit a serving job: `serve("custom", name=..., command=..., restful_port=8080, replicas=2)`."""
        return self.serve_submit(self.serve_spec(type, **opts))

    def serve_list(self, all_namespaces: bool = False, type: str | None = None,  # noqa: A002
                   namespace: str | None = None) -> list[ServingView]:
        return self.serving.list(None if all_namespaces else (namespace or self.namespace), _type(type))

    def serve_get(self, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
                  namespace: str | None = None) -> ServingView:
        return self.serving.get(namespace or self.namespace, name, version or None, _type(type))

    def serve_delete(self, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
                     namespace: str | None = None) -> list[ServingView]:
        """Delete a serving job (one version with `version`); returns when its replicas are gone."""
        return self.serving.delete(namespace or self.namespace, name, version or None, _type(type))

    def serve_update(self, type: str, **opts: Any) -> ServingView:  # noqa: A002
        """A rolling update: `serve_update("custom", name="digits", command="python serve.py --v2")`."""
        from arena.serving.options import update_from_options

        namespace = opts.pop("namespace", None) or self.namespace
        return self.serving.update(update_from_options(type, opts, namespace))

    def serve_traffic_split(self, name: str, weights: Mapping[str, int] | list[str],
                            namespace: str | None = None) -> list[ServingView]:
        """Each version's share of the name's requests: `{"v1": 80, "v2": 20}` (or upstream's `["v1:80", ...]`)."""
        from arena.serving.options import traffic_from_options

        split = traffic_from_options({"name": name, "version_weight": weights}, namespace or self.namespace)
        return self.serving.traffic_split(split)

    def serve_logs(self, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
                   instance: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
                   timestamps: bool = False, namespace: str | None = None,
                   container: str | None = None) -> Iterator[str]:
        """Lines of one instance's log (`since`: an epoch time). On a cluster `container` picks one of the pod's
        containers (default: the main one); locally an instance is one process, named like the instance."""
        return self.serving.logs(namespace or self.namespace, name, version or None, _type(type), instance, follow,
                                 tail, since, timestamps, container)

    def serve_attach(self, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
                     instance: str | None = None, container: str | None = None, command: Sequence[str] = (),
                     namespace: str | None = None) -> int:
        """Run `command` (default: a shell) where an instance of the serving job runs; its exit code.
        Locally: in the replica's environment and directory; on a cluster: exec in the pod."""
        return self.serving.attach(namespace or self.namespace, name, version or None, _type(type), instance,
                                   container, command)


def _type(value: str | None) -> str | None:
    """A serving type's name from any of upstream's spellings (-T accepts names, aliases, labels)."""
    if not value:
        return None
    from arena.serving import types

    return types.get(value, "--type").name
