"""Operator statuses → Arena statuses, for every kind, table-driven (pure; no server)."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest
from k8s_objects import T1, T2, T3, appwrapper_status, cond, kubeflow_status, pod, volcano_status

from arena.engines.kubernetes import jobview, status
from arena.engines.kubernetes.models import Job, Pod, ts

KUEUE = {"kueue.x-k8s.io/queue-name": "team-a"}

# (kind, case, recorded status, labels, spec.suspend, pod phases, expected Arena status, expected native phase)
CASES: list[tuple[str, str, dict[str, Any], dict[str, str], bool, list[str], str, str]] = [
    # PyTorchJob / TFJob / MPIJob: Kubeflow v1 conditions
    ("pytorchjob", "just created, operator silent", {}, {}, False, [], "QUEUING", "Created"),
    ("pytorchjob", "created, no pods (gang waits)", kubeflow_status(cond("Created", t=T1), start=False), {}, False,
     [], "QUEUING", "Created"),
    ("pytorchjob", "created, pods pending", kubeflow_status(cond("Created")), {}, False,
     ["Pending", "Pending"], "PENDING", "Created"),
    ("pytorchjob", "running", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2)), {}, False,
     ["Running", "Running"], "RUNNING", "Running"),
    ("pytorchjob", "running, a worker pending", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2)), {},
     False, ["Running", "Pending"], "PENDING", "Running"),
    ("pytorchjob", "restarting", kubeflow_status(cond("Created", t=T1), cond("Running", "False", T2),
                                                 cond("Restarting", t=T3, reason="PyTorchJobRestarting")), {}, False,
     ["Running", "Pending"], "PENDING", "Restarting"),
    ("pytorchjob", "succeeded", kubeflow_status(cond("Created", t=T1), cond("Running", "False", T2),
                                                cond("Succeeded", t=T3, reason="PyTorchJobSucceeded"), done=True),
     {}, False, ["Succeeded", "Succeeded"], "SUCCEEDED", "Succeeded"),
    ("pytorchjob", "failed", kubeflow_status(cond("Created", t=T1), cond("Running", "False", T2),
                                             cond("Failed", t=T3, reason="PyTorchJobFailed",
                                                  message="PyTorchJob default/x is failed because 1 Master "
                                                          "replica(s) failed.")),
     {}, False, ["Failed"], "FAILED", "Failed"),
    ("pytorchjob", "suspended by Kueue", kubeflow_status(cond("Created", t=T1),
                                                         cond("Suspended", t=T2, reason="JobSuspended")),
     KUEUE, True, [], "QUEUING", "Suspended"),
    ("pytorchjob", "suspended by a user", kubeflow_status(cond("Created", t=T1),
                                                          cond("Suspended", t=T2, reason="JobSuspended")),
     {}, True, [], "SUSPENDED", "Suspended"),
    ("pytorchjob", "runPolicy.suspend before the operator saw it", {}, KUEUE, True, [], "QUEUING", "Suspended"),
    ("tfjob", "running", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2, reason="TFJobRunning")), {},
     False, ["Running", "Running", "Running"], "RUNNING", "Running"),
    ("tfjob", "succeeded (worker 0 done)", kubeflow_status(cond("Running", "False", T2), cond("Succeeded", t=T3),
                                                           done=True),
     {}, False, ["Succeeded", "Running"], "SUCCEEDED", "Succeeded"),
    ("tfjob", "failed", kubeflow_status(cond("Failed", t=T3, message="TFJob x has failed")), {}, False, [],
     "FAILED", "Failed"),
    ("mpijob", "v1 running", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2, reason="MPIJobRunning")),
     {}, False, ["Running", "Running"], "RUNNING", "Running"),
    ("mpijob", "v2beta1 succeeded", kubeflow_status(cond("Created", t=T1), cond("Running", "False", T2),
                                                    cond("Succeeded", t=T3, reason="MPIJobSucceeded"), done=True),
     {}, False, ["Succeeded"], "SUCCEEDED", "Succeeded"),
    ("tfjob", "created, ps and workers pending", kubeflow_status(cond("Created", t=T1)), {}, False,
     ["Pending", "Pending", "Pending"], "PENDING", "Created"),
    ("mpijob", "v2beta1 restarting", kubeflow_status(cond("Created", t=T1), cond("Restarting", t=T2,
                                                                                 reason="MPIJobRestarting")),
     {}, False, ["Pending"], "PENDING", "Restarting"),
    ("mpijob", "v1 failed (launcher exited 1)", kubeflow_status(cond("Created", t=T1), cond("Running", "False", T2),
                                                                cond("Failed", t=T3, reason="MPIJobFailed")),
     {}, False, ["Failed", "Running"], "FAILED", "Failed"),
    ("mpijob", "legacy launcherStatus", {"launcherStatus": "Succeeded"}, {}, False, [], "SUCCEEDED", "Succeeded"),
    ("mpijob", "legacy launcher active", {"launcherStatus": "Active"}, {}, False, ["Running"], "RUNNING", "Active"),
    # Volcano Job: status.state.phase
    ("volcanojob", "pending, no pods (PodGroup not enqueued)", volcano_status("Pending"), {}, False, [],
     "QUEUING", "Pending"),
    ("volcanojob", "pending, pods created", volcano_status("Pending"), {}, False, ["Pending", "Pending"],
     "PENDING", "Pending"),
    ("volcanojob", "legacy Inqueue", volcano_status("Inqueue", "Pending"), {}, False, [], "PENDING", "Inqueue"),
    ("volcanojob", "running", volcano_status("Running", "Pending", running=2), {}, False, ["Running", "Running"],
     "RUNNING", "Running"),
    ("volcanojob", "running, one pod pending", volcano_status("Running", "Pending"), {}, False,
     ["Running", "Pending"], "PENDING", "Running"),
    ("volcanojob", "restarting", volcano_status("Restarting", "Pending", "Running", retry=1), {}, False,
     ["Pending"], "PENDING", "Restarting"),
    ("volcanojob", "completing", volcano_status("Completing", "Pending", "Running"), {}, False, ["Running"],
     "RUNNING", "Completing"),
    ("volcanojob", "completed", volcano_status("Completed", "Pending", "Running"), {}, False, ["Succeeded"],
     "SUCCEEDED", "Completed"),
    ("volcanojob", "failed", volcano_status("Failed", "Pending", "Running", message="max retry reached"), {}, False,
     ["Failed"], "FAILED", "Failed"),
    ("volcanojob", "aborted", volcano_status("Aborted", "Running", "Aborting"), {}, False, [], "FAILED", "Aborted"),
    ("volcanojob", "terminated", volcano_status("Terminated", "Running", "Terminating"), {}, False, [], "FAILED",
     "Terminated"),
    # AppWrapper: status.phase + conditions (pods never override it)
    ("appwrapperjob", "not seen by the controller", appwrapper_status(""), {}, False, [], "QUEUING", "Empty"),
    ("appwrapperjob", "suspended, waiting for Kueue", appwrapper_status("Suspended"), KUEUE, True, [],
     "QUEUING", "Suspended"),
    ("appwrapperjob", "suspended by a user", appwrapper_status("Suspended"), {}, True, [], "SUSPENDED", "Suspended"),
    ("appwrapperjob", "resuming", appwrapper_status("Resuming", cond("QuotaReserved"), cond("ResourcesDeployed")),
     KUEUE, False, [], "PENDING", "Resuming"),
    ("appwrapperjob", "running, pods not ready", appwrapper_status(
        "Running", cond("QuotaReserved"), cond("ResourcesDeployed"), cond("PodsReady", "False", T2,
                                                                          "InsufficientPodsReady")),
     KUEUE, False, ["Running", "Pending"], "PENDING", "Running"),
    ("appwrapperjob", "running, pods ready", appwrapper_status(
        "Running", cond("QuotaReserved"), cond("ResourcesDeployed"), cond("PodsReady", t=T2)),
     KUEUE, False, ["Running", "Pending"], "RUNNING", "Running"),
    ("appwrapperjob", "running, unhealthy within grace", appwrapper_status(
        "Running", cond("PodsReady", t=T2), cond("Unhealthy", t=T3, reason="FoundFailedPods")),
     {}, False, ["Running", "Failed"], "RUNNING", "Running"),
    ("appwrapperjob", "resetting", appwrapper_status("Resetting", cond("Unhealthy", reason="FoundFailedPods"),
                                                     retries=1), {}, False, [], "PENDING", "Resetting"),
    ("appwrapperjob", "succeeded", appwrapper_status("Succeeded", cond("QuotaReserved", "False", T3),
                                                     cond("ResourcesDeployed", t=T3, reason="Succeeded")),
     {}, False, ["Succeeded"], "SUCCEEDED", "Succeeded"),
    ("appwrapperjob", "failed", appwrapper_status("Failed", cond("Unhealthy", t=T3, message="retry limit exceeded"),
                                                  retries=3), {}, False, [], "FAILED", "Failed"),
    ("appwrapperjob", "being deleted", appwrapper_status("Terminating"), {}, False, [], "FAILED", "Terminating"),
]


def recorded(kind: str, case: str) -> dict[str, Any]:
    return next(c[2] for c in CASES if c[0] == kind and c[1] == case)


@pytest.mark.parametrize(("kind", "case", "recorded", "labels", "suspend", "phases", "expected", "native"), CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_status_mapping(kind: str, case: str, recorded: dict, labels: dict, suspend: bool, phases: list[str],
                        expected: str, native: str) -> None:
    got = status.job_status(kind, recorded, labels=labels, suspend=suspend, pod_phases=phases)
    assert (got.status, got.phase) == (expected, native)


def test_every_kind_is_covered() -> None:
    from arena.engines.kubernetes.resources import job_resources

    assert {c[0] for c in CASES} == set(job_resources())
    for kind in job_resources():
        assert {c[6] for c in CASES if c[0] == kind} >= {"PENDING", "RUNNING", "SUCCEEDED", "FAILED"}


def test_reasons_explain_waiting_and_failure() -> None:
    failed = status.job_status("pytorchjob", recorded("pytorchjob", "failed"))
    assert "1 Master replica(s) failed" in failed.reason
    queued = status.job_status("pytorchjob", recorded("pytorchjob", "suspended by Kueue"), labels=KUEUE, suspend=True)
    assert queued.reason == "waiting for Kueue admission in queue team-a"
    unhealthy = status.job_status("appwrapperjob", recorded("appwrapperjob", "running, unhealthy within grace"))
    assert unhealthy.reason.startswith("unhealthy: FoundFailedPods")


def test_times_per_kind() -> None:
    kf = status.job_times("pytorchjob", recorded("pytorchjob", "succeeded"))
    assert (kf.start, kf.finish) == (ts(T1), ts(T3))
    # no completionTime: the Failed transition
    failed = status.job_times("pytorchjob", recorded("pytorchjob", "failed"))
    assert failed.finish == ts(T3)
    vc = status.job_times("volcanojob", recorded("volcanojob", "completed"))
    assert (vc.start, vc.finish) == (ts(T1), ts(T3))
    aw = status.job_times("appwrapperjob", recorded("appwrapperjob", "succeeded"))
    assert aw.finish == ts(T3)


def test_transitions_keep_the_native_history() -> None:
    hist = status.transitions("volcanojob", volcano_status("Completed", "Pending", "Running"))
    assert [p for _, p, _ in hist] == ["Pending", "Running", "Completed"]
    kf = status.transitions("pytorchjob", recorded("pytorchjob", "succeeded"))
    assert [p for _, p, _ in kf] == ["Created", "Running=False", "Succeeded"]


def _job(kind: str, st: dict, annotations: dict | None = None, labels: dict | None = None) -> Job:
    return msgspec.convert({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                            "metadata": {"name": "mnist", "namespace": "default", "uid": "u1", "creationTimestamp": T1,
                                         "labels": labels or {"app": kind, "release": "mnist"},
                                         "annotations": annotations or {}},
                            "spec": {"runPolicy": {"schedulingPolicy": {"queue": "research", "priorityClass": "high"}},
                                     "pytorchReplicaSpecs": {"Master": {"replicas": 1}}},
                            "status": st}, Job)


def test_job_view_gpu_math_and_chief() -> None:
    """requested: the submit-time annotation; allocated: started, unfinished pods only (ARENA §4.2)."""
    pods = [msgspec.convert(p, Pod) for p in (
        pod("mnist-master-0", task="master", gpus=1),
        pod("mnist-worker-0", task="worker", gpus=1),
        pod("mnist-worker-1", task="worker", index=1, gpus=1, phase="Pending", node=None, started=False),
        pod("mnist-worker-2", task="worker", index=2, gpus=1, phase="Succeeded"),
    )]
    job = _job("pytorchjob", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2)),
               annotations={"requestGPUsOfJobOwner": "4"})
    view = jobview.job_view("pytorchjob", job, pods)
    assert (view.requestGPUs, view.allocatedGPUs) == (4, 2)
    assert view.status == "PENDING" and view.phase == "Running"  # a worker is still Pending
    assert view.chiefName == "mnist-master-0" and view.instances[0].chief
    assert (view.queue, view.priority, view.engine) == ("research", "high", "kubernetes")
    no_annotation = jobview.job_view("pytorchjob", _job("pytorchjob", {}), pods)
    assert no_annotation.requestGPUs == 4  # summed from the pods' limits


def test_job_view_chief_rules_per_kind() -> None:
    def names(kind: str, *specs: tuple[str, str, int]) -> str:
        pods = [msgspec.convert(pod(n, kind=kind, task=t, index=i), Pod) for n, t, i in specs]
        return jobview.job_view(kind, _job(kind, {}), pods).chiefName

    assert names("tfjob", ("j-ps-0", "ps", 0), ("j-worker-0", "worker", 0), ("j-chief-0", "chief", 0)) == "j-chief-0"
    assert names("tfjob", ("j-ps-0", "ps", 0), ("j-worker-1", "worker", 1), ("j-worker-0", "worker", 0)) == \
        "j-worker-0"
    assert names("mpijob", ("j-worker-0", "worker", 0), ("j-launcher", "launcher", 0)) == "j-launcher"
    assert names("pytorchjob", ("j-worker-1", "worker", 1), ("j-worker-0", "worker", 0)) == "j-worker-0"
    assert names("volcanojob", ("j-ps-0", "ps", 0), ("j-worker-1", "worker", 1)) == "j-ps-0"
