"""Benchmarks of the Kubernetes engine against a loopback API server. Prints numbers, writes JSON.

    .venv/bin/python bench/bench_kubernetes.py [--jobs 5000] [--pods-per-job 4] [--runs 5]

- list: `engine.list(namespace)` with N jobs spread over the five kinds and N × pods-per-job pods;
  every fifth job of each kind waits in a queue, so the PodGroup and Workload LISTs are made. Reports the requests made (per kind; target ≤ 2) and the wall time (target < 1.5 s). The API
  server (tests/kubernetes_api/fake_apiserver.py) runs in a forked process so that its JSON work
  does not share the client's GIL; it caches each encoded LIST response, so warm runs measure the
  client (transfer, decode, joins, views), as against a real API server's watch cache.
- plan: `engine.plan(spec)` (the pure render `--dry-run` prints) per kind, in process, and a cold
  import of the engine in a fresh interpreter.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--pods-per-job", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--plan-iterations", type=int, default=200)
    args = ap.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
