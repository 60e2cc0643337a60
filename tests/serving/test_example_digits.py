"""examples/serving end to end: train the PyTorch digits example, serve the saved model with `custom` and with
`kserve`, and query both through their stable addresses as the README's curl lines do."""
from __future__ import annotations

import http.client
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from serving_helpers import free_port, wait_available

pytestmark = [pytest.mark.e2e, pytest.mark.train,
              pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("sklearn") is None,
                                 reason="needs the 'train' extra: pip install 'arena-ml[train]'")]

ROOT = Path(__file__).resolve().parents[2]
REQUEST = json.loads((ROOT / "examples" / "serving" / "digits_v1.json").read_text())
REQUEST_V2 = json.loads((ROOT / "examples" / "serving" / "digits_v2.json").read_text())


def post(host: str, port: int, path: str, body: dict) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, data
    return json.loads(data)  # type: ignore[no-any-return]


def test_train_then_serve_with_custom_and_kserve(arena: Any, tmp_path: Path) -> None:
    models = tmp_path / "models" / "digits"
    arena.run("submit", "pytorchjob", "--name", "digits-train", "--wait",
              f"{sys.executable} examples/pytorch/ddp_digits.py --epochs 5 --save {models}", check=True, timeout=600)
    assert (models / "model.pt").is_file()

    port = free_port()
    arena.run("serve", "custom", "--name", "digits", "--version", "v1", "--replicas", "2", "--restful-port",
              str(port), "--readiness-probe-action", "httpGet", "--readiness-probe-action-option", "path: /healthz",
              f"{sys.executable} examples/serving/digits_server.py --model-dir {models}", check=True)
    job = wait_available(arena, "digits", "v1", 2, timeout=180)
    answers = [post(job["ip"], port, "/predict", REQUEST) for _ in range(6)]
    assert all(a["predictions"] == [0, 1, 2] for a in answers)
    assert len({a["replica"] for a in answers}) == 2

    if importlib.util.find_spec("kserve") is not None:
        ks_port = free_port()
        arena.run("serve", "kserve", "--name", "digits-ks", "--model-format", "pytorch", "--storage-uri",
                  f"file://{models}", "--port", str(ks_port), check=True)
        ks = wait_available(arena, "digits-ks", None, 1, timeout=180)
        host = ks["ip"].removeprefix("http://").rsplit(":", 1)[0]
        assert post(host, ks_port, "/v1/models/digits-ks:predict", REQUEST)["predictions"] == [0, 1, 2]
        v2 = post(host, ks_port, "/v2/models/digits-ks/infer", REQUEST_V2)
        assert v2["outputs"][0]["data"] == [0, 1, 2]
        arena.run("serve", "delete", "digits-ks", check=True)
    arena.run("serve", "delete", "digits", check=True)
