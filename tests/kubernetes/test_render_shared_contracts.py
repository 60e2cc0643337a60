"""The renderer and the local engine share their contracts: same TF_CONFIG cluster, same names."""
from __future__ import annotations

import pytest
from k8s_specs import env_of, templates, volcano, volcano_tf

from arena.distributed import appwrapper as aw_contract
from arena.distributed import volcano as volcano_contract
from arena.engines.kubernetes.render import render
from arena.spec.common import project_name
from arena.spec.job import AppWrapperOptions, JobSpec, TaskSpec, VolcanoOptions


def test_volcano_auto_tf_config_matches_the_local_contract() -> None:
    """Once Kubernetes expands $(ARENA_TASK_INDEX), each pod's TF_CONFIG is the contract's, byte for byte."""
    spec = volcano_tf()
    job = render(spec)[0]
    endpoints = volcano_contract.cluster_endpoints(spec)
    for task in job["spec"]["tasks"]:
        value = env_of(task["template"])["TF_CONFIG"]
        for index in range(task["replicas"]):
            expanded = value.replace("$(ARENA_TASK_INDEX)", str(index))
            assert expanded == volcano_contract.tf_config(spec, task["name"], index, endpoints)


def test_auto_tf_cluster_leaves_out_evaluator_and_empty_tasks() -> None:
    spec = volcano([TaskSpec(name="worker", replicas=2, command="x"), TaskSpec(name="evaluator", command="x"),
                    TaskSpec(name="ps", replicas=0, command="x"), TaskSpec(name="chief", command="x")],
                   options=VolcanoOptions(tf_config="auto"))
    cluster = volcano_contract.auto_tf_cluster(spec, volcano_contract.cluster_endpoints(spec))
    assert cluster == {"chief": ["vc-job-chief-0.vc-job:2222"],
                       "worker": ["vc-job-worker-0.vc-job:2222", "vc-job-worker-1.vc-job:2222"]}
    assert templates(render(spec)[0])  # renders with the same cluster


def test_options_as_falls_back_to_defaults() -> None:
    spec = JobSpec(kind="volcanojob", name="j")
    assert spec.options_as(VolcanoOptions) == VolcanoOptions()
    other = JobSpec(kind="volcanojob", name="j", options=VolcanoOptions(tf_config="auto"))
    assert other.options_as(AppWrapperOptions) == AppWrapperOptions()
    assert other.options_as(VolcanoOptions).tf_config == "auto"


@pytest.mark.parametrize(("nproc", "expected"), [("8", 8), ("auto", None), (None, None), ("\u0663", None)])
def test_numeric_nproc_is_ascii_digits_only(nproc: str | None, expected: int | None) -> None:
    spec = JobSpec(kind="appwrapperjob", name="j", options=AppWrapperOptions(nproc_per_node=nproc))
    assert aw_contract.numeric_nproc(spec) == expected


def test_project_name_may_be_empty_for_callers_to_default() -> None:
    assert project_name("https://example.com/org/repo.git") == "repo"
    assert project_name("https://example.com/org/.git") == ""
