"""The real `arena serve` command with the Kubernetes engine against the loopback API server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_apiserver import DEFAULT_CRDS
from k8s_objects import pod as make_pod

pytestmark = pytest.mark.e2e


@pytest.fixture
def k8s(arena: Any, make_server: Any, tmp_path: Path) -> tuple[Any, Any]:
    server = make_server((*DEFAULT_CRDS, "inferenceservices"))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(server.kubeconfig("default")))
    arena.env["KUBECONFIG"] = str(kubeconfig)
    arena.env["ARENA_ENGINE"] = "kubernetes"
    return arena, server


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_serve_through_the_cli(k8s: tuple[Any, Any]) -> None:
    a, server = k8s
    for version in ("v1", "v2"):
        r = a.run("serve", "custom", "--name", "web", "--version", version, "--image", "python:3.11",
                  "--restful-port", "8080", "--replicas", "2", "python serve.py")
        assert r.returncode == 0, r.stderr
        assert f"custom-serving/web-{version} created" in r.stdout and "submitted successfully" in r.stderr
    again = a.run("serve", "custom", "--name", "web", "--version", "v1", "--image", "x", "--restful-port", "1", "c")
    assert again.returncode == 2 and "the job web is already exist, please delete it first" in one_line(again.stderr)
    r = a.run("serve", "list", check=True)
    assert r.stdout.split("\n")[0].split() == ["NAME", "TYPE", "VERSION", "DESIRED", "AVAILABLE", "ADDRESS", "PORTS"]
    assert [line.split()[:5] for line in r.stdout.strip().split("\n")[1:]] == \
        [["web", "Custom", "v1", "2", "0"], ["web", "Custom", "v2", "2", "0"]]
    got = a.run("serve", "get", "web", "--version", "v1", check=True).stdout
    assert "Type:       Custom" in got and "Port:       RESTFUL:8080" in got and "Instances:" in got
    bad = a.run("serve", "traffic-split", "--name", "web", "-v", "v1:50", "-v", "v3:50")
    assert bad.returncode == 2
    assert one_line(bad.stderr).endswith("serving job web has no version v3 (versions: v1, v2)")
    none = a.run("serve", "traffic-split", "--name", "web")
    assert none.returncode == 2 and "at least one version:weight is required" in one_line(none.stderr)
    ghost = a.run("serve", "get", "ghost")
    assert ghost.returncode == 1 and "Not found serving job ghost" in one_line(ghost.stderr)
    r = a.run("serve", "traffic-split", "--name", "web", "-v", "v1:75", "-v", "v2:25")
    assert r.returncode == 0, r.stderr
    assert "Succeed to split the traffic for serving job web" in r.stderr and "install Istio" in r.stderr
    views = json.loads(a.run("serve", "list", "-o", "json", check=True).stdout)
    assert [(v["version"], v["desiredInstances"], v["weight"]) for v in views] == [("v1", 3, 75), ("v2", 1, 25)]
    r = a.run("serve", "update", "custom", "--name", "web", "--version", "v2", "--image", "python:3.12")
    assert r.returncode == 0 and "The serving job web with version v2 has been updated successfully" in r.stderr
    r = a.run("serve", "delete", "web", "ghost")
    assert r.returncode == 0, r.stderr
    assert "The serving job web with version v1 has been deleted successfully" in r.stderr
    assert "The serving job 'ghost' does not exist,skip to delete it." in r.stderr
    assert json.loads(a.run("serve", "list", "-o", "json", check=True).stdout) == []
    assert not server.objects("deployments") and not server.objects("services")


def test_serve_logs_reads_the_named_container(k8s: tuple[Any, Any]) -> None:
    """`-c` is passed to the pod log read, as upstream does; a name the pod does not have is one line, exit 2."""
    a, server = k8s
    a.run("serve", "custom", "--name", "web", "--version", "v1", "--image", "python:3.11", "--restful-port", "8080",
          "python serve.py", check=True)
    (dep,) = server.objects("deployments")
    p = make_pod("web-v1-custom-serving-7d9-0", kind="custom-serving", labels=dep["spec"]["template"]["metadata"]
                 ["labels"], container="custom-serving")
    p["spec"]["containers"].append({"name": "istio-proxy", "image": "istio/proxyv2"})
    server.add(p)
    server.logs[("default", p["metadata"]["name"], "custom-serving")] = [(0.0, "serving on 8080")]
    server.logs[("default", p["metadata"]["name"], "istio-proxy")] = [(0.0, "envoy ready")]
    assert a.run("serve", "logs", "web", check=True).stdout == "serving on 8080\n"  # the main container
    assert a.run("serve", "logs", "web", "-c", "istio-proxy", check=True).stdout == "envoy ready\n"
    assert [r.query.get("container") for r in server.requests_to("GET", "/log")] == ["custom-serving", "istio-proxy"]
    ghost = a.run("serve", "logs", "web", "--container", "ghost")
    assert ghost.returncode == 2 and one_line(ghost.stderr).endswith(
        "-c/--container: container ghost is not valid for pod web-v1-custom-serving-7d9-0 (its containers: "
        "custom-serving, istio-proxy)")
    assert len(server.requests_to("GET", "/log")) == 2  # refused before the read
