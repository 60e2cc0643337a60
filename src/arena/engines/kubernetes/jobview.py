"""A job CR and its pods → the engine-neutral `JobView` (and events → `Event`). Pure.

GPU math as upstream (ARENA.md §4.2): requested = the `requestGPUsOfJobOwner` annotation Arena
writes at submit time, else the sum of the pods' GPU limits; allocated = GPU limits of pods that
have started and not finished.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from arena import kinds
from arena.engines.kubernetes import pods as podlib
from arena.engines.kubernetes import status as statuslib
from arena.engines.kubernetes.admission import Admission
from arena.engines.kubernetes.labels import ANNOTATION_REQUESTED_GPUS, LABEL_KUEUE_QUEUE
from arena.engines.kubernetes.models import Event as EventModel
from arena.engines.kubernetes.models import Job, Pod, ts
from arena.views import FINISHED, Event, JobView, Transition


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def requested_gpus(job: Job, pods: Sequence[Pod], gpus: Sequence[int] | None = None) -> int:
    value = _int(job.metadata.annotations.get(ANNOTATION_REQUESTED_GPUS))
    if value is None:
        found = (_int(p.metadata.annotations.get(ANNOTATION_REQUESTED_GPUS)) for p in pods)
        value = next((v for v in found if v is not None), None)
    if value is not None:
        return value
    return sum(gpus) if gpus is not None else sum(podlib.gpus(p) for p in pods)


def allocated_gpus(pods: Sequence[Pod], gpus: Sequence[int] | None = None) -> int:
    counts = gpus if gpus is not None else [podlib.gpus(p) for p in pods]
    return sum(g for p, g in zip(pods, counts) if g and podlib.holds_gpus(p))


def suspended(job: Job) -> bool:
    spec = job.spec
    return bool(spec.suspend or (spec.runPolicy and spec.runPolicy.suspend))


def queue(family: statuslib.StatusMapping, job: Job, admission: Admission | None = None) -> str:
    """The Volcano queue or the Kueue LocalQueue that holds the job, `N/A` when none does.

    A gang-scheduled Kubeflow job without a schedulingPolicy queue waits in its PodGroup's.
    """
    labels = job.metadata.labels
    if labels.get(LABEL_KUEUE_QUEUE):
        return labels[LABEL_KUEUE_QUEUE]
    if family.own_queue:
        return job.spec.queue or "default"
    policy = job.spec.runPolicy.schedulingPolicy if job.spec.runPolicy else None
    return (policy.queue if policy else None) or (admission.queue if admission else "") or "N/A"


def priority(job: Job, chief: Pod | None) -> str:
    policy = job.spec.runPolicy.schedulingPolicy if job.spec.runPolicy else None
    return (job.spec.priorityClassName or (policy.priorityClass if policy else None)
            or (chief.spec.priorityClassName if chief else "") or "N/A")


def restarts(family: statuslib.StatusMapping, job: Job, pods: Sequence[Pod]) -> int:
    """The count the job object keeps (Volcano's retryCount, the AppWrapper's resettingCount), else the
    pods' container restarts."""
    if family.restarts_field:
        return int(job.status.get(family.restarts_field) or 0)
    return sum(podlib.restarts(p) for p in pods)


def event(e: EventModel) -> Event:
    when = ts(e.lastTimestamp) or ts(e.eventTime) or ts(e.firstTimestamp) or ts(e.metadata.creationTimestamp) or 0.0
    obj = e.involvedObject
    return Event(ts=when, type=e.type or "Normal", source=f"{obj.kind.lower()}/{obj.name}", reason=e.reason,
                 message=e.message, count=e.count or 1)  # the API server folds repeats into count: `(xN)`


def awaits_admission(view: JobView) -> bool:
    """Whether the job's PodGroup or Workload could change its status (see `status.awaits_admission`)."""
    return statuslib.awaits_admission(statuslib.JobStatus(view.status, view.phase))


def job_status(kind: str, job: Job, pods: Sequence[Pod], admission: Admission | None = None) -> statuslib.JobStatus:
    """The job's status from the object, its pods' phases and (when known) its PodGroup or Workload."""
    return statuslib.job_status(kind, job.status, labels=job.metadata.labels, suspend=suspended(job),
                                pod_phases=[p.status.phase for p in pods], admission=admission)


def needs_admission(kind: str, job: Job, pods: Sequence[Pod]) -> bool:
    """`awaits_admission` without building the whole view: `get` asks before it reads the
    PodGroup or Workload, and only the status decides."""
    return statuslib.awaits_admission(job_status(kind, job, pods))


def job_view(kind: str, job: Job, pods: Sequence[Pod], *, events: Iterable[EventModel] = (),
             spec: dict[str, Any] | None = None, admission: Admission | None = None) -> JobView:
    meta = job.metadata
    declared = kinds.get(kind)
    family = declared.k8s_status()
    st = job_status(kind, job, pods, admission)
    times = family.times(job.status)
    roles = [podlib.role(p) for p in pods]
    gpus = [podlib.gpus(p) for p in pods]
    head = podlib.chief(kind, pods, roles)
    head_name = head.metadata.name if head else ""
    instances = sorted((podlib.instance(p, p.metadata.name == head_name, r, g) for p, r, g in zip(pods, roles, gpus)),
                       key=lambda i: (not i.chief, i.task, i.index, i.name))
    start = times.start
    if start is None:
        started = [i.startTime for i in instances if i.startTime is not None]
        start = min(started) if started else None
    return JobView(
        uuid=meta.uid,
        name=meta.name,
        namespace=meta.namespace,
        kind=declared.name,
        trainer=declared.trainer,
        status=st.status,
        phase=st.phase or "Submitted",
        creationTimestamp=ts(meta.creationTimestamp) or 0.0,
        startTime=start,
        finishTime=times.finish if st.status in FINISHED else None,
        queue=queue(family, job, admission),
        priority=priority(job, head),
        requestGPUs=requested_gpus(job, pods, gpus),
        allocatedGPUs=allocated_gpus(pods, gpus),
        chiefName=head_name,
        reason=st.reason,
        restarts=restarts(family, job, pods),
        engine="kubernetes",
        instances=instances,
        events=sorted((event(e) for e in events), key=lambda e: e.ts),
        transitions=[Transition(t, phase, reason) for t, phase, reason in family.transitions(job.status)],
        spec=spec,
    )
