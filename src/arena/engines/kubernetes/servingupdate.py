"""`arena serve update` on a cluster: a running serving object with a `ServingUpdate` applied. Pure.

As upstream's `serve update` (SERVING.md §6): the object is read, changed and written back whole (its
resourceVersion makes a concurrent change a conflict, not a lost update). A Deployment's rollout is the
Deployment controller's (RollingUpdate); an InferenceService's new revision, and its canary split with
`--canary-traffic-percent`, are KServe's. Upstream's bugs are not copied: no `--replicas` keeps the count
(upstream scales to 0), the model server's flags keep their order and the ones not changed (upstream
loses `--load-model`), Arena's own labels and the selector's cannot be redefined, malformed tolerations
are refused.
"""
from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping
from typing import Any

from arena.errors import InvalidSpec
from arena.serving.spec import ServingUpdate

#: Labels the selectors and upstream's discovery read: an update may not change them.
PROTECTED_LABELS = frozenset({"app", "release", "servingName", "servingVersion", "servingType", "serviceName",
                              "heritage", "chart", "arena.kubeflow.org/uid"})
#: ServingUpdate.options keys rewritten into the model server's flags, per server binary.
SERVER_FLAGS = {
    "tensorflow_model_server": {"model_name": "--model_name", "model_path": "--model_base_path",
                                "model_config_file": "--model_config_file",
                                "monitoring_config_file": "--monitoring_config_file"},
    "tritonserver": {"model_repository": "--model-repository"},
}
GPU = "nvidia.com/gpu"
GPU_SHARE = ("aliyun.com/gpu-mem", "aliyun.com/gpu-core.percentage")


def _metadata(obj: dict[str, Any], upd: ServingUpdate) -> None:
    meta = obj.setdefault("metadata", {})
    bad = sorted(set(upd.labels) & PROTECTED_LABELS)
    if bad:
        raise InvalidSpec("--label", f"{bad[0]} is Arena's own label (it selects the job's pods)")
    if upd.labels:
        meta["labels"] = {**(meta.get("labels") or {}), **upd.labels}
    if upd.annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **upd.annotations}


def _placement(pod_spec: dict[str, Any], upd: ServingUpdate) -> None:
    from arena.engines.kubernetes.render.tolerations import parse_all

    if upd.node_selector:
        pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **upd.node_selector}
    if upd.tolerations:
        old = list(pod_spec.get("tolerations") or [])
        new = [t for t in parse_all(list(upd.tolerations)) if t not in old]
        pod_spec["tolerations"] = new + old


def _resources(container: dict[str, Any], upd: ServingUpdate, requests_too: bool) -> None:
    res = container.setdefault("resources", {})
    limits = dict(res.get("limits") or {})
    if upd.gpus is not None:
        for key in GPU_SHARE:  # whole GPUs replace a GPU share (upstream's rule)
            limits.pop(key, None)
        if upd.gpus:
            limits[GPU] = upd.gpus
        else:
            limits.pop(GPU, None)
    if upd.cpu:
        limits["cpu"] = upd.cpu
    if upd.memory:
        limits["memory"] = upd.memory
    res["limits"] = limits
    if requests_too:
        requests = dict(res.get("requests") or {})
        for key in (GPU, "cpu", "memory"):
            if key in limits:
                requests[key] = limits[key]
            elif key == GPU:
                requests.pop(GPU, None)
        res["requests"] = requests
    if not res["limits"]:
        del res["limits"]
    if not res:
        del container["resources"]


def _env(container: dict[str, Any], upd: ServingUpdate) -> None:
    """New variables first; the old ones kept unless redefined. Without GPUs `NVIDIA_VISIBLE_DEVICES=void`."""
    old = [e for e in container.get("env") or [] if e.get("name") not in upd.env]
    env = [{"name": k, "value": v} for k, v in upd.env.items()] + old
    if upd.gpus is not None:
        env = [e for e in env if not (e.get("name") == "NVIDIA_VISIBLE_DEVICES" and e.get("value") == "void")]
        if not upd.gpus and "NVIDIA_VISIBLE_DEVICES" not in upd.env:
            env.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"})
    if env:
        container["env"] = env


def _command(container: dict[str, Any], upd: ServingUpdate) -> None:
    if upd.command:
        old = container.get("command") or []
        shell = old[0] if len(old) >= 2 and old[1] == "-c" else "sh"
        container["command"] = [shell, "-c", upd.command]
        container.pop("args", None)


def _server_flags(container: dict[str, Any], changes: Mapping[str, str], first_flag: str) -> None:
    """Rewrite the model server's `--flag=value`s in its `sh -c` line, keeping every other word in place."""
    args = container.get("args") or []
    words = shlex.split(args[0]) if len(args) == 1 else []
    server = next((s for s in SERVER_FLAGS if words and words[0].endswith(s)), None)
    if server is None:
        raise InvalidSpec(first_flag, "the job runs its own command, not the model server; change it with --command")
    flags = SERVER_FLAGS[server]
    wanted = {flags[k]: v for k, v in changes.items() if k in flags}
    unknown = sorted(k for k in changes if k not in flags)
    if unknown:
        raise InvalidSpec("--" + unknown[0].replace("_", "-"), f"is not a flag of {server}")
    out = []
    for w in words:
        flag = w.split("=", 1)[0]
        out.append(f"{flag}={wanted.pop(flag)}" if flag in wanted else w)
    out += [f"{flag}={value}" for flag, value in wanted.items()]
    container["args"] = [" ".join(shlex.quote(w) if any(ch.isspace() for ch in w) else w for w in out)]


def deployment(dep: Mapping[str, Any], upd: ServingUpdate) -> dict[str, Any]:
    """A custom, tensorflow or triton version's Deployment with the update applied."""
    out = copy.deepcopy(dict(dep))
    spec = out.setdefault("spec", {})
    template = spec.setdefault("template", {})
    pod_spec = template.setdefault("spec", {})
    containers = pod_spec.get("containers") or []
    if not containers:
        raise InvalidSpec("--name", f"Deployment {out.get('metadata', {}).get('name')} has no container to update")
    c = containers[0]
    if upd.image:
        c["image"] = upd.image
    if upd.replicas is not None:
        spec["replicas"] = upd.replicas
    _resources(c, upd, requests_too=False)
    _env(c, upd)
    _command(c, upd)
    server = {k: str(v) for k, v in upd.options.items() if v not in (None, "")}
    if upd.model_name:
        server["model_name"] = upd.model_name
    if upd.model_path:
        server["model_path"] = upd.model_path
    if server and not upd.command:
        _server_flags(c, server, "--" + sorted(server)[0].replace("_", "-"))
    elif server:
        raise InvalidSpec("--command", "give either a command or the model server's flags, not both")
    _metadata(out, upd)
    tmeta = template.setdefault("metadata", {})
    if upd.labels:
        tmeta["labels"] = {**(tmeta.get("labels") or {}), **upd.labels}
    if upd.annotations:
        tmeta["annotations"] = {**(tmeta.get("annotations") or {}), **upd.annotations}
    _placement(pod_spec, upd)
    return out


#: ServingUpdate.options key -> the predictor's field (autoscaling and request handling).
PREDICTOR_FIELDS = {"min_replicas": "minReplicas", "max_replicas": "maxReplicas", "scale_target": "scaleTarget",
                    "scale_metric": "scaleMetric", "container_concurrency": "containerConcurrency",
                    "timeout": "timeout"}
#: ServingUpdate.options key -> the predictor model's field.
MODEL_FIELDS = {"runtime": "runtime", "storage_uri": "storageUri", "runtime_version": "runtimeVersion",
                "protocol_version": "protocolVersion"}


def inference_service(isvc: Mapping[str, Any], upd: ServingUpdate) -> dict[str, Any]:
    """A kserve job's InferenceService with the update applied (KServe makes the next revision of it)."""
    out = copy.deepcopy(dict(isvc))
    predictor = out.setdefault("spec", {}).setdefault("predictor", {})
    opts = dict(upd.options)
    model = predictor.get("model")
    container = model if model is not None else (predictor.get("containers") or [None])[0]
    if container is None:
        raise InvalidSpec("--name", f"InferenceService {out.get('metadata', {}).get('name')} has no predictor to "
                                    "update")
    model_keys = [k for k in ("model_format", *MODEL_FIELDS) if opts.get(k) not in (None, "")]
    if model_keys and model is None:
        raise InvalidSpec("--" + model_keys[0].replace("_", "-"), "the job runs a custom container, not a model "
                                                                  "format; change it with --image or --command")
    if opts.get("model_format"):
        name, _, version = str(opts["model_format"]).partition(":")
        if not name or (":" in str(opts["model_format"]) and not version):
            raise InvalidSpec("--model-format", f"model format is invalid: {opts['model_format']}")
        container["modelFormat"] = {"name": name, **({"version": version} if version else {})}
    for key, field in MODEL_FIELDS.items():
        if opts.get(key) not in (None, ""):
            container[field] = str(opts[key])
    for key, field in PREDICTOR_FIELDS.items():
        if opts.get(key) not in (None, ""):
            predictor[field] = opts[key]
    canary = opts.get("canary_traffic_percent")
    if canary is not None:
        if not -1 <= int(canary) <= 100:  # type: ignore[call-overload]
            raise InvalidSpec("--canary-traffic-percent", "must be between 0 and 100")
        if int(canary) < 0:  # type: ignore[call-overload]
            predictor.pop("canaryTrafficPercent", None)
        else:
            predictor["canaryTrafficPercent"] = int(canary)  # type: ignore[call-overload]
    if upd.image:
        container["image"] = upd.image
    _resources(container, upd, requests_too=True)
    _env(container, upd)
    _command(container, upd)
    if upd.replicas is not None:
        raise InvalidSpec("--replicas", "kserve scales with --min-replicas/--max-replicas")
    if upd.model_path:
        raise InvalidSpec("--model-path", "kserve reads its model from --storage-uri")
    _metadata(out, upd)
    if upd.model_name:  # a label on kserve (the model's name is the job's)
        meta = out.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), "modelName": upd.model_name}
    _placement(predictor, upd)
    return out
