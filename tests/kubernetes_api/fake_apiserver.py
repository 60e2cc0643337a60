"""A loopback HTTP server that plays the Kubernetes API server for the engine's tests and bench.

Real sockets, real HTTP/1.1 (keep-alive, chunked log streams), the API server's URL layout,
status codes and `Status` error bodies. It stores objects in memory and records every request
(method, path, query, body). Enough of the API for Arena: discovery (/api, /apis, /apis/<g>/<v>,
/version), LIST with label and field selectors, GET, POST, PUT, DELETE with ownerReference cascade
(garbage collection done synchronously), pod logs (tail, since, timestamps, follow; 400 for a container the pod does not have), 403 for
forbidden verbs, 404 for CRDs that are not installed, 409 on name clashes.

Test-only endpoints (not recorded): GET /__fake__/requests, POST /__fake__/reset.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

try:
    import msgspec

    _encode = msgspec.json.encode
except ImportError:  # pragma: no cover
    def _encode(obj: Any) -> bytes:
        return json.dumps(obj).encode()


@dataclass(frozen=True)
class Res:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def gv(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


CORE = [
    Res("", "v1", "pods", "Pod"), Res("", "v1", "events", "Event"), Res("", "v1", "nodes", "Node", False),
    Res("", "v1", "secrets", "Secret"), Res("", "v1", "services", "Service"),
    Res("", "v1", "configmaps", "ConfigMap"), Res("", "v1", "namespaces", "Namespace", False),
    Res("apps", "v1", "deployments", "Deployment"),
    Res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
]
# name -> custom resource the fake can serve ("installed" picks which).
CRDS = {
    "pytorchjobs": Res("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"),
    "tfjobs": Res("kubeflow.org", "v1", "tfjobs", "TFJob"),
    "mpijobs": Res("kubeflow.org", "v1", "mpijobs", "MPIJob"),
    "mpijobs-v2beta1": Res("kubeflow.org", "v2beta1", "mpijobs", "MPIJob"),
    "mpijobs-v1alpha1": Res("kubeflow.org", "v1alpha1", "mpijobs", "MPIJob"),  # Aliyun's, arena's own install
    "jobs.batch.volcano.sh": Res("batch.volcano.sh", "v1alpha1", "jobs", "Job"),
    "queues": Res("scheduling.volcano.sh", "v1beta1", "queues", "Queue", False),
    "podgroups": Res("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup"),
    "commands": Res("bus.volcano.sh", "v1alpha1", "commands", "Command"),
    "appwrappers": Res("workload.codeflare.dev", "v1beta2", "appwrappers", "AppWrapper"),
    "clusterqueues": Res("kueue.x-k8s.io", "v1beta2", "clusterqueues", "ClusterQueue", False),
    "localqueues": Res("kueue.x-k8s.io", "v1beta2", "localqueues", "LocalQueue"),
    "resourceflavors": Res("kueue.x-k8s.io", "v1beta2", "resourceflavors", "ResourceFlavor", False),
    "workloads": Res("kueue.x-k8s.io", "v1beta2", "workloads", "Workload"),
    "workloads-v1beta1": Res("kueue.x-k8s.io", "v1beta1", "workloads", "Workload"),
    "inferenceservices": Res("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"),
    "virtualservices": Res("networking.istio.io", "v1beta1", "virtualservices", "VirtualService"),
}
SERVING_CRDS = ("inferenceservices", "virtualservices")  # `arena serve` tests install them when they need them
DEFAULT_CRDS = tuple(k for k in CRDS if k not in ("mpijobs-v2beta1", "mpijobs-v1alpha1", "workloads-v1beta1",
                                                  *SERVING_CRDS))


def as_version(obj: dict[str, Any], r: Res) -> dict[str, Any]:
    """An object as the version `r` asked for answers it (a conversion that only renames, as a CRD's `None`
    strategy does)."""
    return obj if obj.get("apiVersion", r.gv) == r.gv else {**obj, "apiVersion": r.gv}


def now_rfc3339(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# ---- selectors -------------------------------------------------------------------------------
_SPLIT = re.compile(r",(?![^()]*\))")


def label_matcher(selector: str):  # type: ignore[no-untyped-def]
    terms = []
    for raw in _SPLIT.split(selector or ""):
        t = raw.strip()
        if not t:
            continue
        m = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", t)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                terms.append(lambda lab, k=key, vs=values: lab.get(k) in vs)
            else:
                terms.append(lambda lab, k=key, vs=values: lab.get(k) not in vs)
        elif "!=" in t:
            k, v = t.split("!=", 1)
            terms.append(lambda lab, k=k.strip(), v=v.strip(): lab.get(k) != v)
        elif "=" in t:
            k, v = t.replace("==", "=").split("=", 1)
            terms.append(lambda lab, k=k.strip(), v=v.strip(): lab.get(k) == v)
        elif t.startswith("!"):
            terms.append(lambda lab, k=t[1:].strip(): k not in lab)
        else:
            terms.append(lambda lab, k=t: k in lab)
    return lambda labels: all(term(labels) for term in terms)


def _path_value(obj: dict[str, Any], dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def field_matcher(selector: str):  # type: ignore[no-untyped-def]
    terms = []
    for t in (selector or "").split(","):
        t = t.strip()
        if not t:
            continue
        if "!=" in t:
            k, v = t.split("!=", 1)
            terms.append(lambda o, k=k, v=v: _path_value(o, k) != v)
        else:
            k, v = t.replace("==", "=").split("=", 1)
            terms.append(lambda o, k=k, v=v: _path_value(o, k) == v)
    return lambda obj: all(term(obj) for term in terms)


# ---- the server ------------------------------------------------------------------------------
# Each CRD's operator, as its upstream manifests deploy it: (namespace, Deployment name, image).
OPERATOR_OF = {
    "pytorchjobs": ("kubeflow", "training-operator", "kubeflow/training-operator:v1-855e096"),
    "tfjobs": ("kubeflow", "training-operator", "kubeflow/training-operator:v1-855e096"),
    "mpijobs": ("kubeflow", "training-operator", "kubeflow/training-operator:v1-855e096"),
    "mpijobs-v2beta1": ("mpi-operator", "mpi-operator", "mpioperator/mpi-operator:0.6.0"),
    "mpijobs-v1alpha1": ("arena-system", "mpi-operator", "registry.cn-zhangjiakou.aliyuncs.com/acs/mpi-operator:v1"),
    "jobs.batch.volcano.sh": ("volcano-system", "volcano-controllers", "docker.io/volcanosh/vc-controller-manager:v1.10.0"),
    "podgroups": ("volcano-system", "volcano-scheduler", "docker.io/volcanosh/vc-scheduler:v1.10.0"),
    "clusterqueues": ("kueue-system", "kueue-controller-manager", "registry.k8s.io/kueue/kueue:v0.15.0"),
    "appwrappers": ("appwrapper-system", "appwrapper-controller-manager", "quay.io/ibm/appwrapper:v1.1.2"),
}


def operator_deployments(installed: Iterable[str], ready: int = 1) -> list[dict[str, Any]]:
    """A ready Deployment for the operator of every installed CRD that has one (deduplicated)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in installed:
        if crd not in OPERATOR_OF:
            continue
        ns, name, image = OPERATOR_OF[crd]
        out[(ns, name)] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"control-plane": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"control-plane": name}},
                     "template": {"metadata": {"labels": {"control-plane": name}},
                                  "spec": {"containers": [{"name": "manager", "image": image}]}}},
            "status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": ready},
        }
    return list(out.values())


class FakeApiServer:
    def __init__(self, installed: Iterable[str] = DEFAULT_CRDS, token: str | None = None,
                 operators: bool = False) -> None:
        installed = tuple(installed)
        self.resources: dict[tuple[str, str, str], Res] = {(r.group, r.version, r.plural): r for r in CORE}
        for name in installed:
            r = CRDS[name]
            self.resources[(r.group, r.version, r.plural)] = r
        # One store per resource, whatever its versions: the versions a CRD serves are views of the same objects
        # (installing MPIJob v1 and v2beta1 together is one CRD serving both), each answered in the version asked.
        self.store: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {
            self._key(r): {} for r in self.resources.values()}
        self.token = token
        self.requests: list[Recorded] = []
        self.forbidden: set[tuple[str, str]] = set()  # (verb, plural)
        # (ns, pod) or (ns, pod, container) -> (time, line); the container's own lines win
        self.logs: dict[tuple[str, ...], list[tuple[float, str]]] = {}
        self.follow_lines: dict[tuple[str, str], list[str]] = {}  # streamed after the stored lines
        self.follow_delay = 0.05
        self.follow_done = threading.Event()  # set when a follow stream has sent its last line
        self.not_started: dict[tuple[str, str], int] = {}  # (ns, pod) -> how many log calls fail first
        self.version = {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "platform": "linux/amd64"}
        # The user the authentication API names (TokenReview, SelfSubjectReview); None: those APIs are not served.
        self.user: str | None = None
        self.lock = threading.RLock()
        self._rv = 1000
        self._cache: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.httpd: ThreadingHTTPServer | None = None
        if operators:  # a ready Deployment for each installed CRD's operator (for `arena check`)
            for dep in operator_deployments(installed):
                self.add(dep)

    # -- lifecycle
    def start(self) -> FakeApiServer:
        server = self

        class Handler(_Handler):
            fake = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-apiserver",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self, namespace: str | None = None) -> dict[str, Any]:
        context: dict[str, Any] = {"cluster": "fake", "user": "tester"}
        if namespace:
            context["namespace"] = namespace
        user = {"token": self.token} if self.token else {}
        return {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "contexts": [{"name": "fake", "context": context}],
                "users": [{"name": "tester", "user": user}]}

    # -- state helpers for tests
    def find(self, plural: str, group: str | None = None) -> Res:
        for r in self.resources.values():
            if r.plural == plural and (group is None or r.group == group):
                return r
        raise KeyError(plural)

    @staticmethod
    def _key(r: Res) -> tuple[str, str]:
        return (r.group, r.plural)

    def add(self, obj: dict[str, Any], plural: str | None = None, group: str | None = None) -> dict[str, Any]:
        """Insert an object as if an operator or kubelet had created it."""
        r = self.resource_for(obj) if plural is None else self.find(plural, group)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if r.namespaced:
            meta.setdefault("namespace", "default")
        with self.lock:
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self.store[self._key(r)][(meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def resource_for(self, obj: dict[str, Any]) -> Res:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        for r in self.resources.values():
            if r.gv == api_version and r.kind == kind:
                return r
        raise KeyError(f"{api_version} {kind}")

    def objects(self, plural: str, group: str | None = None) -> list[dict[str, Any]]:
        r = self.find(plural, group)
        return list(self.store[self._key(r)].values())

    def requests_to(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [q for q in self.requests if (method is None or q.method == method) and contains in q.path]

    def api_requests(self) -> list[Recorded]:
        """Requests an engine made (discovery included)."""
        return [q for q in self.requests if not q.path.startswith("/__fake__")]

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- request handling (called from handler threads)
    def status(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> tuple[int, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": message, "reason": reason, "code": code}
        if details is not None:
            body["details"] = details
        return code, body

    def not_found_resource(self) -> tuple[int, Any]:
        return self.status(404, "NotFound", "the server could not find the requested resource", {})

    def forbid(self, verb: str, plural: str) -> None:
        self.forbidden.add((verb, plural))

    def discovery(self, path: str) -> tuple[int, Any] | None:
        if path == "/version":
            return 200, self.version
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            groups: dict[str, set[str]] = {}
            for r in self.resources.values():
                if r.group:
                    groups.setdefault(r.group, set()).add(r.version)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in sorted(vs)],
                 "preferredVersion": {"groupVersion": f"{g}/{sorted(vs)[-1]}", "version": sorted(vs)[-1]}}
                for g, vs in sorted(groups.items())]}
        m = re.fullmatch(r"/api/v1|/apis/([^/]+)/([^/]+)", path)
        if not m:
            return None
        group, version = (m.group(1) or "", m.group(2) or "v1")
        items = [r for r in self.resources.values() if r.group == group and r.version == version]
        if not items:
            return self.not_found_resource()
        gv = f"{group}/{version}" if group else version
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
            {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind,
             "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]} for r in items]
            + [{"name": f"{r.plural}/status", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get"]}
               for r in items]}

    def route(self, path: str) -> tuple[Res | None, str | None, str | None, str | None]:
        """(resource, namespace, name, subresource) of an API path; resource None = not served."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None, None, None, None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return None, None, None, None
        r = self.resources.get((group, version, rest[0]))
        return r, namespace, (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)

    def list_bytes(self, r: Res, namespace: str | None, query: dict[str, str]) -> bytes:
        cache_key = (f"{r.gv}/{r.plural}/{namespace}", json.dumps(sorted(query.items())))
        with self.lock:
            hit = self._cache.get(cache_key)
            if hit and hit[0] == self._rv:
                return hit[1]
            rv = self._rv
            objs = list(self.store[self._key(r)].values())
        labels = label_matcher(query.get("labelSelector", ""))
        fields = field_matcher(query.get("fieldSelector", ""))
        items = [as_version(o, r) for o in objs if (namespace is None or o["metadata"].get("namespace") == namespace)
                 and labels(o["metadata"].get("labels") or {}) and fields(o)]
        data = _encode({"apiVersion": r.gv, "kind": f"{r.kind}List", "metadata": {"resourceVersion": str(rv)},
                        "items": items})
        with self.lock:
            self._cache[cache_key] = (rv, data)
        return data

    def create(self, r: Res, namespace: str | None, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return self.status(400, "BadRequest", "the body of the request was not a JSON object")
        meta = body.setdefault("metadata", {})
        if r.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                return self.status(400, "BadRequest", "the namespace of the object does not match the request")
            meta["namespace"] = namespace
        if not meta.get("name"):
            if not meta.get("generateName"):
                return self.status(422, "Invalid", f"{r.kind} is invalid: metadata.name: Required value",
                                   {"kind": r.kind, "causes": [{"field": "metadata.name", "message": "Required"}]})
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = (namespace or "", meta["name"])
        with self.lock:
            store = self.store[self._key(r)]
            if key in store:
                return self.status(409, "AlreadyExists", f'{r.qualified} "{meta["name"]}" already exists',
                                   {"name": meta["name"], "group": r.group, "kind": r.plural})
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            store[key] = body
        return 201, body

    def replace(self, r: Res, namespace: str | None, name: str, body: Any) -> tuple[int, Any]:
        """PUT: the whole object, refused with 409 when its resourceVersion is not the stored one."""
        if not isinstance(body, dict):
            return self.status(400, "BadRequest", "the body of the request was not a JSON object")
        meta = body.setdefault("metadata", {})
        with self.lock:
            store = self.store[self._key(r)]
            old = store.get((namespace or "", name))
            if old is None:
                return self.status(404, "NotFound", f'{r.qualified} "{name}" not found',
                                   {"name": name, "group": r.group, "kind": r.plural})
            old_meta = old["metadata"]
            if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta.get("resourceVersion"):
                return self.status(409, "Conflict", f'Operation cannot be fulfilled on {r.qualified} "{name}": the '
                                   "object has been modified; please apply your changes to the latest version and "
                                   "try again", {"name": name, "group": r.group, "kind": r.plural})
            for k in ("uid", "creationTimestamp", "namespace"):
                if k in old_meta:
                    meta[k] = old_meta[k]
            meta["generation"] = int(old_meta.get("generation", 1)) + (body.get("spec") != old.get("spec"))
            if "status" in old:  # the status subresource is not written by a PUT of the object
                body["status"] = old["status"]
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            store[(namespace or "", name)] = body
        return 200, body

    def delete(self, r: Res, namespace: str | None, name: str, policy: str | None) -> tuple[int, Any]:
        with self.lock:
            store = self.store[self._key(r)]
            obj = store.pop((namespace or "", name), None)
            if obj is None:
                return self.status(404, "NotFound", f'{r.qualified} "{name}" not found',
                                   {"name": name, "group": r.group, "kind": r.plural})
            self._rv += 1
            if policy != "Orphan":
                self._collect_garbage({obj["metadata"]["uid"]})
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                     "details": {"name": name, "group": r.group, "kind": r.plural, "uid": obj["metadata"]["uid"]}}

    def _collect_garbage(self, uids: set[str]) -> None:
        """The garbage collector, synchronously: delete dependants of deleted owners, recursively."""
        while uids:
            gone: set[str] = set()
            for store in self.store.values():
                for key, obj in list(store.items()):
                    refs = obj.get("metadata", {}).get("ownerReferences") or []
                    if any(ref.get("uid") in uids for ref in refs):
                        del store[key]
                        gone.add(obj["metadata"]["uid"])
            uids = gone

    def log_lines(self, namespace: str, pod: str, query: dict[str, str]) -> list[str]:
        lines = list(self.logs.get((namespace, pod, query.get("container", "")), self.logs.get((namespace, pod), [])))
        if query.get("sinceSeconds"):
            cutoff = time.time() - int(query["sinceSeconds"])
            lines = [(t, s) for t, s in lines if t >= cutoff]
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) else []
        if query.get("timestamps") in ("true", "True", "1"):
            return [f"{datetime.fromtimestamp(t, tz=timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {s}"
                    for t, s in lines]
        return [s for _, s in lines]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeApiServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (_encode(body) if content_type == "application/json"
                                                     else str(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, lines: list[str], more: list[str], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        for line in lines:
            chunk(line + "\n")
        for line in more:
            time.sleep(delay)
            chunk(line + "\n")
        self.fake.follow_done.set()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        if path.startswith("/__fake__"):
            if path == "/__fake__/requests":
                self._send(200, [q.__dict__ for q in fake.api_requests()])
            else:
                fake.reset_requests()
                self._send(200, {})
            return
        with fake.lock:
            fake.requests.append(Recorded(method, path, query, json.loads(raw) if raw else None,
                                          {k.lower(): v for k, v in self.headers.items()
                                           if k.lower() in ("authorization", "content-type", "accept")}))
        if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._send(*fake.status(401, "Unauthorized", "Unauthorized"))
            return
        if method == "GET":
            found = fake.discovery(path)
            if found is not None:
                self._send(*found)
                return
        if method == "POST" and path.startswith("/apis/authentication.k8s.io/v1/") and fake.user:
            review = dict(body or {})
            if path.endswith("/tokenreviews"):
                review["status"] = {"authenticated": True, "user": {"username": fake.user}}
            else:
                review["status"] = {"userInfo": {"username": fake.user}}
            self._send(201, review)
            return
        r, namespace, name, sub = fake.route(path)
        if r is None:
            self._send(*fake.not_found_resource())
            return
        verb = {"GET": "get" if name else "list", "POST": "create", "DELETE": "delete",
                "PUT": "update"}.get(method, method.lower())
        if (verb, r.plural) in fake.forbidden:
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            self._send(*fake.status(403, "Forbidden",
                                    f'{r.qualified} is forbidden: User "tester" cannot {verb} resource '
                                    f'"{r.plural}" in API group "{r.group}"{where}',
                                    {"group": r.group, "kind": r.plural}))
            return
        if method == "GET" and name and sub == "log":
            self._log(r, namespace or "", name, query)
        elif method == "GET" and name:
            with fake.lock:
                obj = fake.store[fake._key(r)].get((namespace or "", name))
            if obj is None:
                self._send(*fake.status(404, "NotFound", f'{r.qualified} "{name}" not found',
                                        {"name": name, "group": r.group, "kind": r.plural}))
            else:
                self._send(200, as_version(obj, r))
        elif method == "GET":
            self._send(200, fake.list_bytes(r, namespace, query))
        elif method == "POST" and not name:
            self._send(*fake.create(r, namespace, body))
        elif method == "PUT" and name and not sub:
            self._send(*fake.replace(r, namespace, name, body))
        elif method == "DELETE" and name:
            policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy")
            self._send(*fake.delete(r, namespace, name, policy))
        else:
            self._send(*fake.status(405, "MethodNotAllowed", f"{method} is not supported here"))

    def _log(self, r: Res, namespace: str, pod: str, query: dict[str, str]) -> None:
        fake = self.fake
        with fake.lock:
            obj = fake.store[fake._key(r)].get((namespace, pod))
            pending = fake.not_started.get((namespace, pod), 0)
            if pending:
                fake.not_started[(namespace, pod)] = pending - 1
        if obj is None:
            self._send(*fake.status(404, "NotFound", f'pods "{pod}" not found', {"name": pod, "kind": "pods"}))
            return
        spec = obj.get("spec") or {}
        names = [c.get("name") for c in (*spec.get("containers", []), *spec.get("initContainers", []))]
        if query.get("container") and query["container"] not in names:
            self._send(*fake.status(400, "BadRequest", f"container {query['container']} is not valid for pod {pod}"))
            return
        if pending:
            container = query.get("container", "main")
            self._send(*fake.status(400, "BadRequest",
                                    f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating'))
            return
        lines = fake.log_lines(namespace, pod, query)
        if query.get("follow") in ("true", "True", "1"):
            self._stream(lines, fake.follow_lines.get((namespace, pod), []), fake.follow_delay)
        else:
            self._send(200, "".join(line + "\n" for line in lines), "text/plain")

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")
