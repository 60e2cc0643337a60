"""Users of the loopback API server, for the per-user isolation tests: an engine acting as one user (basic
auth), and the owner label upstream derives from the user's name."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from fake_apiserver import FakeApiServer

from arena.engines.kubernetes.engine import KubernetesEngine

UID = "arena.kubeflow.org/uid"
NOT_OWNER = "you have no privileges to operate the job,because the owner of job is not you"


def uid(user: str) -> str:
    return hashlib.md5(f"kubecfg:basicauth:{user}".encode()).hexdigest()


def engine_as(server: FakeApiServer, tmp_path: Path, user: str, namespace: str = "team") -> KubernetesEngine:
    config = server.kubeconfig()
    config["users"][0]["user"] = {"username": user, "password": "pw"}
    path = tmp_path / f"kubeconfig-{user}-{namespace}"
    path.write_text(yaml.safe_dump(config))
    return KubernetesEngine(kubeconfig=str(path), namespace=namespace, env={}, poll_interval=0.01,
                            arena_namespace="ops", log_retries=0)


def isolate(server: FakeApiServer) -> None:
    """Namespace `team` isolates users and `open` does not; `root` is the admin (arena-config in `ops`)."""
    server.add({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team", "labels": {"arena.kubeflow.org/isolate-user": "true"}}})
    server.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "open"}})
    server.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "arena-config", "namespace": "ops"},
                "data": {"adminUsers": "kubecfg:basicauth:root"}})


def cli_flags_as(server: FakeApiServer, tmp_path: Path, user: str) -> tuple[str, ...]:
    """`arena` flags for the kubernetes engine acting as `user` in namespace `team`."""
    config = server.kubeconfig()
    config["users"][0]["user"] = {"username": user, "password": "pw"}
    path = tmp_path / f"kc-{user}"
    path.write_text(yaml.safe_dump(config))
    return ("--engine=kubernetes", f"--config={path}", "-n", "team", "--arena-namespace=ops")
