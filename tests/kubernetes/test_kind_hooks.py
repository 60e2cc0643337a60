"""The Kubernetes hooks of the kind registry: each kind declares its renderer, resources, version choice,
status family and chief rules, and the engine reads them instead of branching on kind names."""
from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from k8s_specs import KINDS, mpi

from arena import kinds
from arena.engines.kubernetes import status
from arena.engines.kubernetes.discovery import CHECKED
from arena.engines.kubernetes.render import RenderOptions, render
from arena.engines.kubernetes.resources import CRDS, job_resources
from arena.spec.job import MPIOptions

ENGINE = Path(__file__).resolve().parents[2] / "src" / "arena" / "engines" / "kubernetes"
KIND_BRANCH = re.compile(r'"(pytorchjob|tfjob|mpijob|volcanojob|appwrapperjob)"|kind (==|!=|in) |isinstance\([^)]*Options')
FAMILIES = {"pytorchjob": status.KUBEFLOW, "tfjob": status.KUBEFLOW, "mpijob": status.KUBEFLOW,
            "volcanojob": status.VOLCANO, "appwrapperjob": status.APPWRAPPER}


def test_the_engine_has_no_branch_on_a_kind_name() -> None:
    hits = [f"{path.relative_to(ENGINE)}:{n}: {line.strip()}" for path in sorted(ENGINE.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if KIND_BRANCH.search(line)]
    assert hits == []


@pytest.mark.parametrize("name", kinds.names())
def test_every_kind_declares_its_kubernetes_hooks(name: str) -> None:
    kind = kinds.get(name)
    assert kind.k8s_created_by and kind.k8s_resources
    assert set(kind.k8s_resources) <= set(CRDS)
    assert {key for alt in kind.k8s_requirements() for key in alt.keys} <= set(CHECKED)
    assert kind.k8s_status() is FAMILIES[name]
    assert kind.k8s_chief_rules()
    assert job_resources()[name] == kind.k8s_resources


@pytest.mark.parametrize("variant", sorted(KINDS))
def test_render_goes_through_the_kinds_hook(variant: str) -> None:
    spec = KINDS[variant]()
    kind = kinds.get(spec.kind)
    manifests = kind.k8s_render(spec, RenderOptions())
    assert manifests == render(spec)
    assert manifests[0]["metadata"]["labels"]["createdBy"] == kind.k8s_created_by
    assert any(manifests[0]["apiVersion"] == CRDS[key].api_version and manifests[0]["kind"] == CRDS[key].kind
               for key in kind.k8s_resources)


def test_mpijob_leaves_its_default_version_to_the_cluster() -> None:
    kind = kinds.get("mpi")
    assert kind.k8s_api_choices(mpi("v1")) == ("mpijobs", "mpijobs-v2beta1", "mpijobs-v1alpha1")
    assert kind.k8s_api_choices(mpi("v2beta1")) == ()  # an explicit v2beta1 is kept
    assert kind.k8s_api_choices(mpi("v1alpha1")) == ()
    moved = kind.k8s_with_api(mpi("v1"), "mpijobs-v2beta1")
    assert moved.options_as(MPIOptions).api_version == "v2beta1"
    assert moved == msgspec.structs.replace(mpi("v1"), options=msgspec.structs.replace(
        mpi("v1").options_as(MPIOptions), api_version="v2beta1"))
    for name in ("pytorchjob", "tfjob", "volcanojob", "appwrapperjob"):
        spec = next(make() for make in KINDS.values() if make().kind == name)
        assert kinds.get(name).k8s_api_choices(spec) == ()
