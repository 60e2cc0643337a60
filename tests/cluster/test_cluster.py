"""The real `arena` command (--engine kubernetes) against a real kube-apiserver (tests/cluster/conftest.py).

Keep every cluster test in this one file: with `--dist loadfile` one xdist worker then starts
one control plane. Tests that need a component which was not built skip with the reason.
"""
from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

KUBEFLOW_SPEC_SERVER_FIELDS = ()  # fields the server may add to a Kubeflow job spec (none: no defaults in the CRD)


def _wait(pred, timeout: float = 60, what: str = "") -> object:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _get(cluster, *args: str) -> dict | None:  # noqa: ANN001
    p = cluster.kubectl("get", *args, "-o", "json", check=False)
    if p.returncode != 0:
        if "NotFound" in p.stderr or "not found" in p.stderr:
            return None
        raise AssertionError(p.stderr)
    return json.loads(p.stdout)


def _subset_diff(want, got, path: str = "") -> list[str]:  # noqa: ANN001
    """Where `want` (what --dry-run printed) is not contained in `got` (what the server stored)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}: missing on the server (pruned?) — dry-run had {json.dumps(v)[:120]}")
            else:
                out += _subset_diff(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [d for i, (a, b) in enumerate(zip(want, got)) for d in _subset_diff(a, b, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: dry-run {json.dumps(want)[:120]} != server {json.dumps(got)[:120]}"]


# ---- the control plane itself ----------------------------------------------------------------

def test_control_plane_is_real(cluster) -> None:  # noqa: ANN001
    v = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert v["serverVersion"]["gitVersion"].startswith("v1.36."), v
    crds = {c["metadata"]["name"] for c in json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]}
    assert {"pytorchjobs.kubeflow.org", "jobs.batch.volcano.sh", "workloads.kueue.x-k8s.io"} <= crds
    print("start-up seconds per component:", cluster.started)


# ---- arena check: real discovery -------------------------------------------------------------

def test_check_uses_real_discovery(karena) -> None:  # noqa: ANN001
    r = karena.run("check")
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    # CRDs are served but no operator Deployment runs: arena check says nothing can run yet.
    assert r.returncode == 1, out
    assert "pytorchjob" in out.lower() and "no ready Deployment found" in out, out


# ---- submit: --dry-run equals what is created --------------------------------------------------

COMMON = ("--image", "train:1", "-l", "team=a", "-a", "note=x", "-e", "EPOCHS=1",
          "--sync-mode", "git", "--sync-source", "https://example.com/org/repo.git", "--tensorboard")
KINDS = {
    "pytorchjob": ("--workers", "3", "--gpus", "1", *COMMON, "python train.py --epochs 1"),
    "tfjob": ("--workers", "2", "--ps", "1", "--chief", "--gpus", "1", *COMMON, "python train.py"),
    "mpijob": ("--workers", "2", "--gpus", "1", *COMMON, "mpirun -n 2 python train.py"),
    "volcanojob": ("--task", "ps:1", "--task", "worker:2:2:4Gi:1", "--tf-config", "auto", *COMMON, "python train.py"),
    "appwrapperjob": ("--workers", "2", "--gpus", "1", *COMMON, "python train.py"),
}


def _resource(obj: dict) -> str:
    """kubectl's `kind.version.group` for an object (`kind` alone for the core group)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return f"{obj['kind'].lower()}.{version}.{group}" if group else obj["kind"].lower()


@pytest.mark.parametrize("kind", list(KINDS))
def test_dry_run_equals_created(karena, cluster, ns, kind) -> None:  # noqa: ANN001
    argv = ("submit", kind, "-n", ns, "--name", f"dry-{kind[:3]}", *KINDS[kind])
    dry = karena.run(*argv, "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    items = json.loads(dry.stdout)["items"]
    r = karena.run(*argv)
    assert r.returncode == 0, r.stderr
    diffs = []
    for want in items:
        got = _get(cluster, _resource(want), want["metadata"]["name"], "-n", want["metadata"].get("namespace", ns))
        if got is None:
            diffs.append(f"{want['kind']} {want['metadata']['name']}: printed by --dry-run, not created")
            continue
        meta = {k: v for k, v in want["metadata"].items() if k not in ("creationTimestamp", "ownerReferences")}
        diffs += _subset_diff(meta, got["metadata"], f"{want['kind']}.metadata")
        for ref in want["metadata"].get("ownerReferences", []):  # uid is only known after the create
            refs = [{k: v for k, v in o.items() if k != "uid"} for o in got["metadata"].get("ownerReferences", [])]
            if {k: v for k, v in ref.items() if k != "uid"} not in refs:
                diffs.append(f"{want['kind']}.metadata.ownerReferences: {ref} not on the server: {refs}")
        diffs += _subset_diff({k: v for k, v in want.items() if k not in ("metadata", "status")},
                              {k: v for k, v in got.items() if k not in ("metadata", "status")}, want["kind"])
    assert not diffs, "dry-run differs from the stored objects:\n" + "\n".join(diffs)


# ---- list, get, delete (GC through kube-controller-manager) ------------------------------------

def _owned_by(cluster, ns: str, uid: str, *resources: str) -> list[tuple[str, str]]:  # noqa: ANN001
    out = []
    for res in resources:
        for o in (_get(cluster, res, "-n", ns) or {"items": []})["items"]:
            if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences", [])):
                out.append((res, o["metadata"]["name"]))
    return out


def test_list_get_delete_with_garbage_collection(karena, cluster, ns) -> None:  # noqa: ANN001
    karena.arena.env.update(GIT_SYNC_USERNAME="bob", GIT_SYNC_PASSWORD="do-not-print-me")
    r = karena.run("submit", "pytorchjob", "-n", ns, "--name", "gc", "--image", "pytorch:2", "--workers", "2",
                   "--sync-mode", "git", "--sync-source", "https://example.com/org/repo.git", "--tensorboard",
                   "python t.py")
    assert r.returncode == 0, r.stderr
    job = _get(cluster, "pytorchjobs.kubeflow.org", "gc", "-n", ns)
    owned = _owned_by(cluster, ns, job["metadata"]["uid"], "secrets", "deployments", "services")
    assert {res for res, _ in owned} == {"secrets", "deployments", "services"}, owned
    secret = _get(cluster, "secret", next(n for res, n in owned if res == "secrets"), "-n", ns)
    assert "do-not-print-me" not in json.dumps(job)
    assert secret["type"] == "Opaque" and secret["data"], secret

    listed = karena.json("list", "-n", ns)
    assert [j["name"] for j in listed] == ["gc"], listed
    assert any(j["name"] == "gc" and j.get("namespace", ns) == ns for j in karena.json("list", "-A"))
    view = karena.json("get", "gc", "-n", ns)
    assert view["kind"] == "pytorchjob" and view["engine"] == "kubernetes", view
    assert "do-not-print-me" not in karena.run("get", "gc", "-n", ns, "-o", "yaml", check=True).stdout

    if cluster.running("kube-controller-manager"):
        # Deployment → ReplicaSet → the TensorBoard pod; it stays Pending: its podAffinity wants the
        # master pod, which only the Training Operator would create.
        _wait(lambda: _get(cluster, "pods", "-n", ns)["items"], 60, "the TensorBoard pod")
    d = karena.run("delete", "gc", "-n", ns)
    assert d.returncode == 0, d.stderr
    _wait(lambda: _get(cluster, "pytorchjobs.kubeflow.org", "gc", "-n", ns) is None, 30, "the job to go")
    assert karena.json("list", "-n", ns) == []
    if not cluster.running("kube-controller-manager"):
        pytest.skip("kube-controller-manager not built: garbage collection not checked")
    # owned by the job: the garbage collector removes them, and the Deployment's pods with them
    _wait(lambda: not _owned_by(cluster, ns, job["metadata"]["uid"], "secrets", "deployments", "services"), 60,
          "the job's Secret, Deployment and Service to be garbage-collected")
    _wait(lambda: not _get(cluster, "pods", "-n", ns)["items"], 60, "the TensorBoard pods to go")


def test_get_and_delete_a_missing_job(karena, ns) -> None:  # noqa: ANN001
    g = karena.run("get", "ghost", "-n", ns)
    assert g.returncode != 0 and "ghost" in g.stderr and "Traceback" not in g.stderr, g.stderr
    d = karena.run("delete", "ghost", "-n", ns)
    assert d.returncode != 0 and "ghost" in d.stderr and "Traceback" not in d.stderr, d.stderr


def test_submit_into_a_missing_namespace(karena) -> None:  # noqa: ANN001
    r = karena.run("submit", "pytorchjob", "-n", "no-such-ns", "--name", "x", "--image", "pytorch:2", "true")
    assert r.returncode == 2 and "namespace 'no-such-ns' does not exist" in r.stderr, r.stderr


def test_submit_twice_is_already_exists(karena, ns) -> None:  # noqa: ANN001
    argv = ("submit", "pytorchjob", "-n", ns, "--name", "twice", "--image", "pytorch:2", "true")
    assert karena.run(*argv).returncode == 0
    again = karena.run(*argv)
    assert again.returncode == 2 and "is already exist, please delete it first" in again.stderr, again.stderr


# ---- RBAC: a limited user ----------------------------------------------------------------------

def test_limited_user_gets_403(karena, cluster) -> None:  # noqa: ANN001
    from cluster_plane import LIMITED_NAMESPACE

    alice = karena.as_user("alice")
    # no right at all in `default`
    r = alice.run("list", "-n", "default")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "no permission to list" in r.stderr and "namespace default" in r.stderr, r.stderr
    # read-only in team-a: list works, submit and delete are refused
    r = alice.run("list", "-n", LIMITED_NAMESPACE)
    assert r.returncode == 0, r.stderr
    r = alice.run("submit", "pytorchjob", "-n", LIMITED_NAMESPACE, "--name", "nope", "--image", "pytorch:2", "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "no permission to create pytorchjobs.kubeflow.org in namespace team-a" in r.stderr, r.stderr
    assert _get(cluster, "pytorchjobs.kubeflow.org", "nope", "-n", LIMITED_NAMESPACE) is None


# ---- kwok nodes ---------------------------------------------------------------------------------

def test_top_node_shows_kwok_gpu_nodes(karena, cluster) -> None:  # noqa: ANN001
    if not cluster.running("kwok"):
        pytest.skip("kwok not running (kwok, kube-controller-manager, kube-scheduler or share/kwok missing): run scripts/cluster")
    r = karena.run("top", "node")
    assert r.returncode == 0, r.stderr
    for n in cluster.node_names:
        assert n in r.stdout, r.stdout


def test_kwok_runs_and_ends_pods_as_annotated(cluster, ns) -> None:  # noqa: ANN001
    """The harness itself: scheduler + kwok move a pod Pending → Running → Succeeded/Failed (kwok-stages.yaml)."""
    if not cluster.running("kwok"):
        pytest.skip("kwok not running (kwok, kube-controller-manager, kube-scheduler or share/kwok missing): run scripts/cluster")
    pods = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "namespace": ns,
                          "annotations": {"arena.test/exit-code": code, "arena.test/run-for": "1s"}},
             "spec": {"containers": [{"name": "main", "image": "busybox",
                                      "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
            for name, code in (("ok", "0"), ("bad", "3"))]
    cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    ok = _wait(lambda: (p := _get(cluster, "pod", "ok", "-n", ns)) and p["status"].get("phase") == "Succeeded" and p,
               60, "pod ok to succeed")
    assert ok["spec"]["nodeName"] in cluster.node_names
    bad = _wait(lambda: (p := _get(cluster, "pod", "bad", "-n", ns)) and p["status"].get("phase") == "Failed" and p,
                60, "pod bad to fail")
    assert bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_missing_crd_points_to_arena_check(karena, cluster, ns) -> None:  # noqa: ANN001
    """A CRD that is not installed: the real server's 404 becomes 'not installed; run arena check'."""
    from cluster_plane import SHARED_CRDS

    crd = SHARED_CRDS / "workload.codeflare.dev" / "workload.codeflare.dev_appwrappers.yaml"
    cluster.kubectl("delete", "-f", str(crd), "--wait=true")
    try:
        _wait(lambda: "workload.codeflare.dev" not in cluster.kubectl("api-versions").stdout, 30, "the CRD to go")
        r = karena.run("submit", "appwrapperjob", "-n", ns, "--name", "aw", "--image", "x", "--workers", "1", "true")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert ("the AppWrapper CRD (appwrappers.workload.codeflare.dev, workload.codeflare.dev/v1beta2) "
                "is not installed; run 'arena check'") in r.stderr, r.stderr
        listed = karena.run("list", "-n", ns)  # the other kinds are still listed
        assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
        check = karena.run("check")
        assert "install the AppWrapper CRD" in check.stdout, check.stdout
    finally:
        cluster.kubectl("apply", "--server-side", "--field-manager=arena-tests", "-f", str(crd))
        cluster.kubectl("wait", "--for=condition=Established", "crd/appwrappers.workload.codeflare.dev",
                        "--timeout=60s")


# ---- the Training Operator v1: the real status path ------------------------------------------------

def _statuses(karena, name: str, ns: str, until: set[str], timeout: float = 90) -> list[str]:  # noqa: ANN001
    """Every distinct `arena get` status seen until one in `until` (or the timeout)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = karena.run("get", name, "-n", ns, "-o", "json")
        if r.returncode == 0:
            st = json.loads(r.stdout)["status"]
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in until:
                return seen
        time.sleep(0.5)
    raise AssertionError(f"{name}: no status in {until} after {timeout}s; seen {seen}")


@pytest.mark.parametrize("code,final", [("0", "SUCCEEDED"), ("3", "FAILED")])
def test_pytorchjob_status_path_with_the_training_operator(karena, training_operator, ns, code, final) -> None:  # noqa: ANN001
    cluster = training_operator
    name = f"life-{final.lower()[:4]}"
    r = karena.run("submit", "pytorchjob", "-n", ns, "--name", name, "--image", "pytorch:2", "--workers", "2",
                   "--gpus", "1", "-a", f"arena.test/exit-code={code}", "-a", "arena.test/run-for=4s",
                   "python train.py")
    assert r.returncode == 0, r.stderr
    seen = _statuses(karena, name, ns, {"RUNNING", "SUCCEEDED", "FAILED"})
    pods = _get(cluster, "pods", "-n", ns)["items"]
    assert len(pods) == 2 and all(p["spec"].get("nodeName") in cluster.node_names for p in pods), pods
    seen += _statuses(karena, name, ns, {final, "SUCCEEDED", "FAILED"})[1:]
    assert seen[-1] == final and "RUNNING" in seen, seen
    print("status path:", " -> ".join(seen))
    view = karena.json("get", name, "-n", ns)
    assert view["requestGPUs"] == 2, view
    # cleanPodPolicy Running: the operator deletes the pods still running when the job ends. A success is the
    # master's, so the master stays; a failure is whichever replica failed first, and the other may be gone.
    assert view["instances"] and all(i["name"].startswith(f"{name}-") for i in view["instances"]), view
    if final == "SUCCEEDED":
        assert any(i["task"] == "master" for i in view["instances"]), view
    logs = karena.run("logs", name, "-n", ns)  # the master's, served by kwok through the API server
    assert logs.returncode == 0 and logs.stdout.splitlines() == ["hello from kwok", "epoch 1 loss=0.5"], (
        logs.stdout, logs.stderr)
    tail = karena.run("logs", name, "-n", ns, "--tail", "1")
    assert tail.stdout.splitlines() == ["epoch 1 loss=0.5"], (tail.stdout, tail.stderr)
    events = karena.run("get", name, "-n", ns, "-e")
    assert events.returncode == 0 and "SuccessfulCreatePod" in events.stdout, events.stdout
    d = karena.run("delete", name, "-n", ns)
    assert d.returncode == 0, d.stderr
    _wait(lambda: not _get(cluster, "pods", "-n", ns)["items"], 60, "the job's pods to be garbage-collected")


def test_check_sees_the_training_operator(karena, training_operator) -> None:  # noqa: ANN001
    r = karena.run("check")
    assert "Traceback" not in r.stderr, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("pytorchjob "))
    assert row.split()[1] == "yes", r.stdout


# ---- Kueue: admission, quota, QUEUING with Kueue's own message ------------------------------------

def test_kueue_admits_within_quota_and_queues_beyond(karena, training_operator, kueue, ns) -> None:  # noqa: ANN001
    cluster = kueue
    cq = f"cq-{ns}"
    objs = [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "default-flavor"}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": cq},
         "spec": {"namespaceSelector": {}, "resourceGroups": [{
             "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
             "flavors": [{"name": "default-flavor", "resources": [
                 {"name": "cpu", "nominalQuota": "100"}, {"name": "memory", "nominalQuota": "1000Gi"},
                 {"name": "nvidia.com/gpu", "nominalQuota": "2"}]}]}]}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue", "metadata": {"name": "lq", "namespace": ns},
         "spec": {"clusterQueue": cq}},
    ]
    cluster.kubectl("apply", "--server-side", "--field-manager=arena-tests", "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    argv = ("--image", "pytorch:2", "--workers", "2", "--gpus", "1", "--kueue-queue", "lq", "python train.py")
    first = karena.run("submit", "pytorchjob", "-n", ns, "--name", "fits", *argv)
    assert first.returncode == 0, first.stderr
    seen = _statuses(karena, "fits", ns, {"RUNNING", "FAILED", "SUCCEEDED"}, timeout=120)
    assert seen[-1] == "RUNNING", seen
    second = karena.run("submit", "pytorchjob", "-n", ns, "--name", "waits", *argv)
    assert second.returncode == 0, second.stderr

    def queued() -> dict | None:
        wl = [w for w in (_get(cluster, "workloads.kueue.x-k8s.io", "-n", ns) or {"items": []})["items"]
              if w["metadata"]["ownerReferences"][0]["name"] == "waits"]
        if not wl or not any(c["type"] == "QuotaReserved" and c["status"] == "False"
                             for c in wl[0].get("status", {}).get("conditions", [])):
            return None
        return karena.json("get", "waits", "-n", ns)
    view = _wait(queued, 60, "Kueue to report the second job as waiting on quota")
    wl = next(w for w in _get(cluster, "workloads.kueue.x-k8s.io", "-n", ns)["items"]
              if w["metadata"]["ownerReferences"][0]["name"] == "waits")
    kueue_msg = next(c["message"] for c in wl["status"]["conditions"] if c["type"] == "QuotaReserved")
    print("kueue says:", kueue_msg, "| arena says:", view["status"], view.get("reason"))
    assert view["status"] == "QUEUING", view
    assert kueue_msg in (view.get("reason") or ""), (view, kueue_msg)  # Kueue's own words
    # freeing the quota admits it
    assert karena.run("delete", "fits", "-n", ns).returncode == 0
    seen = _statuses(karena, "waits", ns, {"RUNNING", "FAILED", "SUCCEEDED"}, timeout=120)
    assert seen[-1] == "RUNNING", seen
    cluster.kubectl("delete", "clusterqueue", cq, "--wait=false", check=False)


# ---- AppWrapper: the controller creates the wrapped PyTorchJob, the Training Operator its pods ------

def test_appwrapperjob_runs_through_the_appwrapper_controller(karena, training_operator, appwrapper, ns) -> None:  # noqa: ANN001
    cluster = appwrapper
    # --clean-task-policy None: with the default (Running, as upstream's chart) the Training Operator
    # deletes a worker still running when the master ends, and the AppWrapper controller, counting
    # 2 expected pods, never sees them succeed: it resets (re-runs) the finished job after its 1 min
    # failure grace period, while arena shows PENDING. Found here; see docs/testing.md.
    r = karena.run("submit", "appwrapperjob", "-n", ns, "--name", "aw", "--image", "pytorch:2", "--workers", "2",
                   "--clean-task-policy", "None", "--gpus", "1", "-a", "arena.test/exit-code=0", "-a", "arena.test/run-for=15s", "python train.py")
    assert r.returncode == 0, r.stderr
    seen = _statuses(karena, "aw", ns, {"RUNNING", "SUCCEEDED", "FAILED"}, timeout=120)
    assert _get(cluster, "pytorchjobs.kubeflow.org", "-n", ns)["items"], "the AppWrapper controller made no PyTorchJob"
    seen += _statuses(karena, "aw", ns, {"SUCCEEDED", "FAILED"}, timeout=120)[1:]
    print("status path:", " -> ".join(seen))
    assert seen[-1] == "SUCCEEDED" and "RUNNING" in seen, seen
