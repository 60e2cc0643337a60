"""The Kubernetes engine: JobSpec → plan (manifests, pure) → API calls; status read back.

submit = apply(plan(spec)) (STYLE §1): `plan` is exactly what `--dry-run` prints and what `apply`
sends, API versions included. API use scales with the number of kinds, not of jobs: `list` is one
label-selected LIST per job kind (MPIJob's versions asked in turn up to the first served) plus ONE pod LIST
for all jobs, issued concurrently, and — only
while some job waits — one PodGroup LIST and one Workload LIST; `get` is one GET per job resource (of
the given kind only, when one is given) plus one pod LIST; `nodes` is one Node LIST plus one pod LIST.
`list` and `get` also read the Namespace once per command, for upstream's per-user isolation (`isolation.py`).
Everything that differs between kinds comes from the registry (`arena.kinds`): resources, renderer,
status family, chief rules.
"""
from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgspec

from arena import kinds
from arena.engines.kubernetes import kubeconfig as kcfg
from arena.engines.kubernetes import planner
from arena.engines.kubernetes.labels import INIT_CONTAINER, LABEL_KUEUE_QUEUE
from arena.errors import (ArenaError, EngineUnavailable, InvalidSpec, JobExists, JobNotFound, JobOwnedByOther,
                          NotJobOwner, Unsupported)
from arena.spec.job import JobSpec
from arena.views import DataView, Event, JobView, NodeView, QueueView

if TYPE_CHECKING:
    from arena.engines.base import Plan
    from arena.engines.kubernetes import discovery, isolation, models
    from arena.engines.kubernetes.api import Api
    from arena.summary import JobSummary

# The API client and the readers are imported by the methods that use them, so that creating the
# engine and planning a job (`--dry-run`) cost the CLI's start-up nothing beyond the planner.

EVENT_FANOUT = 32  # above this many objects, one namespace LIST of Pod events replaces the per-pod LISTs
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
PROPAGATION = ("Background", "Foreground")


def _raise_first(results: Sequence[Any]) -> None:
    for r in results:
        if isinstance(r, BaseException):
            raise r


class KubernetesEngine:
    """The Engine protocol (`arena.engines.base`) on a cluster, plus `create` and `check`."""

    name = "kubernetes"

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None, *,
                 arena_config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                 images: Any = None, propagation: str = "Background", timeout: float = 30.0, transport: Any = None,
                 poll_interval: float = 1.0, log_retries: int = 5, clock: Callable[[], float] = time.time,
                 arena_namespace: str = "arena-system") -> None:
        if propagation not in PROPAGATION:
            raise InvalidSpec("--cascade", f"{propagation!r} must be one of {', '.join(PROPAGATION)}")
        self.kubeconfig = kubeconfig
        self.context = context
        self._env = os.environ if env is None else env
        self.namespace = kcfg.resolve_namespace(namespace, arena_config, kubeconfig, context, self._env)
        self.images = images
        self.arena_config = dict(arena_config or {})  # Prometheus for `get -g` (gpumetrics)
        self.arena_namespace = arena_namespace  # where `arena-config` names the admins (isolation.py)
        self._scopes: dict[str, isolation.Scope] = {}  # namespace -> per-user isolation, asked once per command
        self.propagation = propagation
        self.poll_interval = poll_interval
        self.log_retries = log_retries
        self.clock = clock
        self._timeout = timeout
        self._transport = transport
        self._api: Api | None = None
        # Asked only by kinds whose version the cluster decides; the API client is built on first use.
        self._discovery = planner.Discovery(lambda: self.api, lambda: kcfg.configured(kubeconfig, self._env))

    @property
    def api(self) -> Api:
        """The API client, built on first use."""
        if self._api is None:
            from arena.engines.kubernetes.api import Api

            self._api = Api(lambda: kcfg.load(self.kubeconfig, self.context, self._env), timeout=self._timeout,
                            transport=self._transport)
        return self._api

    @api.setter
    def api(self, value: Api) -> None:
        self._api = value

    # ---- submit = apply(plan(spec)) -----------------------------------------------------------
    def plan(self, spec: JobSpec) -> planner.KubePlan:
        """The manifests `apply` will create, primary first, in the API versions the cluster serves
        (what `--dry-run` prints). Pure but for that one discovery lookup, made only for a kind with a
        choice of versions (without a reachable cluster the kind's default is kept), and the Kubernetes
        user's name where only the API server knows it (`_owner`)."""
        return planner.plan(spec, self._env, self.images, serves=self._discovery, owner=self._owner(),
                            config=getattr(self, "arena_config", None) or {})

    def _owner(self) -> tuple[str, str]:
        """(upstream's user id, user name) of the kubeconfig's user, as upstream's binary decides them, so that
        its per-user isolation and ownership checks see the job as this user's: basic auth and client
        names the user itself (`kubecfg:basicauth:<user>`); a certificate, a token, an exec or auth-provider
        plugin's user is asked about as `arena whoami` does (`whoami.user_name`). Without
        credentials or an answer, `ARENA_USER` or the OS user (`planner.user`). Asked once per engine."""
        if getattr(self, "_owner_cache", None) is None:
            from arena.engines.kubernetes import identity

            name: str | None = None
            if kcfg.configured(self.kubeconfig, self._env):
                try:
                    name = self._kubernetes_user()
                except ArenaError:
                    name = None
            self._owner_cache = (identity.user_id(name), name) if name else planner.user(self._env)
        return self._owner_cache

    def _kubernetes_user(self) -> str | None:
        """The name, from the kubeconfig's YAML where it tells (no API client is built for basic auth or a
        certificate), else from the API server."""
        from arena.engines.kubernetes import identity, whoami

        try:
            user = kcfg.context_user(kcfg.read(kcfg.paths(self.kubeconfig, self._env), self.kubeconfig),
                                     self.context)
        except (InvalidSpec, EngineUnavailable):
            return None
        credential = identity.credential(user)
        if credential == "basic":
            return identity.offline_name(user)
        if credential not in ("cert", "token", "exec", "auth-provider"):
            return None
        from arena.engines.kubernetes.api import Api

        # A client of its own with discovery's short timeout: a plan (`--dry-run`) against an unreachable
        # cluster falls back quickly instead of waiting for the API client's full timeout. The order is
        # upstream's (and `arena whoami`'s): a certificate user is asked about (SelfSubjectReview), then
        # named by its CommonName, then `kubecfg:certauth:admin`; a token is reviewed (TokenReview).
        api = Api(lambda: kcfg.load(self.kubeconfig, self.context, self._env), timeout=planner.DISCOVERY_TIMEOUT,
                  transport=self._transport)
        return whoami.user_name(api, user)

    def _scope(self, namespace: str | None) -> isolation.Scope:
        """This user's per-user isolation scope in `namespace` (None: the engine's), asked once per namespace."""
        from arena.engines.kubernetes import isolation

        ns = namespace or self.namespace
        if ns not in self._scopes:
            self._scopes[ns] = isolation.scope(self.api, ns, self.arena_namespace, self._owner)
        return self._scopes[ns]

    def apply(self, plan: Plan) -> JobView:
        """Create exactly `plan.manifests` (and the credentials Secret the plan names); the job's view."""
        from arena.engines.kubernetes import jobview
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes.api import AlreadyExists

        if not isinstance(plan, planner.KubePlan):
            raise ArenaError(f"the kubernetes engine applies its own plans, not {type(plan).__name__}")
        spec = plan.spec
        try:
            created = self.create(plan.manifests, self._secrets(plan))
        except AlreadyExists:
            scope = self._scope(spec.namespace)  # another user's job holds the name: upstream says so
            if scope.restricted and not all(scope.owns(obj) for _, _, obj in
                                            self._find(spec.namespace, spec.name, spec.kind, owned=False)):
                raise JobOwnedByOther(spec.name, spec.namespace) from None
            raise JobExists(spec.name, spec.namespace) from None
        return jobview.job_view(spec.kind, msgspec.convert(created[0], models.Job), [])

    def submit(self, spec: JobSpec) -> JobView:
        return self.apply(self.plan(spec))

    def _secrets(self, plan: planner.KubePlan) -> list[dict[str, Any]]:
        """The code-sync credentials Secret the plan's manifests read, from this environment."""
        from arena.engines.kubernetes.render import sync

        if not plan.credentials_secret or not plan.manifests:
            return []
        creds = planner.credentials(plan.spec, self._env)
        if creds is None:
            raise ArenaError(f"the job's code sync reads Secret {plan.credentials_secret}, but this environment "
                             "has no credentials for it (GIT_SYNC_USERNAME/GIT_SYNC_PASSWORD or RSYNC_PASSWORD)")
        return [sync.credentials_secret(plan.spec, plan.manifests[0], creds, name=plan.credentials_secret)]

    def create(self, manifests: Sequence[Mapping[str, Any]],
               secrets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Create the primary object, then the rest owned by it (uid bound); returns the created objects.

        If an auxiliary object cannot be created, the primary is deleted again (its owned objects
        with it), so a failed create leaves nothing behind. `secrets` are created first after the
        primary and are never returned or printed.
        """
        from arena.engines.kubernetes import resources

        from arena.engines.kubernetes.render import bind_owner, needs_owner

        if not manifests:
            return []
        primary = dict(manifests[0])
        created = self.api.create(primary)
        rest = [dict(m) for m in (*secrets, *manifests[1:])]
        if not rest:
            return [created]
        uid = (created.get("metadata") or {}).get("uid", "")
        if needs_owner(rest):
            rest = bind_owner(rest, uid)
        out = [created]
        try:
            for i, m in enumerate(rest):
                obj = self.api.create(m)
                if i >= len(secrets):
                    out.append(obj)
        except ArenaError as exc:
            from arena.engines.kubernetes.api import AlreadyExists

            meta = primary.get("metadata") or {}
            try:
                self.api.delete(resources.key_for(primary), meta.get("name", ""), meta.get("namespace"), "Background")
            except ArenaError:
                pass
            if isinstance(exc, AlreadyExists):
                # An owned object that exists already (upstream's `<name>-<kind>` record of a job of that name)
                # is the job existing: apply says so in upstream's words.
                raise exc from None
            raise ArenaError(f"{exc}; {primary.get('kind')} {meta.get('name')} was deleted again") from None
        return out

    # ---- reading ------------------------------------------------------------------------------
    @staticmethod
    def _targets(kind: str | None) -> list[tuple[str, str]]:
        """(Arena kind, resource key) to look in: every resource of every kind, or of `kind` only."""
        from arena.engines.kubernetes import resources

        by_kind = resources.job_resources()
        wanted = [kinds.canonical(kind)] if kind else list(by_kind)
        return [(k, key) for k in wanted for key in by_kind.get(k, ())]

    def _collect(self, namespace: str | None, kind: str | None) -> list[tuple[str, JobView]]:
        """(resource key, view) of every Arena job: one LIST per job kind + one pod LIST."""
        from arena.engines.kubernetes.api import gc_paused

        with gc_paused():
            return self._collect_all(namespace, kind)

    def _collect_all(self, namespace: str | None, kind: str | None) -> list[tuple[str, JobView]]:
        from arena.engines.kubernetes import jobview
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes.api import CRDNotInstalled, PermissionDenied, parallel

        from lightkube import operators

        targets = self._targets(kind)
        wanted = list(dict.fromkeys(k for k, _ in targets))
        app = wanted[0] if len(wanted) == 1 else operators.in_(wanted)
        pod_labels = {"app": app, "release": None, "role": operators.not_equal("tensorboard")}
        mine = self._scope(namespace).selector()  # per-user isolation: upstream's uid selector (isolation.py)

        def first_served(k: str, keys: list[str]) -> list[tuple[str, Any]]:
            """A kind's resources in its order of preference, up to the first one served. They are versions of one
            CRD (MPIJob's), which all serve the same objects: one LIST is enough, and a version not served costs
            a 404 only when the preferred one is missing too. A refusal stops it too (RBAC names no version)."""
            tried: list[tuple[str, Any]] = []
            for key in keys:
                try:
                    tried.append((key, self.api.list(key, namespace, labels={"app": k, "release": None, **mine})))
                except CRDNotInstalled as exc:
                    tried.append((key, exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - handed on as `parallel` hands on what its calls raise
                    tried.append((key, exc))
                break
            return tried

        keys_of: dict[str, list[str]] = defaultdict(list)
        for k, key in targets:
            keys_of[k].append(key)
        calls: list[Callable[[], Any]] = [(lambda k=k, keys=keys: first_served(k, keys)) for k, keys in keys_of.items()]
        calls.append(lambda: self.api.list("Pod", namespace, labels=pod_labels))
        per_kind = parallel(calls)
        pod_list = per_kind.pop()
        targets, results = [], []
        for k, tried in zip(keys_of, per_kind):
            if isinstance(tried, BaseException):
                raise tried
            for key, r in tried:
                targets.append((k, key))
                results.append(r)
        # A kind whose CRD is not served, or that this user may not list, has no jobs to show: `list` of every
        # kind shows the others (a namespace-scoped Role often grants only some API groups). Asked for one
        # kind, or refused everything, the user gets the reason.
        missing: dict[str, list[ArenaError]] = defaultdict(list)
        refused: list[PermissionDenied] = []
        for (k, _), r in zip(targets, results):
            if isinstance(r, CRDNotInstalled):
                missing[k].append(r)
            elif isinstance(r, PermissionDenied):
                missing[k].append(r)
                refused.append(r)
            elif isinstance(r, BaseException):
                raise r
        if kind and len(missing[wanted[0]]) == len(targets):
            raise missing[wanted[0]][0]
        if refused and len(refused) + sum(1 for errs in missing.values() for e in errs
                                          if isinstance(e, CRDNotInstalled)) == len(targets):
            raise refused[0]
        if isinstance(pod_list, BaseException):
            raise pod_list
        by_job: dict[tuple[str, str, str], list[models.Pod]] = defaultdict(list)
        for p in pod_list:
            labels = p.metadata.labels
            by_job[(p.metadata.namespace, labels.get("app", ""), labels.get("release", ""))].append(p)
        seen: set[str] = set()
        out = []
        waiting: list[tuple[int, str, models.Job, list[models.Pod]]] = []
        for (k, key), r in zip(targets, results):
            if isinstance(r, BaseException):
                continue
            for job in r:
                meta = job.metadata
                if meta.uid in seen:  # one CRD serving both MPIJob versions
                    continue
                seen.add(meta.uid)
                pods = by_job.get((meta.namespace, k, meta.name), [])
                view = jobview.job_view(k, job, pods)
                if jobview.awaits_admission(view):
                    waiting.append((len(out), k, job, pods))
                out.append((key, view))
        if waiting:  # a second round, only while some job waits: its PodGroup or Workload says why
            found = self._admissions(namespace, [(k, job) for _, k, job, _ in waiting])
            for i, k, job, pods in waiting:
                if job.metadata.uid in found:
                    out[i] = (out[i][0], jobview.job_view(k, job, pods, admission=found[job.metadata.uid]))
        out.sort(key=lambda kv: kv[1].creationTimestamp, reverse=True)
        return out

    def _admissions(self, namespace: str | None, jobs: Sequence[tuple[str, models.Job]]
                    ) -> dict[str, admission.Admission]:
        """Owner uid → admission from one PodGroup LIST and one Workload LIST, each made only if
        some job may have one. Best effort: a missing CRD or RBAC refusal leaves the pods-based guess."""
        from arena.engines.kubernetes import admission
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes import status as statuslib
        from arena.engines.kubernetes.api import CRDNotInstalled, PermissionDenied, parallel

        def listing(keys: Sequence[str]) -> list[models.Admitter]:
            for key in keys:
                try:
                    return self.api.list(key, namespace)
                except CRDNotInstalled:
                    continue
                except PermissionDenied:
                    return []
            return []

        calls: dict[str, Callable[[], list[models.Admitter]]] = {}
        if any(statuslib.mapping(k).podgroup for k, _ in jobs):
            calls["podgroups"] = lambda: listing(["podgroups"])
        if any(LABEL_KUEUE_QUEUE in job.metadata.labels for _, job in jobs):
            calls["workloads"] = lambda: listing(["workloads", "workloads-v1beta1"])
        results = parallel(list(calls.values()))
        _raise_first(results)
        found = cast("dict[str, list[models.Admitter]]", dict(zip(calls, results)))
        return admission.index(found.get("podgroups", []), found.get("workloads", []))

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        """Jobs in `namespace` (None: all), newest first; kinds whose CRD is absent are skipped."""
        return [view for _, view in self._collect(namespace, kind)]

    def list_summaries(self, namespace: str | None, kind: str | None = None) -> list[JobSummary]:
        """The list's rows: here the same objects are read either way (the cost is the API server's)."""
        from arena.summary import summarize

        return [summarize(view) for view in self.list(namespace, kind)]

    def _find(self, namespace: str, name: str, kind: str | None,
              owned: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, resource key, object) for every job kind holding a job of that name (GETs in parallel);
        with `kind`, only that kind's resources are asked. With `owned`, another user's job in a namespace
        that isolates users is refused in upstream's words (the isolation lookup runs beside the GETs)."""
        from arena.engines.kubernetes import resources
        from arena.engines.kubernetes.api import CRDNotInstalled, parallel

        targets = self._targets(kind)
        owners = resources.job_resources()
        results = parallel([*((lambda key=key: self.api.get(key, name, namespace)) for _, key in targets),
                            *([lambda: self._scope(namespace)] if owned else [])])
        if owned:
            scope = results.pop()
            if isinstance(scope, BaseException):
                raise scope
        found, seen, missing = [], set(), []
        for (k, key), r in zip(targets, results):
            if isinstance(r, CRDNotInstalled):
                missing.append(r)
            elif isinstance(r, BaseException):
                raise r
            elif r is not None:
                labels = (r.get("metadata") or {}).get("labels") or {}
                owner = labels.get("app")
                if owner in owners and owner != k:
                    continue  # e.g. the Volcano Job inside an AppWrapper
                uid = (r.get("metadata") or {}).get("uid")
                if uid not in seen:
                    seen.add(uid)
                    found.append((k, key, r))
        if not found and kind and len(missing) == len(targets):
            raise missing[0]
        if owned and any(not scope.owns(obj) for _, _, obj in found):  # type: ignore[union-attr]
            raise NotJobOwner(name, namespace)
        return found

    def _one(self, namespace: str, name: str, kind: str | None) -> tuple[str, str, dict[str, Any]]:
        found = self._find(namespace, name, kind)
        if not found:
            raise JobNotFound(name, namespace)
        if len(found) > 1:
            names = ", ".join(k for k, _, _ in found)
            raise InvalidSpec("--type", f"more than one job is named {name!r} ({names}); pick one with --type")
        return found[0]

    def _pods(self, namespace: str, kind: str, name: str) -> list[models.Pod]:
        from lightkube import operators

        labels = {"app": kind, "release": name, "role": operators.not_equal("tensorboard")}
        return self.api.list("Pod", namespace, labels=labels)

    def _events(self, namespace: str, objects: Sequence[str], pods: Sequence[str]) -> list[models.Event]:
        """Events of these objects only: the job and its PodGroup or Workload (`objects`) and its pods.

        Each of `objects` gets its own LIST field-selected by involvedObject.uid, always: their events
        (why the gang or queue holds the job back) must never be dropped. Pods get one LIST each too,
        unless there are more than EVENT_FANOUT objects in all; then one namespace LIST of Pod events,
        filtered here, replaces the per-pod LISTs.
        """
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes.api import parallel

        owned = [u for u in objects if u]
        pod_uids = [u for u in pods if u]
        fan_out = not pod_uids or len(owned) + len(pod_uids) <= EVENT_FANOUT
        calls: list[Callable[[], list[models.Event]]] = [
            (lambda u=u: self.api.list("Event", namespace, fields={"involvedObject.uid": u}))
            for u in (owned + pod_uids if fan_out else owned)]
        if not fan_out:  # last, so the filtered Pod-event list is results[-1]
            calls.append(lambda: self.api.list("Event", namespace, fields={"involvedObject.kind": "Pod"}))
        results = parallel(calls)
        _raise_first(results)
        lists = cast("list[list[models.Event]]", results)
        if fan_out:
            return [e for r in lists for e in r]
        wanted = set(pod_uids)
        return [*(e for r in lists[:-1] for e in r), *(e for e in lists[-1] if e.involvedObject.uid in wanted)]

    def _admission(self, namespace: str, kind: str, job: models.Job, pods: Sequence[models.Pod]
                   ) -> admission.Admission | None:
        """The job's PodGroup or Workload, read only while it could still change the job's status."""
        from arena.engines.kubernetes import jobview

        if not jobview.needs_admission(kind, job, pods):
            return None
        return self._admissions(namespace, [(kind, job)]).get(job.metadata.uid)

    def _job_events(self, namespace: str, job: models.Job, pods: Sequence[models.Pod],
                    found: admission.Admission | None) -> list[models.Event]:
        """The PodGroup's or Workload's events say why the scheduler or Kueue holds the job back."""
        return self._events(namespace, [job.metadata.uid, *([found.uid] if found else [])],
                            [p.metadata.uid for p in pods])

    def get(self, namespace: str, name: str, kind: str | None = None, events: bool = True,
            with_spec: bool = False) -> JobView:
        from arena.engines.kubernetes import admission, jobview
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes.api import parallel

        k, _, obj = self._one(namespace, name, kind)
        job = msgspec.convert(obj, models.Job)
        # The TensorBoard Service does not depend on the pods: look it up alongside the pod LIST.
        pods_r, url_r = parallel([lambda: self._pods(namespace, k, name),
                                  lambda: self._tensorboard_url(namespace, name)])
        _raise_first([pods_r, url_r])
        pods, url = cast("list[models.Pod]", pods_r), cast(str, url_r)
        found = self._admission(namespace, k, job, pods)
        evs = self._job_events(namespace, job, pods, found) if events else []
        found = admission.with_events(found, evs)  # a PodGroup's reason may be in its events only
        view = jobview.job_view(k, job, pods, events=evs, spec=public_object(obj) if with_spec else None,
                                admission=found)
        return msgspec.structs.replace(view, tensorboard=url) if url else view

    def events(self, namespace: str, name: str, kind: str | None = None) -> list[Event]:
        """The events of the job, its PodGroup or Workload (while it waits) and its pods, oldest first."""
        from arena.engines.kubernetes import jobview
        from arena.engines.kubernetes import models

        k, _, obj = self._one(namespace, name, kind)
        job = msgspec.convert(obj, models.Job)
        pods = self._pods(namespace, k, name)
        evs = self._job_events(namespace, job, pods, self._admission(namespace, k, job, pods))
        return sorted((jobview.event(e) for e in evs), key=lambda e: e.ts)

    def _tensorboard_url(self, namespace: str, name: str) -> str:
        """Upstream's `http://<node IP>:<nodePort>` of the job's TensorBoard Service, when it has one."""
        svc = self.api.get("Service", f"{name}-tensorboard", namespace)
        if not svc:
            return ""
        ports = [p.get("nodePort") for p in (svc.get("spec") or {}).get("ports", []) if p.get("nodePort")]
        if not ports:
            return ""
        pods = self.api.list("Pod", namespace, labels={"release": name, "role": "tensorboard"})
        host = next((p.status.hostIP for p in pods if getattr(p.status, "hostIP", "")), "")
        return f"http://{host or '<node-ip>'}:{ports[0]}"

    # ---- logs -------------------------------------------------------------------------------
    def logs(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
             container: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False) -> Iterator[str]:
        """Lines (no newline) of one container of one instance: the chief by default, or the only pod;
        its main container (or init-code while the code sync runs) unless `container` names another.

        `since` is an epoch time. While the container has not started, the request is retried
        `log_retries` times, `poll_interval` apart (upstream polls the same way).
        """
        from arena.engines.kubernetes.api import NotStarted

        k, _, _ = self._one(namespace, name, kind)
        pod = pick_pod(k, name, self._pods(namespace, k, name), instance)
        cname = container or default_container(pod)
        since_seconds = max(1, math.ceil(self.clock() - since)) if since is not None else None
        for attempt in range(self.log_retries + 1):
            try:
                return self.api.log(pod.metadata.name, namespace, container=cname, follow=follow,
                                    tail=None if tail is None or tail < 0 else tail, since_seconds=since_seconds,
                                    timestamps=timestamps)
            except NotStarted:
                if attempt == self.log_retries:
                    raise
                time.sleep(self.poll_interval)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- attach, GPU metrics, whoami (exec.py, gpumetrics.py, whoami.py) -----------------------
    def attach(self, namespace: str, name: str, kind: str | None = None, instance: str | None = None,
               container: str | None = None, command: Sequence[str] = ()) -> int:
        from arena.engines.kubernetes import exec as pod_exec

        return pod_exec.attach(self, namespace, name, kind, instance, container, command)

    def queue_plan(self, op: str, name: str, **fields: Any) -> list[dict[str, Any]]:
        """The objects `queue_op("create", …)` would create (`queue create --dry-run`)."""
        from arena.engines.kubernetes import render

        if op != "create":
            raise Unsupported(self.name, f"queue {op} (edit the Queue object instead)")
        if fields.get("kueue"):
            return render.kueue_queues(name, self.namespace, fields.get("capability") or {})
        return render.volcano_queue(name, weight=int(fields.get("weight") or 1), capability=fields.get("capability"),
                                    guarantee=fields.get("guarantee"), reclaimable=fields.get("reclaimable"),
                                    state=fields.get("state") or "Open")

    def gpu_metrics(self, view: JobView) -> dict:
        from arena.engines.kubernetes import gpumetrics

        query = gpumetrics.query_for(self.arena_config, self.api.raw)
        pods = [i.name for i in view.instances if i.requestGPUs and i.status == "Running"]
        return gpumetrics.fetch(query, view.namespace, pods) if query is not None else {}

    def node_metrics(self, nodes: Sequence[NodeView]) -> list[NodeView]:
        """Each GPU's figures from the configured Prometheus: three queries for all the nodes (gpumetrics.py)."""
        from arena.engines.kubernetes import gpumetrics
        from arena.engines.kubernetes import nodes as nodelib

        query = gpumetrics.query_for(self.arena_config, self.api.raw)
        if query is None:
            return list(nodes)
        found = gpumetrics.fetch_nodes(query, [n.name for n in nodes])
        return [nodelib.with_gpu_metrics(n, found.get(n.name, {})) for n in nodes]

    def whoami(self, namespace: str, arena_namespace: str = "arena-system") -> Any:
        from arena.engines.kubernetes import whoami

        return whoami.whoami(self.api, self.api.config.user, namespace, arena_namespace)

    # ---- delete ------------------------------------------------------------------------------
    def delete(self, namespace: str, name: str, kind: str | None = None) -> None:
        """Delete the job; its pods, Services, TensorBoard and Secret go with it (ownerReferences), and so
        does upstream's `<name>-<kind>` record of it with what that lists (`_delete_job`)."""
        k, key, obj = self._one(namespace, name, kind)
        if not self._delete_job(k, key, name, namespace, (obj.get("metadata") or {}).get("uid", "")):
            raise JobNotFound(name, namespace)

    def _delete_job(self, kind: str, key: str, name: str, namespace: str, uid: str) -> bool:
        """Delete the job object and upstream's `<name>-<kind>` record of it. A record owned by the job (Arena's,
        upstream v0.15.5's) goes with the job; another (an older upstream's, unowned) is read first, and what it
        lists is deleted too, as upstream's `delete` does. False when the job was already gone."""
        from arena.engines.kubernetes import resources
        from arena.engines.kubernetes.render.configmaps import APP_KEY, record_name

        record = self.api.get("ConfigMap", record_name(name, kind), namespace)
        gone = self.api.delete(key, name, namespace, self.propagation)
        owners = {ref.get("uid") for ref in ((record or {}).get("metadata") or {}).get("ownerReferences") or []}
        if record is None or (uid and uid in owners):
            return gone
        primary = (resources.by_key(key).kind.lower(), name)
        for line in str(((record.get("data") or {}).get(APP_KEY)) or "").splitlines():
            found = resources.from_kubectl_name(line)
            if found is None or (resources.by_key(found[0]).kind.lower(), found[1]) == primary:
                continue
            self.api.delete(found[0], found[1], namespace, self.propagation)
        self.api.delete("ConfigMap", record_name(name, kind), namespace, self.propagation)
        return gone

    def prune(self, since_seconds: float, namespace: str | None, kind: str | None = None) -> list[JobView]:
        """Delete finished (SUCCEEDED/FAILED) jobs (of `kind`, when given) that finished at least
        `since_seconds` ago."""
        from arena.engines.kubernetes.api import parallel

        now = self.clock()
        victims = [(key, v) for key, v in self._collect(namespace, kind)
                   if v.finished and now - (v.finishTime or v.creationTimestamp) >= since_seconds]
        results = parallel([(lambda key=key, v=v: self._delete_job(v.kind, key, v.name, v.namespace, v.uuid))
                            for key, v in victims])
        _raise_first(results)
        return [v for (_, v), gone in zip(victims, results) if gone]

    # ---- nodes, queues, data, check -----------------------------------------------------------
    def nodes(self, names: Sequence[str] = ()) -> list[NodeView]:
        """Per-node GPU/CPU/memory allocation: one Node LIST and one LIST of unfinished pods."""
        from arena.engines.kubernetes import nodes
        from arena.engines.kubernetes.api import parallel

        from lightkube import operators

        node_list, pod_list = parallel([
            lambda: self.api.list("Node", None),
            lambda: self.api.list("Pod", None, fields={"status.phase": operators.not_in(["Succeeded", "Failed"])})])
        _raise_first([node_list, pod_list])
        selected = [n for n in node_list if not names or n.metadata.name in names]  # type: ignore[union-attr]
        unknown = sorted(set(names) - {n.metadata.name for n in selected})
        if unknown:
            raise InvalidSpec("NODE", f"node {unknown[0]!r} not found")
        return nodes.usage(selected, pod_list)  # type: ignore[arg-type]

    def _objects(self, keys: Sequence[str], namespace: str | None = None) -> list[dict[str, Any]] | None:
        """All objects of the first served key (dicts), None when none is served."""
        from arena.engines.kubernetes.api import CRDNotInstalled

        for key in keys:
            try:
                return self.api.list_objects(key, namespace)
            except CRDNotInstalled:
                continue
        return None

    def queues(self, name: str | None = None) -> list[QueueView]:
        """Volcano Queues and Kueue ClusterQueues with their allocation (absent systems are skipped);
        only those called `name` when given."""
        from arena.engines.kubernetes import queueusage
        from arena.engines.kubernetes.api import parallel

        volcano, cluster_queues, local_queues = parallel([
            lambda: self._objects(["queues"]),
            lambda: self._objects(["clusterqueues", "clusterqueues-v1beta1"]),
            lambda: self._objects(["localqueues", "localqueues-v1beta1"])])
        _raise_first([volcano, cluster_queues, local_queues])
        out = [queueusage.volcano(q) for q in volcano or []]  # type: ignore[union-attr]
        out += [queueusage.kueue(cq, local_queues or []) for cq in cluster_queues or []]  # type: ignore[union-attr]
        return out if name is None else [q for q in out if q.name == name]

    def queue_op(self, op: str, name: str, **fields: Any) -> list[QueueView]:
        """Create / delete / open / close a Volcano Queue (or, with kueue=True, Kueue queues)."""
        from arena.engines.kubernetes import render

        if op == "create":
            if fields.get("kueue"):
                objs = render.kueue_queues(name, self.namespace, fields.get("capability") or {})
            else:
                objs = render.volcano_queue(name, weight=int(fields.get("weight") or 1),
                                            capability=fields.get("capability"), guarantee=fields.get("guarantee"),
                                            reclaimable=fields.get("reclaimable"), state=fields.get("state") or "Open")
            # Cluster-scoped objects first; a closed queue's Command is owned by the queue (uid bound).
            self.create(objs)
        elif op == "delete":
            if not self.api.delete("queues", name, None, self.propagation):
                raise ArenaError(f"queue {name!r} not found")
        elif op in ("open", "close"):
            # One GET for the queue's uid: the Command's owner reference and target must both carry it,
            # or the garbage collector may delete the Command before Volcano's controller acts on it.
            from arena.engines.kubernetes.render.owner import bind_owner
            from arena.engines.kubernetes.render.queues import queue_command

            queue = self.api.get("queues", name, None)
            if queue is None:
                raise ArenaError(f"queue {name!r} not found")
            command = queue_command(queue, "OpenQueue" if op == "open" else "CloseQueue")
            self.api.create(bind_owner([command], (queue.get("metadata") or {}).get("uid", ""))[0])
        else:
            raise Unsupported(self.name, f"queue {op} (edit the Queue object instead)")
        return self.queues(name)

    def data(self, op: str = "list", name: str = "", path: str = "", description: str = "",
             namespace: str | None = None) -> list[DataView]:
        """`list`: the PersistentVolumeClaims of `namespace` (None: all) that jobs can mount with
        `--data NAME:PATH`, as upstream lists them. Claims are made with kubectl, not here."""
        from arena.engines.kubernetes import claims

        if op != "list":
            raise Unsupported(self.name, f"data {op} (create or delete the PersistentVolumeClaim with kubectl)")
        return claims.data_views(self.api.list_objects("PersistentVolumeClaim", namespace))

    def serving(self) -> Any:
        """`arena serve` on the cluster: Deployments + Services, KServe InferenceServices (engines/kubernetes/serving.py)."""
        from arena.engines.kubernetes.serving import KubeServing

        return KubeServing(self)

    def check(self) -> discovery.CheckReport:
        """Which CRDs the cluster serves, which operators run, and so which job kinds can run."""
        from arena.engines.kubernetes import discovery
        from arena.engines.kubernetes import models
        from arena.engines.kubernetes.api import PermissionDenied, parallel

        def deployments() -> list[models.Deployment] | None:
            try:
                return self.api.list("Deployment", None)
            except PermissionDenied:
                return None

        apis, version, deps = parallel([lambda: self.api.raw("/apis"), lambda: self.api.raw("/version"), deployments])
        _raise_first([apis, version, deps])
        wanted = discovery.wanted_group_versions(discovery.group_versions(apis))  # type: ignore[arg-type]
        docs = parallel([(lambda gv=gv: self.api.raw(f"/apis/{gv}")) for gv in wanted])
        _raise_first(docs)
        git = (version or {}).get("gitVersion", "unknown")  # type: ignore[union-attr]
        return discovery.report(self.api.server, git, discovery.served(docs), deps)  # type: ignore[arg-type]


# ---- helpers (pure) ---------------------------------------------------------------------------
def public_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as `get -o yaml` shows it: no status (shown as a view) and no managedFields."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta, "spec": obj.get("spec")}


def pick_pod(kind: str, job: str, pods: Sequence[models.Pod], instance: str | None) -> models.Pod:
    """-i by pod name or <task>-<index>; else the only pod; else the chief (upstream's rules)."""
    from arena.engines.kubernetes import pods as podlib

    if instance:
        for p in pods:
            task, index = podlib.role(p)
            if instance in (p.metadata.name, f"{task}-{index}"):
                return p
        names = ", ".join(p.metadata.name for p in pods) or "none yet"
        raise InvalidSpec("--instance", f"{instance!r} is not an instance of job {job} ({names})")
    if len(pods) == 1:
        return pods[0]
    if not pods:
        raise ArenaError(f"job {job} has no instances yet; try again when its pods exist")
    head = podlib.chief(kind, pods)
    if head is None:
        names = ", ".join(p.metadata.name for p in pods)
        raise InvalidSpec("--instance", f"job {job} has {len(pods)} instances and no chief; pick one with -i: {names}")
    return head


def default_container(pod: models.Pod) -> str | None:
    """init-code while the code sync runs, else the annotated default container, else the first."""
    from arena.engines.kubernetes import pods as podlib

    word = podlib.phase_word(pod)
    if (word.startswith("Init:") or word == "PodInitializing") and any(
            c.name == INIT_CONTAINER for c in pod.spec.initContainers):
        return INIT_CONTAINER
    annotated = pod.metadata.annotations.get(DEFAULT_CONTAINER)
    if annotated:
        return annotated
    return pod.spec.containers[0].name if pod.spec.containers else None
