"""Fixtures for the `cluster` tests: a real control plane (etcd, kube-apiserver, and when built
kube-controller-manager, kube-scheduler and kwok) started once per session on loopback ports.

The binaries come from `scripts/cluster`; without them every test here skips with one line
saying so (set ARENA_CLUSTER_REQUIRED=1 to make that a failure instead). ARENA_CLUSTER_KEEP=1
keeps the work directory (logs, certificates, kubeconfigs) after the session.

All tests of this directory must stay in one xdist worker (one file, or `--dist loadfile`):
each worker that reaches the `cluster` fixture starts its own control plane.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_plane import (  # noqa: E402
    LIMITED_NAMESPACE,
    ControlPlane,
    StartError,
    bin_dir,
    missing_binaries,
    new_workdir,
)

# admin: system:masters. alice: a read-only Role in the namespace `team-a` and nothing else.
USERS = {"admin": ("system:masters",), "alice": ()}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the real control plane built by scripts/cluster")


def _unavailable(why: str) -> None:
    if os.environ.get("ARENA_CLUSTER_REQUIRED") == "1":
        pytest.fail(f"cluster tests required (ARENA_CLUSTER_REQUIRED=1) but {why}", pytrace=False)
    pytest.skip(why)


def _limited_user_rbac(plane: ControlPlane) -> None:
    ns = LIMITED_NAMESPACE
    plane.kubectl("create", "namespace", ns)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "arena-reader", "namespace": ns},
            "rules": [{"apiGroups": ["", "kubeflow.org", "batch.volcano.sh", "scheduling.volcano.sh",
                                     "workload.codeflare.dev", "kueue.x-k8s.io", "events.k8s.io"],
                       "resources": ["*"], "verbs": ["get", "list", "watch"]}]}
    plane.kubectl("create", "-f", "-", input=json.dumps(role))
    plane.kubectl("create", "rolebinding", "arena-reader", "-n", ns, "--role=arena-reader", "--user=alice")


@pytest.fixture(scope="session")
def cluster() -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        _unavailable(f"control-plane binaries not built ({', '.join(missing)} missing in {bin_dir()}): "
                     "run scripts/cluster first")
    if not shutil.which("openssl"):
        _unavailable("the openssl command is needed to make the test certificates")
    plane = ControlPlane(new_workdir(), bin_dir())
    try:
        plane.start(USERS)
        _limited_user_rbac(plane)
    except (StartError, AssertionError, OSError) as exc:
        plane.stop(keep=os.environ.get("ARENA_CLUSTER_KEEP") == "1")
        pytest.fail(f"control plane did not start: {exc}", pytrace=False)
    try:
        yield plane
    finally:
        plane.stop(keep=os.environ.get("ARENA_CLUSTER_KEEP") == "1")


@pytest.fixture
def ns(cluster: ControlPlane) -> Iterator[str]:
    """A fresh namespace per test; deleted afterwards without waiting (the namespace controller finishes it)."""
    name = "t-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


class ClusterArena:
    """The real `arena` command with --engine kubernetes and --config <kubeconfig of a user>."""

    def __init__(self, arena, plane: ControlPlane, user: str = "admin") -> None:  # noqa: ANN001
        self.arena = arena
        self.plane = plane
        self.kubeconfig = plane.work / f"{user}.kubeconfig"

    def as_user(self, user: str) -> ClusterArena:
        return ClusterArena(self.arena, self.plane, user)

    def run(self, *args: str, check: bool = False, timeout: float = 120):  # noqa: ANN201
        return self.arena.run(*args, "--engine", "kubernetes", "--config", str(self.kubeconfig),
                              check=check, timeout=timeout)

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "-o", "json", check=True).stdout)


@pytest.fixture
def karena(arena, cluster: ControlPlane) -> ClusterArena:  # noqa: ANN001
    arena.env.pop("KUBECONFIG", None)
    arena.env["HOME"] = str(arena.home)  # no ~/.kube/config of the machine leaks in
    return ClusterArena(arena, cluster)


@pytest.fixture(scope="session")
def training_operator(cluster: ControlPlane) -> ControlPlane:
    """The Training Operator v1 running against the session's control plane (started on first use)."""
    if cluster.running("training-operator"):
        return cluster
    if not cluster.has("training-operator"):
        _unavailable(f"training-operator not built in {cluster.bins}: run scripts/cluster first")
    if not cluster.running("kwok"):
        _unavailable("the Training Operator tests need kwok running (kwok, kube-controller-manager, kube-scheduler, share/kwok): run scripts/cluster")
    try:
        cluster.start_training_operator()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"training-operator did not start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def kueue(cluster: ControlPlane) -> ControlPlane:
    """Kueue v0.19 running against the session's control plane (started on first use)."""
    from cluster_plane import share_dir

    if cluster.running("kueue"):
        return cluster
    if not cluster.has("kueue") or not (share_dir() / "kueue").is_dir():
        _unavailable(f"kueue not built in {cluster.bins}: run scripts/cluster first")
    try:
        cluster.start_kueue()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"kueue did not start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def appwrapper(cluster: ControlPlane) -> ControlPlane:
    """The AppWrapper controller running against the session's control plane (started on first use)."""
    if cluster.running("appwrapper"):
        return cluster
    if not cluster.has("appwrapper"):
        _unavailable(f"appwrapper not built in {cluster.bins}: run scripts/cluster first")
    try:
        cluster.start_appwrapper()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"the AppWrapper controller did not start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def volcano(training_operator: ControlPlane) -> ControlPlane:
    """Volcano v1.14.1's scheduler and controller manager (started on first use; needs kwok's nodes,
    hence the training_operator fixture's checks)."""
    from cluster_plane import share_dir

    cluster = training_operator
    if cluster.running("vc-scheduler"):
        return cluster
    if not (cluster.has("vc-scheduler") and cluster.has("vc-controller-manager")) or not (share_dir() / "vc").is_dir():
        _unavailable(f"vc-scheduler/vc-controller-manager (or share/vc) not built in {cluster.bins}: run scripts/cluster first")
    try:
        cluster.start_volcano()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"Volcano did not start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def mpi_operator(training_operator: ControlPlane) -> ControlPlane:
    """The MPI operator v2beta1 (started on first use). It swaps the MPIJob CRD to v2beta1 for the
    rest of the session: tests using it come last in test_cluster.py."""
    cluster = training_operator
    if cluster.running("mpi-operator"):
        return cluster
    if not cluster.has("mpi-operator"):
        _unavailable(f"mpi-operator not built in {cluster.bins}: run scripts/cluster first")
    try:
        cluster.start_mpi_operator()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"mpi-operator did not start: {exc}", pytrace=False)
    return cluster
