"""The one place that talks HTTP: a lightkube `Client`, calls by resource key, typed errors.

Every API failure becomes an Arena error a user can act on:
- 403 → `PermissionDenied`: "no permission to <verb> <resource> in namespace <ns>";
- 404 on a resource the server does not serve → `CRDNotInstalled` ("… run 'arena check'");
  404 on a named object → None / False for the caller to turn into JobNotFound;
- 409 on create → `AlreadyExists` (JobExists for a job); 422 → `InvalidSpec`; no connection → `EngineUnavailable`.
"""
from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, TypeVar

from arena.engines.kubernetes import resources
from arena.engines.kubernetes.resources import Resource
from arena.errors import ArenaError, EngineUnavailable, InvalidSpec

T = TypeVar("T")
ALL_NAMESPACES = "*"


class PermissionDenied(ArenaError):
    """RBAC refused the call; the message names the verb, resource and namespace."""


class CRDNotInstalled(ArenaError):
    """The API server does not serve the resource: its CRD (or operator) is missing."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        super().__init__(f"the {resource.kind} CRD ({resource.qualified}, {resource.api_version}) is not "
                         "installed; run 'arena check'")


class NotStarted(ArenaError):
    """The container has no log yet (ContainerCreating, PodInitializing, waiting to start)."""


_NOT_STARTED = ("waiting to start", "ContainerCreating", "PodInitializing", "is not available")


class AlreadyExists(ArenaError):
    """409 on create: an object of that kind and name exists (submit turns it into JobExists)."""

    exit_code = 2

    def __init__(self, resource: Resource, name: str, namespace: str | None) -> None:
        self.resource, self.name, self.namespace = resource, name, namespace
        where = f" in namespace {namespace}" if namespace else ""
        super().__init__(f"{resource.kind} {name!r} already exists{where}")


READ_VERBS = frozenset({"get", "list", "watch"})
READ_RETRY_DELAYS = (0.1, 0.4)  # seconds before the 2nd and 3rd try of a read that failed in transport
# A 429 with Retry-After was refused before any processing (e.g. "storage is (re)initializing" while a new
# CRD's watch cache fills): waited out and retried for any verb, as client-go does, at most this often and long.
TOO_MANY_REQUESTS_TRIES = 10
TOO_MANY_REQUESTS_MAX_WAIT = 5.0


class _Missing(Exception):
    """A named object is absent (internal: callers get None/False)."""


def _status_of(exc: Exception) -> tuple[int, str, str, dict[str, Any]]:
    """(code, reason, message, details) of an HTTP error, JSON Status or not."""
    status = getattr(exc, "status", None)
    if status is not None and getattr(status, "code", None):
        details = status.details
        det = {"name": getattr(details, "name", None), "kind": getattr(details, "kind", None),
               "causes": [{"field": getattr(c, "field", None), "message": getattr(c, "message", None)}
                          for c in (getattr(details, "causes", None) or [])]} if details else {}
        return int(status.code), status.reason or "", status.message or "", det
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", 0) or 0
    text = ""
    if response is not None:
        try:
            text = response.text
        except Exception:  # a streamed body that was not read
            text = ""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return code, body.get("reason", ""), body.get("message", ""), body.get("details") or {}
    return code, "", text.strip()[:200], {}


def translate(exc: Exception, *, verb: str, resource: Resource, namespace: str | None,
              name: str | None = None) -> Exception:
    """The Arena error for an HTTP failure (or `_Missing` for a 404 on a named object)."""
    code, reason, message, details = _status_of(exc)
    where = f"in namespace {namespace}" if namespace and resource.namespaced else "cluster-wide"
    if code == 401:
        return ArenaError(f"unauthorized: the API server rejected the kubeconfig's credentials ({message})")
    if code == 403:
        return PermissionDenied(f"no permission to {verb} {resource.qualified} {where}")
    if code == 404:
        if details.get("kind") == "namespaces" and namespace:
            return InvalidSpec("--namespace", f"namespace {namespace!r} does not exist")
        if name and details.get("name"):
            return _Missing(name)
        return CRDNotInstalled(resource)
    if code == 400 and any(word in message for word in _NOT_STARTED):
        return NotStarted(message)
    if code == 409 and verb == "create" and name:
        return AlreadyExists(resource, name, namespace)
    if code == 422:
        causes = details.get("causes") or []
        field = next((c.get("field") for c in causes if c.get("field")), None) or resource.kind
        return InvalidSpec(field, message or reason)
    return ArenaError(f"cannot {verb} {resource.qualified} {where}: {message or reason or f'HTTP {code}'}")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while tens of thousands of objects are decoded and built.

    None of them forms a cycle, yet each allocation burst triggers full collections that walk
    everything alive: about 40% of `arena list` time with 20,000 pods. Reference counting still
    frees memory meanwhile; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parallel(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run calls concurrently (threads: the work is I/O) and return results or exceptions, in order."""
    if len(calls) <= 1:
        out: list[T | BaseException] = []
        for call in calls:
            try:
                out.append(call())
            except Exception as exc:  # noqa: BLE001 - handed back to the caller
                out.append(exc)
        return out
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        results: list[T | BaseException] = []
        for f in futures:
            exc = f.exception()
            results.append(exc if exc is not None else f.result())
        return results


def _retry_after(response: Any) -> float | None:
    """Seconds to wait before repeating a request the server throttled (429 + Retry-After), else None."""
    if response is None or response.status_code != 429:
        return None
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), TOO_MANY_REQUESTS_MAX_WAIT)
    except ValueError:
        return None


class Api:
    """Calls by resource key (`resources.CRDS` / `CORE`); lightkube is imported on first use."""

    def __init__(self, load_config: Callable[[], Any], timeout: float = 30.0, transport: Any = None) -> None:
        self._load_config = load_config
        self._timeout = timeout
        self._transport = transport

    @cached_property
    def config(self) -> Any:
        return self._load_config()

    @cached_property
    def client(self) -> Any:
        import httpx2
        from lightkube import Client

        return Client(config=self.config, timeout=httpx2.Timeout(self._timeout), field_manager="arena",
                      transport=self._transport)

    @property
    def server(self) -> str:
        return str(self.config.cluster.server)

    def _call(self, fn: Callable[[], T], *, verb: str, key: str, namespace: str | None, name: str | None = None) -> T:
        import httpx2
        from lightkube.core.exceptions import ConfigError

        attempts = len(READ_RETRY_DELAYS) + 1 if verb in READ_VERBS else 1
        attempt = throttled = 0
        while True:
            try:
                return fn()
            except httpx2.HTTPStatusError as exc:
                wait = _retry_after(exc.response)
                if wait is not None and throttled + 1 < TOO_MANY_REQUESTS_TRIES:
                    throttled += 1
                    time.sleep(wait)
                    continue
                raise translate(exc, verb=verb, resource=resources.by_key(key), namespace=namespace,
                                name=name) from None
            except httpx2.TransportError as exc:
                # A read is safe to repeat: a connection reset or a TLS alert under load (seen against a
                # real API server) should not fail `arena list`. A write is not retried: it may have landed.
                if attempt + 1 < attempts:
                    time.sleep(READ_RETRY_DELAYS[attempt])
                    attempt += 1
                    continue
                raise EngineUnavailable(f"cannot reach the Kubernetes API server at {self.server}: {exc}") from None
            except ConfigError as exc:  # e.g. a kubeconfig exec credential plugin that failed
                raise EngineUnavailable(f"kubeconfig credentials: {exc}") from None

    # ---- the handful of calls --------------------------------------------------------------
    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        key = resources.key_for(dict(manifest))
        cls = resources.generic(key)
        meta = manifest.get("metadata") or {}
        ns = meta.get("namespace") if resources.by_key(key).namespaced else None
        name = meta.get("name") or meta.get("generateName")
        obj = self._call(lambda: self.client.create(cls(manifest), namespace=ns), verb="create", key=key,
                         namespace=ns, name=name)
        return dict(obj)

    def get(self, key: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        cls = resources.generic(key)
        ns = namespace if resources.by_key(key).namespaced else None
        try:
            obj = self._call(lambda: self.client.get(cls, name, namespace=ns) if ns else self.client.get(cls, name),
                             verb="get", key=key, namespace=ns, name=name)
        except _Missing:
            return None
        return dict(obj)

    def list(self, key: str, namespace: str | None, *, labels: Mapping[str, Any] | None = None,
             fields: Mapping[str, Any] | None = None) -> list[Any]:
        """Slim objects (`models`) of one LIST call; namespace None means all namespaces."""
        cls = resources.summary(key)
        namespaced = resources.by_key(key).namespaced
        kwargs: dict[str, Any] = {"labels": dict(labels) if labels else None,
                                  "fields": dict(fields) if fields else None}
        if namespaced:
            kwargs["namespace"] = namespace or ALL_NAMESPACES
        return self._call(lambda: list(self.client.list(cls, **kwargs)), verb="list", key=key,
                          namespace=namespace if namespaced else None)

    def list_objects(self, key: str, namespace: str | None = None, *,
                     labels: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Full objects (dicts) of one LIST call, for the few small collections (queues, serving jobs)."""
        cls = resources.generic(key)
        namespaced = resources.by_key(key).namespaced
        kwargs: dict[str, Any] = {"namespace": namespace or ALL_NAMESPACES} if namespaced else {}
        if labels:
            kwargs["labels"] = dict(labels)
        return self._call(lambda: [dict(o) for o in self.client.list(cls, **kwargs)], verb="list", key=key,
                          namespace=namespace if namespaced else None)

    def replace(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole object back (read, changed, written: its resourceVersion makes a concurrent
        change a 409 Conflict instead of a lost update)."""
        key = resources.key_for(dict(manifest))
        cls = resources.generic(key)
        meta = manifest.get("metadata") or {}
        ns = meta.get("namespace") if resources.by_key(key).namespaced else None
        obj = self._call(lambda: self.client.replace(cls(manifest), namespace=ns), verb="update", key=key,
                         namespace=ns, name=meta.get("name"))
        return dict(obj)

    def delete(self, key: str, name: str, namespace: str | None, propagation: str = "Background") -> bool:
        """False when the object was already gone."""
        from lightkube.types import CascadeType

        cls = resources.generic(key)
        cascade = CascadeType(propagation)
        ns = namespace if resources.by_key(key).namespaced else None
        try:
            self._call(lambda: self.client.delete(cls, name, namespace=ns, cascade=cascade) if ns
                       else self.client.delete(cls, name, cascade=cascade),
                       verb="delete", key=key, namespace=ns, name=name)
        except _Missing:
            return False
        return True

    def log(self, pod: str, namespace: str, *, container: str | None, follow: bool, tail: int | None,
            since_seconds: int | None, timestamps: bool) -> Iterator[str]:
        """Lines of one container's log; the request is made (and can fail) before this returns."""
        lines = self._call(lambda: self.client.log(pod, namespace=namespace, container=container, follow=follow,
                                                   tail_lines=tail, since=since_seconds, timestamps=timestamps,
                                                   newlines=False),
                           verb="read logs of", key="Pod", namespace=namespace, name=pod)
        return self._stream(pod, lines)

    @staticmethod
    def _stream(pod: str, lines: Iterator[str]) -> Iterator[str]:
        import httpx2

        try:
            yield from lines
        except httpx2.TransportError as exc:  # the stream broke mid-way
            raise EngineUnavailable(f"log stream of pod {pod} interrupted: {exc}") from None

    # ---- raw GETs (discovery, /version): paths lightkube has no resource class for ---------------
    @cached_property
    def _http(self) -> Any:
        import httpx2
        from lightkube.config.client_adapter import Client as adapter
        from lightkube.config.client_adapter import ConnectionParams

        return adapter(self.config, ConnectionParams(timeout=httpx2.Timeout(self._timeout), transport=self._transport))

    def raw(self, path: str, timeout: float | None = None) -> dict[str, Any] | None:
        """GET a discovery path; None on 404 (group or version not served). `timeout` overrides the
        client's, for lookups that must not hold a command up (a plan's version choice)."""
        import httpx2

        for attempt in range(len(READ_RETRY_DELAYS) + 1):  # a read: retried after a transport failure, as _call
            try:
                resp = self._http.get(path, timeout=httpx2.Timeout(timeout)) if timeout else self._http.get(path)
                break
            except httpx2.TransportError as exc:
                if attempt == len(READ_RETRY_DELAYS):
                    raise EngineUnavailable(f"cannot reach the Kubernetes API server at {self.server}: {exc}") \
                        from None
                time.sleep(READ_RETRY_DELAYS[attempt])
        if resp.status_code == 404:
            return None
        if resp.status_code == 403:
            raise PermissionDenied(f"no permission to read API discovery ({path})")
        if resp.status_code >= 400:
            raise ArenaError(f"API discovery {path} failed: HTTP {resp.status_code}")
        return resp.json()

    def post_raw(self, path: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST a body to a path lightkube has no resource for (TokenReview, SelfSubjectReview: `arena
        whoami`); None when the API server does not serve it (404)."""
        import httpx2

        try:
            resp = self._http.post(path, json=dict(body))
        except httpx2.TransportError as exc:
            raise EngineUnavailable(f"cannot reach the Kubernetes API server at {self.server}: {exc}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code == 403:
            raise PermissionDenied(f"no permission to POST {path}")
        if resp.status_code >= 400:
            raise ArenaError(f"POST {path} failed: HTTP {resp.status_code}")
        return resp.json()
