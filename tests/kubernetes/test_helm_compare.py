"""Upstream's charts rendered by a real `helm`, compared field by field with our `--dry-run`.

For each case, the same command line goes to upstream's model (`upstream_values`: the values its
argsbuilders would set, rendered with `helm template` on the unchanged chart in ../shared/upstream-charts)
and to the real `arena submit KIND ... --dry-run -o yaml --engine kubernetes`. After the normalisation
documented in `chart_diff`, every remaining difference must be listed, with its reason, in
docs/compatibility.md ("Rendering differences from upstream's charts"); a listed difference that no
case shows any more fails too, so the list stays true.

Needs the `helm` binary built by `scripts/cluster` and ../shared; without them the tests skip with one line
(ARENA_CLUSTER_REQUIRED=1 makes a missing helm a failure). `helm template` needs no cluster.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_diff import Difference, allowed, compare
from k8s_validation import SHARED, Validator
from upstream_values import CHARTS, values

ROOT = Path(__file__).resolve().parents[2]
CHARTS_DIR = SHARED / "upstream-charts"
DOC = ROOT / "docs" / "compatibility.md"
NAMESPACE = "default"
USER = "tester"  # ARENA_USER for ours, the Kubernetes user name for upstream's model
CMD = "python train.py"
SERVE_CMD = "python serve.py"


@dataclass(frozen=True)
class Case:
    """One command line for both (`kind`: a job kind, or `serve TYPE`); `ours_only` holds flags of ours that
    pick what upstream has no choice about (MPIJob's API version: upstream writes v1alpha1 only)."""

    id: str
    kind: str
    argv: tuple[str, ...]
    ours_only: tuple[str, ...] = field(default=())


CASES = (
    Case("pytorch-plain", "pytorchjob", ("--name", "up", "--image", "img:1", CMD)),
    Case("pytorch-full", "pytorchjob", (
        "--name", "up", "--image", "img:1", "--workers", "3", "--gpus", "2", "--cpu", "4", "--memory", "8Gi",
        "-e", "A=1", "-e", "B=two", "-l", "team=a", "-a", "note=x", "--selector", "pool=gpu",
        "--toleration", "gpu=true:NoSchedule,Equal", "-d", "data-pvc:/data", "--data-dir", "/mnt/a:/a",
        "--image-pull-policy", "IfNotPresent", "--image-pull-secret", "regcred", "--priority", "high",
        "--scheduler", "sched", "--hostNetwork", "--hostIPC", "--hostPID", "--rdma", "--gang",
        "--clean-task-policy", "All", "--running-timeout", "1h", "--ttl-after-finished", "30m", "--retry", "2",
        "--share-memory", "4Gi", "--nproc-per-node", "2", "--device", "amd.com/gpu=1", "--shell", "bash",
        "--working-dir", "/work", CMD)),
    Case("pytorch-sync-tensorboard", "pytorchjob", (
        "--name", "up", "--image", "img:1", "--workers", "2", "--sync-mode", "git",
        "--sync-source", "https://github.com/x/proj.git", "--tensorboard", "--logdir", "/logs", CMD)),
    Case("tf-ps-chief-evaluator", "tfjob", (
        "--name", "up", "--image", "img:1", "--workers", "2", "--ps", "1", "--chief", "--evaluator",
        "--gpus", "1", "--worker-port", "2222", "--ps-port", "2223", "--chief-port", "2224",
        "--worker-cpu", "2", "--worker-memory", "4Gi", "--ps-cpu", "1", "--ps-memory", "2Gi",
        "--chief-cpu", "1", "--chief-memory", "1Gi", "--evaluator-cpu", "1", "--evaluator-memory", "1Gi",
        "--ps-image", "ps:1", "-e", "A=1", "--selector", "pool=cpu", "--ps-selector", "pool=ps", CMD)),
    Case("tf-standalone", "tfjob", ("--name", "up", "--image", "img:1", "--gpus", "1", CMD)),
    Case("tf-workers-gang", "tfjob", (
        "--name", "up", "--image", "img:1", "--workers", "3", "--gang",
        "--success-policy", "AllWorkers", "--clean-task-policy", "All", "--running-timeout", "2h",
        "--role-sequence", "w,p", CMD)),
    Case("mpi", "mpijob", (
        "--name", "up", "--image", "img:1", "--workers", "2", "--gpus", "1", "--cpu", "2", "--memory", "4Gi",
        "-e", "A=1", "--gang", CMD), ours_only=("--mpi-api-version", "v1alpha1")),
    Case("mpi-gputopology-tensorboard", "mpijob", (
        "--name", "up", "--image", "img:1", "--workers", "2", "--gpus", "2", "--gputopology", "--mounts-on-launcher",
        "--tensorboard", "--logdir", "/logs", "--sync-mode", "rsync", "--sync-source", "host::code", CMD),
         ours_only=("--mpi-api-version", "v1alpha1")),
    Case("volcano-default", "volcanojob", ("--name", "up")),
    Case("volcano-tasks", "volcanojob", (
        "--name", "up", "--task-images", "img:1,img:2", "--task-replicas", "2", "--task-cpu", "1",
        "--task-memory", "1Gi", "--task-port", "3000", "--min-available", "2", "--queue", "q1", "-l", "a=b")),
    Case("appwrapper-pytorch", "appwrapperjob", (
        "--name", "up", "--image", "img:1", "--workers", "2", "--gpus", "1", "-e", "A=1",
        "--kueue-queue", "lq", CMD)),
    Case("appwrapper-volcano", "appwrapperjob", (
        "--name", "up", "--image", "img:1", "--inner-type", "volcano", "--replicas", "2", "--gpus", "1", CMD)),
    # Serving (rendered by render/serving.py): compared here, its differences listed like the jobs'.
    Case("serve-custom", "serve custom", (
        "--name", "sv", "--version", "v1", "--image", "img:1", "--port", "8000", "--restful-port", "8001",
        "--replicas", "2", "--cpu", "1", "--memory", "1Gi", "-e", "A=1", "-l", "team=a", "-d", "models:/models",
        "--selector", "pool=cpu", SERVE_CMD)),
    Case("serve-tensorflow", "serve tensorflow", (
        "--name", "sv", "--version", "v1", "--image", "tensorflow/serving:2.16.1", "--model-name", "mnist",
        "--model-path", "/models/mnist", "--gpus", "1", "-d", "models:/models")),
    Case("serve-triton", "serve triton", (
        "--name", "sv", "--version", "v1", "--image", "nvcr.io/nvidia/tritonserver:24.01-py3",
        "--model-repository", "/models", "--gpus", "1", "-d", "models:/models", "--allow-metrics")),
    Case("serve-kserve", "serve kserve", (
        "--name", "sv", "--model-format", "sklearn", "--storage-uri", "s3://bucket/model", "--cpu", "1",
        "--memory", "1Gi", "--min-replicas", "1", "--max-replicas", "3")),
)


def _helm() -> Path:
    """Where `scripts/cluster` puts the helm binary it builds (it may not be there)."""
    try:
        out = subprocess.run([str(ROOT / "scripts" / "cluster"), "--bin-dir"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "<scripts/cluster --bin-dir failed>"
    return Path(out) / "helm"


@pytest.fixture(scope="module")
def helm() -> Path:
    found = _helm()
    built = os.access(found, os.X_OK)
    if not built or not CHARTS_DIR.is_dir():
        why = (f"helm not built ({found} missing: run scripts/cluster helm)" if not built
               else f"upstream charts not found at {CHARTS_DIR}")
        if os.environ.get("ARENA_CLUSTER_REQUIRED") == "1":
            pytest.fail(f"helm comparison required (ARENA_CLUSTER_REQUIRED=1) but {why}", pytrace=False)
        pytest.skip(why)
    return found


def render_upstream(helm: Path, case: Case, tmp: Path) -> list[dict[str, Any]]:
    """`helm template` on upstream's unchanged chart with the values upstream's argsbuilders would set."""
    release, vals = values(case.kind, list(case.argv), USER)
    file = tmp / f"{case.id}-values.yaml"
    file.write_text(yaml.safe_dump(vals), encoding="utf-8")
    proc = subprocess.run([str(helm), "template", release, str(CHARTS_DIR / CHARTS[case.kind]), "-f", str(file),
                           "--namespace", NAMESPACE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HELM_CACHE_HOME": str(tmp / "helm-cache"),
                               "HELM_CONFIG_HOME": str(tmp / "helm-config"),
                               "HELM_DATA_HOME": str(tmp / "helm-data")})
    assert proc.returncode == 0, f"helm template failed for {case.id}:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_ours(case: Case, tmp: Path) -> list[dict[str, Any]]:
    """The real `arena submit KIND ... --dry-run -o yaml --engine kubernetes`, with no cluster to ask."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "ARENA_ENGINE")}
    env.update(ARENA_HOME=str(tmp / "home"), HOME=str(tmp), ARENA_USER=USER)
    arena = Path(sys.executable).parent / "arena"
    flags, command = (case.argv[:-1], case.argv[-1:]) if case.argv[-1] in (CMD, SERVE_CMD) else (case.argv, ())
    verb = case.kind.split() if case.kind.startswith("serve ") else ["submit", case.kind]
    argv = [str(arena), *verb, *flags, *case.ours_only, "-n", NAMESPACE, "--dry-run", "-o", "yaml",
            "--engine", "kubernetes", *command]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp)
    assert proc.returncode == 0, f"arena submit {case.kind} failed for {case.id}:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@functools.cache
def rendered(helm: Path, case: Case) -> tuple[list[dict[str, Any]], tuple[Difference, ...]]:
    """Our manifests and the case's differences, once per process (the staleness test reuses them)."""
    with tempfile.TemporaryDirectory(prefix="arena-helm-") as tmp:
        ours = render_ours(case, Path(tmp))
        return ours, tuple(compare(render_upstream(helm, case, Path(tmp)), ours, NAMESPACE))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_difference_from_upstreams_chart_is_listed(helm: Path, validator: Validator, case: Case) -> None:
    rows = allowed(DOC)
    ours, diffs = rendered(helm, case)
    # What we print validates against the CRDs, as in the other render tests (MPIJob v1alpha1, upstream's
    # only version, is not among ../shared/crds: test_render_upstream.py checks its fields).
    validator.assert_valid([m for m in ours if m["apiVersion"] != "kubeflow.org/v1alpha1"])
    unlisted = [str(d) for d in diffs if not any(r.covers(d) for r in rows)]
    assert not unlisted, (f"{case.kind} ({case.id}) differs from upstream's chart where docs/compatibility.md "
                          "does not say why:\n" + "\n".join(unlisted))


def test_every_listed_difference_still_occurs(helm: Path) -> None:
    rows = allowed(DOC)
    assert rows, "docs/compatibility.md lists no rendering differences"
    assert len({r.key for r in rows}) == len(rows), "duplicate keys in the rendering differences table"
    seen = [d for c in CASES for d in rendered(helm, c)[1]]
    stale = [r.key for r in rows if not any(r.covers(d) for d in seen)]
    assert not stale, f"listed in docs/compatibility.md but no case shows it any more: {stale}"
