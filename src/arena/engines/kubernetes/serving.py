"""`arena serve` on the Kubernetes engine: the `Serving` interface (`arena.serving.base`) over the API.

`plan` renders what upstream's charts render (`render/serving.py`): a Deployment and a Service per version for
custom, tensorflow and triton, a KServe InferenceService for kserve; `apply` creates exactly that. Everything
else finds jobs as upstream's Arena does, by labels (`servingName`, `servingVersion`, `servingType`), so the
jobs upstream's Arena made are listed, read, updated, split and deleted like ours, and ours by it:

- reading is one LIST per object kind, concurrently: Deployments (every serving type's, kserve's predictor
  Deployments included), InferenceServices (when KServe is installed), Services and Pods; views are built
  by `servingviews` (pure);
- per-user isolation is upstream's (`isolation.py`): in a namespace that isolates users, `list` asks only for
  the user's own Deployments and InferenceServices (the uid selector in the LIST), and get, delete, update,
  logs, attach and traffic-split of another user's job fail with upstream's text;
- `update` reads the object, applies the change (`servingupdate`, pure) and writes it back whole;
- `traffic-split` puts a Service `<name>` in front of the versions and routes by weight with an Istio
  VirtualService when one is served, else scales the versions' replicas to the ratio and says so (`traffic`).
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from arena.errors import ArenaError, InvalidSpec
from arena.serving.spec import ServingSpec

if TYPE_CHECKING:
    from arena.engines.kubernetes.api import Api
    from arena.engines.kubernetes.isolation import Scope
    from arena.engines.kubernetes.models import Pod
    from arena.serving.spec import ServingUpdate, TrafficSplit
    from arena.serving.types import ServingType
    from arena.serving.views import ServingView

ISTIO_GROUP_VERSION = "/apis/networking.istio.io/v1beta1"


class KubeServingPlan(msgspec.Struct, frozen=True):
    spec: ServingSpec
    manifests: list[dict[str, Any]]

    def document(self) -> list[dict[str, Any]]:
        return self.manifests

    def text(self, fmt: str) -> str:
        from arena.engines.kubernetes.render.serving import plan_text

        return plan_text(self.manifests, fmt)


class Found(msgspec.Struct, frozen=True):
    """One serving job (a version of a Deployment type, or a kserve job) as read: its object and its view."""

    type: Any  # ServingType
    key: str  # the resource key of `obj`: Deployment or inferenceservices
    obj: dict[str, Any]
    view: Any  # ServingView
    services: list[dict[str, Any]] = []


class KubeServing:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @property
    def api(self) -> Api:
        return self.engine.api  # type: ignore[no-any-return]

    def _now(self) -> float:
        return float(getattr(self.engine, "clock", time.time)())

    def _scope(self, namespace: str | None) -> Scope:
        """The user's isolation scope, shared with the engine's training commands (asked once per namespace)."""
        return self.engine._scope(namespace)  # type: ignore[no-any-return]

    # ---- submit = apply(plan(spec)) -----------------------------------------------------------
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
        """Create exactly the plan's objects, primary first (a failure deletes what was created). A job of that
        name (and version) is refused in upstream's words, whoever made it."""
        from arena.engines.kubernetes import servingviews as sv
        from arena.engines.kubernetes.api import AlreadyExists
        from arena.serving import types
        from arena.serving.errors import ServingExists, ServingOwnedByOther

        if not isinstance(plan, KubeServingPlan):
            raise ArenaError(f"the kubernetes engine applies its own serving plans, not {type(plan).__name__}")
        spec = plan.spec
        t = types.get(spec.type)
        held = self._select(spec.namespace, t, spec.name, None if t.versionless else spec.version)
        if held:  # upstream's pre-check: the user's own job, else another user's in an isolating namespace
            scope = self._scope(spec.namespace)
            if not any(scope.owns(o) for o in held):
                raise ServingOwnedByOther(spec.name, spec.namespace)
            raise ServingExists(spec.name, spec.namespace)
        try:
            created = self.engine.create(plan.manifests)
        except AlreadyExists:
            raise ServingExists(spec.name, spec.namespace) from None
        if t.versionless:
            return sv.kserve_view(t, created[0], [], [], self._now())
        services = [o for o in created[1:] if o.get("kind") == "Service"]
        return sv.deployment_view(t, created[0], services, [], self._now())

    def submit(self, spec: ServingSpec) -> ServingView:
        return self.apply(self.plan(spec))

    def _select(self, namespace: str, t: ServingType, name: str, version: str | None) -> list[dict[str, Any]]:
        """The objects upstream's pre-check would find for (type, name[, version])."""
        from arena.engines.kubernetes.api import CRDNotInstalled

        selector = {"servingName": name, "servingType": t.label, **({"servingVersion": version} if version else {})}
        try:
            return self.api.list_objects("inferenceservices" if t.versionless else "Deployment", namespace,
                                         labels=selector)
        except CRDNotInstalled:
            return []

    # ---- reading ------------------------------------------------------------------------------
    def _read(self, namespace: str | None, type_name: str | None = None, name: str | None = None,
              version: str | None = None, mine: Mapping[str, str] | None = None) -> list[Found]:
        """Every serving job (of a type, of a name) in one LIST per object kind, issued concurrently; `mine`
        (the isolation selector) narrows the jobs' own objects, as upstream's list does."""
        from arena.engines.kubernetes import servingviews as sv
        from arena.engines.kubernetes import traffic
        from arena.engines.kubernetes.api import CRDNotInstalled, PermissionDenied, gc_paused, parallel
        from arena.serving import types

        from lightkube import operators

        wanted = [types.get(type_name)] if type_name else types.all()
        label_values = [t.label for t in wanted]
        by_type: Any = label_values[0] if len(label_values) == 1 else operators.in_(label_values)
        named = {"servingName": name} if name else {"servingName": None}
        owned = dict(mine or {})
        isvc_labels = [t.label for t in wanted if t.versionless]

        def isvcs() -> list[dict[str, Any]]:
            if not isvc_labels:
                return []
            by_isvc_type: Any = isvc_labels[0] if len(isvc_labels) == 1 else operators.in_(isvc_labels)
            try:
                return self.api.list_objects("inferenceservices", namespace,
                                             labels={**named, "servingType": by_isvc_type, **owned})
            except (CRDNotInstalled, PermissionDenied):  # KServe not installed (or not ours to read): no kserve jobs
                if type_name:
                    raise
                return []

        with gc_paused():
            deps, found_isvcs, services, pods = parallel([
                lambda: self.api.list_objects("Deployment", namespace,
                                              labels={**named, "servingType": by_type, **owned}),
                isvcs,
                lambda: self.api.list_objects("Service", namespace, labels=named),
                lambda: self.api.list("Pod", namespace, labels={**named, "servingType": by_type})])
        for r in (deps, found_isvcs, services, pods):
            if isinstance(r, BaseException):
                raise r
        now = self._now()
        svc_by: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        shared: dict[tuple[str, str], dict[str, Any]] = {}
        for s in services:  # type: ignore[union-attr]
            if traffic.is_ours(s):
                shared[(sv.meta(s).get("namespace", ""), sv.meta(s).get("name", ""))] = s
            svc_by[sv.job_key(s)].append(s)
        pods_by: dict[tuple[str, ...], list[Pod]] = defaultdict(list)
        versionless = {t.label for t in wanted if t.versionless}
        for p in pods:  # type: ignore[union-attr]
            pods_by[sv.pod_key(p, version=p.metadata.labels.get("servingType") not in versionless)].append(p)
        kserve_deps: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        jobs: list[Found] = []
        versions: dict[tuple[str, str], list[str]] = defaultdict(list)
        for d in deps:  # type: ignore[union-attr]
            t = types.by_label(sv.labels(d).get("servingType", ""))
            if t.versionless:
                kserve_deps[sv.job_key(d, version=False)].append(d)
            else:  # every version, also when one is asked for: its weight depends on the others
                versions[(sv.meta(d).get("namespace", ""), sv.labels(d).get("servingName", ""))].append(
                    sv.labels(d).get("servingVersion", ""))
        weights = self._weights(namespace, versions, shared, svc_by)
        for d in deps:  # type: ignore[union-attr]
            t = types.by_label(sv.labels(d).get("servingType", ""))
            if t.versionless or (version and sv.labels(d).get("servingVersion") != version):
                continue
            key = sv.job_key(d)
            w = weights.get(key[:2])
            # split: the address that follows the weights is the shared Service's, not the version's own
            front = [shared[key[:2]]] if w and key[:2] in shared else svc_by.get(key, [])
            view = sv.deployment_view(t, d, front, pods_by.get(key, []), now, weight=w.get(key[3], 0) if w else None)
            jobs.append(Found(t, "Deployment", d, view, svc_by.get(key, [])))
        for i in found_isvcs:  # type: ignore[union-attr]
            t = types.by_label(sv.labels(i).get("servingType", ""))
            key = sv.job_key(i, version=False)
            jobs.append(Found(t, "inferenceservices", i,
                              sv.kserve_view(t, i, kserve_deps.get(key, []), pods_by.get(key, []), now)))
        return jobs

    def _weights(self, namespace: str | None, versions: dict[tuple[str, str], list[str]],
                 shared: dict[tuple[str, str], dict[str, Any]],
                 svc_by: dict[tuple[str, ...], list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, int]]:
        """(namespace, name) -> version -> weight, for names with several versions: the Istio VirtualService
        `<name>` (ours or upstream's) when there is one, else the weights kept on the shared Service."""
        from arena.engines.kubernetes import traffic
        from arena.engines.kubernetes.api import CRDNotInstalled, PermissionDenied

        groups = [k for k, vs in versions.items() if len(vs) > 1]  # a lone version takes every request
        if not groups:
            return {}
        out: dict[tuple[str, str], dict[str, int]] = {}
        for k in groups:
            found = traffic.weights_from_service(shared.get(k))
            if found:
                out[k] = found
        try:
            vss = self.api.list_objects("virtualservices", namespace)
        except (CRDNotInstalled, PermissionDenied):
            return out
        for vs in vss:
            k = (vs["metadata"].get("namespace", ""), vs["metadata"].get("name", ""))
            if k not in versions:
                continue
            hosts = {s["metadata"]["name"]: key[3] for key, ss in svc_by.items() if key[:2] == k for s in ss}
            found = traffic.weights_from_virtual_service(vs, hosts)
            if found:
                out[k] = found
        return out

    def list(self, namespace: str | None, type: str | None = None) -> list[ServingView]:  # noqa: A002
        """Serving jobs; where the namespace isolates users, only this user's (decided in the command's
        namespace and applied to every namespace with `-A`, as training's `list` and upstream do)."""
        jobs = self._read(namespace, type, mine=self._scope(namespace).selector())
        return [f.view for f in sorted(jobs, key=lambda f: (f.view.namespace, f.view.name, f.view.version))]

    def _find(self, namespace: str, name: str, version: str | None, type_name: str | None,
              one: bool = False) -> list[Found]:
        """The jobs of a name (one version with `version`), all this user's to act on: another user's, where
        the namespace isolates users, is refused in upstream's words (`validateJobs`: with `one`, several of the
        user's own are ambiguous first). The isolation lookup runs beside the LISTs."""
        from arena.engines.kubernetes.api import parallel
        from arena.errors import NotJobOwner
        from arena.serving.errors import ServingAmbiguous, ServingNotFound

        read, scope = parallel([lambda: self._read(namespace, type_name, name, version),
                                lambda: self._scope(namespace)])
        for r in (read, scope):
            if isinstance(r, BaseException):
                raise r
        jobs: list[Found] = read  # type: ignore[assignment]
        if version:  # kserve has no versions (upstream's get ignores --version for it)
            jobs = [f for f in jobs if f.type.versionless or f.view.version == version]
        if not jobs:
            raise ServingNotFound(name, namespace)
        theirs = [f for f in jobs if not scope.owns(f.obj)]  # type: ignore[union-attr]
        if one and len(jobs) - len(theirs) > 1:
            raise ServingAmbiguous(name, [(f.type.label, f.view.version) for f in jobs])
        if theirs:
            raise NotJobOwner(name, namespace)
        return jobs

    def _one(self, namespace: str, name: str, version: str | None, type_name: str | None) -> Found:
        return self._find(namespace, name, version, type_name, one=True)[0]  # several of them: refused there

    def get(self, namespace: str, name: str, version: str | None = None,
            type: str | None = None) -> ServingView:  # noqa: A002
        return self._one(namespace, name, version, type).view

    # ---- delete -------------------------------------------------------------------------------
    def delete(self, namespace: str, name: str, version: str | None = None,
               type: str | None = None) -> list[ServingView]:  # noqa: A002
        """Every version of the name (one with `version`): its Deployment and Services, or its InferenceService
        (KServe removes what it made), and upstream's `<release>-<type>` record with what that lists. When no
        version is left, the shared Service and VirtualService `traffic-split` made go too."""
        from arena.engines.kubernetes import traffic

        jobs = self._find(namespace, name, version, type)
        for f in jobs:
            release = f.view.name if f.type.versionless else f"{f.view.name}-{f.view.version}"
            self._delete_record(namespace, f"{release}-{f.type.label}")
            self.api.delete(f.key, f.obj["metadata"]["name"], namespace, self.engine.propagation)
            for s in f.services:
                self.api.delete("Service", s["metadata"]["name"], namespace, self.engine.propagation)
        try:
            left = self._read(namespace, None, name)
        except ArenaError:
            left = []
        if not left:
            svc = self.api.get("Service", name, namespace)
            if traffic.is_ours(svc):
                self.api.delete("Service", name, namespace, self.engine.propagation)
            if self._istio_served():
                vs = self.api.get("virtualservices", name, namespace)
                if traffic.is_ours(vs):
                    self.api.delete("virtualservices", name, namespace, self.engine.propagation)
        return [f.view for f in jobs]

    def _delete_record(self, namespace: str, record: str) -> None:
        """Upstream's ConfigMap `<release>-<type>`: what its `app` key lists, then itself (absent: nothing)."""
        from arena.engines.kubernetes import resources

        cm = self.api.get("ConfigMap", record, namespace)
        if cm is None:
            return
        for line in str((cm.get("data") or {}).get("app") or "").splitlines():
            found = resources.from_kubectl_name(line)
            if found is not None:
                self.api.delete(found[0], found[1], namespace, self.engine.propagation)
        self.api.delete("ConfigMap", record, namespace, self.engine.propagation)

    # ---- update -------------------------------------------------------------------------------
    def update(self, update: ServingUpdate) -> ServingView:
        """Read the object, change it, write it back whole (a concurrent writer makes this fail, not vanish)."""
        from arena.engines.kubernetes import servingupdate

        found = self._one(update.namespace, update.name, update.version or None, update.type)
        current = self.api.get(found.key, found.obj["metadata"]["name"], update.namespace)
        if current is None:
            from arena.serving.errors import ServingNotFound

            raise ServingNotFound(update.name, update.namespace)
        if found.type.versionless:
            changed = servingupdate.inference_service(current, update)
        else:
            changed = servingupdate.deployment(current, update)
        self.api.replace(changed)
        version = None if found.type.versionless else found.view.version
        return self.get(update.namespace, update.name, version, found.type.name)

    # ---- traffic-split ------------------------------------------------------------------------
    def _istio_served(self) -> bool:
        doc = self.api.raw(ISTIO_GROUP_VERSION)
        return bool(doc) and any(r.get("name") == "virtualservices" for r in doc.get("resources") or [])

    def traffic_split(self, split: TrafficSplit) -> list[ServingView]:
        """Weights per version of one name (see `traffic`): an Istio VirtualService, else replica ratios."""
        from arena.engines.kubernetes import traffic

        jobs = self._find(split.namespace, split.name, None, None)  # another user's name is refused
        if all(f.type.versionless for f in jobs):
            raise InvalidSpec("--name", f"{jobs[0].type.name} job {split.name} splits its requests between its "
                                        f"revisions: arena serve update {jobs[0].type.name} --name {split.name} "
                                        "--canary-traffic-percent P")
        by_version = {f.view.version: f for f in jobs if not f.type.versionless}
        unknown = [w.version for w in split.weights if w.version not in by_version]
        if unknown:
            raise InvalidSpec("--version-weight", f"serving job {split.name} has no version {unknown[0]} "
                                                  f"(versions: {', '.join(sorted(by_version))})")
        weights = {w.version: w.weight for w in split.weights}
        first = by_version[next(v for v, w in weights.items() if w > 0)] if any(weights.values()) else \
            by_version[split.weights[0].version]
        ports = [p for s in first.services[:1] for p in (s.get("spec") or {}).get("ports") or []
                 if p.get("name") in ("grpc-serving", "http-serving")]
        if not ports:
            raise InvalidSpec("--name", f"serving job {split.name} version {first.view.version} has no Service with "
                                        "a serving port to route to")
        all_weights = {v: weights.get(v, 0) for v in by_version}  # versions not named get no requests
        self._put(traffic.shared_service(split.name, split.namespace, first.type.label, ports, all_weights))
        message = ""
        if self._istio_served():
            targets = {v: f.services[0] for v, f in by_version.items() if f.services}
            self._put(traffic.virtual_service(split.name, split.namespace, ports, targets, all_weights))
        else:
            current = {v: int((f.obj.get("spec") or {}).get("replicas") or 0) for v, f in by_version.items()}
            scaled = traffic.replicas(all_weights, current)
            for v, n in scaled.items():
                if n != current.get(v):
                    self._scale(by_version[v], n)
            message = traffic.limitation(split.name, scaled)
        views = [f.view for f in self._read(split.namespace, None, split.name) if not f.type.versionless]
        return [msgspec.structs.replace(v, message=message) if message else v
                for v in sorted(views, key=lambda v: v.version)]

    def _put(self, obj: dict[str, Any]) -> None:
        """Create the object, or write its spec (labels, annotations) over the one there."""
        from arena.engines.kubernetes import resources, traffic

        meta = obj["metadata"]
        key = resources.key_for(obj)
        current = self.api.get(key, meta["name"], meta["namespace"])
        if current is None:
            self.api.create(obj)
            return
        if key == "Service" and not traffic.is_ours(current):
            return  # a Service `<name>` someone else made (upstream's tensorflow+Istio one spans the versions too)
        merged = dict(current)
        cmeta = dict(current.get("metadata") or {})
        cmeta["labels"] = {**(cmeta.get("labels") or {}), **meta.get("labels", {})}
        if meta.get("annotations"):
            cmeta["annotations"] = {**(cmeta.get("annotations") or {}), **meta["annotations"]}
        merged["metadata"] = cmeta
        spec = dict(obj["spec"])
        if key == "Service":  # the API server's choices stay (clusterIP)
            spec = {**(current.get("spec") or {}), **spec}
        merged["spec"] = spec
        self.api.replace(merged)

    def _scale(self, found: Found, replicas: int) -> None:
        dep = self.api.get(found.key, found.obj["metadata"]["name"], found.view.namespace)
        if dep is None:
            return
        dep.setdefault("spec", {})["replicas"] = replicas
        self.api.replace(dep)

    # ---- logs ---------------------------------------------------------------------------------
    def logs(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
             instance: str | None = None, follow: bool = False, tail: int = -1, since: float | None = None,
             timestamps: bool = False, container: str | None = None) -> Iterator[str]:
        """Lines of one container of one instance (its only pod, else `-i` as upstream asks): the main
        container, or `container` as upstream passes `-c` to the pod log read (a name the pod does not have is
        refused before the read, in the API server's words). While the container has not started, retried as
        `arena logs` does."""
        import math

        from arena.engines.kubernetes.api import NotStarted
        from arena.serving.views import pick_instance

        view = self.get(namespace, name, version, type)
        inst = pick_instance(view, instance)
        pod = self.api.get("Pod", inst.name, namespace) or {}
        names = _container_names(pod)
        if container and names and container not in names:
            raise InvalidSpec("-c/--container", f"container {container} is not valid for pod {inst.name} "
                                                f"(its containers: {', '.join(names)})")
        container = container or _main_container(pod)
        since_seconds = max(1, math.ceil(self._now() - since)) if since is not None else None
        retries = int(getattr(self.engine, "log_retries", 5))
        for attempt in range(retries + 1):
            try:
                return self.api.log(inst.name, namespace, container=container, follow=follow,
                                    tail=None if tail is None or tail < 0 else tail, since_seconds=since_seconds,
                                    timestamps=timestamps)
            except NotStarted:
                if attempt == retries:
                    raise
                time.sleep(float(getattr(self.engine, "poll_interval", 1.0)))
        raise AssertionError("unreachable")  # pragma: no cover

    def attach(self, namespace: str, name: str, version: str | None = None, type: str | None = None,  # noqa: A002
               instance: str | None = None, container: str | None = None, command: Sequence[str] = ()) -> int:
        """Exec into the instance's pod, as upstream's `serve attach`: its only pod (else `-i`), its main
        container (else `-c`), `sh` (else the command), after upstream's greeting on stderr."""
        import sys

        from arena.engines.kubernetes import exec as pod_exec
        from arena.serving.views import attach_greeting, attach_instance

        inst = attach_instance(self.get(namespace, name, version, type), instance)
        pod = self.api.get("Pod", inst.name, namespace) or {}
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        if phase != "Running":
            raise ArenaError(f"pod {inst.name} of serving job {name} is {phase}, not Running: there is nothing to "
                             "attach to")
        target = container or _main_container(pod) or ""
        sys.stderr.write(attach_greeting(target, inst.name) + "\n")
        return pod_exec.on_terminal(self.api.config, namespace, inst.name, target or None, command)


def _container_names(pod: dict[str, Any]) -> list[str]:
    """Every container the pod log read accepts: the regular ones, then init and ephemeral ones."""
    spec = pod.get("spec") or {}
    return [str(c.get("name")) for key in ("containers", "initContainers", "ephemeralContainers")
            for c in spec.get(key) or [] if c.get("name")]


def _main_container(pod: dict[str, Any]) -> str | None:
    """The annotated default container, else the first (a sidecar such as Istio's is never the first)."""
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    containers: Sequence[dict[str, Any]] = (pod.get("spec") or {}).get("containers") or []
    return annotated or (containers[0].get("name") if containers else None)
