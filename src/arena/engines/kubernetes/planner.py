"""`plan(spec)`: the manifests submit would create — pure data, and light to import (no API client).

submit is `apply(plan(spec))` (STYLE §1): `KubePlan.manifests` are exactly the bodies `apply` POSTs
(the credentials Secret aside, which is built from the submitter's environment at apply time and
never printed), and `KubePlan.text(fmt)` is what `--dry-run -o yaml|json` prints. So the two cannot
drift, the API versions are chosen here, once: a kind whose spec leaves the version to the cluster
(`Kind.k8s_api_choices`, e.g. MPIJob v1 or v2beta1) asks `serves`, an API discovery lookup made at most
once per group version; every other kind asks nothing, so `--dry-run` of it never loads an API client.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from arena import kinds
from arena.errors import InvalidSpec
from arena.spec.job import JobSpec

# How long a plan waits for API discovery before it keeps the defaults: `--dry-run` of an MPIJob with
# an unreachable cluster in the kubeconfig must stay quick.
DISCOVERY_TIMEOUT = 3.0
FORMATS = ("yaml", "json")

Serves = Callable[[str], bool]  # CRD key -> whether the cluster serves it


class KubePlan(msgspec.Struct, frozen=True):
    """What `KubernetesEngine.apply` receives: the spec as planned and the manifests it creates, in order.

    manifests: primary object first; auxiliary objects carry the owner-uid placeholder that apply binds;
    credentials_secret: the name of the code-sync credentials Secret the manifests reference, which apply
    creates right after the primary from the submitter's environment; it is never part of the plan.
    """

    spec: JobSpec
    manifests: list[dict[str, Any]]
    credentials_secret: str | None = None

    def document(self) -> dict[str, Any]:
        """The objects as one `v1 List` (what `-o json` prints)."""
        from arena.engines.kubernetes.render.output import to_list

        return to_list(self.manifests)

    def text(self, fmt: str) -> str:
        """`--dry-run -o yaml`: a multi-document stream as `kubectl apply -f` reads it; `-o json`: a v1 List."""
        from arena.engines.kubernetes.render.output import to_json, to_yaml

        if fmt == "yaml":
            return to_yaml(self.manifests)
        if fmt == "json":
            return to_json(self.manifests)
        raise InvalidSpec("--output", f"a plan prints as {' or '.join(FORMATS)}, not {fmt!r}")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The manifests in apply order (a plan reads as the list of objects it creates)."""
        return iter(self.manifests)


def credentials(spec: JobSpec, env: Mapping[str, str]) -> dict[str, str] | None:
    """Code-sync credentials from the submitter's environment; they only ever go into a Secret."""
    if spec.sync is None:
        return None
    if spec.sync.mode == "git":
        user, password = env.get("GIT_SYNC_USERNAME"), env.get("GIT_SYNC_PASSWORD")
        return {"username": user or "", "password": password or ""} if (user or password) else None
    password = env.get("RSYNC_PASSWORD")
    return {"password": password} if password else None


def user(env: Mapping[str, str]) -> tuple[str, str]:
    """(label-safe user id, user name) for upstream's `arena.kubeflow.org/uid` label and username annotation."""
    import getpass

    try:
        name = env.get("ARENA_USER") or getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    uid = re.sub(r"[^a-z0-9._-]", "-", name.lower()).strip("-._")[:63] or "unknown"
    return uid, name


def choose_api(spec: JobSpec, serves: Serves | None) -> JobSpec:
    """`spec` as it will be created: when its kind leaves the API version to the cluster, the first
    choice the cluster serves; the kind's default when none is served or nothing can be asked."""
    kind = kinds.get(spec.kind)
    choices = kind.k8s_api_choices(spec)
    if len(choices) < 2 or serves is None:
        return spec
    chosen = next((key for key in choices if serves(key)), None)
    return spec if chosen is None else kind.k8s_with_api(spec, chosen)


def plan(spec: JobSpec, env: Mapping[str, str], images: Any = None, serves: Serves | None = None) -> KubePlan:
    """The plan for `spec`: API versions chosen (see `choose_api`), every manifest rendered.

    The credentials Secret is referenced by name when the environment holds credentials, never included.
    """
    from arena.engines.kubernetes import render
    from arena.engines.kubernetes.render import sync

    spec = choose_api(spec, serves)
    secret = sync.secret_name(spec) if credentials(spec, env) else None
    user_id, user_name = user(env)
    manifests = render.render(spec, user_id=user_id, user_name=user_name, sync_secret=secret, images=images)
    return KubePlan(spec=spec, manifests=manifests, credentials_secret=secret)


class Discovery:
    """`serves(key)` by API discovery: one GET of /apis/<group>/<version> per group version, remembered.

    `api` gives the API client on first use only, so a plan that asks nothing builds none; `configured`
    says cheaply whether there is any cluster to ask (no kubeconfig: no client is even imported). Any
    failure (no cluster, an unreachable server, a refusal) answers False from then on: the plan keeps
    its defaults instead of failing, and submit reports the real problem when it creates the job.
    """

    def __init__(self, api: Callable[[], Any], configured: Callable[[], bool] = lambda: True,
                 timeout: float | None = DISCOVERY_TIMEOUT) -> None:
        self._api = api
        self._configured = configured
        self._timeout = timeout
        self._served: dict[str, frozenset[str]] = {}  # group version -> plurals served
        self._failed = False

    def _plurals(self, group_version: str) -> frozenset[str]:
        if group_version not in self._served:
            doc = None
            if not self._failed and not self._configured():
                self._failed = True
            if not self._failed:
                try:
                    doc = self._api().raw(f"/apis/{group_version}", timeout=self._timeout)
                except Exception:  # noqa: BLE001 - any failure means "cannot tell": keep the defaults
                    self._failed = True
            names = (r.get("name", "") for r in (doc or {}).get("resources") or [])
            self._served[group_version] = frozenset(n for n in names if n and "/" not in n)
        return self._served[group_version]

    def __call__(self, key: str) -> bool:
        from arena.engines.kubernetes.resources import CRDS

        resource = CRDS[key]
        return resource.plural in self._plurals(resource.api_version)


def cluster(kubeconfig: str | None = None, context: str | None = None,
            env: Mapping[str, str] | None = None) -> Discovery:
    """Discovery against the kubeconfig's cluster for a plan made without an engine (`--dry-run`);
    the kubeconfig is read and the API client built only if a kind asks."""
    import os

    from arena.engines.kubernetes import kubeconfig as kcfg

    environ = os.environ if env is None else env
    client: list[Any] = []

    def api() -> Any:
        if not client:
            from arena.engines.kubernetes.api import Api

            client.append(Api(lambda: kcfg.load(kubeconfig, context, environ)))
        return client[0]

    return Discovery(api, lambda: kcfg.configured(kubeconfig, environ))
