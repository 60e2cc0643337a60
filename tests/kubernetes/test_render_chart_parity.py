"""Renderer fixes found by comparing our `--dry-run` with upstream's charts through a real helm
(test_helm_compare.py); these hold without helm, and every manifest validates against the CRDs."""
from __future__ import annotations

from typing import Any

from k8s_specs import main_container, templates
from k8s_validation import Validator

from arena import kinds
from arena.engines.kubernetes.render import render
from arena.spec.job import JobSpec


def spec(kind: str, **opts: Any) -> JobSpec:
    return kinds.get(kind).spec_from_options({"name": "up", "image": "img:1", "command": "python train.py", **opts})


def test_tfjob_has_no_backoff_limit_unless_retry_is_given(validator: Validator) -> None:
    # Upstream's TFJob chart sets none; under a limit of 0 the operator fails the job as soon as an
    # OnFailure worker (beside a chief) restarts once.
    plain = render(spec("tfjob", workers=2, chief=True))[0]
    assert "backoffLimit" not in plain["spec"]["runPolicy"]
    assert plain["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicy"] == "OnFailure"
    retried = render(spec("tfjob", workers=2, retry=3))[0]
    assert retried["spec"]["runPolicy"]["backoffLimit"] == 3
    # PyTorchJob keeps upstream's `backoffLimit: --retry`, 0 included.
    assert render(spec("pytorchjob", workers=2))[0]["spec"]["runPolicy"]["backoffLimit"] == 0
    validator.assert_valid([plain, retried])


def test_tfjob_annotations_reach_every_pod(validator: Validator) -> None:
    job = render(spec("tfjob", workers=2, ps=1, role_sequence="w,p"))[0]
    assert job["metadata"]["annotations"]["job-role-sequence"] == "Worker,PS"
    for tpl in templates(job).values():
        assert tpl["metadata"]["annotations"]["job-role-sequence"] == "Worker,PS"
    standalone = render(spec("tfjob"))[0]
    for tpl in templates(standalone).values():
        assert tpl["metadata"]["annotations"]["arena.kubeflow.org/disable-tf-config"] == "true"
    validator.assert_valid([job, standalone])


def test_volcanojob_pods_name_the_scheduler_and_keep_the_images_workdir(validator: Validator) -> None:
    upstream_style = kinds.get("volcanojob").spec_from_options({"name": "vj", "task_images": ["alpine,busybox"]})
    job = render(upstream_style)[0]
    for tpl in templates(job).values():
        assert tpl["spec"]["schedulerName"] == "volcano"
        assert "workingDir" not in main_container(tpl)  # the image's WORKDIR, as upstream
    given = kinds.get("volcanojob").spec_from_options(
        {"name": "vj", "image": "img:1", "command": "python x.py", "working_dir": "/work", "scheduler": "kube-batch"})
    tpl = next(iter(templates(render(given)[0]).values()))
    assert main_container(tpl)["workingDir"] == "/work"
    assert tpl["spec"]["schedulerName"] == "kube-batch"
    validator.assert_valid([job, render(given)[0]])
