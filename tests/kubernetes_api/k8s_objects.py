"""Objects as the operators and the kubelet write them: pods, job statuses, nodes, events.

Shapes follow what each controller stores (Kubeflow training operator v1.9, mpi-operator v2beta1,
Volcano v1.15, AppWrapper v1.2, kubelet pod status), so the engine is tested against the JSON a
real cluster returns rather than against its own output.
"""
from __future__ import annotations

import uuid
from typing import Any

T0 = "2026-03-01T10:00:00Z"
T1 = "2026-03-01T10:00:05Z"
T2 = "2026-03-01T10:01:00Z"
T3 = "2026-03-01T10:30:00Z"

OPERATOR = {"pytorchjob": "pytorchjob-controller", "tfjob": "tfjob-controller", "mpijob": "mpijob-controller"}


def cond(type_: str, status: str = "True", t: str = T1, reason: str = "", message: str = "") -> dict[str, Any]:
    out = {"type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": t}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def running_state(t: str = T1) -> dict[str, Any]:
    return {"running": {"startedAt": t}}


def terminated_state(code: int = 0, reason: str | None = None, t: str = T2, signal: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"exitCode": code, "startedAt": T1, "finishedAt": t,
                           "containerID": "containerd://abc"}
    if reason is not None:
        out["reason"] = reason
    if signal:
        out["signal"] = signal
    return {"terminated": out}


def waiting_state(reason: str, message: str = "") -> dict[str, Any]:
    out = {"reason": reason}
    if message:
        out["message"] = message
    return {"waiting": out}


def pod(name: str, *, job: str = "", kind: str = "pytorchjob", task: str = "worker", index: int = 0,
        namespace: str = "default", phase: str = "Running", node: str | None = "node-1", gpus: int = 0,
        started: bool = True, state: dict[str, Any] | None = None, ready: bool | None = None, restarts: int = 0,
        container: str = "pytorch", init: list[tuple[str, dict[str, Any]]] | None = None,
        deleting: bool = False, reason: str = "", created: str = T0, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, cpu: str = "1", memory: str = "1Gi") -> dict[str, Any]:
    """A pod of an Arena job as the operator creates it and the kubelet reports it."""
    job = job or name.rsplit("-", 2)[0]
    lab: dict[str, str] = {"app": kind, "release": job, "createdBy": kind}
    if kind in ("pytorchjob", "tfjob", "mpijob"):
        lab.update({"training.kubeflow.org/job-name": job, "training.kubeflow.org/operator-name": OPERATOR[kind],
                    "training.kubeflow.org/replica-type": task, "training.kubeflow.org/replica-index": str(index)})
        if index == 0 and task in ("master", "chief", "launcher"):
            lab["training.kubeflow.org/job-role"] = "master"
    elif kind in ("volcanojob", "appwrapperjob"):
        lab.update({"volcano.sh/job-name": job, "volcano.sh/task-spec": task, "volcano.sh/task-index": str(index)})
    lab.update(labels or {})
    resources: dict[str, Any] = {"limits": {"cpu": cpu, "memory": memory}, "requests": {"cpu": cpu, "memory": memory}}
    if gpus:
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
    spec: dict[str, Any] = {"containers": [{"name": container, "image": "img", "resources": resources}],
                            "restartPolicy": "Never", "schedulerName": "default-scheduler"}
    if node:
        spec["nodeName"] = node
    if init:
        spec["initContainers"] = [{"name": n, "image": "git-sync"} for n, _ in init]
    if state is None:
        state = {"Running": running_state(), "Succeeded": terminated_state(0, "Completed"),
                 "Failed": terminated_state(1, "Error"), "Pending": waiting_state("ContainerCreating")}[phase]
    is_ready = ready if ready is not None else ("running" in state)
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [cond("PodScheduled", "True" if node else "False", T0),
                       cond("Initialized", "False" if init else "True", T0),
                       cond("Ready", "True" if is_ready else "False", T1)],
        "containerStatuses": [{"name": container, "state": state, "lastState": {}, "ready": is_ready,
                               "restartCount": restarts, "image": "img", "imageID": "", "started": "running" in state}],
        "qosClass": "Guaranteed",
    }
    if reason:
        status["reason"] = reason
    if started and node:
        status["startTime"] = T0
        status["hostIP"] = "10.0.0.1"
        status["podIP"] = f"10.1.0.{index + 2}"
    if init:
        status["initContainerStatuses"] = [{"name": n, "state": s, "ready": "terminated" in s, "restartCount": 0}
                                           for n, s in init]
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "labels": lab,
                            "creationTimestamp": created, "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = T3
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


# ---- recorded job statuses, per kind --------------------------------------------------------------
def kubeflow_status(*conds: dict[str, Any], start: bool = True, done: bool = False,
                    replicas: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"conditions": list(conds), "replicaStatuses": replicas or {}}
    if start:
        out["startTime"] = T1
    if done:
        out["completionTime"] = T3
    return out


def volcano_status(phase: str, *history: str, running: int = 0, pending: int = 0, retry: int = 0,
                   message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"phase": phase, "lastTransitionTime": T3 if phase in ("Completed", "Failed") else T2}
    if message:
        state["message"] = message
    conds = [{"status": p, "lastTransitionTime": t} for p, t in zip((*history, phase), (T0, T1, T2, T3))]
    return {"state": state, "minAvailable": 2, "running": running, "pending": pending, "retryCount": retry,
            "version": 1, "conditions": conds}


def appwrapper_status(phase: str, *conds: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"conditions": list(conds), "resettingCount": retries}
    if phase:
        out["phase"] = phase
    return out


# ---- other objects ---------------------------------------------------------------------------------
def node(name: str, *, gpus: int = 8, allocatable_gpus: int | None = None, cpu: str = "64", memory: str = "256Gi",
         ready: str = "True", roles: tuple[str, ...] = (), unschedulable: bool = False,
         ip: str = "10.0.0.1") -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name, **{f"node-role.kubernetes.io/{r}": "" for r in roles}}
    cap: dict[str, Any] = {"cpu": cpu, "memory": memory, "pods": "110"}
    alloc: dict[str, Any] = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        cap["nvidia.com/gpu"] = str(gpus)
        alloc["nvidia.com/gpu"] = str(gpus if allocatable_gpus is None else allocatable_gpus)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "creationTimestamp": T0},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"capacity": cap, "allocatable": alloc,
                       "addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}],
                       "conditions": [cond("Ready", ready, T0, "KubeletReady")]}}


def event(obj: dict[str, Any], reason: str, message: str, type_: str = "Normal", t: str = T1) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:8]}",
                         "namespace": meta.get("namespace", "default")},
            "involvedObject": {"kind": obj["kind"], "name": meta["name"], "namespace": meta.get("namespace", "default"),
                               "uid": meta["uid"], "apiVersion": obj["apiVersion"]},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": t, "lastTimestamp": t, "source": {"component": "kubelet"}}


# ---- jobs as stored: the rendered manifest plus what the API server and the operator add --------------
ROLES = {"pytorchjob": ("master", "worker"), "tfjob": ("ps", "worker"), "mpijob": ("launcher", "worker"),
         "volcanojob": ("task", "task"), "appwrapperjob": ("worker", "worker")}


def job_spec(kind: str, name: str, namespace: str = "default", workers: int = 3, gpus: int = 1) -> Any:
    from arena.spec.job import AppWrapperOptions, JobSpec, Resources, TaskSpec

    res = Resources(cpu="2", memory="8Gi", gpus=gpus)
    head, rest = ROLES[kind]
    if kind in ("volcanojob", "appwrapperjob"):
        tasks = [TaskSpec(name=head, replicas=workers + 1, command="python train.py", resources=res)]
    else:
        tasks = [TaskSpec(name=head, command="python train.py", resources=res),
                 TaskSpec(name=rest, replicas=workers, command="python train.py", resources=res)]
    opts = AppWrapperOptions(inner_type="volcano", task_name=head) if kind == "appwrapperjob" else None
    return JobSpec(kind=kind, name=name, namespace=namespace, image="registry.example.com/train:1.0", tasks=tasks,
                   workers=workers + 1, options=opts)


def job_object(kind: str, name: str, namespace: str = "default", status: dict[str, Any] | None = None,
               workers: int = 3, gpus: int = 1) -> dict[str, Any]:
    from arena.engines.kubernetes.render import render

    obj = render(job_spec(kind, name, namespace, workers, gpus))[0]
    obj["status"] = status or {}
    return obj


def job_pods(kind: str, name: str, namespace: str = "default", workers: int = 3, gpus: int = 1,
             phase: str = "Running", node: str = "node-1") -> list[dict[str, Any]]:
    head, rest = ROLES[kind]
    out = [pod(f"{name}-{head}-0", job=name, kind=kind, task=head, namespace=namespace, gpus=gpus, phase=phase,
               node=node, container="main")]
    for i in range(workers):
        task, index = (head, i + 1) if head == rest else (rest, i)
        out.append(pod(f"{name}-{task}-{index}", job=name, kind=kind, task=task, index=index, namespace=namespace,
                       gpus=gpus, phase=phase, node=node, container="main"))
    return out


# ---- one submit-ready spec per job resource (the MPIJob in both API versions) ----------------------
def _specs() -> dict[str, Any]:
    from arena.spec.job import AppWrapperOptions, JobSpec, MPIOptions, Resources, Scheduling, TaskSpec

    gpu = Resources(cpu="2", memory="8Gi", gpus=1)
    return {
        "pytorchjob": JobSpec(kind="pytorchjob", name="torch", image="pytorch:2", workers=3,
                              tasks=[TaskSpec(name="master", command="python t.py", resources=gpu),
                                     TaskSpec(name="worker", replicas=2, command="python t.py", resources=gpu)]),
        "tfjob": JobSpec(kind="tfjob", name="tf", image="tf:2", workers=2,
                         tasks=[TaskSpec(name="ps", command="python ps.py"),
                                TaskSpec(name="worker", replicas=2, command="python w.py", resources=gpu)]),
        "mpijob": JobSpec(kind="mpijob", name="mpi", image="mpi:1",
                          tasks=[TaskSpec(name="launcher", command="mpirun -n 2 pi"),
                                 TaskSpec(name="worker", replicas=2, resources=gpu)]),
        "mpijob-v2beta1": JobSpec(kind="mpijob", name="mpi2", image="mpi:1", options=MPIOptions(api_version="v2beta1"),
                                  tasks=[TaskSpec(name="launcher", command="mpirun -n 2 pi"),
                                         TaskSpec(name="worker", replicas=2, resources=gpu)]),
        "volcanojob": JobSpec(kind="volcanojob", name="vc", image="busybox",
                              tasks=[TaskSpec(name="task", replicas=2, command="echo hi")]),
        "appwrapperjob": JobSpec(kind="appwrapperjob", name="aw", image="pytorch:2", workers=2,
                                 scheduling=Scheduling(kueue_queue="team-a"),
                                 options=AppWrapperOptions(inner_type="volcano", use_svc_plugin=False),
                                 tasks=[TaskSpec(name="worker", replicas=2, command="torchrun t.py", resources=gpu)]),
    }


SPECS = _specs()


# ---- admission objects: a Volcano PodGroup, a Kueue Workload (as their controllers write them) --------
def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


GANG_UNSCHEDULABLE = ("3/4 tasks in gang unschedulable: pod group is not ready, 4 Pending, 4 minAvailable; "
                      "Pending: 4 Unschedulable")
NO_QUOTA = ("couldn't assign flavors to pod set master: insufficient unused quota for nvidia.com/gpu in flavor "
            "default-flavor, 3 more needed")


def podgroup(owner: dict[str, Any], phase: str = "Pending", *conds: dict[str, Any], queue: str = "default",
             min_member: int = 4) -> dict[str, Any]:
    meta = owner["metadata"]
    name = meta["name"] if owner["kind"] != "Job" else f"{meta['name']}-{meta['uid']}"
    return {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": meta.get("namespace", "default"),
                         "ownerReferences": [_owner_ref(owner)]},
            "spec": {"minMember": min_member, "queue": queue, "minResources": {"cpu": "4"}},
            "status": {"phase": phase, "conditions": list(conds)}}


def workload(owner: dict[str, Any], *conds: dict[str, Any], queue: str = "team-a",
             api_version: str = "kueue.x-k8s.io/v1beta2") -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": "Workload",
            "metadata": {"name": f"{owner['kind'].lower()}-{meta['name']}-3f9a1", "namespace": meta.get("namespace", "default"),
                         "labels": {"kueue.x-k8s.io/job-uid": meta["uid"]}, "ownerReferences": [_owner_ref(owner)]},
            "spec": {"queueName": queue, "active": True,
                     "podSets": [{"name": "master", "count": 1, "template": {"spec": {"containers": [
                         {"name": "pytorch", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}]},
            "status": {"conditions": list(conds)}}
