"""QUEUING vs PENDING from the job's Volcano PodGroup or Kueue Workload: pure table, then the engine."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fake_apiserver import FakeApiServer
from k8s_objects import (
    GANG_UNSCHEDULABLE,
    NO_QUOTA,
    T1,
    T2,
    T3,
    cond,
    event,
    job_object,
    job_pods,
    kubeflow_status,
    podgroup,
    volcano_status,
    workload,
)

from arena.engines.kubernetes import admission, status
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.engines.kubernetes.models import Admitter

KUEUE = {"kueue.x-k8s.io/queue-name": "team-a"}
OWNER = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "mnist", "uid": "u-1"}}


def adm(obj: dict[str, Any]) -> admission.Admission:
    model = msgspec.convert(obj, Admitter)
    return admission.podgroup(model) if obj["kind"] == "PodGroup" else admission.workload(model)


@pytest.mark.parametrize(("obj", "admitted", "phase", "reason"), [
    (podgroup(OWNER, "Pending"), False, "Pending",
     "waiting for Volcano queue default to admit PodGroup mnist (minMember 4)"),
    (podgroup(OWNER, "Pending", cond("Unschedulable", reason="NotEnoughResources", message=GANG_UNSCHEDULABLE)),
     False, "Pending", GANG_UNSCHEDULABLE),
    (podgroup(OWNER, "", queue="team-b", min_member=2), False, "Pending",
     "waiting for Volcano queue team-b to admit PodGroup mnist (minMember 2)"),
    (podgroup(OWNER, "Inqueue"), True, "Inqueue", ""),
    (podgroup(OWNER, "Inqueue", cond("Unschedulable", reason="NotEnoughResources", message=GANG_UNSCHEDULABLE)),
     True, "Inqueue", GANG_UNSCHEDULABLE),
    (podgroup(OWNER, "Running", cond("Scheduled", reason="tasks in gang are ready to be scheduled")),
     True, "Running", ""),
    (workload(OWNER), False, "Pending", "waiting for Kueue admission in queue team-a"),
    (workload(OWNER, cond("QuotaReserved", "False", reason="Pending", message=NO_QUOTA)), False, "Pending", NO_QUOTA),
    (workload(OWNER, cond("QuotaReserved", t=T1)), False, "QuotaReserved",
     "quota reserved in team-a; waiting for admission checks"),
    (workload(OWNER, cond("QuotaReserved", t=T1), cond("Admitted", t=T2)), True, "Admitted", ""),
    (workload(OWNER, cond("QuotaReserved", "False", t=T2), cond("Admitted", "False", t=T2),
              cond("Evicted", t=T3, reason="Preempted", message="Preempted to accommodate a workload (UID: w-9) "
                                                                 "due to prioritization in the ClusterQueue")),
     False, "Evicted", "evicted by Kueue: Preempted to accommodate a workload (UID: w-9) due to prioritization in "
                       "the ClusterQueue"),
    (workload(OWNER, cond("QuotaReserved", t=T1), cond("Admitted", t=T2), cond("Finished", t=T3,
                                                                                 reason="Succeeded",
                                                                                 message="Job finished successfully")),
     True, "Finished", "Job finished successfully"),
], ids=["pg-pending", "pg-unschedulable", "pg-new", "pg-inqueue", "pg-inqueue-gang-waits", "pg-running",
        "wl-new", "wl-no-quota", "wl-checks", "wl-admitted", "wl-evicted", "wl-finished"])
def test_admission_from_recorded_objects(obj: dict[str, Any], admitted: bool, phase: str, reason: str) -> None:
    a = adm(obj)
    assert (a.admitted, a.phase, a.reason) == (admitted, phase, reason)


def test_deactivated_workload_is_not_admitted() -> None:
    obj = workload(OWNER)
    obj["spec"]["active"] = False
    assert adm(obj)[2:5] == (False, "Deactivated", "the Workload is deactivated (spec.active=false)")


def test_index_joins_by_owner_and_an_unadmitted_workload_wins() -> None:
    other = {**OWNER, "metadata": {"name": "other", "uid": "u-2"}}
    pgs = [msgspec.convert(podgroup(OWNER, "Inqueue"), Admitter), msgspec.convert(podgroup(other, "Inqueue"), Admitter)]
    wls = [msgspec.convert(workload(OWNER, cond("QuotaReserved", "False", message=NO_QUOTA)), Admitter),
           msgspec.convert(workload(other, cond("Admitted")), Admitter)]
    found = admission.index(pgs, wls)
    assert (found["u-1"].system, found["u-1"].admitted) == ("kueue", False)
    assert (found["u-2"].system, found["u-2"].phase) == ("volcano", "Inqueue")  # admitted by Kueue: Volcano's word


@pytest.mark.parametrize(("own", "adm_", "expected"), [
    (status.JobStatus("PENDING", "Created"), admission.Admission("volcano", "pg", False, "Pending", "why"),
     status.JobStatus("QUEUING", "Created", "why")),
    (status.JobStatus("QUEUING", "Pending", "guess"), admission.Admission("volcano", "pg", True, "Inqueue", ""),
     status.JobStatus("PENDING", "Pending", "admitted by Volcano (PodGroup Inqueue); waiting for pods")),
    (status.JobStatus("QUEUING", "Suspended", "guess"), admission.Admission("kueue", "wl", True, "Admitted", ""),
     status.JobStatus("PENDING", "Suspended", "admitted by Kueue; waiting for pods")),
    (status.JobStatus("PENDING", "Created", ""), admission.Admission("volcano", "pg", True, "Inqueue", "gang"),
     status.JobStatus("PENDING", "Created", "gang")),
    (status.JobStatus("RUNNING", "Running"), admission.Admission("volcano", "pg", False, "Pending", "why"),
     status.JobStatus("RUNNING", "Running")),
    (status.JobStatus("SUSPENDED", "Suspended", "user"), admission.Admission("kueue", "wl", False, "Pending", "w"),
     status.JobStatus("SUSPENDED", "Suspended", "user")),
], ids=["pods-but-queued", "admitted-no-pods", "kueue-admitted-still-suspended", "admitted-gang-waits",
        "running-untouched", "suspended-untouched"])
def test_with_admission(own: status.JobStatus, adm_: admission.Admission, expected: status.JobStatus) -> None:
    assert status.with_admission(own, adm_) == expected


def test_a_running_job_with_a_pending_pod_does_not_await_admission() -> None:
    st = status.job_status("pytorchjob", kubeflow_status(cond("Created", t=T1), cond("Running", t=T2)),
                           pod_phases=["Running", "Pending"],
                           admission=admission.Admission("volcano", "pg", False, "Pending", "why"))
    assert (st.status, st.phase) == ("PENDING", "Running")
    assert st.reason == "1 of 2 pods are Pending"


# ---- through the engine, against the loopback API server --------------------------------------------
def _gang_job(server: FakeApiServer, name: str, pg_phase: str, *conds: dict[str, Any]) -> dict[str, Any]:
    job = server.add(job_object("pytorchjob", name, status=kubeflow_status(cond("Created"))))
    for p in job_pods("pytorchjob", name, phase="Pending", node=""):
        server.add(p)
    server.add(podgroup(job, pg_phase, *conds))
    return job


def test_list_reads_podgroups_and_workloads_only_while_jobs_wait(apiserver: FakeApiServer,
                                                                 engine: KubernetesEngine) -> None:
    _gang_job(apiserver, "gang-queued", "Pending",
              cond("Unschedulable", reason="NotEnoughResources", message=GANG_UNSCHEDULABLE))
    _gang_job(apiserver, "gang-admitted", "Inqueue")
    vc = apiserver.add(job_object("volcanojob", "vc", status=volcano_status("Pending")))
    apiserver.add(podgroup(vc, "Inqueue"))
    kq = job_object("pytorchjob", "kq", status=kubeflow_status(cond("Created", t=T1), cond("Suspended", t=T2)))
    kq["metadata"]["labels"].update(KUEUE)
    kq["spec"]["runPolicy"]["suspend"] = True
    kq = apiserver.add(kq)
    apiserver.add(workload(kq, cond("QuotaReserved", "False", reason="Pending", message=NO_QUOTA)))
    apiserver.reset_requests()
    jobs = {j.name: j for j in engine.list("default")}
    assert (jobs["gang-queued"].status, jobs["gang-queued"].reason) == ("QUEUING", GANG_UNSCHEDULABLE)
    assert (jobs["gang-admitted"].status, jobs["gang-admitted"].phase) == ("PENDING", "Created")
    assert (jobs["vc"].status, jobs["vc"].reason) == ("PENDING",
                                                      "admitted by Volcano (PodGroup Inqueue); waiting for pods")
    assert (jobs["kq"].status, jobs["kq"].reason) == ("QUEUING", NO_QUOTA)
    paths = [r.path for r in apiserver.api_requests()]
    assert paths.count("/apis/scheduling.volcano.sh/v1beta1/namespaces/default/podgroups") == 1
    assert paths.count("/apis/kueue.x-k8s.io/v1beta2/namespaces/default/workloads") == 1
    assert len(paths) == 5 + 1 + 2 + 1  # a resource per kind + pods + the two admission LISTs + the Namespace


def test_list_of_running_jobs_reads_no_admission_objects(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    job = apiserver.add(job_object("pytorchjob", "r", status=kubeflow_status(cond("Created", t=T1),
                                                                              cond("Running", t=T2))))
    for p in job_pods("pytorchjob", "r"):
        apiserver.add(p)
    apiserver.add(podgroup(job, "Running"))
    apiserver.reset_requests()
    assert [j.status for j in engine.list("default")] == ["RUNNING"]
    assert not apiserver.requests_to(contains="podgroups") and not apiserver.requests_to(contains="workloads")


def test_get_shows_why_a_gang_waits(apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    _gang_job(apiserver, "mnist", "Pending",
              cond("Unschedulable", reason="NotEnoughResources", message=GANG_UNSCHEDULABLE))
    pg = apiserver.objects("podgroups")[0]
    apiserver.add(event(pg, "Unschedulable", "0/2 nodes are unavailable: 2 Insufficient nvidia.com/gpu.",
                        type_="Warning"))
    view = engine.get("default", "mnist")
    assert (view.status, view.phase, view.reason) == ("QUEUING", "Created", GANG_UNSCHEDULABLE)
    assert len(view.instances) == 4
    assert [(e.source, e.reason) for e in view.events] == [("podgroup/mnist", "Unschedulable")]
    assert view.queue == "default"  # no schedulingPolicy queue: the PodGroup's


def test_old_kueue_and_missing_or_forbidden_crds_fall_back(make_server, make_engine) -> None:
    server = make_server(installed=["pytorchjobs", "workloads-v1beta1"])
    kq = job_object("pytorchjob", "kq", status=kubeflow_status(cond("Created", t=T1), cond("Suspended", t=T2)))
    kq["metadata"]["labels"].update(KUEUE)
    kq = server.add(kq)
    server.add(workload(kq, cond("QuotaReserved", t=T1), cond("Admitted", t=T2),
                        api_version="kueue.x-k8s.io/v1beta1"))
    plain = server.add(job_object("pytorchjob", "plain", status=kubeflow_status(cond("Created"))))
    assert plain
    engine = make_engine(server)
    jobs = {j.name: j for j in engine.list("default")}
    assert (jobs["kq"].status, jobs["kq"].reason) == ("PENDING", "admitted by Kueue; waiting for pods")
    # No PodGroup CRD: the pods-based guess stays.
    assert (jobs["plain"].status, jobs["plain"].reason) == \
        ("QUEUING", "waiting for the operator to create pods (queue admission)")

    forbidden = make_server()
    _gang_job(forbidden, "g", "Pending")
    forbidden.forbid("list", "podgroups")
    assert [j.status for j in make_engine(forbidden).list("default")] == ["PENDING"]


def test_get_keeps_podgroup_events_of_a_gang_above_the_event_fanout(apiserver: FakeApiServer,
                                                                    engine: KubernetesEngine) -> None:
    """More pods than EVENT_FANOUT: pod events come from one namespace LIST of Pod events, yet the job's
    and the PodGroup's events are still each LISTed by uid (they say why the gang waits)."""
    job = apiserver.add(job_object("pytorchjob", "big", status=kubeflow_status(cond("Created"))))
    pods = [apiserver.add(p) for p in job_pods("pytorchjob", "big", workers=40, phase="Pending", node="")]
    other = apiserver.add(job_pods("pytorchjob", "other", workers=0)[0])
    pg = apiserver.add(podgroup(job, "Pending", cond("Unschedulable", reason="NotEnoughResources",
                                                     message=GANG_UNSCHEDULABLE), min_member=41))
    apiserver.add(event(pg, "Unschedulable", "0/2 nodes are unavailable", type_="Warning", t=T2))
    apiserver.add(event(job, "SuccessfulCreatePod", "Created pod: big-master-0", t=T1))
    apiserver.add(event(pods[7], "FailedScheduling", "0/2 nodes are available", type_="Warning", t=T3))
    apiserver.add(event(other, "Scheduled", "not ours", t=T3))
    apiserver.reset_requests()
    view = engine.get("default", "big")
    assert (view.status, len(view.instances)) == ("QUEUING", 41)
    assert [(e.source, e.reason) for e in view.events] == [
        ("pytorchjob/big", "SuccessfulCreatePod"), ("podgroup/big", "Unschedulable"),
        ("pod/big-worker-6", "FailedScheduling")]
    selectors = sorted(r.query["fieldSelector"] for r in apiserver.requests_to(contains="/events"))
    assert selectors == sorted([f"involvedObject.uid={job['metadata']['uid']}",
                                f"involvedObject.uid={pg['metadata']['uid']}", "involvedObject.kind=Pod"])


def test_get_takes_volcanos_reason_from_the_podgroup_events_when_it_sets_no_condition(
        apiserver: FakeApiServer, engine: KubernetesEngine) -> None:
    """As the real Volcano v1.14.1 does (tests/cluster): a PodGroup the enqueue action refuses stays Pending
    with no condition; the verdict is an `Unschedulable` event (Normal), followed by the gang's Warning."""
    _gang_job(apiserver, "mnist", "Pending")
    pg = apiserver.objects("podgroups")[0]
    apiserver.add(event(pg, "Unschedulable", "queue resource quota insufficient: insufficient cpu", t=T1))
    apiserver.add(event(pg, "Unschedulable", "0/0 tasks in gang unschedulable: pod group is not ready, 4 minAvailable",
                        type_="Warning", t=T2))
    view = engine.get("default", "mnist")
    assert (view.status, view.reason) == ("QUEUING",
                                          "queue resource quota insufficient: insufficient cpu (Volcano queue default)")
    # `list` reads no events: our own wording stays
    assert engine.list("default")[0].reason == "waiting for Volcano queue default to admit PodGroup mnist (minMember 4)"
    # a condition, when there is one, still wins
    assert admission.with_events(admission.podgroup(msgspec.convert(podgroup(
        OWNER, "Pending", cond("Unschedulable", message=GANG_UNSCHEDULABLE)), Admitter)), [])[4] == GANG_UNSCHEDULABLE
