"""`arena top node --metric` (upstream's per-GPU table, from Prometheus on a cluster, NVML locally) and the totals of
`arena top job` (upstream sums RUNNING jobs only), through the CLI.

Prometheus is played by a small in-process HTTP server answering `/api/v1/query` with upstream's gpu-exporter
series; the cluster by the loopback API server of the engine's tests.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from fake_apiserver import FakeApiServer  # tests/kubernetes_api, on the path through conftest.py
from k8s_objects import T2, cond, job_object, job_pods, kubeflow_status, node, pod

from arena.engines.kubernetes import gpumetrics
from arena.engines.kubernetes import nodes as nodelib
from arena.views import NodeInstance, NodeView

GIB = 2**30
# node -> device -> (duty cycle %, used bytes, total bytes, pods on it)
FIGURES = {"node-1": {"0": (37.5, 4 * GIB, 16 * GIB, ["default/train-worker-0"]),
                      "1": (12.0, 1 * GIB, 16 * GIB, [])},
           "node-2": {"0": (0.0, 0.0, 16 * GIB, [])}}


class Prometheus:
    """Answers instant queries of upstream's gpu-exporter metrics for the nodes a `node_name=~` selector names."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                promql = parse_qs(urlsplit(self.path).query)["query"][0]
                outer.queries.append(promql)
                body = json.dumps({"status": "success",
                                   "data": {"resultType": "vector", "result": outer.answer(promql)}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer(promql: str) -> list[dict[str, Any]]:
        column = {"nvidia_gpu_duty_cycle": 0, "nvidia_gpu_memory_used_bytes": 1,
                  "nvidia_gpu_memory_total_bytes": 2}.get(promql.split("{")[0])
        m = re.search(r'node_name=~"([^"]*)"', promql)
        if column is None or m is None:
            return []
        wanted = set(m.group(1).replace("\\.", ".").split("|"))
        out = []
        for name, devices in FIGURES.items():
            if name not in wanted:
                continue
            for device, figures in devices.items():
                labels = {"__name__": promql.split("{")[0], "node_name": name, "minor_number": device}
                for p in figures[3] or [None]:  # one series per pod on the device, as the exporter reports
                    extra = dict(zip(("namespace_name", "pod_name"), p.split("/"))) if p else {}
                    out.append({"metric": {**labels, **extra}, "value": [0, str(figures[column])]})
        return out

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    server = Prometheus()
    yield server
    server.stop()


def cluster(apiserver: FakeApiServer, tmp_path: Path) -> tuple[str, ...]:
    apiserver.add(node("node-1", gpus=2))
    apiserver.add(node("node-2", gpus=1, ip="10.0.0.2"))
    apiserver.add(pod("train-worker-0", job="train", gpus=1, node="node-1"))
    apiserver.add(pod("idle-worker-0", job="idle", node="node-1"))  # no GPUs: not listed under the GPUs
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    return "--engine=kubernetes", f"--config={kubeconfig}"


def lines(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_top_node_details_with_prometheus_metrics(arena: Any, apiserver: FakeApiServer, prometheus: Prometheus,
                                                  tmp_path: Path) -> None:
    flags = cluster(apiserver, tmp_path)
    arena.home.mkdir(parents=True, exist_ok=True)
    (arena.home / "config").write_text(f"prometheus_url: {prometheus.url}\n")
    text = arena.run("top", "node", "-d", "--metric", *flags, check=True).stdout
    rows = lines(text)
    assert ["NAMESPACE", "NAME", "STATUS", "GPU(Requested)", "GPU(Allocated)"] in rows
    assert ["default", "train-worker-0", "Running", "1", "gpu0"] in rows
    assert not any(r[:2] == ["default", "idle-worker-0"] for r in rows)
    assert ["INDEX", "MEMORY(Total)", "MEMORY(Allocated)", "MEMORY(Used)", "DUTY_CYCLE"] in rows
    # a GPU a running pod holds shows its use; a free one only its size (upstream's rule)
    assert ["0", "16.0 GiB", "16.0 GiB", "4.0 GiB", "37.5%"] in rows
    assert ["1", "16.0 GiB", "0.0 GiB", "0.0 GiB", "0.0%"] in rows
    assert "Total GPU Memory:     32.0 GiB" in text and "Allocated GPU Memory: 16.0 GiB" in text
    assert "Used GPU Memory:      4.0 GiB" in text
    # three queries for every node at once: upstream's `node_name=~` selector per metric
    assert prometheus.queries == [f'{m}{{node_name=~"node-1|node-2"}}' for m in
                                  ("nvidia_gpu_duty_cycle", "nvidia_gpu_memory_used_bytes",
                                   "nvidia_gpu_memory_total_bytes")]
    (first, _) = json.loads(arena.run("top", "node", "--metric", "-o", "json", *flags, check=True).stdout)
    assert first["gpus"][0] == {"index": 0, "name": "", "allocated": True, "memory_total": 16 * GIB,
                                "memory_used": 4 * GIB, "utilization": 37.5, "pods": ["default/train-worker-0"]}
    plain = arena.run("top", "node", *flags, check=True).stdout
    assert "GPU Memory" not in plain and len(prometheus.queries) == 6  # without --metric, Prometheus is not asked


def test_top_node_metric_without_prometheus_is_na(arena: Any, apiserver: FakeApiServer, tmp_path: Path) -> None:
    flags = cluster(apiserver, tmp_path)
    r = arena.run("top", "node", "-d", "--metric", *flags, check=True)
    assert "Total GPU Memory:     N/A" in r.stdout and "Allocated GPUs:       1" in r.stdout and r.stderr == ""
    arena.home.mkdir(parents=True, exist_ok=True)
    (arena.home / "config").write_text("prometheus_url: http://127.0.0.1:1\n")
    down = arena.run("top", "node", "-d", "--metric", *flags, check=True)
    assert down.stderr.startswith("arena: warning: no GPU metrics: Prometheus at http://127.0.0.1:1")
    assert "Allocated/Total GPUs In Cluster:" in down.stdout


def test_top_node_metric_locally_reads_nvml_and_says_na_without(arena: Any) -> None:
    arena.env["ARENA_LOCAL_CAPACITY"] = "cpu=4,memory=8Gi,nvidia.com/gpu=2"  # declared GPUs: no NVML figures
    text = arena.run("top", "node", "-d", "--metric", check=True).stdout
    rows = lines(text)
    assert ["0", "N/A", "N/A", "N/A", "N/A"] in rows and ["1", "N/A", "N/A", "N/A", "N/A"] in rows
    assert "Total GPUs:           2" in text and "Total GPU Memory:     N/A" in text


def test_an_exclusive_node_counts_its_gpus_from_the_metrics() -> None:
    """Upstream: with figures, an exclusive node's total is the number of GPUs Prometheus reports, and the
    unhealthy ones are counted against it."""
    view = NodeView(name="n", ip="", role="", status="Ready", cpu_milli=0, memory=0, gpu_total=8, gpu_allocated=1,
                    gpu_unhealthy=1, instances=[NodeInstance("ns", "p", "Running", 1)])
    devices = {str(i): gpumetrics.NodeGpu(1.0, 0.0, 8.0, ("ns/p",) if i == 2 else ()) for i in range(10)}
    out = nodelib.with_gpu_metrics(view, devices)
    assert (out.gpu_total, out.gpu_unhealthy) == (10, 3)
    assert [g["index"] for g in out.gpus] == list(range(10)) and [g["allocated"] for g in out.gpus].count(True) == 1
    assert nodelib.with_gpu_metrics(view, {}) is view


def test_dcgm_figures_per_node() -> None:
    def query(promql: str) -> list[dict[str, Any]]:
        metric = promql.split("{")[0]
        value = {"DCGM_FI_DEV_GPU_UTIL": "90", "DCGM_FI_DEV_FB_USED": "1024", "DCGM_FI_DEV_FB_FREE": "1024"}.get(metric)
        labels = {"Hostname": "gpu-a.example", "gpu": "0", "namespace": "team", "pod": "j-master-0"}
        return [{"metric": labels, "value": [0, value]}] if value else []

    found = gpumetrics.fetch_nodes(query, ["gpu-a.example"])
    assert found == {"gpu-a.example": {"0": gpumetrics.NodeGpu(90.0, 1024.0 * 2**20, 1024.0 * 2**20,
                                                                ("team/j-master-0",))}}


# ---- top job totals ---------------------------------------------------------------------------
def test_top_job_totals_count_running_jobs_only(arena: Any, apiserver: FakeApiServer, tmp_path: Path) -> None:
    """Upstream's footer (`top_job.go`, `displayWithNoMetric`) sums RUNNING jobs only, requested and allocated."""
    apiserver.add(job_object("pytorchjob", "running", status=kubeflow_status(cond("Created"), cond("Running", t=T2)),
                             workers=1, gpus=1))
    for p in job_pods("pytorchjob", "running", workers=1, gpus=1):
        apiserver.add(p)
    apiserver.add(job_object("pytorchjob", "waiting", status=kubeflow_status(cond("Created")), workers=3, gpus=2))
    for p in job_pods("pytorchjob", "waiting", workers=3, gpus=2, phase="Pending"):
        apiserver.add(p)
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    flags = ("--engine=kubernetes", f"--config={kubeconfig}")
    jobs = {j["name"]: j for j in json.loads(arena.run("top", "job", "-o", "json", *flags, check=True).stdout)}
    assert jobs["running"]["status"] == "RUNNING" and jobs["waiting"]["status"] != "RUNNING"
    assert int(jobs["waiting"]["requestGPUs"]) > 0
    text = arena.run("top", "job", *flags, check=True).stdout
    running = jobs["running"]
    assert (f"Total Allocated/Requested GPUs of Training Jobs: {running['allocatedGPUs']}/{running['requestGPUs']}"
            in text)
    assert text.index("waiting") < text.index("running")  # sorted by requested GPUs, most first
