"""kubeconfig and namespace resolution (ARENA.md §1), token auth, and lazy lightkube import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_apiserver import FakeApiServer

from arena.engines.kubernetes import kubeconfig
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import ArenaError, EngineUnavailable, InvalidSpec


def config(server: str, namespaces: dict[str, str | None], current: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "contexts": [{"name": n, "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})}}
                         for n, ns in namespaces.items()],
            "users": [{"name": "u", "user": {"token": "t"}}]}


def write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_kubeconfig_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig.paths(None, {}) == []  # nothing anywhere: in-cluster
    default = tmp_path / ".kube" / "config"
    default.parent.mkdir()
    default.write_text("{}")
    assert kubeconfig.paths(None, {}) == [default]
    assert kubeconfig.paths(None, {"KUBECONFIG": "/a:/b"}) == [Path("/a"), Path("/b")]
    assert kubeconfig.paths("/flag", {"KUBECONFIG": "/a"}) == [Path("/flag")]


def test_namespace_fallbacks(tmp_path: Path) -> None:
    path = write(tmp_path / "kc", config("http://x", {"dev": "team-dev", "prod": None}, "dev"))
    env = {"KUBECONFIG": path}
    assert kubeconfig.resolve_namespace("flag", {"namespace": "cfg"}, None, None, env) == "flag"
    assert kubeconfig.resolve_namespace(None, {"namespace": "cfg"}, None, None, env) == "cfg"
    assert kubeconfig.resolve_namespace(None, {}, None, None, env) == "team-dev"
    assert kubeconfig.resolve_namespace(None, {}, path, "prod", {}) == "default"
    assert kubeconfig.resolve_namespace(None, None, str(tmp_path / "missing"), None, {}) == "default"


def test_kubeconfig_files_merge_first_wins(tmp_path: Path) -> None:
    a = write(tmp_path / "a", config("http://a", {"one": "ns-a"}, "one"))
    b = write(tmp_path / "b", {**config("http://b", {"one": "ns-b", "two": "ns-two"}, "two")})
    env = {"KUBECONFIG": f"{a}:{tmp_path / 'absent'}:{b}"}
    assert kubeconfig.resolve_namespace(None, {}, None, None, env) == "ns-a"
    assert kubeconfig.resolve_namespace(None, {}, None, "two", env) == "ns-two"
    single = kubeconfig.load(None, "two", env)
    assert single.cluster.server == "http://a"  # cluster "c" defined first by file a


def test_load_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(InvalidSpec, match="--config"):
        kubeconfig.load(str(tmp_path / "nope"), None, {})
    path = write(tmp_path / "kc", config("http://x", {"dev": None}, "dev"))
    with pytest.raises(InvalidSpec, match="--context"):
        kubeconfig.load(path, "staging", {})
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", tmp_path / "no-sa")
    with pytest.raises(EngineUnavailable, match="KUBECONFIG"):
        kubeconfig.load(None, None, {})


def test_engine_uses_the_context_namespace_and_token(make_server, tmp_path: Path) -> None:
    server: FakeApiServer = make_server(token="s3cret")
    data = server.kubeconfig(namespace="research")
    path = write(tmp_path / "kc", data)
    engine = KubernetesEngine(kubeconfig=path, env={})
    assert engine.namespace == "research"
    assert engine.list(engine.namespace) == []
    assert all(r.headers.get("authorization") == "Bearer s3cret" for r in server.api_requests())
    assert all("/namespaces/research/" in r.path or r.path == "/api/v1/namespaces/research"  # + isolation's GET
               for r in server.api_requests())
    data["users"][0]["user"]["token"] = "wrong"
    bad = KubernetesEngine(kubeconfig=write(tmp_path / "bad", data), env={})
    with pytest.raises(ArenaError, match="unauthorized"):
        bad.list(None)


def test_unreachable_server(tmp_path: Path) -> None:
    path = write(tmp_path / "kc", config("http://127.0.0.1:9", {"dev": None}, "dev"))
    with pytest.raises(EngineUnavailable, match="cannot reach the Kubernetes API server at http://127.0.0.1:9"):
        KubernetesEngine(kubeconfig=path, env={}, timeout=2).list("default")


def test_lightkube_is_not_imported_until_a_call(tmp_path: Path) -> None:
    """CLI start-up and --dry-run never pay for lightkube (and httpx2) where the kubeconfig names the user
    (basic auth, a certificate); a token's user is the API server's to name (TokenReview), as upstream asks it."""
    data = config("http://127.0.0.1:9", {"dev": "ns"}, "dev")
    data["users"][0]["user"] = {"username": "alice", "password": "pw"}
    path = write(tmp_path / "kc", data)
    code = f"""
import sys
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.spec import pytorchjob
e = KubernetesEngine(kubeconfig={path!r}, env={{}})
assert e.namespace == "ns"
e.plan(pytorchjob.build(name="x", image="i", command="c", namespace="ns"))
print("lightkube" in sys.modules, "httpx2" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_an_unchanged_kubeconfig_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace lookup and the credentials load share one YAML parse; a changed file is parsed again."""
    parses: list[str] = []
    safe_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: parses.append(text) or safe_load(text))
    kc = tmp_path / "kc"
    path = write(kc, config("http://a", {"dev": "team-dev"}, "dev"))
    assert kubeconfig.resolve_namespace(None, {}, path, None, {}) == "team-dev"
    assert kubeconfig.load(path, None, {}).cluster.server == "http://a"
    assert len(parses) == 1
    first = kubeconfig.read([kc])
    assert first is not None
    first["contexts"].clear()  # callers get a copy: the cached parse stays intact
    assert kubeconfig.resolve_namespace(None, {}, path, None, {}) == "team-dev"
    write(kc, config("http://b", {"dev": "team-new"}, "dev"))  # same path, new content
    assert kubeconfig.resolve_namespace(None, {}, path, None, {}) == "team-new"
    assert kubeconfig.load(path, None, {}).cluster.server == "http://b"
    assert len(parses) == 2
