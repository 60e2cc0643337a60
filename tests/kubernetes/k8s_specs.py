"""JobSpecs for the render tests, built directly (or through the pytorchjob builder).

KINDS: named job variants per kind; COMMON: named job-wide options applied on top of any of
them. The validation matrix renders every (kind variant × common option set).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from arena.spec import pytorchjob
from arena.spec.job import (
    AppWrapperOptions,
    DataDir,
    DataMount,
    JobSpec,
    MPIOptions,
    Policy,
    Resources,
    RunPolicy,
    Scheduling,
    SyncSpec,
    TaskSpec,
    Tensorboard,
    TFOptions,
    VolcanoOptions,
)

GPU = Resources(cpu="2", memory="8Gi", gpus=1)
CPU = Resources(cpu="500m", memory="1Gi")


def pytorch(workers: int = 3, **opts: Any) -> JobSpec:
    base = {"name": "torch-job", "image": "pytorch/pytorch:2.3", "workers": workers, "command": "python train.py",
            "working_dir": "/workspace"}
    return pytorchjob.build(**{**base, **opts})


def tf(*roles: tuple[str, int], **kw: Any) -> JobSpec:
    tasks = [TaskSpec(name=r, replicas=n, command="python mnist.py", resources=GPU if r == "worker" else CPU)
             for r, n in roles]
    return JobSpec(kind="tfjob", name="tf-job", image="tensorflow/tensorflow:2.16.1", tasks=tasks,
                   workers=dict(roles).get("worker", 1), **kw)


def mpi(api: str = "v1", impl: str = "auto", workers: int = 2) -> JobSpec:
    return JobSpec(kind="mpijob", name="mpi-job", image="mpioperator/mpi-pi:openmpi",
                   tasks=[TaskSpec(name="launcher", command="mpirun -n 4 /home/mpiuser/pi", resources=CPU),
                          TaskSpec(name="worker", replicas=workers, resources=GPU)],
                   options=MPIOptions(api_version=api, implementation=impl,  # type: ignore[arg-type]
                                      slots_per_worker=2),
                   run_policy=RunPolicy(clean_pod_policy="All"), workers=workers)


def volcano(tasks: list[TaskSpec] | None = None, **kw: Any) -> JobSpec:
    tasks = tasks or [TaskSpec(name="task", replicas=2, command="echo hi", resources=CPU, port=2222)]
    return JobSpec(kind="volcanojob", name="vc-job", image="busybox:1.36", tasks=tasks, **kw)


def volcano_tf() -> JobSpec:
    return volcano([TaskSpec(name="ps", command="python ps.py", resources=CPU),
                    TaskSpec(name="worker", replicas=3, command="python worker.py", resources=GPU)],
                   options=VolcanoOptions(tf_config="auto"))


def volcano_policies() -> JobSpec:
    return volcano(
        [TaskSpec(name="master", command="python m.py", policies=[Policy(action="CompleteJob", event="TaskCompleted")]),
         TaskSpec(name="worker", replicas=2, command="python w.py", min_available=1, max_retry=5,
                  restart_policy="OnFailure", depends_on=["master"],
                  policies=[Policy(action="RestartTask", exit_code=137), Policy(action="RestartJob", event="PodEvicted",
                                                                                 timeout="30s")])],
        scheduling=Scheduling(queue="team-a", max_retry=4, priority="high",
                              policies=[Policy(action="AbortJob", event="PodFailed")]),
        options=VolcanoOptions(plugins=["env", "svc:--publish-not-ready-addresses=true", "ssh"]))


def appwrapper_pytorch(workers: int = 3, **opts: Any) -> JobSpec:
    tasks = [TaskSpec(name="master", command="python t.py", resources=GPU)]
    if workers > 1:
        tasks.append(TaskSpec(name="worker", replicas=workers - 1, command="python t.py", resources=GPU,
                              restart_policy="OnFailure"))
    return JobSpec(kind="appwrapperjob", name="aw-job", image="pytorch/pytorch:2.3", tasks=tasks, workers=workers,
                   scheduling=Scheduling(kueue_queue="team-a-queue"),
                   options=AppWrapperOptions(inner_type="pytorch", **opts))


def appwrapper_volcano(replicas: int = 4, **opts: Any) -> JobSpec:
    name = opts.pop("task_name", "worker")
    task = TaskSpec(name=name, replicas=replicas, command="torchrun train.py", max_retry=10000,
                    resources=Resources(cpu="10m", devices={"huawei.com/ascend-1980": 16}))
    return JobSpec(kind="appwrapperjob", name="aw-vc", image="ascend/torch:1", tasks=[task], workers=replicas,
                   scheduling=Scheduling(kueue_queue="team-a-queue", min_available=replicas),
                   options=AppWrapperOptions(inner_type="volcano", task_name=name, **opts))


KINDS: dict[str, Callable[[], JobSpec]] = {
    "pytorch-master-only": lambda: pytorch(workers=1),
    "pytorch-workers-nproc": lambda: pytorch(workers=4, gpus=2, nproc_per_node="2", master_port=29500,
                                             running_timeout="1h", ttl_after_finished="10m", clean_task_policy="All"),
    "tf-standalone": lambda: tf(("chief", 1), options=TFOptions(standalone=True)),
    "tf-ps-worker": lambda: tf(("ps", 2), ("worker", 3)),
    "tf-all-roles": lambda: tf(("chief", 1), ("ps", 1), ("worker", 2), ("evaluator", 1),
                               options=TFOptions(success_policy="AllWorkers")),
    "mpi-v1": lambda: mpi("v1"),
    "mpi-v2beta1": lambda: mpi("v2beta1"),
    "mpi-v2beta1-mpich": lambda: mpi("v2beta1", "mpich"),
    "volcano-one-task": lambda: volcano(),
    "volcano-policies": volcano_policies,
    "volcano-tf-config": volcano_tf,
    "volcano-no-plugins": lambda: volcano(options=VolcanoOptions(plugins=[])),
    "aw-pytorch": lambda: appwrapper_pytorch(),
    "aw-pytorch-master-only": lambda: appwrapper_pytorch(workers=1, nproc_per_node="4"),
    "aw-volcano-svc": lambda: appwrapper_volcano(nproc_per_node="8", ring_controller="ascend-1980",
                                                 success_ttl="1h"),
    "aw-volcano-headless": lambda: appwrapper_volcano(use_svc_plugin=False, master_port=29500),
    "aw-volcano-topology": lambda: appwrapper_volcano(task_name="worker1", network_topology_mode="hard",
                                                      highest_tier_allowed=2, total_partitions=2, partition_size=2,
                                                      partition_topology_mode="soft", partition_highest_tier=1),
}

TOLERATIONS = ["all", "gpu", "gpu:NoSchedule", "node.kubernetes.io/unreachable:NoExecute:Exists:60",
               "dedicated=team-a:NoSchedule", "dedicated=team-a:NoExecute:Equal:300", "legacy=v:NoSchedule,Equal"]

COMMON: dict[str, dict[str, Any]] = {
    "plain": {},
    "everything": {
        "labels": {"team": "vision"},
        "annotations": {"example.com/owner": "alice"},
        "env": {"NCCL_DEBUG": "INFO"},
        "sync": SyncSpec(mode="git", source="https://github.com/kubeflow/arena.git", branch="master"),
        "data": [DataMount(name="training-data", path="/data")],
        "data_dirs": [DataDir(host_path="/mnt/cache", mount_path="/cache")],
        "share_memory": "2Gi",
        "tensorboard": Tensorboard(logdir="/training_logs"),
        "image_pull_secrets": ["regcred"],
        "rdma": True, "host_network": True, "host_ipc": True, "host_pid": True,
        "scheduling": {"gang": True, "priority": "high", "scheduler_name": "volcano",
                       "node_selector": {"accelerator": "a100"}, "tolerations": TOLERATIONS},
    },
    "rsync-tensorboard-on-pvc": {
        "sync": SyncSpec(mode="rsync", source="rsync://10.0.0.1/code/", image="alpine/rsync:3"),
        "data": [DataMount(name="logs", path="/logs")],
        "tensorboard": Tensorboard(logdir="/logs/run1", image="tensorflow/tensorflow:2.15.0"),
    },
    "remote-logs": {"tensorboard": Tensorboard(logdir="gs://bucket/logs")},
}


def with_common(spec: JobSpec, name: str) -> JobSpec:
    """`spec` with the COMMON option set `name` applied (scheduling fields merged)."""
    extra = dict(COMMON[name])
    sched = extra.pop("scheduling", None)
    if sched:
        extra["scheduling"] = msgspec.structs.replace(spec.scheduling, **sched)
    return msgspec.structs.replace(spec, **extra)


# ---- reading rendered manifests ----------------------------------------------------------
def templates(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role → pod template of a job object (Kubeflow replica specs, Volcano tasks, AppWrapper inner)."""
    if obj["kind"] == "AppWrapper":
        return templates(obj["spec"]["components"][0]["template"])
    if obj["kind"] == "Job":
        return {t["name"]: t["template"] for t in obj["spec"]["tasks"]}
    specs = next(v for k, v in obj["spec"].items() if k.endswith("ReplicaSpecs"))
    return {role: rs["template"] for role, rs in specs.items()}


def main_container(template: dict[str, Any]) -> dict[str, Any]:
    return template["spec"]["containers"][0]


def env_of(template: dict[str, Any]) -> dict[str, Any]:
    """Env name → literal value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in main_container(template).get("env", [])}
