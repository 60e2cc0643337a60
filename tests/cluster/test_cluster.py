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
    # arena-pod-restart: an OnFailure pod reports the annotated restarts and keeps running
    flaky = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "flaky", "namespace": ns, "annotations": {"arena.test/restarts": "2"}},
             "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "main", "image": "busybox"}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(flaky))
    got = _wait(lambda: (p := _get(cluster, "pod", "flaky", "-n", ns)) and p["status"].get("containerStatuses")
                and p["status"]["containerStatuses"][0].get("restartCount") == 2 and p, 60, "pod flaky to restart")
    assert got["status"]["phase"] == "Running" and "running" in got["status"]["containerStatuses"][0]["state"], got


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
    # The wrapped PyTorchJob's cleanPodPolicy defaults to None (what the fork's jobs get once the CRD
    # prunes its top-level field). With Running the Training Operator deleted a worker still running
    # when the master ended, the AppWrapper controller counted too few succeeded pods and reset
    # (re-ran) the finished job, while arena showed PENDING.
    r = karena.run("submit", "appwrapperjob", "-n", ns, "--name", "aw", "--image", "pytorch:2", "--workers", "2",
                   "--gpus", "1", "-a", "arena.test/exit-code=0", "-a", "arena.test/run-for=15s", "python train.py")
    assert r.returncode == 0, r.stderr
    aw = _get(cluster, "appwrappers.workload.codeflare.dev", "aw", "-n", ns)
    assert aw["spec"]["components"][0]["template"]["spec"]["runPolicy"]["cleanPodPolicy"] == "None", aw
    seen = _statuses(karena, "aw", ns, {"RUNNING", "SUCCEEDED", "FAILED"}, timeout=120)
    assert _get(cluster, "pytorchjobs.kubeflow.org", "-n", ns)["items"], "the AppWrapper controller made no PyTorchJob"
    seen += _statuses(karena, "aw", ns, {"SUCCEEDED", "FAILED"}, timeout=120)[1:]
    print("status path:", " -> ".join(seen))
    assert seen[-1] == "SUCCEEDED" and "RUNNING" in seen, seen


# ---- the Training Operator: restarts, top job, prune ------------------------------------------------

def test_restart_counts_top_job_and_prune(karena, training_operator, ns) -> None:  # noqa: ANN001
    """A worker restarted in place (restartPolicy OnFailure, the workers' default; kwok's
    arena-pod-restart Stage reports 2 restarts as a kubelet would; the master, Never, is left alone)
    shows in `get`; `top job` lists the running job; `prune` deletes the finished job only.

    --retry 3: the Training Operator counts OnFailure container restarts against backoffLimit; with
    the default --retry 0 (upstream's too) the 2 restarts fail the job ("reached the specified backoff
    limit"), as seen here first."""
    cluster = training_operator
    r = karena.run("submit", "pytorchjob", "-n", ns, "--name", "flaky", "--image", "pytorch:2", "--workers", "2",
                   "--gpus", "1", "--retry", "3", "-a", "arena.test/restarts=2", "python train.py")
    assert r.returncode == 0, r.stderr
    done = karena.run("submit", "pytorchjob", "-n", ns, "--name", "done", "--image", "pytorch:2",
                      "-a", "arena.test/exit-code=0", "-a", "arena.test/run-for=1s", "python train.py")
    assert done.returncode == 0, done.stderr

    last: list[dict] = []

    def restarted() -> dict | None:
        last[:] = [karena.json("get", "flaky", "-n", ns)]
        return last[0] if last[0]["status"] == "RUNNING" and _restarts(last[0]) == 2 else None
    try:
        view = _wait(restarted, 90, "the worker's 2 restarts in `arena get`")
    except AssertionError:
        pods = _get(cluster, "pods", "-n", ns)["items"]
        raise AssertionError(f"no restarts shown: {json.dumps(last)[:1500]}\npods: "
                             f"{[(p['metadata']['name'], p['spec'].get('restartPolicy'), p['metadata'].get('annotations'), p['status']) for p in pods]}") from None
    print("get -o json restarts:", _restarts(view), [i.get("restartCount", i.get("restarts")) for i in view["instances"]])
    assert {i["name"]: i["restarts"] for i in view["instances"]} == {"flaky-master-0": 0, "flaky-worker-0": 2}, view
    text = karena.run("get", "flaky", "-n", ns, check=True).stdout
    assert any(line.split() == ["Restarts:", "2"] for line in text.splitlines()), text
    worker = next(line.split() for line in text.splitlines() if line.strip().startswith("flaky-worker-0"))
    assert worker[7] == "2", text  # the RESTARTS column

    top = karena.run("top", "job", "-n", ns)
    assert top.returncode == 0 and "Traceback" not in top.stderr, top.stderr
    print("top job:\n" + top.stdout)
    row = next((line.split() for line in top.stdout.splitlines() if line.startswith("flaky ")), None)
    assert row and row[1] == "RUNNING" and row[4:6] == ["2", "2"], top.stdout  # GPU(Requested), GPU(Allocated)
    assert "Total Allocated/Requested GPUs of Training Jobs: 2/2" in top.stdout, top.stdout
    one = karena.run("top", "job", "flaky", "-n", ns)
    assert one.returncode == 0 and "Allocated/Requested GPUs of Job: 2/2" in one.stdout, (one.stdout, one.stderr)

    _statuses(karena, "done", ns, {"SUCCEEDED", "FAILED"})

    def pruned() -> bool:  # repeated: `done` must first have been finished for over a second
        p = karena.run("prune", "-n", ns, "--since", "1s")
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        return _get(cluster, "pytorchjobs.kubeflow.org", "done", "-n", ns) is None
    _wait(pruned, 30, "prune to delete `done`")
    assert _get(cluster, "pytorchjobs.kubeflow.org", "flaky", "-n", ns) is not None, "prune deleted a running job"
    assert [j["name"] for j in karena.json("list", "-n", ns)] == ["flaky"]


def _restarts(view: dict) -> int:
    """The job's restarts as `get -o json` reports them (the job's own field, else its instances')."""
    for key in ("restarts", "restartCount"):
        if isinstance(view.get(key), int):
            return view[key]
    return sum(int(i.get("restartCount", i.get("restarts", 0)) or 0) for i in view.get("instances") or [])


# ---- Volcano v1.14.1: the Job controller, the scheduler's enqueue and gang, Queues ----------------

def _volcano_phases(cluster, name: str, ns: str) -> list[str]:  # noqa: ANN001
    job = _get(cluster, "jobs.batch.volcano.sh", name, "-n", ns) or {}
    return [c.get("status", "") for c in (job.get("status") or {}).get("conditions") or []]


def _podgroup_event(cluster, ns: str, job: str, words: str) -> str | None:  # noqa: ANN001
    """The message of an event on `job`'s PodGroup that contains `words`."""
    events = (_get(cluster, "events", "-n", ns) or {"items": []})["items"]
    return next((e["message"] for e in events if e["involvedObject"].get("kind") == "PodGroup"
                 and e["involvedObject"].get("name", "").startswith(f"{job}-") and words in e.get("message", "")), None)


def test_volcanojob_runs_through_volcano(karena, volcano, ns) -> None:  # noqa: ANN001
    cluster = volcano
    r = karena.run("submit", "volcanojob", "-n", ns, "--name", "vj", "--task", "worker:2:1:1Gi:1", "--image", "x",
                   "-a", "arena.test/exit-code=0", "-a", "arena.test/run-for=4s", "python train.py")
    assert r.returncode == 0, r.stderr
    seen = _statuses(karena, "vj", ns, {"RUNNING", "SUCCEEDED", "FAILED"}, timeout=120)
    pods = _get(cluster, "pods", "-n", ns)["items"]
    assert len(pods) == 2 and all(p["spec"].get("schedulerName") == "volcano" and
                                  p["spec"].get("nodeName") in cluster.node_names for p in pods), pods
    seen += _statuses(karena, "vj", ns, {"SUCCEEDED", "FAILED"}, timeout=120)[1:]
    phases = _volcano_phases(cluster, "vj", ns)
    print("arena:", " -> ".join(seen), "| Volcano Job conditions:", " -> ".join(phases))
    assert seen[-1] == "SUCCEEDED" and "RUNNING" in seen, seen
    # the controller's own history: Pending (PodGroup not yet enqueued) → Running → Completed
    assert phases[0] == "Pending" and "Running" in phases and phases[-1] == "Completed", phases
    view = karena.json("get", "vj", "-n", ns)
    assert view["requestGPUs"] == 2 and len(view["instances"]) == 2, view


def test_volcano_queue_capability_keeps_a_job_waiting(karena, volcano, ns) -> None:  # noqa: ANN001
    cluster = volcano
    q = f"small-{ns}"
    c = karena.run("queue", "create", q, "--capability", "cpu=1,memory=4Gi,nvidia.com/gpu=1")
    assert c.returncode == 0, c.stderr
    try:
        _wait(lambda: (_get(cluster, "queues.scheduling.volcano.sh", q) or {}).get("status", {}).get("state") == "Open",
              30, "the queue to open")
        fits = karena.run("submit", "volcanojob", "-n", ns, "--name", "fits", "--queue", q, "--task",
                          "worker:1:1:1Gi:1", "--image", "x", "python train.py")
        assert fits.returncode == 0, fits.stderr
        assert _statuses(karena, "fits", ns, {"RUNNING", "FAILED"}, timeout=120)[-1] == "RUNNING"
        waits = karena.run("submit", "volcanojob", "-n", ns, "--name", "waits", "--queue", q, "--task",
                           "worker:1:1:1Gi:1", "--image", "x", "python train.py")
        assert waits.returncode == 0, waits.stderr

        # Volcano v1.14.1 leaves a PodGroup it will not enqueue Pending with no condition and says why in an
        # event on it; `arena get` takes its words from there
        said = _wait(lambda: _podgroup_event(cluster, ns, "waits", "queue resource quota insufficient"), 60,
                     "Volcano's verdict on the second PodGroup")
        view = karena.json("get", "waits", "-n", ns)
        print("Volcano:", said, "| arena:", view["status"], view.get("reason"))
        assert view["status"] == "QUEUING" and view["reason"] == f"{said} (Volcano queue {q})", view
        assert "queue resource quota insufficient" in karena.run("get", "waits", "-n", ns, "-e", check=True).stdout
        assert not _get(cluster, "pods", "-n", ns, "-l", "volcano.sh/job-name=waits")["items"], "pods were created"
        queues = {x["name"]: x for x in karena.json("queue", "list")}
        print("queue list:", queues.get(q))
        assert q in queues and queues[q]["capability"].get("cpu") == "1", queues.get(q)
        # what the running job holds; Volcano v1.14.1 leaves status.pending/running at 0 here
        assert queues[q]["allocated"].get("cpu") == "1" and queues[q]["allocated"].get("nvidia.com/gpu") == "1", queues[q]
        top = karena.run("top", "queue")
        assert top.returncode == 0 and q in top.stdout, (top.stdout, top.stderr)
        print("top queue:\n" + top.stdout)
        # freeing the queue lets the second job run
        assert karena.run("delete", "fits", "-n", ns).returncode == 0
        assert _statuses(karena, "waits", ns, {"RUNNING", "FAILED"}, timeout=120)[-1] == "RUNNING"
        karena.run("delete", "waits", "-n", ns)
    finally:
        cluster.kubectl("delete", "queues.scheduling.volcano.sh", q, "--wait=false", check=False)


def test_volcano_gang_keeps_an_unschedulable_job_pending(karena, volcano, ns) -> None:  # noqa: ANN001
    """3 pods of 8 GPUs each need 24 GPUs; the kwok nodes have 2 × 8: the gang binds none of them."""
    cluster = volcano
    r = karena.run("submit", "volcanojob", "-n", ns, "--name", "gang", "--task", "worker:3:1:1Gi:8",
                   "--image", "x", "python train.py")
    assert r.returncode == 0, r.stderr

    said = _wait(lambda: _podgroup_event(cluster, ns, "gang", "overused nvidia.com/gpu"), 60,
                 "Volcano's verdict on the gang's PodGroup")
    view = karena.json("get", "gang", "-n", ns)
    bound = [p for p in _get(cluster, "pods", "-n", ns)["items"] if p["spec"].get("nodeName")]
    pg = _get(cluster, "podgroups.scheduling.volcano.sh", "-n", ns)["items"][0]
    print("gang: Volcano", said, "| arena", view["status"], view.get("reason"))
    assert pg["status"]["phase"] == "Pending" and "overused nvidia.com/gpu" in karena.run(
        "get", "gang", "-n", ns, "-e", check=True).stdout
    assert view["status"] == "QUEUING" and "overused nvidia.com/gpu" in view["reason"], view
    assert not bound, f"the gang bound some of its pods: {[p['metadata']['name'] for p in bound]}"
    assert pg["spec"]["minMember"] == 3, pg


# ---- the MPI operator v2beta1 (swaps the MPIJob CRD: keep these last) ---------------------------------

def test_mpijob_v2beta1_through_the_mpi_operator(karena, mpi_operator, ns) -> None:  # noqa: ANN001
    cluster = mpi_operator
    r = karena.run("submit", "mpijob", "-n", ns, "--name", "mpi", "--image", "mpi:1", "--workers", "2", "--gpus", "1",
                   "-a", "arena.test/exit-code=0", "-a", "arena.test/run-for=6s", "mpirun -n 2 python train.py")
    assert r.returncode == 0, r.stderr
    job = _get(cluster, "mpijobs.v2beta1.kubeflow.org", "mpi", "-n", ns)
    assert job and job["apiVersion"] == "kubeflow.org/v2beta1", job
    seen = _statuses(karena, "mpi", ns, {"RUNNING", "SUCCEEDED", "FAILED"}, timeout=120)
    seen += _statuses(karena, "mpi", ns, {"SUCCEEDED", "FAILED"}, timeout=120)[1:]
    print("status path:", " -> ".join(seen))
    assert seen[-1] == "SUCCEEDED" and "RUNNING" in seen, seen
    view = karena.json("get", "mpi", "-n", ns)
    assert any(i["task"] == "launcher" for i in view["instances"]), view
