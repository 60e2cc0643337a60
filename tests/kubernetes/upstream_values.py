"""The Helm values upstream Arena would hand its chart for a command line: a model of its argsbuilders.

Upstream's `arena submit KIND` parses its flags into a Go args struct (`pkg/apis/types/submit*.go`),
fills in derived fields (`pkg/argsbuilder/*.go`, `pkg/training/submit_*.go`), marshals the whole struct
to YAML and renders the chart with it, so every field is present, zero or not (`omitempty` ones aside),
under its `yaml:` tag. This module does the same for the subset of flags the comparison cases use, and
refuses any other flag, so a case can never claim a flag the model silently ignores.

Read from kubeflow/arena v0.15.5 (e30882c1) and the AppWrapper fork v0.3.2 (bf220ff4).
"""
from __future__ import annotations

import argparse
import hashlib
import re
from typing import Any

# kind → chart folder under ../shared/upstream-charts/
CHARTS = {
    "pytorchjob": "arena/pytorchjob",
    "tfjob": "arena/tfjob",
    "mpijob": "arena/mpijob",
    "volcanojob": "arena/volcanojob",
    "appwrapperjob": "fork/appwrapperjob",
    "serve custom": "arena/custom-serving",
    "serve tensorflow": "arena/tfserving",
    "serve triton": "arena/triton",
    "serve kserve": "arena/kserve",
}


class Upstream(argparse.ArgumentParser):
    """An argparse parser that raises instead of exiting: an unknown flag is a bug in a case."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(f"upstream_values: {message}")


def _common(p: Upstream) -> None:
    """SubmitArgsBuilder, SubmitSyncCodeArgsBuilder and SubmitTensorboardArgsBuilder flags."""
    p.add_argument("--name", required=True)
    p.add_argument("--image", default="")
    p.add_argument("--gpus", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--retry", type=int, default=0)
    p.add_argument("--working-dir", default="/root")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-d", "--data", action="append", default=[])
    p.add_argument("--data-dir", action="append", default=[])
    p.add_argument("-a", "--annotation", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--device", action="append", default=[])
    p.add_argument("--rdma", action="store_true")
    p.add_argument("--gang", action="store_true")
    p.add_argument("-p", "--priority", default="")
    p.add_argument("--queue", action="store_true")
    p.add_argument("--toleration", action="append", default=[])
    p.add_argument("--selector", action="append", default=[])
    p.add_argument("--image-pull-secret", action="append", default=[])
    p.add_argument("--image-pull-policy", default="Always")
    p.add_argument("--shell", default="sh")
    p.add_argument("--scheduler", default="")
    p.add_argument("--hostNetwork", action="store_true")
    p.add_argument("--hostIPC", action="store_true")
    p.add_argument("--hostPID", action="store_true")
    p.add_argument("--sync-mode", default="")
    p.add_argument("--sync-source", default="")
    p.add_argument("--sync-image", default="")
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--tensorboard-image", default="")
    p.add_argument("--logdir", default="/training_logs")


def _run_policy(p: Upstream, clean: str) -> None:
    p.add_argument("--clean-task-policy", default=clean)
    p.add_argument("--running-timeout", default="0s")
    p.add_argument("--ttl-after-finished", default="0s")


def _serving(p: Upstream, kind: str) -> None:
    """ServingArgsBuilder's flags, then the type's own."""
    p.add_argument("--name", required=True)
    # upstream's default is the submit time (none for kserve): the cases give one
    p.add_argument("--version", required=kind != "serve kserve", default="")
    p.add_argument("--image", default="")
    p.add_argument("--image-pull-policy", default="IfNotPresent")
    p.add_argument("--gpus", type=int, default=0)
    p.add_argument("--cpu", default="")
    p.add_argument("--memory", default="")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-d", "--data", action="append", default=[])
    p.add_argument("-a", "--annotation", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--selector", action="append", default=[])
    p.add_argument("--toleration", action="append", default=[])
    p.add_argument("--shell", default="sh")
    p.add_argument("--model-name", default="")
    p.add_argument("--model-version", default="")
    if kind == "serve custom":
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--restful-port", type=int, default=0)
        p.add_argument("--metrics-port", type=int, default=0)
    if kind == "serve tensorflow":
        p.add_argument("--port", type=int, default=8500)
        p.add_argument("--restful-port", type=int, default=8501)
        p.add_argument("--model-path", default="")
    if kind == "serve kserve":
        p.add_argument("--model-format", default="")
        p.add_argument("--runtime", default="")
        p.add_argument("--storage-uri", default="")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--min-replicas", type=int, default=1)
        p.add_argument("--max-replicas", type=int, default=0)
        p.add_argument("--canary-traffic-percent", type=int, default=-1)
    if kind == "serve triton":
        p.add_argument("--model-repository", default="")
        p.add_argument("--http-port", type=int, default=8000)
        p.add_argument("--grpc-port", type=int, default=8001)
        p.add_argument("--metrics-port", type=int, default=8002)
        p.add_argument("--allow-metrics", action="store_true")
        p.add_argument("--load-model", action="append", default=[])


def _parser(kind: str) -> Upstream:
    p = Upstream(prog=f"arena {kind}" if kind.startswith("serve ") else f"arena submit {kind}",
                 allow_abbrev=False, add_help=False)
    if kind.startswith("serve "):
        _serving(p, kind)
    elif kind == "volcanojob":
        p.add_argument("--name", required=True)
        p.add_argument("--min-available", type=int, default=1)
        p.add_argument("--queue", default="default")
        p.add_argument("--scheduler-name", default="volcano")
        p.add_argument("--task-name", default="task")
        p.add_argument("--task-images", default="ubuntu,nginx,busybox")
        p.add_argument("--task-replicas", type=int, default=1)
        p.add_argument("--task-cpu", default="250m")
        p.add_argument("--task-memory", default="128Mi")
        p.add_argument("--task-port", type=int, default=2222)
        p.add_argument("-a", "--annotation", action="append", default=[])
        p.add_argument("-l", "--label", action="append", default=[])
    else:
        _common(p)
    if kind in ("pytorchjob", "mpijob", "appwrapperjob"):
        p.add_argument("--cpu", default="")
        p.add_argument("--memory", default="")
    if kind in ("pytorchjob", "appwrapperjob", "tfjob"):
        _run_policy(p, "Running")
        p.add_argument("--share-memory", default="2Gi")
    if kind in ("pytorchjob", "appwrapperjob"):
        p.add_argument("--nproc-per-node", default="")
    if kind == "mpijob":
        p.add_argument("--clean-task-policy", default="All")
        p.add_argument("--gputopology", action="store_true")
        p.add_argument("--mounts-on-launcher", action="store_true")
    if kind == "tfjob":
        for role in ("worker", "ps"):
            p.add_argument(f"--{role}-image", default="")
            p.add_argument(f"--{role}-affinity-policy", default="none")
            p.add_argument(f"--{role}-affinity-constraint", default="preferred")
        for role in ("worker", "ps", "chief"):
            p.add_argument(f"--{role}-port", type=int, default=0)
        for role in ("worker", "ps", "chief", "evaluator"):
            for res in ("cpu", "memory"):
                p.add_argument(f"--{role}-{res}", default="")
                p.add_argument(f"--{role}-{res}-limit", default="")
            p.add_argument(f"--{role}-selector", action="append", default=[])
        p.add_argument("--ps", type=int, default=0)
        p.add_argument("--ps-gpus", type=int, default=0)
        p.add_argument("--chief", action="store_true")
        p.add_argument("--evaluator", action="store_true")
        p.add_argument("--success-policy", default="ChiefWorker")
        p.add_argument("--starting-timeout", default="0s")
        p.add_argument("--role-sequence", default="")
    if kind == "appwrapperjob":
        p.add_argument("--kueue-queue", default="")
        p.add_argument("--retry-limit", type=int, default=3)
        p.add_argument("--admission-grace-period", default="1m")
        p.add_argument("--warmup-grace-period", default="5m")
        p.add_argument("--failure-grace-period", default="1m")
        p.add_argument("--retry-pause-period", default="90s")
        p.add_argument("--success-ttl", default="")
        p.add_argument("--inner-type", default="pytorch")
        p.add_argument("--min-available", type=int, default=0)
        p.add_argument("--scheduler-name", dest="scheduler", default="volcano")  # binds --scheduler's field
        p.add_argument("--task-name", default="worker")
        p.add_argument("--max-retry", type=int, default=10000)
        p.add_argument("--replicas", type=int, default=1)
        p.add_argument("--master-port", type=int, default=23456)
    p.add_argument("command", nargs="*")
    return p


def _pairs(items: list[str], sep: str) -> dict[str, str]:
    """Upstream's transformSliceToMap: `k<sep>v` items, others dropped, last one wins."""
    return dict(i.split(sep, 1) for i in items if sep in i)


def _seconds(duration: str) -> int:
    """A Go duration (`1h30m`, `90s`) in whole seconds: what the argsbuilders keep of it."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def _tolerations(items: list[str]) -> list[dict[str, str]]:
    """setTolerations: `all` ends the list; only `key=value:effect,operator` parses; the rest is dropped."""
    out: list[dict[str, str]] = []
    for item in items:
        if item == "all":
            return [*out, {"operator": "Exists"}]
        if "=" in item and ":" in item and "," in item:
            key, rest = item.split("=", 1)
            value, rest = rest.split(":", 1)
            effect, operator = rest.split(",", 1)
            out.append({k: v for k, v in (("key", key), ("value", value), ("operator", operator),
                                          ("effect", effect)) if v})
    return out


def user_id(name: str) -> str:
    """Upstream's user Id: the md5 of the user name."""
    return hashlib.md5(name.encode("utf-8")).hexdigest()


def _common_values(kind: str, o: argparse.Namespace, user: str) -> dict[str, Any]:
    """CommonSubmitArgs + SubmitTensorboardArgs + SubmitSyncCodeArgs after SubmitArgsBuilder.Build."""
    envs = _pairs(o.env, "=")
    envs["workers"], envs["gpus"] = str(o.workers), str(o.gpus)
    annotations = _pairs(o.annotation, "=")
    if o.queue:
        annotations["scheduling.x-k8s.io/suspend"] = "true"
    annotations["arena.kubeflow.org/username"] = user
    annotations["requestGPUsOfJobOwner"] = str(o.workers * o.gpus)
    labels = {**_pairs(o.label, "="), "arena.kubeflow.org/uid": user_id(user)}
    devices = _pairs(o.device, "=")
    if o.gpus == 0 and not labels.get("aliyun.com/gpu-count") and not devices.get("aliyun.com/gpu-mem"):
        envs["NVIDIA_VISIBLE_DEVICES"] = "void"
    dataset = _pairs(o.data, ":")
    values: dict[str, Any] = {
        "trainingType": kind, "nodeSelectors": _pairs(o.selector, "="), "configFiles": {},
        "tolerations": _tolerations(o.toleration), "image": o.image, "imagePullPolicy": o.image_pull_policy,
        "gpuCount": o.gpus, "devices": devices, "envs": envs, "workingDir": o.working_dir, "shell": o.shell,
        "command": " ".join(o.command), "mode": "", "workers": o.workers, "retry": o.retry, "dataset": dataset,
        "dataDirs": [{"hostPath": d.split(":", 1)[0], "containerPath": d.split(":", 1)[-1],
                      "name": f"training-data-{i}"} for i, d in enumerate(o.data_dir)],
        "enableRDMA": o.rdma, "enableQueue": o.queue, "useENI": annotations.get("k8s.aliyun.com/eni") == "true",
        "annotations": annotations, "labels": labels, "isNonRoot": False,  # root: no security context
        "podSecurityContext": {"runAsUser": 0, "runAsNonRoot": False, "runAsGroup": 0, "supplementalGroups": []},
        "priorityClassName": o.priority, "coscheduling": o.gang,
        "podGroupName": f"{kind}-{o.name}" if o.gang else "",
        "podGroupMinAvailable": str(o.workers) if o.gang else "",
        "imagePullSecrets": list(o.image_pull_secret), "enableSpotInstance": False, "maxWaitTime": 0,
        "schedulerName": o.scheduler, "useHostNetwork": o.hostNetwork, "useHostPID": o.hostPID,
        "useHostIPC": o.hostIPC, "modelName": "", "modelSource": "",
        # SubmitTensorboardArgs: a log dir outside every --data mount becomes a random hostPath
        "useTensorboard": o.tensorboard, "trainingLogdir": o.logdir, "hostLogPath": "", "isLocalLogging": False,
        # SubmitSyncCodeArgs
        "syncMode": o.sync_mode, "syncSource": o.sync_source,
    }
    if o.tensorboard_image:
        values["tensorboardImage"] = o.tensorboard_image
    if o.tensorboard and o.logdir.startswith("/") and not any(o.logdir.startswith(p) for p in dataset.values()):
        values["hostLogPath"], values["isLocalLogging"] = "/arena_logs/training<random>", True
    if o.sync_image:
        values["syncImage"] = o.sync_image
    if o.sync_mode == "git":
        values["syncGitProjectName"] = o.sync_source.strip("/").split("/")[-1].split(".git")[0]
    return values


def _run_policy_values(o: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"cleanPodPolicy": o.clean_task_policy}
    if _seconds(o.running_timeout):
        out["activeDeadlineSeconds"] = _seconds(o.running_timeout)
    if _seconds(o.ttl_after_finished):
        out["ttlSecondsAfterFinished"] = _seconds(o.ttl_after_finished)
    return out


def _pytorchjob(o: argparse.Namespace, v: dict[str, Any]) -> None:
    v.update(cpu=o.cpu, memory=o.memory, shareMemory=o.share_memory, **_run_policy_values(o))
    v["trainingOperatorCRD"] = True  # the served PyTorchJob CRD has spec.runPolicy
    if o.rdma:
        v["envs"]["MASTER_ADDR"] = f"{o.name}-master-0"
    if o.nproc_per_node:
        v["nprocPerNode"] = o.nproc_per_node
        v["envs"]["PET_NPROC_PER_NODE"] = o.nproc_per_node
    v["workers"] = o.workers - 1  # SubmitPytorchJob: the master is one of --workers


def _tfjob(o: argparse.Namespace, v: dict[str, Any]) -> None:
    workers, chief = o.workers, o.chief
    if o.ps < 1 and workers == 1:  # standalone
        v["annotations"]["arena.kubeflow.org/disable-tf-config"] = "true"
        chief, workers = True, 0
    v.update(_run_policy_values(o))
    free = "<a free port in 20000-30000>"  # SelectAvailablePortWithDefault: 0 picks one at submit
    v.update(
        workerImage=o.worker_image or o.image, workerPort=(o.worker_port or free) if workers > 0 else o.worker_port,
        psPort=(o.ps_port or free) if o.ps > 0 else o.ps_port, ps=o.ps,
        psImage=(o.ps_image or o.image) if o.ps > 0 else o.ps_image, psGPU=o.ps_gpus,
        successPolicy="" if o.success_policy == "ChiefWorker" else o.success_policy,
        psAffinityPolicy=o.ps_affinity_policy, psAffinityConstraint=o.ps_affinity_constraint,
        workerAffinityPolicy=o.worker_affinity_policy, workerAffinityConstraint=o.worker_affinity_constraint,
        chief=1 if chief else 0, chiefPort=(o.chief_port or free) if chief else o.chief_port,
        evaluator=1 if o.evaluator else 0,
        hasGangScheduler=False, shareMemory=o.share_memory, trainingOperatorCRD=True, port=0, workers=workers,
    )
    for role, key in (("worker", "worker"), ("ps", "ps"), ("chief", "chief"), ("evaluator", "evaluator")):
        for res, tag in (("cpu", "CPU"), ("memory", "Memory")):
            v[f"{key}{tag}"] = getattr(o, f"{role}_{res}")
            v[f"{key}{tag}Limit"] = getattr(o, f"{role}_{res}_limit")
    if chief:
        v["usechief"] = True
    if o.evaluator:
        v["useevaluator"] = True
    if _seconds(o.starting_timeout):
        v["startingDeadlineSeconds"] = _seconds(o.starting_timeout)
    v["tfNodeSelectors"] = {role: _pairs(getattr(o, f"{role.lower()}_selector"), "=") or v["nodeSelectors"]
                            for role in ("PS", "Worker", "Evaluator", "Chief")}
    if o.role_sequence:
        names = {"w": "Worker", "worker": "Worker", "p": "PS", "ps": "PS", "e": "Evaluator",
                 "evaluator": "Evaluator", "c": "Chief", "chief": "Chief"}
        v["annotations"]["job-role-sequence"] = ",".join(names[r.strip().lower()] for r in o.role_sequence.split(","))
    v["annotations"]["requestGPUsOfJobOwner"] = str((v["chief"] + v["evaluator"] + workers) * o.gpus)
    if o.gang:
        v["podGroupMinAvailable"] = str(workers + o.ps + v["chief"] + v["evaluator"])


def _mpijob(o: argparse.Namespace, v: dict[str, Any]) -> None:
    v.update(cpu=o.cpu, memory=o.memory, gputopology=o.gputopology, mountsOnLauncher=o.mounts_on_launcher,
             gputopologyreplica=str(o.workers) if o.gputopology else "", cleanPodPolicy=o.clean_task_policy)


def _appwrapperjob(o: argparse.Namespace, v: dict[str, Any]) -> None:
    v.update(cpu=o.cpu, memory=o.memory, shareMemory=o.share_memory, **_run_policy_values(o))
    optional = {"nprocPerNode": o.nproc_per_node, "kueueQueueName": o.kueue_queue, "retryLimit": o.retry_limit,
                "admissionGracePeriod": o.admission_grace_period, "warmupGracePeriod": o.warmup_grace_period,
                "failureGracePeriod": o.failure_grace_period, "retryPausePeriod": o.retry_pause_period,
                "successTTL": o.success_ttl, "innerJobType": o.inner_type, "minAvailable": o.min_available,
                "taskName": o.task_name, "maxRetry": o.max_retry, "replicas": o.replicas,
                "masterPort": o.master_port}
    v.update({k: val for k, val in optional.items() if val})  # omitempty
    v["useSvcPlugin"] = True  # setSvcPluginOption: always set from the flag (default true)
    if o.inner_type == "volcano":  # syncVolcanoWorkerCount
        v["workers"] = o.replicas
        v["envs"]["workers"] = str(o.replicas)
        if o.gang:
            v["podGroupMinAvailable"] = str(o.replicas)
        v["annotations"]["requestGPUsOfJobOwner"] = str(o.replicas * o.gpus)
    prefix = "workload.codeflare.dev.appwrapper/"
    for key, val in (("retryLimit", str(o.retry_limit) if o.retry_limit > 0 else ""),
                     ("admissionGracePeriodDuration", o.admission_grace_period),
                     ("warmupGracePeriodDuration", o.warmup_grace_period),
                     ("failureGracePeriodDuration", o.failure_grace_period),
                     ("retryPausePeriodDuration", o.retry_pause_period), ("successTTLDuration", o.success_ttl)):
        if val:
            v["annotations"][prefix + key] = val
    if o.rdma and o.inner_type != "volcano":
        v["envs"]["MASTER_ADDR"] = f"{o.name}-master-0"
    if o.nproc_per_node:
        v["envs"]["PET_NPROC_PER_NODE"] = o.nproc_per_node
    if o.inner_type != "volcano" and v["workers"] > 0:  # SubmitAppWrapperJob: the master is one of them
        v["workers"] -= 1


def _volcanojob(o: argparse.Namespace, user: str) -> dict[str, Any]:
    """SubmitVolcanoJobArgs: fields without a yaml tag keep their lower-cased Go name."""
    return {
        "name": o.name, "namespace": "", "trainingtype": "volcanojob", "command": " ".join(o.command),
        "minAvailable": o.min_available, "queue": o.queue, "schedulerName": o.scheduler_name,
        "taskName": o.task_name, "taskImages": o.task_images.split(","), "taskReplicas": o.task_replicas,
        "taskCPU": o.task_cpu, "taskMemory": o.task_memory, "taskPort": o.task_port,
        "annotations": {**_pairs(o.annotation, "="), "arena.kubeflow.org/username": user},
        "labels": {**_pairs(o.label, "="), "arena.kubeflow.org/uid": user_id(user)},
    }


def _serving_values(kind: str, o: argparse.Namespace, user: str) -> dict[str, Any]:
    """CommonServingArgs after ServingArgsBuilder.PreBuild, then the type's fields."""
    envs = _pairs(o.env, "=")
    labels = {**_pairs(o.label, "="), "arena.kubeflow.org/uid": user_id(user)}
    if o.gpus == 0 and not labels.get("aliyun.com/gpu-count"):
        envs["NVIDIA_VISIBLE_DEVICES"] = "void"
    if o.model_name:
        labels["modelName"] = o.model_name
    if o.model_version:
        labels["modelVersion"] = o.model_version
    v: dict[str, Any] = {
        "servingName": o.name, "servingVersion": o.version, "image": o.image, "imagePullPolicy": o.image_pull_policy,
        "gpuCount": o.gpus, "gpuMemory": 0, "gpuCore": 0, "devices": {}, "cpu": o.cpu, "memory": o.memory,
        "envs": envs, "envsFromSecret": {}, "shell": o.shell, "command": " ".join(o.command), "replicas": o.replicas,
        "enableIstio": False, "exposeService": False, "modelDirs": _pairs(o.data, ":"), "dataSubPathExprs": {},
        "tempDirSubPathExprs": {}, "tempDirs": {}, "shareMemory": "", "imagePullSecrets": [], "dataDirs": [],
        "nodeSelectors": _pairs(o.selector, "="), "tolerations": _tolerations(o.toleration), "affinityPolicy": "",
        "affinityConstraint": "", "annotations": {**_pairs(o.annotation, "="), "arena.kubeflow.org/username": user},
        "labels": labels, "configFiles": {}, "modelServiceExists": False, "modelName": o.model_name,
        "modelVersion": o.model_version,
    }
    if kind == "serve custom":
        v.update(port=o.port, restApiPort=o.restful_port, metricsPort=o.metrics_port, maxSurge="", maxUnavailable="")
        for probe in ("liveness", "readiness", "startup"):
            v.update({f"{probe}ProbeAction": "", f"{probe}ProbeActionOption": [], f"{probe}ProbeOption": []})
    if kind == "serve tensorflow":
        v.update(versionPolicy="", modelConfigFile="", monitoringConfigFile="", modelPath=o.model_path, port=o.port,
                 restApiPort=o.restful_port)
    if kind == "serve triton":
        v.update(backend="", modelRepository=o.model_repository, metricsPort=o.metrics_port, httpPort=o.http_port,
                 grpcPort=o.grpc_port, allowMetrics=o.allow_metrics, loadModels=list(o.load_model), extendCommand="")
    if kind == "serve kserve":
        name, _, version = o.model_format.partition(":")
        v.update(modelFormat=({"name": name, **({"version": version} if version else {})} if name else None),
                 runtime=o.runtime, storageUri=o.storage_uri, runtimeVersion="", protocolVersion="",
                 minReplicas=o.min_replicas, maxReplicas=o.max_replicas, scaleTarget=0, scaleMetric="",
                 containerConcurrency=0, timeout=0, port=o.port, metricsPort=8080, affinityPolicy="none",
                 affinityConstraint="preferred")
        if o.canary_traffic_percent:
            v["canaryTrafficPercent"] = o.canary_traffic_percent  # omitempty: -1 (unset) is written
    return v


def values(kind: str, argv: list[str], user: str) -> tuple[str, dict[str, Any]]:
    """(release name, values) for `arena submit KIND argv` (or `arena serve TYPE argv`: KIND is `serve TYPE`)
    run by `user`, as upstream would render it."""
    o = _parser(kind).parse_args(argv)
    if kind.startswith("serve "):
        release = o.name if kind == "serve kserve" else f"{o.name}-{o.version}"  # <name>-<version>, but kserve
        return release, _serving_values(kind, o, user)
    if kind == "volcanojob":
        return o.name, _volcanojob(o, user)
    v = _common_values(kind, o, user)
    {"pytorchjob": _pytorchjob, "tfjob": _tfjob, "mpijob": _mpijob, "appwrapperjob": _appwrapperjob}[kind](o, v)
    return o.name, v
