"""`plan(spec)`: the manifests submit would create — pure data, and light to import (no API client).

submit is `apply(plan(spec))` (STYLE §1): `KubePlan.manifests` are exactly the bodies `apply` POSTs
(the credentials Secret aside, which is built from the submitter's environment at apply time and
never printed), and `KubePlan.text(fmt)` is what `--dry-run -o yaml|json` prints. So the two cannot
drift, the API versions are chosen here, once: a kind whose spec leaves the version to the cluster
(`Kind.k8s_api_choices`, e.g. MPIJob v1 or v2beta1) asks `serves`, an API discovery lookup made at most
once per group version; every other kind asks nothing, so `--dry-run` of it never loads an API client.
"""
from __future__ import annotations

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
    """Code-sync credentials, from the job's `-e` values (upstream's way: `-e GIT_SYNC_PASSWORD=...`) or else
    the submitter's environment; they only ever go into a Secret, never into a manifest."""
    from arena.engines.kubernetes.render.sync import GIT_CREDENTIALS, RSYNC_CREDENTIALS

    if spec.sync is None:
        return None
    given = {**env, **{k: v for t in spec.tasks for k, v in t.env.items()}, **spec.env}
    names = GIT_CREDENTIALS if spec.sync.mode == "git" else RSYNC_CREDENTIALS
    found = {key: given.get(name) or "" for name, key in names.items()}
    return found if any(found.values()) else None


def user(env: Mapping[str, str]) -> tuple[str, str]:
    """(user id, user name) when the cluster cannot say who the user is: `ARENA_USER`, else the OS user,
    with upstream's id for a name (its md5), so the `arena.kubeflow.org/uid` label keeps upstream's form."""
    import getpass

    from arena.engines.kubernetes.identity import user_id

    try:
        name = env.get("ARENA_USER") or getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return user_id(name), name


def role_sequence(config: Mapping[str, Any]) -> str | None:
    """The arena config's `tfjob_role_sequence` (upstream's default for --role-sequence), normalized."""
    value = str(config.get("tfjob_role_sequence") or "").strip()
    if not value:
        return None
    from arena.kinds.tfjob import role_sequence as normalize

    return normalize(value, "tfjob_role_sequence")


def pull_secrets(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The arena config's `imagePullSecrets`: a comma-separated string (upstream's) or a list."""
    value = config.get("imagePullSecrets") or ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(i.strip() for i in items if i.strip())


def read_files(spec: JobSpec, read: Callable[[str], str] | None = None) -> dict[str, str]:
    """The content of every `--config-file`, read on the submitting machine (they go into ConfigMaps)."""
    out: dict[str, str] = {}
    for cf in spec.config_files:
        try:
            out[cf.host_path] = (read or _read_text)(cf.host_path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not a text file"
            raise InvalidSpec("--config-file", f"cannot read {cf.host_path}: {reason}") from None
    return out


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def choose_api(spec: JobSpec, serves: Serves | None) -> JobSpec:
    """`spec` as it will be created: when its kind leaves the API version to the cluster, the first
    choice the cluster serves; the kind's default when none is served or nothing can be asked."""
    kind = kinds.get(spec.kind)
    choices = kind.k8s_api_choices(spec)
    if len(choices) < 2 or serves is None:
        return spec
    chosen = next((key for key in choices if serves(key)), None)
    return spec if chosen is None else kind.k8s_with_api(spec, chosen)


def plan(spec: JobSpec, env: Mapping[str, str], images: Any = None, serves: Serves | None = None, *,
         owner: tuple[str, str] | None = None, config: Mapping[str, Any] | None = None,
         read: Callable[[str], str] | None = None) -> KubePlan:
    """The plan for `spec`: API versions chosen (see `choose_api`), every manifest rendered, and upstream's
    `<name>-<kind>` record of the job last (`configmaps.app_record`).

    owner: (user id, user name) of the Kubernetes user (the engine asks; `user(env)` without one);
    config: the arena config (imagePullSecrets, tfjob_role_sequence); read: reads a `--config-file`.
    The credentials Secret is referenced by name when the job or the environment holds credentials, never
    included.
    """
    from arena.engines.kubernetes import render
    from arena.engines.kubernetes.render import configmaps, sync

    spec = choose_api(spec, serves)
    secret = sync.secret_name(spec) if credentials(spec, env) else None
    user_id, user_name = owner or user(env)
    config = config or {}
    manifests = render.render(spec, user_id=user_id, user_name=user_name, sync_secret=secret, images=images,
                              pull_secrets=pull_secrets(config), files=read_files(spec, read),
                              role_sequence=role_sequence(config))
    manifests.append(configmaps.app_record(spec, manifests, user_id))
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
