"""API failures become errors a user can act on (STYLE §7): 403, 404 (CRD missing), 409, 422."""
from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import SPECS, job_object, kubeflow_status

from arena.engines.kubernetes import api, resources
from arena.engines.kubernetes.api import CRDNotInstalled, PermissionDenied
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import ArenaError, InvalidSpec, JobExists, JobNotFound


def test_403_names_verb_resource_and_namespace(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    apiserver.forbid("list", "tfjobs")
    with pytest.raises(PermissionDenied) as err:
        engine.list("research", kind="tfjob")
    assert str(err.value) == "no permission to list tfjobs.kubeflow.org in namespace research"
    with pytest.raises(PermissionDenied, match="no permission to list tfjobs.kubeflow.org cluster-wide"):
        engine.list(None, kind="tfjob")
    apiserver.forbid("delete", "pytorchjobs")
    apiserver.add(job_object("pytorchjob", "mine", status=kubeflow_status()))
    with pytest.raises(PermissionDenied, match="no permission to delete pytorchjobs.kubeflow.org in namespace default"):
        engine.delete("default", "mine")
    apiserver.forbid("list", "pods")
    with pytest.raises(PermissionDenied, match="no permission to list pods in namespace default"):
        engine.get("default", "mine")


def test_list_of_every_kind_shows_the_kinds_the_user_may_read(apiserver: FakeApiServer,
                                                             engine: KubernetesEngine) -> None:
    """A namespace-scoped Role often grants some API groups only (found against a real API server):
    `arena list` shows the jobs it may read; refused everything, it says why."""
    apiserver.add(job_object("pytorchjob", "mine", status=kubeflow_status()))
    for plural in ("tfjobs", "jobs", "appwrappers"):
        apiserver.forbid("list", plural)
    assert [v.name for v in engine.list("default")] == ["mine"]
    for plural in ("pytorchjobs", "mpijobs"):
        apiserver.forbid("list", plural)
    with pytest.raises(PermissionDenied, match="no permission to list"):
        engine.list("default")


def test_404_on_a_missing_crd_points_to_arena_check(make_server, make_engine) -> None:
    engine: KubernetesEngine = make_engine(make_server(installed=["pytorchjobs"]))
    with pytest.raises(CRDNotInstalled) as err:
        engine.submit(SPECS["volcanojob"])
    assert str(err.value) == ("the Job CRD (jobs.batch.volcano.sh, batch.volcano.sh/v1alpha1) is not installed; "
                              "run 'arena check'")
    assert err.value.exit_code == 1
    with pytest.raises(JobNotFound):  # a missing object is not a missing CRD
        engine.get("default", "nothing", kind="pytorchjob")


def test_409_is_job_exists(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    engine.submit(SPECS["tfjob"])
    with pytest.raises(JobExists) as err:
        engine.submit(SPECS["tfjob"])
    assert (err.value.name, err.value.namespace) == ("tf", "default")


class _Resp:
    def __init__(self, code: int, text: str) -> None:
        self.status_code, self.text = code, text


class _HTTPError(Exception):
    def __init__(self, code: int, body: str) -> None:
        self.response = _Resp(code, body)


def test_translate_other_codes() -> None:
    """Non-lightkube shaped errors (plain text or JSON Status bodies) are translated too."""
    job = resources.by_key("pytorchjobs")
    invalid = api.translate(_HTTPError(422, '{"kind":"Status","reason":"Invalid","message":"spec.x: Invalid value",'
                                           '"details":{"causes":[{"field":"spec.x","message":"bad"}]}}'),
                            verb="create", resource=job, namespace="default", name="j")
    assert isinstance(invalid, InvalidSpec) and invalid.field == "spec.x"
    no_ns = api.translate(_HTTPError(404, '{"kind":"Status","reason":"NotFound","message":"namespaces \\"nope\\" '
                                          'not found","details":{"name":"nope","kind":"namespaces"}}'),
                          verb="create", resource=job, namespace="nope", name="j")
    assert isinstance(no_ns, InvalidSpec) and str(no_ns) == "--namespace: namespace 'nope' does not exist"
    plain = api.translate(_HTTPError(404, "404 page not found"), verb="list", resource=job, namespace="default")
    assert isinstance(plain, CRDNotInstalled)
    other = api.translate(_HTTPError(500, "etcdserver: request timed out"), verb="list", resource=job,
                          namespace="default")
    assert type(other) is ArenaError
    assert str(other) == "cannot list pytorchjobs.kubeflow.org in namespace default: etcdserver: request timed out"


def test_a_read_is_retried_after_a_transport_failure_and_a_write_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen against a real API server under load: one TLS alert failed `arena list`. Reads are safe to repeat."""
    import httpx2

    from arena.errors import EngineUnavailable

    monkeypatch.setattr(api, "READ_RETRY_DELAYS", (0.0, 0.0))
    client = api.Api(lambda: None)
    monkeypatch.setattr(api.Api, "server", property(lambda self: "https://127.0.0.1:1"))
    calls: list[str] = []

    def flaky() -> str:
        calls.append("x")
        if len(calls) == 1:
            raise httpx2.ConnectError("tlsv1 alert decode error")
        return "ok"

    assert client._call(flaky, verb="list", key="pytorchjobs", namespace="default") == "ok" and len(calls) == 2
    calls.clear()
    with pytest.raises(EngineUnavailable, match="cannot reach"):
        client._call(flaky, verb="create", key="pytorchjobs", namespace="default")
    assert len(calls) == 1


def test_a_discovery_read_is_retried_after_a_transport_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen against a real API server under load: a TLS alert on a discovery GET failed `arena check`."""
    import httpx2

    monkeypatch.setattr(api, "READ_RETRY_DELAYS", (0.0, 0.0))
    client = api.Api(lambda: None)
    calls: list[str] = []

    class Http:
        def get(self, path: str, timeout: object = None) -> httpx2.Response:
            calls.append(path)
            if len(calls) == 1:
                raise httpx2.ConnectError("tlsv1 alert decode error")
            return httpx2.Response(200, json={"kind": "APIGroupList"}, request=httpx2.Request("GET", path))

    monkeypatch.setattr(api.Api, "_http", property(lambda self: Http()))
    assert client.raw("/apis") == {"kind": "APIGroupList"} and calls == ["/apis", "/apis"]


def test_a_429_with_retry_after_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen against a real API server: LISTing a CRD installed a moment before answers 429 "storage is
    (re)initializing" with Retry-After: 1 while its watch cache fills. client-go waits and repeats (the
    request was refused before any processing, so a write too); a 429 without Retry-After is an error."""
    import httpx2

    monkeypatch.setattr(api, "TOO_MANY_REQUESTS_MAX_WAIT", 0.0)
    client = api.Api(lambda: None)
    calls: list[str] = []

    def throttled(retry_after: str | None, times: int):  # noqa: ANN202
        def call() -> str:
            calls.append("x")
            if len(calls) <= times:
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                req = httpx2.Request("GET", "https://127.0.0.1/apis/x")
                resp = httpx2.Response(429, headers=headers, json={"kind": "Status", "code": 429,
                                                                   "message": "storage is (re)initializing"},
                                       request=req)
                raise httpx2.HTTPStatusError("429", request=req, response=resp)
            return "ok"
        return call

    assert client._call(throttled("1", 2), verb="list", key="podgroups", namespace="default") == "ok"
    assert len(calls) == 3
    calls.clear()
    assert client._call(throttled("1", 1), verb="create", key="pytorchjobs", namespace="default") == "ok"
    calls.clear()
    with pytest.raises(ArenaError, match="storage is"):
        client._call(throttled(None, 1), verb="list", key="podgroups", namespace="default")
    calls.clear()
    with pytest.raises(ArenaError):  # not forever
        client._call(throttled("1", 99), verb="list", key="podgroups", namespace="default")
    assert len(calls) == api.TOO_MANY_REQUESTS_TRIES
