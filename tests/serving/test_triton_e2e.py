"""`arena serve triton` end to end with a real tritonserver: the digits example's model repository served by two
replicas on the local engine, answering KServe v2 requests (REST) through the stable address.

Runs where Arena finds a tritonserver as `arena serve triton` does: `$ARENA_TRITON_PYTHON` (a venv with
nvidia-pytriton, whose wheel ships a CPU tritonserver), `tritonserver` on PATH, or the wheel in this Python.
Skips otherwise, naming what is missing (Arena's own one-line error).
"""
from __future__ import annotations

import http.client
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from arena.errors import ArenaError
from arena.serving import options, types
from serving_helpers import free_port, wait_available

ROOT = Path(__file__).resolve().parents[2]
REQUEST_V2 = json.loads((ROOT / "examples" / "serving" / "digits_v2.json").read_text())


def missing_triton() -> str | None:
    """Why this machine cannot run the test: None when Arena finds a tritonserver that can serve."""
    if importlib.util.find_spec("torch") is None:
        return "needs torch to train the digits model: pip install 'arena-ml[train]'"
    spec = options.spec_from_options("triton", {"name": "probe", "model_repository": "/r"})
    try:
        tools = types.get("triton").find_tools(spec, os.environ.get("PATH"), sys.executable)
    except ArenaError as exc:
        return str(exc)
    if not tools.paths.get("tritonserver"):
        return ("no tritonserver: put it on PATH, or set ARENA_TRITON_PYTHON to a venv's python with "
                "nvidia-pytriton installed (examples/serving/triton/README.md)")
    return None


MISSING = missing_triton()
needs_triton = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))
pytestmark = [pytest.mark.e2e]


def wheel_server() -> tuple[str, str] | None:
    """(the wheel's tritonserver, the Python that runs its models) when Arena found the nvidia-pytriton wheel."""
    if MISSING is not None:
        return None
    spec = options.spec_from_options("triton", {"name": "probe", "model_repository": "/r"})
    paths = types.get("triton").find_tools(spec, os.environ.get("PATH"), sys.executable).paths
    server, python = paths.get("tritonserver"), paths.get("tritonserver-python")
    return (server, python) if server and python else None


def call(host: str, port: int, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    return r.status, (json.loads(data) if data else None)


def servers_of(repository: Path) -> list[psutil.Process]:
    """tritonserver and python backend stub processes serving `repository`."""
    found = []
    for p in psutil.process_iter(["name", "cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["name"] in ("tritonserver", "triton_python_backend_stub") and str(repository) in cmd \
                and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


@pytest.mark.skipif(importlib.util.find_spec("pytriton") is not None, reason="this Python has nvidia-pytriton")
def test_a_python_without_the_wheel_is_refused_in_one_line(arena: Any, tmp_path: Path) -> None:
    arena.env["ARENA_TRITON_PYTHON"] = sys.executable
    before = arena.store_snapshot()
    r = arena.run("serve", "triton", "--name", "tr", "--model-repository", str(tmp_path))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"ARENA_TRITON_PYTHON={sys.executable} has no nvidia-pytriton" in r.stderr
    assert arena.store_snapshot() == before


@pytest.mark.skipif(wheel_server() is None, reason=str(MISSING or "tritonserver is not the nvidia-pytriton wheel's"))
@pytest.mark.skipif(importlib.util.find_spec("numpy") is None or
                    int(importlib.metadata.version("numpy").split(".")[0]) < 2, reason="needs numpy 2 in this Python")
def test_the_wheel_refuses_a_python_with_numpy_2(tmp_path: Path) -> None:
    """The wheel's python backend answers garbage with numpy 2 ("output tensor shape does not match"): its
    launcher refuses such a Python in one line instead of starting."""
    found = wheel_server()
    assert found is not None
    env = {**os.environ, "ARENA_JOB_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "arena.serving.runtimes.triton_server", f"--python={sys.executable}",
                        "--", found[0], f"--model-repository={tmp_path}"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 1 and f"has numpy {importlib.metadata.version('numpy')}" in r.stderr, r.stderr
    assert not (tmp_path / "triton").exists()


@pytest.mark.train
@needs_triton
def test_serve_the_digits_repository_with_tritonserver(arena: Any, tmp_path: Path) -> None:
    models = tmp_path / "models" / "digits"
    subprocess.run([sys.executable, str(ROOT / "examples" / "pytorch" / "ddp_digits.py"), "--epochs", "5",
                    "--save", str(models)], check=True, timeout=300, capture_output=True)
    repository = tmp_path / "models" / "triton"
    subprocess.run([sys.executable, str(ROOT / "examples" / "serving" / "triton" / "export.py"), "--model-dir",
                    str(models), "--repository", str(repository)], check=True, timeout=120, capture_output=True)

    port = free_port()
    arena.run("serve", "triton", "--name", "digits-tr", "--version", "v1", "--replicas", "2",
              "--model-repository", str(repository), "--http-port", str(port), "--grpc-port", str(free_port()),
              check=True)
    job = wait_available(arena, "digits-tr", "v1", 2, timeout=180)
    host = job["ip"]
    assert call(host, port, "GET", "/v2/health/ready")[0] == 200
    status, meta = call(host, port, "GET", "/v2/models/digits")
    assert status == 200 and meta["platform"] == "python"
    for _ in range(20):
        status, answer = call(host, port, "POST", "/v2/models/digits/infer", REQUEST_V2)
        assert status == 200, answer
        assert answer["outputs"][0]["name"] == "output-0" and answer["outputs"][0]["data"] == [0, 1, 2]
    status, answer = call(host, port, "POST", "/v2/models/digits/infer",
                          {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}]})
    assert status == 400 and "unexpected shape for input 'input-0'" in answer["error"]
    assert len(servers_of(repository)) == 4  # two servers, each with its python backend stub

    arena.run("serve", "delete", "digits-tr", check=True)
    deadline = time.monotonic() + 60
    while servers_of(repository):
        assert time.monotonic() < deadline, [p.info["cmdline"] for p in servers_of(repository)]
        time.sleep(0.2)
