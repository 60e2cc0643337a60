"""The `arena` command with --engine kubernetes: --type reaches the engine, -c reaches the log request,
`data list` lists claims, and `--dry-run` prints the API version submit creates."""
from __future__ import annotations

import json
import time

import pytest
import yaml
from fake_apiserver import DEFAULT_CRDS
from k8s_objects import T0, job_object, job_pods, kubeflow_status, volcano_status

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(arena, make_server, tmp_path):
    """A v2beta1-only MPIJob cluster holding a PyTorchJob and a Volcano Job both named `twin`."""
    server = make_server(installed=[c for c in DEFAULT_CRDS if c != "mpijobs"] + ["mpijobs-v2beta1"])
    for obj in (job_object("pytorchjob", "twin", status=kubeflow_status()),
                job_object("volcanojob", "twin", status=volcano_status("Running", "Pending")),
                *job_pods("pytorchjob", "twin", workers=1), *job_pods("volcanojob", "twin", workers=1)):
        server.add(obj)
    server.logs[("default", "twin-task-0")] = [(time.time(), "volcano task")]
    server.logs[("default", "twin-master-0", "main")] = [(time.time(), "torch main")]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(server.kubeconfig()))
    arena.env["KUBECONFIG"] = str(path)
    arena.env["ARENA_ENGINE"] = "kubernetes"
    return arena, server


def test_type_selects_among_jobs_sharing_a_name(cluster) -> None:
    a, server = cluster
    ambiguous = a.run("get", "twin")
    assert ambiguous.returncode == 2 and "--type" in ambiguous.stderr
    assert a.json("get", "twin", "--type", "volcanojob")["kind"] == "volcanojob"
    logs = a.run("logs", "twin", "--type", "vj")
    assert (logs.returncode, logs.stdout) == (0, "volcano task\n"), logs.stderr
    logs = a.run("logs", "twin", "--type", "pytorchjob", "-c", "main")
    assert (logs.returncode, logs.stdout) == (0, "torch main\n"), logs.stderr
    assert server.requests_to("GET", "/log")[-1].query["container"] == "main"
    gone = a.run("delete", "twin", "--type", "volcanojob")
    assert gone.returncode == 0, gone.stderr
    assert server.objects("jobs", "batch.volcano.sh") == [] and len(server.objects("pytorchjobs")) == 1


def test_data_list_shows_the_namespaces_claims(cluster) -> None:
    a, server = cluster
    server.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "imagenet", "namespace": "default", "creationTimestamp": T0,
                             "annotations": {"description": "ImageNet", "owner": "alice"}},
                "spec": {"accessModes": ["ReadWriteMany"], "volumeName": "pv-1"},
                "status": {"phase": "Bound", "capacity": {"storage": "1Ti"}}})
    r = a.run("data", "list")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.split("\n")[0].split() == ["NAME", "ACCESSMODE", "DESCRIPTION", "OWNER", "AGE"]
    assert r.stdout.split("\n")[1].split()[:4] == ["imagenet", "ReadWriteMany", "ImageNet", "alice"]
    refused = a.run("data", "create", "x", "--path", "/data")
    assert refused.returncode == 1 and "not supported by the kubernetes engine" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_dry_run_prints_the_mpijob_version_submit_creates(cluster) -> None:
    a, server = cluster
    argv = ("submit", "mpijob", "--name", "pi", "--image", "mpi:1", "--workers", "2", "mpirun -n 2 pi")
    dry = a.run(*argv, "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)["items"][0]
    assert planned["apiVersion"] == "kubeflow.org/v2beta1"
    created = a.run(*argv)
    assert created.returncode == 0, created.stderr
    post, record = [p.body for p in server.requests_to("POST")]
    assert post == planned
    assert (record["kind"], record["metadata"]["name"]) == ("ConfigMap", "pi-mpijob")  # upstream's record of it
