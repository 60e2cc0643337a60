"""`arena serve` end to end on the local engine: the real command, a real daemon, its proxy, real servers.

The servers are `echo_server.py` (a few lines of stdlib HTTP that say which replica answered); the kserve
test runs the `kserve` package's model server on an sklearn model. No assertion is about time: waits have
generous deadlines and fail with what was seen.
"""
from __future__ import annotations

import collections
import http.client
import importlib.util
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import ECHO, Client, Load, free_port, get, home_processes, serve, server_of, wait_available

pytestmark = pytest.mark.e2e


def test_replica_set_behind_a_stable_address(arena: Any) -> None:
    """The issue's scenario: 2 replicas behind one address; kill -9 one; a second version at 20 %; a
    rolling update; delete. Every request answered throughout."""
    port = free_port()
    job = serve(arena, "echo", "v1", port, "--replicas", "2")
    assert job["type"] == "Custom" and job["desiredInstances"] == 2
    job = wait_available(arena, "echo", "v1", 2)
    address = job["ip"]
    assert address.startswith("127.") and address != "127.0.0.1"
    assert [e["port"] for e in job["endpoints"]] == [port]
    listed = arena.run("serve", "list", check=True).stdout.splitlines()
    assert listed[0].split() == ["NAME", "TYPE", "VERSION", "DESIRED", "AVAILABLE", "ADDRESS", "PORTS"]
    assert listed[1].split() == ["echo", "Custom", "v1", "2", "2", address, f"RESTFUL:{port}"]
    assert "echo" not in arena.run("list", check=True).stdout  # training jobs only

    # 200 requests through the stable address: all answered, by both replicas
    client = Client(address, port)
    seen = collections.Counter(client.post()[1]["replica"] for _ in range(200))
    assert sum(seen.values()) == 200 and len(seen) == 2, seen

    # kill -9 one replica's server: requests keep succeeding, and the replica comes back
    victim = next(i for i in job["instances"] if i["status"] == "Running")
    with Load(address, port) as load:
        while len(load.answers) < 50:
            time.sleep(0.01)
        server_of(victim).send_signal(signal.SIGKILL)
        back = wait_available(arena, "echo", "v1", 2, pred=lambda j: any(
            i["name"] == victim["name"] and i["restartCount"] >= 1 and i["readyContainers"] for i in j["instances"]))
        after = len(load.answers)
        deadline = time.monotonic() + 60  # the proxy's own probe sees the restarted server a moment later
        while (len(load.answers) < after + 50 or len({a["pid"] for a in load.answers}) < 3) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    assert load.failures == [], load.failures[:5]
    assert len({a["pid"] for a in load.answers}) == 3  # the two first servers, then the restarted one
    assert next(i for i in back["instances"] if i["name"] == victim["name"])["restartCount"] >= 1

    # a second version, then 80/20: v2 gets 20 % ± 5 % of 1,000 requests
    serve(arena, "echo", "v2", port)
    wait_available(arena, "echo", "v2", 1)
    split = arena.run("serve", "traffic-split", "--name", "echo", "-v", "v1:80", "-v", "v2:20", check=True)
    assert "Succeed to split the traffic for serving job echo" in split.stderr
    versions = collections.Counter(client.post()[1]["version"] for _ in range(1000))
    assert 150 <= versions["v2"] <= 250 and versions["v1"] + versions["v2"] == 1000, versions
    rows = {r.split()[2]: r.split() for r in arena.run("serve", "list", check=True).stdout.splitlines()[1:]}
    assert rows["v1"][5] == f"{address}(80%)" and rows["v2"][5] == f"{address}(20%)"

    # a rolling update of v1: no request dropped, new replicas ready before the old go
    old = {i["name"] for i in get(arena, "echo", "v1")["instances"]}
    with Load(address, port) as load:
        while len(load.answers) < 20:
            time.sleep(0.01)
        arena.run("serve", "update", "custom", "--name", "echo", "--version", "v1", "-e", "GENERATION=2", check=True)
        rolled = wait_available(arena, "echo", "v1", 2, pred=lambda j: not old & {i["name"] for i in j["instances"]})
        after = len(load.answers)
        while len(load.answers) < after + 50:
            time.sleep(0.01)
    assert load.failures == [], load.failures[:5]
    assert len(rolled["instances"]) == 2 and all(i["restartCount"] == 0 for i in rolled["instances"])

    # delete: no process left, every port free
    replica_ports = [i["ports"]["PORT"] for v in ("v1", "v2") for i in get(arena, "echo", v)["instances"]]
    out = arena.run("serve", "delete", "echo", "-v", "v2", check=True)
    assert "The serving job echo with version v2 has been deleted successfully" in out.stderr
    arena.run("serve", "delete", "echo", check=True)
    assert arena.run("serve", "list", check=True).stdout.splitlines()[1:] == []
    assert home_processes(arena.home) == []
    for host, p in [(address, port)] + [("127.0.0.1", rp) for rp in replica_ports]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, p), timeout=5).close()  # nothing listens there any more
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do, past TIME_WAIT
            s.bind((host, p))


def test_gpu_replicas_get_device_indices_from_the_scheduler(arena: Any) -> None:
    """Serving replicas are bound like training replicas: distinct GPU indices, counted against the node."""
    port = free_port()
    serve(arena, "gpu", "v1", port, "--replicas", "2", "--gpus", "1")
    job = wait_available(arena, "gpu", "v1", 2)
    indices = [i["gpuIndices"] for i in job["instances"]]
    assert all(len(x) == 1 for x in indices) and len({x[0] for x in indices}) == 2, indices
    assert job["requestGPUs"] == 2
    answers = {json.dumps(Client(job["ip"], port).post()[1]["gpus"]) for _ in range(10)}
    assert answers == {json.dumps(str(x[0])) for x in indices}  # CUDA_VISIBLE_DEVICES is the bound index
    assert arena.json("top", "node")  # the node's allocation counts them (smoke: the command answers)
    # the fourth GPU is the only one left: a training job asking for 3 waits in the queue
    arena.run("submit", "pytorchjob", "--name", "train", "--gpus", "3", "sleep 30", check=True)
    time.sleep(1)
    assert arena.job("train")["status"] in ("PENDING", "QUEUING")
    arena.run("delete", "train", check=True)
    arena.run("serve", "delete", "gpu", check=True)


@pytest.mark.skipif(importlib.util.find_spec("kserve") is None or importlib.util.find_spec("sklearn") is None,
                    reason="needs the 'serving' extra: pip install 'arena-ml[serving]' (kserve, scikit-learn)")
def test_kserve_sklearn_model_answers_v1_and_v2(arena: Any, tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model_dir = tmp_path / "digits"
    model_dir.mkdir()
    model = LogisticRegression(max_iter=500).fit(x / 16.0, y)
    joblib.dump(model, model_dir / "model.joblib")
    port = free_port()
    arena.run("serve", "kserve", "--name", "digits", "--model-format", "sklearn", "--storage-uri",
              f"file://{model_dir}", "--min-replicas", "2", "--port", str(port), check=True)
    job = wait_available(arena, "digits", None, 2, timeout=120)
    assert job["type"] == "KServe" and job["version"] == "00001" and job["ip"] == f"http://{job['ip'][7:]}"
    host = job["ip"].removeprefix("http://").rsplit(":", 1)[0]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    rows = (x[:8] / 16.0).tolist()
    expected = model.predict(x[:8] / 16.0).tolist()
    conn.request("POST", "/v1/models/digits:predict", json.dumps({"instances": rows}),
                 {"Content-Type": "application/json"})
    v1 = json.loads(conn.getresponse().read())
    assert v1["predictions"] == expected
    conn.request("POST", "/v2/models/digits/infer", json.dumps({"inputs": [
        {"name": "input-0", "shape": [8, 64], "datatype": "FP64", "data": sum(rows, [])}]}),
        {"Content-Type": "application/json"})
    v2 = json.loads(conn.getresponse().read())
    assert v2["model_name"] == "digits" and v2["outputs"][0]["data"] == expected
    conn.request("GET", "/v2/health/ready")
    assert conn.getresponse().status == 200

    # a canary revision: 20 % of the requests, shown as upstream's get shows a predictor's traffic
    arena.run("serve", "update", "kserve", "--name", "digits", "--min-replicas", "1", "--canary-traffic-percent",
              "20", check=True)
    job = wait_available(arena, "digits", None, 3, timeout=120)
    assert job["version"] == "00002" and job["traffic"] == {"00001": 80, "00002": 20}
    text = arena.run("serve", "get", "digits", check=True).stdout
    assert "LatestRevision:     00002\nLatestPrecent:      20\nPrevRevision:       00001\nPrevPrecent:        80" in text
    assert len(arena.run("serve", "list", check=True).stdout.splitlines()) == 2  # one row: the InferenceService
    # promoted: the next revision takes every request, the others go once it is ready
    arena.run("serve", "update", "kserve", "--name", "digits", "--canary-traffic-percent", "100", check=True)
    job = wait_available(arena, "digits", None, 1, timeout=120, pred=lambda j: {i["version"] for i in j["instances"]}
                         == {"00003"})
    assert job["traffic"] == {"00003": 100}
    arena.run("serve", "delete", "digits", check=True)
    assert home_processes(arena.home) == []


def test_submit_refusals_are_one_line(arena: Any) -> None:
    port = free_port()
    cases = [
        (["serve", "custom", "--version", "v1", "--restful-port", str(port), "x"], "--name"),
        (["serve", "custom", "--name", "a", "x"], "all ports are 0"),
        (["serve", "custom", "--name", "a", "--restful-port", str(port)], "a command to run is required"),
        (["serve", "custom", "--name", "Bad_Name", "--restful-port", str(port), "x"], "DNS-1123"),
        (["serve", "tensorflow", "--name", "t", "--model-path", "/m"], "model name cannot be blank"),
        (["serve", "kserve", "--name", "k"], "model format and image can not be empty at the same time"),
        (["serve", "kserve", "--name", "k", "--model-format", "sklearn", "--storage-uri", "s3://b/m"],
         "s3://"),
        (["serve", "traffic-split", "--name", "a", "-v", "v1:50", "-v", "v2:20"], "not equal to 100"),
        (["serve", "traffic-split", "--name", "a", "-v", "v1:50", "-v", "v1:50"], "duplicate weight"),
        (["serve", "seldon", "--name", "a"], "invalid choice"),
    ]
    for argv, text in cases:
        r = arena.run(*argv)
        assert r.returncode in (1, 2) and text in r.stderr, (argv, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    serve(arena, "dup", "v1", port)
    r = arena.run("serve", "custom", "--name", "dup", "--version", "v1", "--restful-port", str(port), ECHO)
    assert r.returncode == 2 and "the job dup is already exist, please delete it first" in r.stderr
    r = arena.run("serve", "custom", "--name", "dup", "--version", "v2", "--restful-port", str(free_port()), ECHO)
    assert r.returncode == 2 and "its versions share one address" in r.stderr
    serve(arena, "dup", "v2", port)
    r = arena.run("serve", "get", "dup")
    assert r.returncode == 2 and "There is 2 jobs have been found" in r.stderr and "v1" in r.stderr
    r = arena.run("serve", "traffic-split", "--name", "dup", "-v", "v3:100")
    assert r.returncode == 2 and "has no version v3" in r.stderr
    r = arena.run("serve", "get", "nothing")
    assert r.returncode == 1 and "Not found serving job nothing" in r.stderr
    r = arena.run("serve", "delete", "nothing")
    assert r.returncode == 0 and "The serving job 'nothing' does not exist,skip to delete it." in r.stderr
    arena.run("serve", "delete", "dup", "-v", "v1", check=True)
    arena.run("serve", "delete", "dup", check=True)


def test_missing_model_servers_are_named(arena: Any, tmp_path: Path) -> None:
    """tensorflow and triton run the real servers or refuse in one line naming what to install."""
    env_path = os.environ.get("PATH", "")
    import shutil

    if shutil.which("tensorflow_model_server", path=env_path) is None:
        r = arena.run("serve", "tensorflow", "--name", "tf", "--model-name", "m", "--model-path", str(tmp_path))
        assert r.returncode == 1 and "tensorflow_model_server is not on PATH; install TensorFlow Serving" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    if shutil.which("tritonserver", path=env_path) is None and importlib.util.find_spec("pytriton") is None \
            and not os.environ.get("ARENA_TRITON_PYTHON"):
        r = arena.run("serve", "triton", "--name", "tr", "--model-repository", str(tmp_path))
        assert r.returncode == 1 and "pip install nvidia-pytriton" in r.stderr and "ARENA_TRITON_PYTHON" in r.stderr
    assert arena.run("serve", "list", check=True).stdout.splitlines()[1:] == []


def test_serving_goes_on_while_the_daemon_restarts(arena: Any) -> None:
    """The proxy and the replicas live in their own sessions: a daemon stop drops no request, and the next
    daemon adopts them (the same proxy process, the same replicas)."""
    port = free_port()
    serve(arena, "steady", "v1", port, "--replicas", "2")
    job = wait_available(arena, "steady", "v1", 2)
    proxy_pid = json.loads((arena.home / "serving" / "proxy.json").read_text())["pid"]
    with Load(job["ip"], port) as load:
        while len(load.answers) < 20:
            time.sleep(0.01)
        arena.run("daemon", "stop", check=True)
        after = len(load.answers)
        while len(load.answers) < after + 50:
            time.sleep(0.01)
        again = wait_available(arena, "steady", "v1", 2)  # starts the daemon again
    assert load.failures == [], load.failures[:5]
    assert json.loads((arena.home / "serving" / "proxy.json").read_text())["pid"] == proxy_pid
    assert {i["pid"] for i in again["instances"]} == {i["pid"] for i in job["instances"]}
    arena.run("serve", "delete", "steady", check=True)
    assert home_processes(arena.home) == []
