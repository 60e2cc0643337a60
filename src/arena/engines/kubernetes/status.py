"""Operator status → Arena status, per operator family. Pure functions over the CR's `status` mapping.

Each job kind picks its family by returning one of the `StatusMapping`s below from `Kind.k8s_status`
(Kubeflow's conditions, the Volcano Job's phase, the AppWrapper's phase and conditions); the
dispatching functions here look the kind up in the registry and never branch on its name.

Arena statuses: QUEUING (not admitted yet: no pods exist or a queue holds the job), PENDING
(admitted, pods being created, scheduled or restarted), RUNNING, SUCCEEDED, FAILED, and
SUSPENDED (held by a user, not by a queue). The native phase is kept next to it for `get`.

Choices that differ from upstream Arena (ARENA.md §4.1, §9), on purpose:
- Kubeflow jobs (TFJob, PyTorchJob, MPIJob v1/v2beta1): `Suspended=True` is QUEUING when the job
  carries Kueue's queue label (Kueue suspends jobs until it admits them), SUSPENDED otherwise;
  upstream showed PENDING. `Created` with no pod at all is QUEUING: with gang scheduling the
  operator creates pods only once the PodGroup is admitted, so "no pods" means "still queued".
- Volcano Job: `Pending` with no pods is QUEUING (the controller creates pods after the enqueue
  action admits the PodGroup), with pods PENDING; the legacy `Inqueue` phase is PENDING (admitted);
  `Restarting` is PENDING; `Completing` is RUNNING (pods still stopping); Aborting/Aborted/
  Terminating/Terminated are FAILED instead of the raw phase upstream printed, so every status
  is one of Arena's.
- AppWrapper: Empty is QUEUING; Suspended/Suspending are QUEUING under Kueue and SUSPENDED
  otherwise; Resuming/Resetting are PENDING; Running is PENDING until `PodsReady=True` and stays
  RUNNING (with the reason) while `Unhealthy=True` inside its grace period, since the controller
  may still recover it — the fork showed FAILED for a job that was about to be retried.
- Kept from upstream: a RUNNING job with a Pending pod is shown PENDING (`with_pending_pods`),
  except for AppWrapper, whose own PodsReady condition already says it.
- When the job's Volcano PodGroup or Kueue Workload is known (`admission`), it decides between
  QUEUING and PENDING instead of the "no pods yet" guess, and its message becomes the reason
  (`with_admission`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from arena import kinds
from arena.engines.kubernetes.admission import KUEUE, Admission
from arena.engines.kubernetes.labels import LABEL_KUEUE_QUEUE
from arena.engines.kubernetes.models import ts

QUEUING, PENDING, RUNNING, SUCCEEDED, FAILED, SUSPENDED = (
    "QUEUING", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SUSPENDED")


class JobStatus(NamedTuple):
    status: str  # Arena's
    phase: str  # the operator's own word for it
    reason: str = ""


class Times(NamedTuple):
    start: float | None
    finish: float | None


# ---- conditions --------------------------------------------------------------------------
def conditions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`status.conditions` oldest first (stable for equal or missing times)."""
    conds = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    return sorted(conds, key=lambda c: ts(c.get("lastTransitionTime")) or 0.0)


def _true(conds: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in conds if c.get("status") == "True"}


def _message(cond: Mapping[str, Any] | None) -> str:
    if not cond:
        return ""
    return str(cond.get("message") or cond.get("reason") or "")


# ---- Kubeflow: TFJob, PyTorchJob, MPIJob v1 and v2beta1 ----------------------------------
_KUBEFLOW_LAUNCHER = {"Succeeded": SUCCEEDED, "Failed": FAILED, "Active": RUNNING}


def kubeflow(status: Mapping[str, Any], *, labels: Mapping[str, str] | None = None, suspend: bool = False,
             pod_count: int = 0) -> JobStatus:
    conds = conditions(status)
    true = _true(conds)
    phase = next((c["type"] for c in reversed(conds) if c.get("status") == "True"), "")
    queue = (labels or {}).get(LABEL_KUEUE_QUEUE)
    if "Succeeded" in true:
        return JobStatus(SUCCEEDED, "Succeeded", _message(true["Succeeded"]))
    if "Failed" in true:
        return JobStatus(FAILED, "Failed", _message(true["Failed"]))
    if "Suspended" in true or (suspend and "Running" not in true):
        why = _message(true.get("Suspended")) or "suspended"
        if queue:
            return JobStatus(QUEUING, phase or "Suspended", f"waiting for Kueue admission in queue {queue}")
        return JobStatus(SUSPENDED, phase or "Suspended", why)
    if "Running" in true:
        return JobStatus(RUNNING, "Running", "")
    if "Restarting" in true:
        return JobStatus(PENDING, "Restarting", _message(true["Restarting"]))
    legacy = status.get("launcherStatus")  # the old Aliyun mpi-operator (v1alpha1) has no conditions
    if not conds and legacy:
        return JobStatus(_KUBEFLOW_LAUNCHER.get(legacy, PENDING), str(legacy), "")
    if pod_count == 0:
        return JobStatus(QUEUING, phase or "Created", "waiting for the operator to create pods (queue admission)")
    return JobStatus(PENDING, phase or "Created", "")


def kubeflow_times(status: Mapping[str, Any]) -> Times:
    finish = ts(status.get("completionTime"))
    if finish is None:
        done = _true(conditions(status))
        end = done.get("Succeeded") or done.get("Failed")
        finish = ts(end.get("lastTransitionTime")) if end else None
    return Times(ts(status.get("startTime")), finish)


# ---- Volcano Job ---------------------------------------------------------------------------
_VOLCANO = {
    "Inqueue": PENDING, "Running": RUNNING, "Restarting": PENDING, "Completing": RUNNING,
    "Completed": SUCCEEDED, "Failed": FAILED, "Aborting": FAILED, "Aborted": FAILED,
    "Terminating": FAILED, "Terminated": FAILED,
}
_VOLCANO_TERMINAL = ("Completed", "Failed", "Aborted", "Terminated")


def volcano(status: Mapping[str, Any], *, labels: Mapping[str, str] | None = None, suspend: bool = False,
            pod_count: int = 0) -> JobStatus:
    """`labels` and `suspend` are not read: a Volcano Job is not suspended by Kueue (it is wrapped)."""
    state = status.get("state") or {}
    phase = str(state.get("phase") or "")
    reason = str(state.get("message") or state.get("reason") or "")
    if phase in ("", "Pending"):
        if pod_count == 0:
            return JobStatus(QUEUING, phase or "Pending", reason or "waiting for the queue to admit the PodGroup")
        return JobStatus(PENDING, phase or "Pending", reason)
    return JobStatus(_VOLCANO.get(phase, PENDING), phase, reason)


def volcano_times(status: Mapping[str, Any]) -> Times:
    start = next((ts(c.get("lastTransitionTime")) for c in status.get("conditions") or []
                  if isinstance(c, dict) and c.get("status") == "Running"), None)
    state = status.get("state") or {}
    finish = ts(state.get("lastTransitionTime")) if state.get("phase") in _VOLCANO_TERMINAL else None
    return Times(start, finish)


# ---- AppWrapper ----------------------------------------------------------------------------
def appwrapper(status: Mapping[str, Any], *, labels: Mapping[str, str] | None = None, suspend: bool = False,
               pod_count: int = 0) -> JobStatus:
    """The phase decides; `suspend` and `pod_count` are not read (the AppWrapper's conditions say both)."""
    phase = str(status.get("phase") or "")
    conds = {c.get("type", ""): c for c in conditions(status)}
    queue = (labels or {}).get(LABEL_KUEUE_QUEUE)
    unhealthy = conds.get("Unhealthy") if conds.get("Unhealthy", {}).get("status") == "True" else None
    if phase == "":
        return JobStatus(QUEUING, "Empty", "waiting for the AppWrapper controller")
    if phase in ("Suspended", "Suspending"):
        if queue:
            return JobStatus(QUEUING, phase, f"waiting for Kueue admission in queue {queue}")
        return JobStatus(SUSPENDED, phase, _message(conds.get("QuotaReserved")) or "spec.suspend is true")
    if phase == "Resuming":
        return JobStatus(PENDING, phase, "creating the wrapped resources")
    if phase == "Resetting":
        retries = status.get("resettingCount", 0)
        return JobStatus(PENDING, phase, f"retry {retries}: {_message(unhealthy)}".rstrip(": "))
    if phase == "Running":
        if unhealthy:
            return JobStatus(RUNNING, phase, f"unhealthy: {_message(unhealthy)}")
        ready = conds.get("PodsReady")
        if ready is not None and ready.get("status") != "True":
            return JobStatus(PENDING, phase, _message(ready) or "waiting for pods to be ready")
        return JobStatus(RUNNING, phase, "")
    if phase == "Succeeded":
        return JobStatus(SUCCEEDED, phase, "")
    if phase == "Failed":
        return JobStatus(FAILED, phase, _message(unhealthy) or _message(conds.get("ResourcesDeployed")))
    if phase == "Terminating":
        return JobStatus(FAILED, phase, "the AppWrapper is being deleted")
    return JobStatus(PENDING, phase, "")


def appwrapper_times(status: Mapping[str, Any]) -> Times:
    conds = conditions(status)
    deployed = [ts(c.get("lastTransitionTime")) for c in conds
                if c.get("type") in ("ResourcesDeployed", "PodsReady") and c.get("status") == "True"]
    start = min((t for t in deployed if t is not None), default=None)
    finish = None
    if status.get("phase") in ("Succeeded", "Failed"):
        finish = max((t for t in (ts(c.get("lastTransitionTime")) for c in conds) if t is not None), default=None)
    return Times(start, finish)


# ---- history ---------------------------------------------------------------------------------
def condition_transitions(status: Mapping[str, Any]) -> list[tuple[float, str, str]]:
    """Kubeflow and AppWrapper: each condition as `Type` (True) or `Type=Status`, oldest first."""
    out: list[tuple[float, str, str]] = []
    for c in conditions(status):
        t = ts(c.get("lastTransitionTime"))
        if t is None:
            continue
        name = c.get("type", "") if c.get("status") == "True" else f"{c.get('type', '')}={c.get('status', '')}"
        out.append((t, name, str(c.get("reason") or "")))
    return out


def volcano_transitions(status: Mapping[str, Any]) -> list[tuple[float, str, str]]:
    """Volcano Job: its conditions are phases (`status` holds the phase name), oldest first."""
    out: list[tuple[float, str, str]] = []
    for c in status.get("conditions") or []:
        t = ts(c.get("lastTransitionTime")) if isinstance(c, dict) else None
        if t is not None:
            out.append((t, str(c.get("status", "")), str(c.get("reason") or c.get("message") or "")))
    return sorted(out, key=lambda x: x[0])


# ---- families ----------------------------------------------------------------------------------
class StatusMapping(NamedTuple):
    """How one operator family's job object reads back; a kind names its family in `Kind.k8s_status`.

    own: the object's own status (`kubeflow`, `volcano`, `appwrapper` above), before pods or queue;
    restarts_field: the status field counting the job's restarts; "" sums the pods' container restarts;
    pending_pods: upstream's override (RUNNING shown PENDING while a pod is Pending) applies; off where the
      object's own condition already says whether its pods are ready;
    own_queue: the job names its Volcano queue in `spec.queue` ("default" when unset);
    podgroup: the job may be gang-scheduled through a Volcano PodGroup it owns (read to explain a wait).
    """

    own: Callable[..., JobStatus]
    times: Callable[[Mapping[str, Any]], Times]
    transitions: Callable[[Mapping[str, Any]], list[tuple[float, str, str]]]
    restarts_field: str = ""
    pending_pods: bool = True
    own_queue: bool = False
    podgroup: bool = True


KUBEFLOW = StatusMapping(kubeflow, kubeflow_times, condition_transitions)
VOLCANO = StatusMapping(volcano, volcano_times, volcano_transitions, restarts_field="retryCount", own_queue=True)
APPWRAPPER = StatusMapping(appwrapper, appwrapper_times, condition_transitions, restarts_field="resettingCount",
                           pending_pods=False, podgroup=False)


def mapping(kind: str) -> StatusMapping:
    """The status family of an Arena kind (any accepted spelling), from the registry."""
    return kinds.get(kind).k8s_status()


# ---- dispatch --------------------------------------------------------------------------------
def job_status(kind: str, status: Mapping[str, Any], *, labels: Mapping[str, str] | None = None,
               suspend: bool = False, pod_phases: Sequence[str] = (), admission: Admission | None = None
               ) -> JobStatus:
    """The Arena status of a job of `kind` (an Arena kind), given its pods' phases and its
    PodGroup's or Workload's admission when known."""
    family = mapping(kind)
    result = family.own(status, labels=labels, suspend=suspend, pod_count=len(pod_phases))
    if family.pending_pods:
        result = with_pending_pods(result, pod_phases)
    return with_admission(result, admission) if awaits_admission(result) else result


def own_status(kind: str, status: Mapping[str, Any], *, labels: Mapping[str, str] | None = None,
               suspend: bool = False, pod_count: int = 0) -> JobStatus:
    """What the job object itself says, before its pods or its queue are consulted."""
    return mapping(kind).own(status, labels=labels, suspend=suspend, pod_count=pod_count)


def awaits_admission(result: JobStatus) -> bool:
    """Whether a PodGroup or Workload may still decide: the job has not run, by its own account.

    A running job whose pod is Pending (upstream's override) was admitted long ago.
    """
    return result.status in (QUEUING, PENDING) and result.phase != "Running"


def with_admission(result: JobStatus, admission: Admission | None) -> JobStatus:
    """QUEUING exactly while the PodGroup or Workload is not admitted; the pods-based guess otherwise.

    Only a job that is not yet running is touched: once RUNNING, SUSPENDED or finished, the job's
    own status is the authority.
    """
    if admission is None or result.status not in (QUEUING, PENDING):
        return result
    if not admission.admitted:
        return JobStatus(QUEUING, result.phase, admission.reason)
    if result.status == QUEUING:
        by = "Kueue" if admission.system == KUEUE else f"Volcano (PodGroup {admission.phase})"
        return JobStatus(PENDING, result.phase, admission.reason or f"admitted by {by}; waiting for pods")
    return JobStatus(PENDING, result.phase, result.reason or admission.reason)


def with_pending_pods(result: JobStatus, pod_phases: Sequence[str]) -> JobStatus:
    """Upstream's GetJobRealStatus: RUNNING while some pod is still Pending is shown PENDING."""
    if result.status == RUNNING and "Pending" in pod_phases:
        waiting = sum(1 for p in pod_phases if p == "Pending")
        return JobStatus(PENDING, result.phase, result.reason or f"{waiting} of {len(pod_phases)} pods are Pending")
    return result


def job_times(kind: str, status: Mapping[str, Any]) -> Times:
    return mapping(kind).times(status)


def transitions(kind: str, status: Mapping[str, Any]) -> list[tuple[float, str, str]]:
    """(time, phase/condition, reason) history for `get`, oldest first."""
    return mapping(kind).transitions(status)
