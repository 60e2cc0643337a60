"""Benchmarks of the Kubernetes engine against a loopback API server (or, --cluster, a real one). Prints numbers, writes JSON.

    .venv/bin/python bench/bench_kubernetes.py [--jobs 5000] [--pods-per-job 4] [--runs 5]
    .venv/bin/python bench/bench_kubernetes.py --cluster [--cluster-jobs 2000] [--runs 3]

- list: `engine.list(namespace)` with N jobs spread over the five kinds and N × pods-per-job pods;
  every fifth job of each kind waits in a queue, so the PodGroup and Workload LISTs are made. Reports the requests made (per kind; target ≤ 2) and the wall time (target < 1.5 s). The API
  server (tests/kubernetes_api/fake_apiserver.py) runs in a forked process so that its JSON work
  does not share the client's GIL; it caches each encoded LIST response, so warm runs measure the
  client (transfer, decode, joins, views), as against a real API server's watch cache.
- plan: `engine.plan(spec)` (the pure render `--dry-run` prints) per kind, in process, and a cold
  import of the engine in a fresh interpreter.
- `--cluster [--cluster-jobs 2000]`: `list` against a REAL kube-apiserver (etcd + kube-apiserver from
  `scripts/cluster`, started as tests/cluster does, nothing else running): the jobs are POSTed
  straight to the API (round-robin over the kinds, as `--dry-run` renders them), then `engine.list`
  and the whole `arena list` command are timed; requests are counted from the server's own
  `apiserver_request_total` (by verb and resource). Skips with one line when the binaries are absent.
  Writes bench/results/kubernetes_cluster.json (`bench_cluster_list()` returns the same dict).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests" / "kubernetes_api"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_local import timed  # noqa: E402  (after the path it is found on)

KINDS = ("pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob")


def realistic(pod: dict, job: dict) -> dict:
    """Give a pod what a real one carries: the rendered container (command, env, ports), the
    service-account volume, default tolerations and a managedFields block, about 4 KB in all."""
    import copy

    templates = [t for t in _templates(job)]
    if templates:
        container = copy.deepcopy(templates[0]["spec"]["containers"][0])
        container.update({"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                          "imagePullPolicy": "IfNotPresent"})
        container.setdefault("volumeMounts", []).append(
            {"name": "kube-api-access-x7k2p", "readOnly": True,
             "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
        pod["spec"]["containers"] = [{**container, "name": pod["spec"]["containers"][0]["name"]}]
    pod["spec"].update({
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0, "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300} for k in ("not-ready", "unreachable")],
        "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                          "fieldPath": "metadata.namespace"}}]}}]}}],
    })
    pod["metadata"]["ownerReferences"] = [{"apiVersion": job["apiVersion"], "kind": job["kind"],
                                           "name": job["metadata"]["name"], "uid": "owner-uid", "controller": True,
                                           "blockOwnerDeletion": True}]
    pod["metadata"]["managedFields"] = [
        {"manager": "training-operator", "operation": "Update", "apiVersion": "v1", "time": "2026-03-01T10:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in
                                                                            pod["metadata"]["labels"]}},
                                                "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {
                                                    ".": {}, "f:command": {}, "f:env": {}, "f:image": {}}}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-03-01T10:00:05Z",
         "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {},
                                   "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}]
    pod["status"]["podIPs"] = [{"ip": pod["status"].get("podIP", "")}]
    pod["status"]["hostIPs"] = [{"ip": pod["status"].get("hostIP", "")}]
    return pod


def _templates(obj: object):  # type: ignore[no-untyped-def]
    """Pod templates anywhere inside a job object."""
    if isinstance(obj, dict):
        if "spec" in obj and isinstance(obj.get("spec"), dict) and "containers" in obj["spec"]:
            yield obj
        for v in obj.values():
            yield from _templates(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _templates(v)


WAITING_EVERY = 5  # every 5th job waits in a queue: gang pods Pending, or suspended by Kueue


def build_server(jobs: int, pods_per_job: int):  # type: ignore[no-untyped-def]
    """A fake API server holding `jobs` jobs (round-robin over kinds), their pods, and for every
    WAITING_EVERY-th job (still queued) its PodGroup, or for an AppWrapper its Kueue Workload."""
    import copy

    from fake_apiserver import FakeApiServer
    from k8s_objects import (NO_QUOTA, T2, appwrapper_status, cond, job_object, job_pods, kubeflow_status,
                             podgroup, volcano_status, workload)

    running = {
        "pytorchjob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
        "tfjob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
        "mpijob": kubeflow_status(cond("Created"), cond("Running", t=T2)),
        "volcanojob": volcano_status("Running", "Pending", running=pods_per_job),
        "appwrapperjob": appwrapper_status("Running", cond("PodsReady", t=T2)),
    }
    waiting = {
        "pytorchjob": kubeflow_status(cond("Created")), "tfjob": kubeflow_status(cond("Created")),
        "mpijob": kubeflow_status(cond("Created")), "volcanojob": volcano_status("Pending"),
        "appwrapperjob": appwrapper_status("Suspended"),
    }
    server = FakeApiServer()
    templates = {}
    for k in KINDS:
        for state, statuses in (("running", running), ("waiting", waiting)):
            obj = job_object(k, "tmpl", status=statuses[k], workers=pods_per_job - 1)
            pods = job_pods(k, "tmpl", workers=pods_per_job - 1, phase="Running" if state == "running" else "Pending")
            if state == "waiting" and k in ("volcanojob", "appwrapperjob"):
                pods = []  # their controllers create no pod before admission
            if state == "waiting" and k == "appwrapperjob":
                obj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "team-a"
            templates[(k, state)] = (obj, [realistic(p, obj) for p in pods])
    for i in range(jobs):
        kind = KINDS[i % len(KINDS)]
        state = "waiting" if (i // len(KINDS)) % WAITING_EVERY == 0 else "running"
        name = f"{kind[:3]}-{i:05d}"
        obj, pods = copy.deepcopy(templates[(kind, state)])
        obj["metadata"]["name"] = name
        obj["metadata"]["labels"]["release"] = name
        server.add(obj)
        for p in pods:
            p["metadata"]["name"] = p["metadata"]["name"].replace("tmpl", name, 1)
            p["metadata"]["labels"]["release"] = name
            p["metadata"]["uid"] = f"{name}-{p['metadata']['name']}"
            server.add(p)
        if state == "waiting":
            if kind == "appwrapperjob":
                server.add(workload(obj, cond("QuotaReserved", "False", reason="Pending", message=NO_QUOTA)))
            else:
                server.add(podgroup(obj, "Pending", min_member=pods_per_job))
    return server


def _serve(jobs: int, pods_per_job: int, conn) -> None:  # type: ignore[no-untyped-def]
    server = build_server(jobs, pods_per_job).start()
    conn.send(server.kubeconfig())
    conn.recv()  # block until the parent is done
    server.stop()


def fake_requests(url: str, reset: bool = True) -> list[dict]:
    with urllib.request.urlopen(f"{url}/__fake__/requests") as resp:
        out = json.loads(resp.read())
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{url}/__fake__/reset", method="POST")).read()
    return out


def bench_list(jobs: int, pods_per_job: int, runs: int) -> dict:
    import yaml

    from arena.engines.kubernetes.engine import KubernetesEngine

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    t = time.perf_counter()
    proc = ctx.Process(target=_serve, args=(jobs, pods_per_job, child), daemon=True)
    proc.start()
    kubeconfig = parent.recv()
    setup_s = time.perf_counter() - t
    url = kubeconfig["clusters"][0]["cluster"]["server"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(kubeconfig, f)
    try:
        engine = KubernetesEngine(kubeconfig=f.name, env={}, timeout=120)
        fake_requests(url)
        t = time.perf_counter()
        views = engine.list("default")
        cold = time.perf_counter() - t
        cold_requests = fake_requests(url)
        samples, cpu, counts = [], [], []
        for _ in range(runs):
            del views
            t, c = time.perf_counter(), time.process_time()
            views = engine.list("default")
            samples.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            counts.append(len(fake_requests(url)))
        by_path: dict[str, int] = {}
        for r in cold_requests:
            by_path[r["path"]] = by_path.get(r["path"], 0) + 1
        instances = sum(len(v.instances) for v in views)
        pod_bytes = len(urllib.request.urlopen(f"{url}/api/v1/namespaces/default/pods").read())
        fake_requests(url)
        return {
            "pod_list_mb": round(pod_bytes / 1e6, 1), "bytes_per_pod": pod_bytes // max(instances, 1),
            "jobs": len(views), "pods": instances,
            "statuses": {st: sum(1 for v in views if v.status == st) for st in sorted({v.status for v in views})}, "server_setup_s": round(setup_s, 2),
            "requests": len(cold_requests), "requests_per_kind": round(len(cold_requests) / len(KINDS), 2),
            "requests_by_path": by_path, "requests_each_run": counts,
            "cold_s": round(cold, 3), "median_s": round(statistics.median(samples), 3),
            "min_s": round(min(samples), 3), "client_cpu_median_s": round(statistics.median(cpu), 3), "runs": runs,
            "loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "target": "<= 2 requests per kind, < 1.5 s",
        }
    finally:
        parent.send("stop")
        proc.join(10)
        Path(f.name).unlink(missing_ok=True)


def bench_plan(iterations: int) -> dict:
    from k8s_objects import SPECS

    from arena.engines.kubernetes.engine import KubernetesEngine

    engine = KubernetesEngine(kubeconfig="/nonexistent", namespace="default", env={})  # plan never connects
    out: dict[str, dict] = {}
    for case, spec in SPECS.items():
        engine.plan(spec)  # warm caches
        t = time.perf_counter()
        for _ in range(iterations):
            engine.plan(spec)
        out[case] = {"plan_us": round((time.perf_counter() - t) * 1e6 / iterations, 1)}
    code = ("import time; t=time.perf_counter(); "
            "from arena.engines.kubernetes.engine import KubernetesEngine; "
            "from arena.engines.kubernetes import render; "
            "print((time.perf_counter()-t)*1000)")
    cold = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    return {"per_kind": out, "iterations": iterations, "import_engine_and_render_ms": round(statistics.median(cold), 1)}


DRY_RUN_ARGS = {"pytorchjob": ["py", "--workers", "3"], "tfjob": ["tf", "--ps", "1", "--workers", "2"],
                "mpijob": ["mpi", "--workers", "2"], "volcanojob": ["vj", "--task", "ps:1", "--task", "worker:2"],
                "appwrapperjob": ["aw", "--inner-type", "volcano", "--replicas", "2"]}


def bench_dry_run(runs: int) -> dict[str, dict[str, float]]:
    """Wall time of the whole `arena submit KIND ... --engine kubernetes --dry-run -o yaml` command."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "arena")], check=False)
    arena = str(Path(sys.executable).parent / "arena")
    out = {}
    for kind, args in DRY_RUN_ARGS.items():
        r = timed([arena, "submit", *args, "--name", "d", "--image", "img:1", "--engine", "kubernetes",
                   "--dry-run", "-o", "yaml", "python train.py"], None, runs, check=True)
        out[kind] = {"median_ms": r["median_ms"], "min_ms": r["min_ms"]}  # the keys kubernetes.json always had
    return out


# ---- list against a real API server ------------------------------------------------------------

CLUSTER_KIND_ARGS = {"pytorchjob": ["--workers", "2"], "tfjob": ["--workers", "2"], "mpijob": ["--workers", "2"],
                     "volcanojob": ["--task", "worker:2"], "appwrapperjob": ["--workers", "2"]}


class ClusterUnavailable(RuntimeError):
    """The control-plane binaries are not built (scripts/cluster) or openssl is missing."""


def _job_templates(namespace: str, kubeconfig: str) -> dict[str, dict]:
    """One job object per kind, as `arena submit KIND --dry-run -o json` renders it."""
    arena = str(Path(sys.executable).parent / "arena")
    out = {}
    for kind, args in CLUSTER_KIND_ARGS.items():
        r = subprocess.run([arena, "submit", kind, "--name", "tmpl", "-n", namespace, "--image", "img:1", *args,
                            "--engine", "kubernetes", "--config", kubeconfig, "--dry-run", "-o", "json",
                            "python train.py"], capture_output=True, text=True, check=True)
        items = json.loads(r.stdout)["items"]
        out[kind] = items[0]  # the job object comes first; its ConfigMap and Services are not listed
    return out


def _metrics(plane) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    """apiserver_request_total summed by (verb, resource), from the server's /metrics."""
    import re

    code, body = plane.https_get(plane.server + "/metrics")
    if code != 200:
        raise RuntimeError(f"/metrics answered {code}")
    out: dict[tuple[str, str], int] = {}
    for line in body.decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        key = (labels.get("verb", ""), labels.get("resource", ""))
        out[key] = out.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def _delta(before: dict, after: dict) -> dict[str, int]:
    return {f"{verb} {res}": n - before.get((verb, res), 0) for (verb, res), n in sorted(after.items())
            if n - before.get((verb, res), 0) > 0}


def _post_all(plane, objs: list[dict], threads: int = 16) -> None:  # type: ignore[no-untyped-def]
    """POST every object through the API (client certificate of the admin), in parallel."""
    import ssl
    from concurrent.futures import ThreadPoolExecutor

    pki = plane.work / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def post(obj: dict) -> None:
        group, _, version = obj["apiVersion"].rpartition("/")
        plural = {"Job": "jobs", "AppWrapper": "appwrappers"}.get(obj["kind"], obj["kind"].lower() + "s")
        ns = obj["metadata"]["namespace"]
        url = f"{plane.server}/apis/{group}/{version}/namespaces/{ns}/{plural}"
        req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=60) as r:  # noqa: S310 - loopback only
            r.read()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, objs))


def bench_cluster_list(jobs: int = 2000, runs: int = 3) -> dict:
    """`list` of `jobs` jobs against a real kube-apiserver; raises ClusterUnavailable without the binaries."""
    import copy
    import shutil

    sys.path.insert(0, str(ROOT / "tests" / "cluster"))
    from cluster_plane import ControlPlane, bin_dir, missing_binaries, new_workdir

    missing = missing_binaries()
    if missing:
        raise ClusterUnavailable(f"control-plane binaries not built ({', '.join(missing)} missing in {bin_dir()}): "
                                 "run scripts/cluster first")
    if not shutil.which("openssl"):
        raise ClusterUnavailable("the openssl command is needed to make the test certificates")
    from arena.engines.kubernetes.engine import KubernetesEngine

    ns = "bench"
    plane = ControlPlane(new_workdir(), bin_dir())
    try:
        t = time.perf_counter()
        from cluster_plane import make_pki

        make_pki(plane.work / "pki", {"admin": ("system:masters",)})
        plane.start_etcd()
        plane.start_apiserver()
        plane.install_crds()
        plane.kubectl("create", "namespace", ns)
        setup_s = time.perf_counter() - t
        templates = _job_templates(ns, str(plane.admin_kubeconfig))
        objs = []
        for i in range(jobs):
            kind = list(templates)[i % len(templates)]
            obj = copy.deepcopy(templates[kind])
            name = f"{kind[:3]}-{i:05d}"
            obj["metadata"]["name"] = name
            obj["metadata"]["labels"]["release"] = name
            objs.append(obj)
        t = time.perf_counter()
        _post_all(plane, objs)
        create_s = time.perf_counter() - t

        engine = KubernetesEngine(kubeconfig=str(plane.admin_kubeconfig), env={}, timeout=120)
        before = _metrics(plane)
        t = time.perf_counter()
        views = engine.list(ns)
        cold = time.perf_counter() - t
        cold_requests = _delta(before, _metrics(plane))
        samples, counts = [], []
        for _ in range(runs):
            before = _metrics(plane)
            t = time.perf_counter()
            views = engine.list(ns)
            samples.append(time.perf_counter() - t)
            counts.append(sum(n for k, n in _delta(before, _metrics(plane)).items() if k.startswith("LIST ")))
        arena = str(Path(sys.executable).parent / "arena")
        cli = timed([arena, "list", "-n", ns, "--engine", "kubernetes", "--config", str(plane.admin_kubeconfig)],
                    {**os.environ, "HOME": str(plane.work / "home")}, runs, check=True)
        lists = {k: n for k, n in cold_requests.items() if k.startswith("LIST ")}
        return {
            "jobs": len(views), "server": "kube-apiserver " + json.loads(plane.kubectl(
                "version", "-o", "json").stdout)["serverVersion"]["gitVersion"],
            "statuses": {st: sum(1 for v in views if v.status == st) for st in sorted({v.status for v in views})},
            "setup_s": round(setup_s, 2), "create_s": round(create_s, 2),
            "requests_by_verb_resource": cold_requests, "list_requests": sum(lists.values()),
            "list_requests_per_kind": round(sum(lists.values()) / len(CLUSTER_KIND_ARGS), 2),
            "list_requests_each_run": counts,
            "cold_s": round(cold, 3), "median_s": round(statistics.median(samples), 3), "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3), "runs": runs,
            "arena_list_median_ms": cli["median_ms"], "arena_list_min_ms": cli["min_ms"],
            "loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "target": "<= 2 requests per kind, < 1.5 s",
        }
    finally:
        plane.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--pods-per-job", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--plan-iterations", type=int, default=200)
    ap.add_argument("--cluster", action="store_true", help="only `list` against a real kube-apiserver")
    ap.add_argument("--cluster-jobs", type=int, default=2000)
    args = ap.parse_args()
    if args.cluster:
        return main_cluster(args.cluster_jobs, args.runs)
    results = {"list": bench_list(args.jobs, args.pods_per_job, args.runs), "plan": bench_plan(args.plan_iterations)}
    lst = results["list"]
    print(f"list: {lst['jobs']} jobs, {lst['pods']} pods ({lst['bytes_per_pod']} B each, pod LIST "
          f"{lst['pod_list_mb']} MB): {lst['requests']} requests "
          f"({lst['requests_per_kind']} per kind), cold {lst['cold_s']} s, warm median {lst['median_s']} s "
          f"(min {lst['min_s']} s over {lst['runs']} runs; client CPU {lst['client_cpu_median_s']} s; "
          f"load {lst['loadavg_1m']} on {lst['cpus']} CPUs)")
    for path, n in sorted(lst["requests_by_path"].items()):
        print(f"  {n} x GET {path}")
    print(f"  statuses: {lst['statuses']}")
    for case, r in results["plan"]["per_kind"].items():
        print(f"plan {case}: {r['plan_us']} us")
    print(f"import engine + render (fresh interpreter): {results['plan']['import_engine_and_render_ms']} ms")
    results["dry_run"] = bench_dry_run(max(args.runs * 2, 10))
    for kind, r in results["dry_run"].items():
        print(f"arena submit {kind} --dry-run -o yaml: median {r['median_ms']} ms, min {r['min_ms']} ms (target < 100 ms)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "kubernetes.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS / 'kubernetes.json'}")
    return 0


def main_cluster(jobs: int, runs: int) -> int:
    try:
        got = bench_cluster_list(jobs, runs)
    except ClusterUnavailable as exc:
        print(f"bench_kubernetes --cluster: skipped: {exc}")
        return 0
    print(f"list against {got['server']}: {got['jobs']} jobs (created in {got['create_s']} s): "
          f"{got['list_requests']} LIST requests ({got['list_requests_per_kind']} per kind), cold {got['cold_s']} s, "
          f"warm median {got['median_s']} s (min {got['min_s']} s over {got['runs']} runs); whole `arena list` "
          f"median {got['arena_list_median_ms']} ms; load {got['loadavg_1m']} on {got['cpus']} CPUs")
    for k, n in got["requests_by_verb_resource"].items():
        print(f"  {n} x {k}")
    print(f"  statuses: {got['statuses']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "kubernetes_cluster.json").write_text(json.dumps(got, indent=2) + "\n")
    print(f"wrote {RESULTS / 'kubernetes_cluster.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
