"""The serving layer without a daemon: flags -> spec, the registry, the local plan, the proxy's balancing."""
from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest

from arena import kinds
from arena.engines.local.serving import plan as planning
from arena.engines.local.serving import proxy as proxy_mod
from arena.engines.local.serving.routes import Backend, Listener, Route, Routes, Status, VersionRoute
from arena.errors import ArenaError, InvalidSpec, Unsupported
from arena.serving import kind as serving_kind
from arena.serving import options, types
from arena.serving.types import Tools

ECHO = Path(__file__).with_name("echo_server.py")


# ---- flags -> spec ----------------------------------------------------------------------------------
def test_upstream_defaults_and_spellings() -> None:
    tf = options.spec_from_options("tf", {"name": "m", "model_name": "mnist", "model_path": "/models/mnist"})
    assert (tf.type, tf.ports.grpc, tf.ports.restful, tf.replicas) == ("tensorflow", 8500, 8501, 1)
    assert len(tf.version) == 12 and tf.version.isdigit()  # YYYYMMDDhhmm, local time
    triton = options.spec_from_options("triton", {"name": "t", "model_repository": "/r"})
    assert (triton.ports.restful, triton.ports.grpc) == (8000, 8001)
    assert types.get("triton").endpoints(triton) == [("RESTFUL", 8000), ("GRPC", 8001)]  # triton lists REST first
    ks = options.spec_from_options("kserve", {"name": "k", "model_format": "sklearn", "storage_uri": "file:///m",
                                              "min_replicas": 3})
    assert ks.version == "" and ks.replicas == 3  # kserve: revisions are named by the engine; --min-replicas runs
    custom = options.spec_from_options("custom", {"name": "c", "port": 9000, "restful_port": 8080,
                                                  "command": ["python", "s.py"], "env": {"A": "1"},
                                                  "label": ["team=x"], "toleration": ["gpu=true:NoSchedule"]})
    assert custom.command == "python s.py" and custom.env == {"A": "1"} and custom.labels == {"team": "x"}
    assert types.get("custom").endpoints(custom) == [("GRPC", 9000), ("RESTFUL", 8080)]


@pytest.mark.parametrize("type_, opts, field, text", [
    ("custom", {"command": "x", "restful_port": 1}, "--name", "required"),
    ("custom", {"name": "a", "command": "x"}, "--port", "all ports are 0"),
    ("custom", {"name": "a", "command": "x", "restful_port": 70000}, "--restful-port", "between 1 and 65535"),
    ("custom", {"name": "a", "command": "x", "restful_port": 1, "replicas": -1}, "--replicas", "must be greater"),
    ("custom", {"name": "a", "command": "x", "restful_port": 1, "model_format": "s"}, "--model-format",
     "not a flag of 'arena serve custom'"),
    ("custom", {"name": "a", "command": "x", "restful_port": 1, "version": "-bad"}, "--version", "letters"),
    ("custom", {"name": "a", "command": "x", "restful_port": 1, "toleration": ["=:"]}, "--toleration", ""),
    ("custom", {"name": "a", "command": "x", "restful_port": 1, "readiness_probe_action": "exec"},
     "--readiness-probe-action", "httpGet or tcpSocket"),
    ("tensorflow", {"name": "a", "model_name": "bad name", "model_path": "/m"}, "--model-name", "ONLY"),
    ("tensorflow", {"name": "a", "model_name": "m"}, "--model-path", "modelPath should be specified"),
    ("triton", {"name": "a", "model_repository": "/r", "backend": "onnx"}, "--backend", "only supports vllm"),
    ("triton", {"name": "a", "model_repository": "/r", "backend": "vllm"}, "--gpus", "at least 1 GPU"),
    ("kserve", {"name": "a"}, "--model-format", "can not be empty at the same time"),
    ("kserve", {"name": "a", "model_format": "sklearn:"}, "--model-format", "model format is invalid"),
    ("kserve", {"name": "a", "model_format": "sklearn", "version": "v1"}, "--version", "revisions"),
    ("kserve", {"name": "a", "model_format": "sklearn", "canary_traffic_percent": 101},
     "--canary-traffic-percent", "between 0 and 100"),
])
def test_bad_input_names_the_flag(type_: str, opts: dict, field: str, text: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        options.spec_from_options(type_, opts)
    assert err.value.field == field and text in err.value.rule and "\n" not in str(err.value)


def test_unknown_types_list_what_runs() -> None:
    with pytest.raises(InvalidSpec, match=r"unknown serving job type 'seldon', arena only supports: \[custom"):
        types.get("seldon")
    assert types.get("TF").name == "tensorflow" and types.get("tf-serving").name == "tensorflow"
    assert types.get("KServe").name == "kserve" and types.get("custom-serving").name == "custom"


def test_traffic_split_rules() -> None:
    split = options.traffic_from_options({"name": "a", "version_weight": ["v1:80", "v2:20"]})
    assert [(w.version, w.weight) for w in split.weights] == [("v1", 80), ("v2", 20)]
    assert options.traffic_from_options({"name": "a", "version_weight": ["v1"]}).weights[0].weight == 100
    assert options.traffic_from_options({"name": "a", "version_weight": {"v1": 30, "v2": 70}}).weights[1].weight == 70
    for weights, text in ((["v1:x"], "weight must be int"), (["v1:60"], "not equal to 100"),
                          (["v1:50", "v1:50"], "duplicate weight")):
        with pytest.raises(InvalidSpec, match=text):
            options.traffic_from_options({"name": "a", "version_weight": weights})
    with pytest.raises(InvalidSpec, match="ONLY"):
        options.traffic_from_options({"name": "a.b", "version_weight": ["v1"]})


def test_update_changes_only_what_is_given() -> None:
    from arena.engines.local.serving.manager import merge

    spec = options.spec_from_options("custom", {"name": "a", "version": "v1", "restful_port": 1, "replicas": 3,
                                                "command": "old", "env": ["A=1", "B=2"], "cpu": "1"})
    upd = options.update_from_options("custom", {"name": "a", "env": ["B=3"], "memory": "1Gi"})
    new = merge(spec, upd, types.get("custom"))
    assert (new.replicas, new.command, new.env, new.resources.cpu, new.resources.memory) == \
        (3, "old", {"A": "1", "B": "3"}, "1", "1Gi")  # upstream's --replicas 0 on update is not copied
    assert merge(spec, options.update_from_options("custom", {"name": "a", "replicas": 1}),
                 types.get("custom")).replicas == 1
    with pytest.raises(InvalidSpec, match="name not set"):
        options.update_from_options("custom", {})


# ---- the registry and the local kinds ----------------------------------------------------------------
def test_every_type_has_a_local_kind_that_is_not_a_training_kind() -> None:
    assert set(serving_kind.KINDS) == set(types.labels())
    for t in types.all():
        k = kinds.get(t.label)
        assert k.name == t.label and k.trainer == t.alias and kinds.serving(t.label)
        assert t.label not in kinds.names() and t.label not in kinds.aliases()
    assert not kinds.serving("pytorchjob") and kinds.get("tf").name == "tfjob"  # `tf` stays TFJob's alias
    controller = kinds.get("custom-serving").local_controller(None)  # type: ignore[arg-type]
    for code in (0, 1, 137):
        assert controller.on_exit(None, [], "replica-0", code, None).action == "restart"  # type: ignore[arg-type]


# ---- the local plan ------------------------------------------------------------------------------------
INPUTS = planning.ServingInputs(base_env={"PATH": "/usr/bin"}, cwd="/work", tools=Tools(python="/py"))


def test_a_generation_is_a_job_of_the_serving_kind() -> None:
    spec = options.spec_from_options("custom", {"name": "web", "version": "v1", "port": 9000, "restful_port": 8080,
                                                "replicas": 2, "gpus": 1, "command": "python s.py"})
    p = planning.plan(spec, INPUTS, 3)
    job = p.job.spec
    assert (job.kind, job.name, job.namespace) == ("custom-serving", "web.v1.3", "default")
    assert job.labels["servingName"] == "web" and job.labels["servingVersion"] == "v1"
    assert job.labels["servingType"] == "custom-serving" and job.labels["arena.serving/generation"] == "3"
    assert [(t.name, t.replicas, t.restart_policy, t.resources.gpus) for t in job.tasks] == [("replica", 2, "Always", 1)]
    assert job.tasks[0].command == (f"exec /py -I -S {planning.LAUNCHER} --port GRPC_PORT -- sh -c 'python s.py'")
    r0 = p.job.replicas[0]
    assert r0.env["PORT"] == "{{port:replica-0}}" and r0.env["CUDA_VISIBLE_DEVICES"] == "{{gpus:replica-0}}"
    assert r0.env["ARENA_POD_NAME"] == "web-v1-0" and r0.cwd == "/work"
    assert planning.plan(spec, INPUTS, 3) == p  # pure: the daemon plans again and compares
    planning.check_job(job)  # what the daemon accepts under a serving kind
    for bad in (msgspec.structs.replace(job, name="web"), msgspec.structs.replace(job, labels={}),
                msgspec.structs.replace(job, tasks=[])):
        with pytest.raises(InvalidSpec):
            planning.check_job(bad)
    assert planning.parse_job_name("web.v1.2.3") == ("web", "v1.2", 3)


def test_no_launcher_without_extra_ports() -> None:
    spec = options.spec_from_options("custom", {"name": "web", "version": "v1", "restful_port": 8080,
                                                "command": "python s.py"})
    assert planning.plan(spec, INPUTS).job.spec.tasks[0].command == "python s.py"


def test_type_servers_are_real_or_named() -> None:
    tf = options.spec_from_options("tf", {"name": "m", "model_name": "mnist", "model_path": "file:///models/mnist"})
    with pytest.raises(ArenaError, match="tensorflow_model_server is not on PATH; install TensorFlow Serving"):
        planning.plan(tf, INPUTS)
    found = planning.plan(tf, msgspec.structs.replace(INPUTS, tools=Tools(
        python="/py", paths={"tensorflow_model_server": "/opt/tfs"})))
    assert ("/opt/tfs --port=\"$GRPC_PORT\" --rest_api_port=\"$PORT\" --model_name=mnist "
            "--model_base_path=/models/mnist") in found.job.spec.tasks[0].command
    assert found.probe.action == "httpGet" and found.probe.path == "/v1/models/mnist"
    triton = options.spec_from_options("triton", {"name": "t", "model_repository": "/repo", "load_model": ["a"]})
    with pytest.raises(ArenaError, match="nvidia-pytriton"):
        planning.plan(triton, INPUTS)
    tp = planning.plan(triton, msgspec.structs.replace(INPUTS, tools=Tools(python="/py", paths={
        "tritonserver": "/opt/tritonserver/bin/tritonserver"})))
    assert ("exec /opt/tritonserver/bin/tritonserver --http-port=\"$PORT\" --grpc-port=\"$GRPC_PORT\" "
            "--http-address=127.0.0.1 --grpc-address=127.0.0.1 --allow-metrics=false --model-repository=/repo "
            "--load-model=a") in tp.job.spec.tasks[0].command
    # the nvidia-pytriton wheel's server starts through its launcher, with the Python that runs the models
    wp = planning.plan(triton, msgspec.structs.replace(INPUTS, tools=Tools(python="/py", paths={
        "tritonserver": "/w/bin/tritonserver", "tritonserver-python": "/venv/bin/python"})))
    assert ("exec /py -m arena.serving.runtimes.triton_server --python=/venv/bin/python -- /w/bin/tritonserver "
            "--http-port=") in wp.job.spec.tasks[0].command
    assert tp.probe.path == "/v2/health/ready"
    ks = options.spec_from_options("kserve", {"name": "k", "version": "", "model_format": "sklearn",
                                              "storage_uri": "file:///m"})
    ks = msgspec.structs.replace(ks, version="00001")
    with pytest.raises(ArenaError, match=r"pip install 'arena-ml\[serving\]'"):
        planning.plan(ks, INPUTS)
    kp = planning.plan(ks, msgspec.structs.replace(INPUTS, tools=Tools(python="/py", modules={"kserve": True})))
    assert "/py -m arena.serving.runtimes.kserve_server --model_name=k --model_format=sklearn --model_dir=/m " \
           "--http_port=\"$PORT\"" in kp.job.spec.tasks[0].command
    with pytest.raises(Unsupported, match="--max-replicas"):
        planning.check_local(msgspec.structs.replace(ks, options=msgspec.structs.replace(ks.options, max_replicas=3)))
    onnx = msgspec.structs.replace(ks, options=msgspec.structs.replace(ks.options, model_format="onnx"))
    with pytest.raises(Unsupported, match="--model-format onnx"):
        planning.plan(onnx, INPUTS)


# ---- the proxy --------------------------------------------------------------------------------------
def _service(weights: dict[str, int | None], per_version: int = 1) -> proxy_mod.Service:
    versions = [VersionRoute(v, w, backends=[Backend(f"{v}/{i}", http=1000 + i) for i in range(per_version)])
                for v, w in weights.items()]
    return proxy_mod.Service(Route("ns/a", "127.0.0.9", [], versions), None)


def _proxy(svc: proxy_mod.Service, ready: set[str] | None = None) -> proxy_mod.Proxy:
    p = proxy_mod.Proxy(Path("/nonexistent"))
    for v in svc.versions:
        for b in v.backends:
            h = proxy_mod.Health("tcpSocket", "", b.http)
            h.ready = ready is None or b.id in ready
            p.health[b.id] = h
    return p


def test_weights_are_exact_and_interleaved() -> None:
    svc = _service({"v1": 80, "v2": 20}, per_version=2)
    p = _proxy(svc)
    picks = [p.pick(svc, "restful", set()) for _ in range(1000)]
    by_version = collections.Counter(b.id.split("/")[0] for b in picks if b)
    assert by_version == {"v1": 800, "v2": 200}
    assert max(len(run) for run in "".join("2" if b.id.startswith("v2") else "1" for b in picks).split("2")) <= 4
    assert collections.Counter(b.id for b in picks if b.id.startswith("v1")) == {"v1/0": 400, "v1/1": 400}


def test_balancing_skips_replicas_that_are_not_ready_or_draining() -> None:
    svc = _service({"v1": None, "v2": None}, per_version=2)
    p = _proxy(svc, ready={"v1/0", "v2/1"})
    assert {p.pick(svc, "restful", set()).id for _ in range(10)} == {"v1/0", "v2/1"}  # type: ignore[union-attr]
    assert p.pick(svc, "restful", {"v1/0", "v2/1"}) is None  # every ready one already tried
    assert p.pick(svc, "grpc", set()) is None  # no replica has a gRPC port
    weighted = _service({"v1": 100, "v2": 0})
    assert {_proxy(weighted).pick(weighted, "restful", set()).id for _ in range(5)} == {"v1/0"}  # type: ignore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def echo_backends() -> Any:
    """Two echo servers as processes (a killed one drops its connections, as a crashed replica does)."""
    import subprocess
    import sys
    import time

    procs = []
    for name in ("r0", "r1"):
        port = _free_port()
        env = {**os.environ, "PORT": str(port), "ARENA_POD_NAME": name}
        proc = subprocess.Popen([sys.executable, str(ECHO)], env=env, stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline()  # "echo server on PORT": it listens
        procs.append((proc, port))
    yield procs
    for proc, _ in procs:
        proc.kill()
        proc.wait()


def test_proxy_retries_a_dead_replica_and_relays_bodies(tmp_path: Path, echo_backends: list) -> None:
    """A real proxy on the loopback: one backend dies, every request is still answered."""
    port = _free_port()
    ports = [p for _, p in echo_backends]
    routes = Routes(1, [Route("ns/a", "127.0.0.1", [Listener(port, "http", "restful")], [VersionRoute(
        "v1", None, backends=[Backend(f"b{i}", http=p) for i, p in enumerate(ports)])])])
    from arena.engines.local.serving import routes as routes_mod

    routes_mod.write(tmp_path / "routes.json", routes)

    async def scenario() -> list[Any]:
        proxy = proxy_mod.Proxy(tmp_path)
        task = asyncio.get_running_loop().create_task(proxy.run())
        for _ in range(200):
            status = routes_mod.read(tmp_path / "status.json", Status)
            if isinstance(status, Status) and len(status.ready) == 2:
                break
            await asyncio.sleep(0.05)
        out: list[Any] = []
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def ask(body: bytes, chunked: bool = False) -> dict:
            if chunked:
                head = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                writer.write(head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
            else:
                writer.write(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                             % len(body))
                assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
                writer.write(body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            return json.loads(await reader.readexactly(length))

        for _ in range(4):
            out.append(await ask(b"x" * 5000))
        out.append(await ask(b"abc", chunked=True))
        echo_backends[0][0].kill()  # its keep-alive connection to the proxy dies with it
        echo_backends[0][0].wait()
        for _ in range(6):
            out.append(await ask(b"y"))
        writer.close()
        proxy.stopping.set()
        await task
        return out

    answers = asyncio.run(scenario())
    assert {a["replica"] for a in answers[:4]} == {"r0", "r1"} and all(a["n"] == 5000 for a in answers[:4])
    assert answers[4]["n"] == len(b"abc")
    assert [a["replica"] for a in answers[5:]] == ["r1"] * 6  # the dead one's requests went to the other
    assert os.path.exists(tmp_path / "status.json")
