"""Pods as Arena shows them: kubectl's STATUS word, GPUs, the chief, and `Instance` views.

Pure functions over `models.Pod`, shared by list, get, logs and top.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from arena.engines.kubernetes.models import ContainerStatus, Pod, ts
from arena.views import Instance

GPU = "nvidia.com/gpu"
GPU_FALLBACK = "alpha.kubernetes.io/nvidia-gpu"
GPU_ALIYUN = "aliyun.com/gpu"
NODE_LOST = "NodeLost"
_INDEX = re.compile(r"-(\d+)$")


# ---- kubectl's STATUS column ---------------------------------------------------------------
def _terminated_word(prefix: str, state_reason: str, exit_code: int, signal: int) -> str:
    if state_reason:
        return prefix + state_reason
    return f"{prefix}Signal:{signal}" if signal else f"{prefix}ExitCode:{exit_code}"


def _init_word(pod: Pod) -> str | None:
    """The Init:… word while init containers have not all finished, else None."""
    total = len(pod.spec.initContainers)
    sidecars = {c.name for c in pod.spec.initContainers if c.restartPolicy == "Always"}
    for i, cs in enumerate(pod.status.initContainerStatuses):
        term, wait = cs.state.terminated, cs.state.waiting
        if term is not None and term.exitCode == 0:
            continue
        if cs.name in sidecars and cs.started:
            continue
        if term is not None:
            return _terminated_word("Init:", term.reason, term.exitCode, term.signal)
        if wait is not None and wait.reason and wait.reason != "PodInitializing":
            return "Init:" + wait.reason
        return f"Init:{i}/{total}"
    return None


def _initialized(pod: Pod) -> bool:
    return any(c.type == "Initialized" and c.status == "True" for c in pod.status.conditions)


def phase_word(pod: Pod) -> str:
    """What `kubectl get pods` prints in STATUS: Init:1/2, CrashLoopBackOff, Completed, OOMKilled,
    ExitCode:3, Terminating, Unknown (node lost)…"""
    st = pod.status
    word = st.reason or st.phase or "Pending"
    if any(c.type == "PodScheduled" and c.reason == "SchedulingGated" for c in st.conditions):
        word = "SchedulingGated"
    init = _init_word(pod)
    if init is not None and not _initialized(pod):
        word = init
    else:
        running = False
        for cs in reversed(st.containerStatuses):
            wait, term = cs.state.waiting, cs.state.terminated
            if wait is not None and wait.reason:
                word = wait.reason
            elif term is not None:
                word = _terminated_word("", term.reason, term.exitCode, term.signal)
            elif cs.ready and cs.state.running is not None:
                running = True
        if word == "Completed" and running:
            ready = any(c.type == "Ready" and c.status == "True" for c in st.conditions)
            word = "Running" if ready else "NotReady"
    if pod.metadata.deletionTimestamp:
        word = "Unknown" if st.reason == NODE_LOST else "Terminating"
    return word


def restarts(pod: Pod) -> int:
    return sum(cs.restartCount for cs in pod.status.containerStatuses)


# ---- GPUs ------------------------------------------------------------------------------------
def _count(value: object) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        return 0


def gpus(pod: Pod) -> int:
    """GPU limits of the pod's containers: nvidia.com/gpu (or the alpha name), plus aliyun.com/gpu."""
    total = 0
    for c in pod.spec.containers:
        limits = c.resources.limits
        if not limits:
            continue
        total += _count(limits.get(GPU, limits.get(GPU_FALLBACK, 0))) + _count(limits.get(GPU_ALIYUN, 0))
    return total


def finished(pod: Pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed") or bool(pod.metadata.deletionTimestamp)


def holds_gpus(pod: Pod) -> bool:
    """Upstream's allocation rule: started (has a startTime) and not finished."""
    return bool(pod.status.startTime) and not finished(pod)


# ---- roles and chief -----------------------------------------------------------------------
def role(pod: Pod) -> tuple[str, int]:
    """(task, index) from the operators' labels, falling back to the <job>-<task>-<i> name."""
    labels = pod.metadata.labels
    task = (labels.get("training.kubeflow.org/replica-type") or labels.get("training.kubeflow.org/job-role")
            or labels.get("volcano.sh/task-spec") or labels.get("pytorch-replica-type")
            or labels.get("mpi_role_type") or "")  # the last: Aliyun's MPIJob v1alpha1 operator
    index = (labels.get("training.kubeflow.org/replica-index") or labels.get("volcano.sh/task-index")
             or pod.metadata.annotations.get("volcano.sh/task-index"))
    name = pod.metadata.name
    if index is None and labels.get("mpi_role_type") == "launcher":
        index = "0"  # a batch Job's pod: <job>-launcher-<random>
    if index is None:
        m = _INDEX.search(name)
        index = m.group(1) if m else "0"
    if not task:
        release = labels.get("release", "")
        middle = name[len(release) + 1:] if release and name.startswith(release + "-") else name
        task = _INDEX.sub("", middle) or "main"
    try:
        return task.lower(), int(index)
    except ValueError:
        return task.lower(), 0


Role = tuple[str, int]
Rule = Callable[[Pod, Role], bool]


# Rules a kind combines into its chief rules (`Kind.k8s_chief_rules`): the first rule that matches
# some pod picks the chief (ARENA.md §4.1).
def is_role(task: str, index: int | None = None) -> Rule:
    """The pod of that task (and index, when given)."""
    def rule(p: Pod, r: Role) -> bool:
        return r[0] == task and (index is None or r[1] == index)
    return rule


def driver(p: Pod, r: Role) -> bool:
    """Pod 0 of the task upstream marks `volcano-role: driver` (a Volcano Job's first task)."""
    return p.metadata.labels.get("volcano-role") == "driver" and r[1] == 0


def first(p: Pod, r: Role) -> bool:
    """Index 0 of any task."""
    return r[1] == 0


def zero_suffix(p: Pod, r: Role) -> bool:
    """A pod named `…-0`, whatever its labels say."""
    return p.metadata.name.endswith("-0")


def chief(kind: str, pods: Sequence[Pod], roles: Sequence[Role] | None = None) -> Pod | None:
    """The chief pod by the kind's rules; of several (a recreated pod), the newest that is not Pending,
    as upstream.

    `roles` are the pods' `role()`, when the caller has them already.
    """
    from arena import kinds

    roles = roles if roles is not None else [role(p) for p in pods]
    for rule in kinds.get(kind).k8s_chief_rules():
        matches = [p for p, r in zip(pods, roles) if rule(p, r)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            newest = sorted(matches, key=lambda p: ts(p.metadata.creationTimestamp) or 0.0, reverse=True)
            return next((p for p in newest if p.status.phase != "Pending"), newest[0])
    return pods[0] if len(pods) == 1 else None


# ---- instances -------------------------------------------------------------------------------
def _main_status(pod: Pod) -> ContainerStatus | None:
    statuses = pod.status.containerStatuses
    return statuses[0] if statuses else None


def instance(pod: Pod, is_chief: bool = False, task_index: Role | None = None, gpu: int | None = None) -> Instance:
    """The Instance view; `task_index` and `gpu` may be passed when already computed."""
    task, index = task_index or role(pod)
    main = _main_status(pod)
    term = main.state.terminated if main else None
    word = phase_word(pod)
    reason = pod.status.message or pod.status.reason
    if main and main.state.waiting and main.state.waiting.message:
        reason = main.state.waiting.message
    return Instance(
        name=pod.metadata.name,
        task=task,
        index=index,
        status=word,
        chief=is_chief,
        requestGPUs=gpus(pod) if gpu is None else gpu,
        node=pod.spec.nodeName or "N/A",
        ip=pod.status.podIP or "",
        nodeIP=pod.status.hostIP or "",
        restarts=restarts(pod),
        exitCode=term.exitCode if term else None,
        startTime=ts(pod.status.startTime),
        finishTime=ts(term.finishedAt) if term else None,
        reason=reason,
    )
