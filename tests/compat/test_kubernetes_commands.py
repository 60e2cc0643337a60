"""attach (exec over the API server's WebSocket), whoami and GPU metrics on the Kubernetes engine.

The exec protocol is checked against a small loopback WebSocket server that plays the API server's exec
endpoint (RFC 6455 and Kubernetes' channel protocol, v4 and v5); whoami and the pod choice against the
fake API server the engine's other tests use.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from fake_apiserver import FakeApiServer  # tests/kubernetes_api, on the path through conftest.py
from k8s_objects import job_object, job_pods, kubeflow_status

from arena.engines.kubernetes import exec as pod_exec
from arena.engines.kubernetes import gpumetrics, identity
from arena.engines.kubernetes import kubeconfig as kcfg
from arena.engines.kubernetes import whoami as k8s_whoami
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.errors import ArenaError, EngineUnavailable, InvalidSpec
from arena.views import GpuMetric

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------------------------------------------
# A loopback exec endpoint

def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class ExecServer:
    """Answers `GET /api/v1/namespaces/NS/pods/POD/exec?command=…` with a WebSocket that prints
    `ran <command words>` on stdout, a line on stderr, echoes stdin back (v5: until stdin is closed), and
    ends with a Status whose exit code is N when the command is `exit N`."""

    def __init__(self, protocol: str = "v5.channel.k8s.io") -> None:
        self.protocol = protocol
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        target = urlsplit(lines[0].split()[1])
        query = parse_qs(target.query)
        self.requests.append({"path": target.path, "query": query, "headers": headers})
        if not target.path.endswith("/exec"):
            body = json.dumps({"kind": "Status", "message": "pods \"x\" not found"}).encode()
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            conn.close()
            return
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {self.protocol}\r\n\r\n").encode())
        command = query.get("command", [])
        conn.sendall(_frame(2, b"\x01ran " + " ".join(command).encode() + b"\n"))
        conn.sendall(_frame(2, b"\x02to stderr\n"))
        stdin = b""
        if query.get("stdin") == ["true"] and self.protocol.startswith("v5"):
            reader = _Reader(conn, buf)
            while True:
                data = reader.message()
                if data[:1] == b"\x00":
                    stdin += data[1:]
                elif data == b"\xff\x00":  # stdin closed
                    break
                elif data[:1] == b"\x04":
                    self.requests[-1]["resize"] = json.loads(data[1:])
        if stdin:
            conn.sendall(_frame(2, b"\x01" + stdin))
        code = int(command[1]) if command[:1] == ["exit"] else 0
        status = {"status": "Success"} if code == 0 else {
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        conn.sendall(_frame(2, b"\x03" + json.dumps(status).encode()))
        conn.sendall(_frame(8, struct.pack("!H", 1000)))
        conn.close()

    def close(self) -> None:
        self.sock.close()


class _Reader:
    """Client frames (masked) off a server-side socket."""

    def __init__(self, conn: socket.socket, buf: bytes) -> None:
        self.conn, self.buf = conn, buf

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self) -> bytes:
        b0, b1 = self._take(2)
        assert b1 & 0x80, "client frames must be masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        mask = self._take(4)
        return bytes(c ^ mask[i % 4] for i, c in enumerate(self._take(n)))


@pytest.fixture
def exec_server() -> Iterator[ExecServer]:
    server = ExecServer()
    yield server
    server.close()


def config_for(url: str, tmp_path: Path, user: dict[str, Any] | None = None) -> Any:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": user or {"token": "abc"}}]}))
    return kcfg.load(str(path), env={})


def run_stream(config: Any, command: list[str], stdin: bytes | None = None, tty: bool = False,
               container: str | None = "main") -> tuple[int, bytes, bytes]:
    out, err = io.BytesIO(), io.BytesIO()
    source = io.BytesIO(stdin) if stdin is not None else None
    code = pod_exec.stream(config, "team", "job-master-0", container, command, tty=tty, stdin=source, stdout=out,
                           stderr=err, size=(120, 40) if tty else None)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------------
# exec

def test_exec_runs_the_command_in_the_pod_with_the_kubeconfig_credentials(exec_server: ExecServer,
                                                                          tmp_path: Path) -> None:
    code, out, err = run_stream(config_for(exec_server.url, tmp_path), ["python", "-c", "print(1)"])
    assert (code, out, err) == (0, b"ran python -c print(1)\n", b"to stderr\n")
    (req,) = exec_server.requests
    assert req["path"] == "/api/v1/namespaces/team/pods/job-master-0/exec"
    assert req["query"] == {"command": ["python", "-c", "print(1)"], "container": ["main"], "stdout": ["true"],
                            "stderr": ["true"], "tty": ["false"], "stdin": ["false"]}
    assert req["headers"]["authorization"] == "Bearer abc"
    assert req["headers"]["sec-websocket-protocol"] == "v5.channel.k8s.io, v4.channel.k8s.io"


def test_exec_forwards_stdin_until_its_end_and_returns_the_exit_code(exec_server: ExecServer,
                                                                     tmp_path: Path) -> None:
    config = config_for(exec_server.url, tmp_path, {"username": "ann", "password": "pw"})
    code, out, _ = run_stream(config, ["exit", "7"], stdin=b"line one\nline two\n")
    assert code == 7
    assert out == b"ran exit 7\nline one\nline two\n"
    assert exec_server.requests[0]["headers"]["authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_exec_with_a_terminal_sends_its_size_and_merges_stderr(exec_server: ExecServer, tmp_path: Path) -> None:
    code, _, _ = run_stream(config_for(exec_server.url, tmp_path), ["sh"], stdin=b"", tty=True)
    assert code == 0
    req = exec_server.requests[0]
    assert (req["query"]["tty"], req["query"]["stderr"]) == (["true"], ["false"])
    assert req["resize"] == {"Width": 120, "Height": 40}


def test_exec_over_v4(tmp_path: Path) -> None:
    server = ExecServer(protocol="v4.channel.k8s.io")
    try:
        assert run_stream(config_for(server.url, tmp_path), ["exit", "2"])[0] == 2
    finally:
        server.close()


def test_exec_errors_are_one_line_typed_errors(exec_server: ExecServer, tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match='--instance: pods "x" not found'):  # the API server's 404
        pod_exec.WebSocket.connect(exec_server.url + "/api/v1/namespaces/team/pods/x/attach", {}, None)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{port.getsockname()[1]}"
    port.close()
    with pytest.raises(EngineUnavailable, match="cannot reach the Kubernetes API server"):
        run_stream(config_for(closed, tmp_path), ["true"])


def test_exit_code_of_a_status() -> None:
    assert pod_exec.exit_code({"status": "Success"}) == 0
    failed = {"status": "Failure", "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}
    assert pod_exec.exit_code(failed) == 42
    assert pod_exec.exit_code({"status": "Failure", "message": "container not found"}) == 1


def test_attach_picks_the_pod_as_logs_does(apiserver: FakeApiServer, make_engine: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    apiserver.add(job_object("pytorchjob", "mnist", status=kubeflow_status()))
    for p in job_pods("pytorchjob", "mnist", workers=2):
        p["status"]["phase"] = "Running"
        apiserver.add(p)
    calls: list[tuple] = []
    monkeypatch.setattr(pod_exec, "stream", lambda config, ns, pod, container, command, **kw: calls.append(
        (ns, pod, container, command, kw["tty"])) or 5)
    engine: KubernetesEngine = make_engine(apiserver)
    assert engine.attach("default", "mnist") == 5
    assert engine.attach("default", "mnist", instance="worker-1", container="side", command=["ls", "-l"]) == 5
    assert calls == [("default", "mnist-master-0", "main", ["sh"], False),
                     ("default", "mnist-worker-1", "side", ["ls", "-l"], False)]


# ---------------------------------------------------------------------------------------------------
# whoami and identity

def jwt(claims: dict[str, Any]) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_user_id_is_upstreams_md5() -> None:
    assert identity.user_id("kubecfg:certauth:admin") == hashlib.md5(b"kubecfg:certauth:admin").hexdigest()
    assert len(identity.user_id("system:serviceaccount:ns:sa")) == 32


def test_user_name_in_upstreams_order(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, Any] = {}

    class Api:
        def post_raw(self, path: str, body: Any) -> Any:
            return answers.get(path.rsplit("/", 1)[1])

    assert k8s_whoami.user_name(Api(), {"username": "bob", "password": "x"}) == "kubecfg:basicauth:bob"
    sa = jwt({"sub": "system:serviceaccount:team:trainer"})
    assert k8s_whoami.user_name(Api(), {"token": sa}) == "system:serviceaccount:team:trainer"  # offline fallback
    answers["tokenreviews"] = {"status": {"user": {"username": "alice@corp"}}}
    assert k8s_whoami.user_name(Api(), {"token": sa}) == "alice@corp"
    assert k8s_whoami.user_name(Api(), {"client-certificate": "/no/such.pem"}) == identity.LEGACY_CERT_USER
    answers["selfsubjectreviews"] = {"status": {"userInfo": {"username": "cert-user"}}}
    assert k8s_whoami.user_name(Api(), {"client-certificate": "/no/such.pem"}) == "cert-user"
    with pytest.raises(ArenaError, match="not found user name for the current context"):
        k8s_whoami.user_name(type("NoReview", (), {"post_raw": lambda self, p, b: None})(), {})


def test_whoami_on_a_cluster(arena: Any, make_server: Any, tmp_path: Path) -> None:
    server: FakeApiServer = make_server(token=jwt({"sub": "system:serviceaccount:team:trainer"}))
    server.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "arena-config", "namespace": "ops"},
                "data": {"adminUsers": "root, system:serviceaccount:team:trainer"}})
    server.add({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team", "labels": {"arena.kubeflow.org/isolate-user": "true"}}})
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump(server.kubeconfig()))
    r = arena.run("whoami", "--engine=kubernetes", f"--config={kubeconfig}", "--arena-namespace=ops", "-n", "team",
                  check=True)
    name = "system:serviceaccount:team:trainer"
    assert json.loads(r.stdout) == {"Name": name, "Id": hashlib.md5(name.encode()).hexdigest(),
                                    "IsAdminUser": True, "IsolateUser": True}
    other = arena.run("whoami", "--engine=kubernetes", f"--config={kubeconfig}", "--loglevel=debug", check=True)
    assert (json.loads(other.stdout)["IsAdminUser"], json.loads(other.stdout)["IsolateUser"]) == (False, False)
    # --loglevel debug shows each request (no arena-config in arena-system here), never the credentials
    assert f"DEBU httpx2: HTTP Request: POST {server.url}/apis/authentication.k8s.io/v1/tokenreviews" in other.stderr
    assert "/api/v1/namespaces/arena-system/configmaps/arena-config" in other.stderr
    assert server.token not in other.stderr and "DEBU" not in other.stdout


# ---------------------------------------------------------------------------------------------------
# GPU metrics from Prometheus

def test_gpu_metrics_from_upstreams_exporter_or_dcgm() -> None:
    asked: list[str] = []

    def prometheus(exporter: str) -> Any:
        def query(promql: str) -> list[dict[str, Any]]:
            asked.append(promql)
            if exporter == "gpu-exporter" and promql.startswith("nvidia_gpu_duty_cycle"):
                return [{"metric": {"pod_name": "j-master-0", "minor_number": "1"}, "value": [0, "37.5"]}]
            if exporter == "gpu-exporter" and promql.startswith("nvidia_gpu_memory_used_bytes"):
                return [{"metric": {"pod_name": "j-master-0", "minor_number": "1"}, "value": [0, "1048576"]}]
            if exporter == "gpu-exporter" and promql.startswith("nvidia_gpu_memory_total_bytes"):
                return [{"metric": {"pod_name": "j-master-0", "minor_number": "1"}, "value": [0, "4194304"]}]
            if exporter == "dcgm" and promql.startswith("DCGM_FI_DEV_GPU_UTIL"):
                return [{"metric": {"pod": "j-master-0", "gpu": "0"}, "value": [0, "90"]}]
            if exporter == "dcgm" and promql.startswith("DCGM_FI_DEV_FB_USED{"):
                return [{"metric": {"pod": "j-master-0", "gpu": "0"}, "value": [0, "2"]}]
            return []
        return query

    assert gpumetrics.fetch(prometheus("gpu-exporter"), "team", ["j-master-0"]) == {
        "j-master-0": {"1": GpuMetric(gpuDutyCycle=37.5, usedGPUMemory=1048576.0, totalGPUMemory=4194304.0)}}
    assert asked[0] == 'nvidia_gpu_duty_cycle{namespace_name="team",pod_name=~"j-master-0"}'
    dcgm = gpumetrics.fetch(prometheus("dcgm"), "team", ["j-master-0"])
    assert dcgm["j-master-0"]["0"].gpuDutyCycle == 90.0 and dcgm["j-master-0"]["0"].usedGPUMemory == 2 * 2**20
    assert gpumetrics.fetch(prometheus("none"), "team", ["j-master-0"]) == {}


def test_gpu_metrics_need_a_configured_prometheus() -> None:
    assert gpumetrics.query_for({}, lambda path: None) is None
    paths: list[str] = []
    query = gpumetrics.query_for({"prometheus_service": "monitoring/prom:9090"}, lambda p: paths.append(p) or {})
    assert query is not None and query("up") == []
    assert paths == ["/api/v1/namespaces/monitoring/services/prom:9090/proxy/api/v1/query?query=up"]
    with pytest.raises(ArenaError, match="prometheus_service"):
        gpumetrics.query_for({"prometheus_service": "not a service"}, lambda p: None)


def test_get_g_without_a_reachable_prometheus_is_a_warning(arena: Any, apiserver: FakeApiServer,
                                                           tmp_path: Path) -> None:
    apiserver.add(job_object("pytorchjob", "mnist", status=kubeflow_status()))
    for p in job_pods("pytorchjob", "mnist", workers=2):
        p["status"]["phase"] = "Running"
        apiserver.add(p)
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
    flags = ("--engine=kubernetes", f"--config={kubeconfig}")
    plain = arena.run("get", "mnist", "-g", *flags, check=True)
    assert "GPUs:" in plain.stdout and "N/A" in plain.stdout and plain.stderr == ""
    arena.home.mkdir(parents=True, exist_ok=True)
    (arena.home / "config").write_text("prometheus_url: http://127.0.0.1:1\n")
    down = arena.run("get", "mnist", "-g", *flags, "-o", "json", check=True)
    assert down.stderr.startswith("arena: warning: no GPU metrics: Prometheus at http://127.0.0.1:1")
    assert [i["gpuMetrics"] for i in json.loads(down.stdout)["instances"]] == [{}, {}, {}]


def test_get_g_reads_prometheus(arena: Any, apiserver: FakeApiServer, tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Prometheus(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            promql = parse_qs(urlsplit(self.path).query)["query"][0]
            seen.append(promql)
            value = {"nvidia_gpu_duty_cycle": "37.5", "nvidia_gpu_memory_used_bytes": str(512 * 2**20),
                     "nvidia_gpu_memory_total_bytes": str(1024 * 2**20)}.get(promql.split("{")[0])
            result = [{"metric": {"pod_name": "mnist-master-0", "minor_number": "3"}, "value": [0, value]}] if value \
                else []
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    prom = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    threading.Thread(target=prom.serve_forever, daemon=True).start()
    try:
        apiserver.add(job_object("pytorchjob", "mnist", status=kubeflow_status()))
        for p in job_pods("pytorchjob", "mnist", workers=1):
            p["status"]["phase"] = "Running"
            apiserver.add(p)
        kubeconfig = tmp_path / "kc"
        kubeconfig.write_text(yaml.safe_dump(apiserver.kubeconfig()))
        arena.home.mkdir(parents=True, exist_ok=True)
        (arena.home / "config").write_text(f"prometheus_url: http://127.0.0.1:{prom.server_address[1]}\n")
        flags = ("--engine=kubernetes", f"--config={kubeconfig}")
        text = arena.run("get", "mnist", "-g", *flags, check=True).stdout
        assert "37.5%" in text and "512.0/1024.0(MiB)" in text
        info = json.loads(arena.run("get", "mnist", "-g", *flags, "-o", "json", check=True).stdout)
        master = next(i for i in info["instances"] if i["name"] == "mnist-master-0")
        assert master["gpuMetrics"] == {"3": {"gpuDutyCycle": 37.5, "usedGPUMemory": 512.0 * 2**20,
                                              "totalGPUMemory": 1024.0 * 2**20}}
        top = arena.run("top", "job", "mnist", *flags, check=True).stdout
        assert "37.5%" in top
        assert seen[0] == 'nvidia_gpu_duty_cycle{namespace_name="default",pod_name=~"mnist-master-0|mnist-worker-0"}'
    finally:
        prom.shutdown()
