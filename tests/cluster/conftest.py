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
from collections.abc import Callable, Iterator
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


def _operator(cluster: ControlPlane, binaries: tuple[str, ...], start: Callable[[], object], label: str,
              share: str | None = None) -> ControlPlane:
    """Start a controller once per session (its first binary names its process); skip with one line when it
    is not built (fail under ARENA_CLUSTER_REQUIRED), fail when it does not start."""
    from cluster_plane import share_dir

    if cluster.running(binaries[0]):
        return cluster
    if not all(cluster.has(b) for b in binaries) or (share and not (share_dir() / share).is_dir()):
        built = "/".join(binaries) + (f" (or share/{share})" if share else "")
        _unavailable(f"{built} not built in {cluster.bins}: run scripts/cluster first")
    try:
        start()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"{label} did not start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def training_operator(cluster: ControlPlane) -> ControlPlane:
    """The Training Operator v1 running against the session's control plane (started on first use)."""
    if not cluster.running("training-operator") and not cluster.running("kwok"):
        _unavailable("the Training Operator tests need kwok running (kwok, kube-controller-manager, kube-scheduler, share/kwok): run scripts/cluster")
    return _operator(cluster, ("training-operator",), cluster.start_training_operator, "training-operator")


@pytest.fixture(scope="session")
def kueue(cluster: ControlPlane) -> ControlPlane:
    """Kueue v0.19 running against the session's control plane (started on first use)."""
    return _operator(cluster, ("kueue",), cluster.start_kueue, "kueue", share="kueue")


@pytest.fixture(scope="session")
def appwrapper(cluster: ControlPlane) -> ControlPlane:
    """The AppWrapper controller running against the session's control plane (started on first use)."""
    return _operator(cluster, ("appwrapper",), cluster.start_appwrapper, "the AppWrapper controller")


@pytest.fixture(scope="session")
def volcano(training_operator: ControlPlane) -> ControlPlane:
    """Volcano v1.14.1's scheduler and controller manager (started on first use; needs kwok's nodes,
    hence the training_operator fixture's checks)."""
    return _operator(training_operator, ("vc-scheduler", "vc-controller-manager"), training_operator.start_volcano,
                     "Volcano", share="vc")


@pytest.fixture(scope="session")
def mpi_operator(training_operator: ControlPlane) -> ControlPlane:
    """The MPI operator v2beta1 (started on first use). It swaps the MPIJob CRD to v2beta1 for the
    rest of the session: tests using it come last in test_cluster.py."""
    return _operator(training_operator, ("mpi-operator",), training_operator.start_mpi_operator, "mpi-operator")
    if not cluster.has("mpi-operator"):
        _unavailable(f"mpi-operator not built in {cluster.bins}: run scripts/cluster first")
    try:
        cluster.start_mpi_operator()
    except (StartError, AssertionError, OSError) as exc:
        pytest.fail(f"mpi-operator did not start: {exc}", pytrace=False)
    return cluster
