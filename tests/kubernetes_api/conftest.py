"""Fixtures for the Kubernetes engine's API tests: a real loopback API server and a kubeconfig for it.

The suite runs with --import-mode=importlib: this directory is put on sys.path so the test
modules can import the helpers (`fake_apiserver`, `k8s_objects`; unique names).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_apiserver import DEFAULT_CRDS, FakeApiServer  # noqa: E402

from arena.engines.kubernetes.engine import KubernetesEngine  # noqa: E402


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeApiServer]]:
    started: list[FakeApiServer] = []

    def make(installed: Any = DEFAULT_CRDS, token: str | None = None, operators: bool = False) -> FakeApiServer:
        server = FakeApiServer(installed, token=token, operators=operators).start()
        started.append(server)
        return server

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def apiserver(make_server: Callable[..., FakeApiServer]) -> FakeApiServer:
    return make_server()


def write_kubeconfig(server: FakeApiServer, path: Path, namespace: str | None = None) -> Path:
    path.write_text(yaml.safe_dump(server.kubeconfig(namespace)))
    return path


@pytest.fixture
def kubeconfig_file(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return write_kubeconfig(apiserver, tmp_path / "kubeconfig")


@pytest.fixture
def make_engine(tmp_path: Path) -> Callable[..., KubernetesEngine]:
    def make(server: FakeApiServer, namespace: str | None = None, env: dict[str, str] | None = None,
             **kw: Any) -> KubernetesEngine:
        path = write_kubeconfig(server, tmp_path / f"kubeconfig-{id(server)}")
        kw.setdefault("poll_interval", 0.01)
        return KubernetesEngine(kubeconfig=str(path), namespace=namespace, env=env or {}, **kw)

    return make


@pytest.fixture
def engine(apiserver: FakeApiServer, make_engine: Callable[..., KubernetesEngine]) -> KubernetesEngine:
    return make_engine(apiserver)
