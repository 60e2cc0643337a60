"""Serving jobs as upstream Arena's charts render them: pure `ServingSpec` -> manifests.

- custom, tensorflow, triton: a Deployment `<name>-<version>-<chart>` and its Service (upstream's
  `custom-serving`, `tfserving` and `triton` charts), labelled `servingName`, `servingVersion`, `servingType`,
  `serviceName`, `app`, `release`, `chart`, `heritage` as the charts do, so that upstream's `arena serve list`
  finds ours and ours finds upstream's;
- kserve: a KServe `serving.kserve.io/v1beta1` InferenceService `<name>` (upstream's `kserve` chart):
  `predictor.model` with a model format, else a `kserve-container`; the canary percent and the replica
  bounds on the predictor;
- and, as upstream's Arena keeps with every job, its `<release>-<servingType>` ConfigMap listing them.

The charts' quirks are not copied (SERVING.md §11): values are structured, not pasted into YAML; malformed
tolerations are refused, not dropped; the tensorflow liveness probe targets the gRPC port actually chosen.
Everything that would come from the cluster or the clock (the user id, the creation time) is passed in.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from arena.errors import InvalidSpec

if TYPE_CHECKING:
    from arena.serving.spec import ServingSpec
    from arena.serving.types import ServingType

TRITON_IMAGES = {"": "nvcr.io/nvidia/tritonserver:24.01-py3", "vllm": "nvcr.io/nvidia/tritonserver:24.01-vllm-python-py3",
                 "trt-llm": "nvcr.io/nvidia/tritonserver:24.01-trtllm-python-py3"}
TF_IMAGE = "tensorflow/serving:latest"
LABEL_UID = "arena.kubeflow.org/uid"
ANNOTATION_USERNAME = "arena.kubeflow.org/username"


class ServingContext(msgspec.Struct, frozen=True, kw_only=True):
    """What render needs besides the spec: the submitter and the creation time (upstream's `helm.sh/created`)."""

    user_id: str | None = None
    user_name: str | None = None
    created: int | None = None  # unix seconds; None leaves the annotation out
    pull_secrets: tuple[str, ...] = ()  # the arena config's imagePullSecrets, when the job names none


def release(t: ServingType, spec: ServingSpec) -> str:
    """Helm's release: `<name>-<version>`, kserve `<name>`."""
    return spec.name if t.versionless else f"{spec.name}-{spec.version}"


def fullname(t: ServingType, spec: ServingSpec) -> str:
    """Helm's fullname: the release when it contains the chart's name, else `<release>-<chart>` (at most 63)."""
    rel = release(t, spec)
    return (rel if t.chart in rel else f"{rel}-{t.chart}")[:63].rstrip("-")


def render(t: ServingType, spec: ServingSpec, ctx: ServingContext | None = None) -> list[dict[str, Any]]:
    """The job's objects, primary first, then upstream's `<release>-<type>` record of them."""
    ctx = ctx or ServingContext()
    if t.versionless:
        objs = [_inference_service(t, spec, ctx)]
    else:
        if not spec.image and t.name == "custom":  # upstream: "image must be specified" (custom only)
            raise InvalidSpec("--image", "image must be specified")
        service = _service(t, spec, ctx)
        objs = [_deployment(t, spec, ctx), *([service] if service else [])]
    return [*objs, record(t, spec, ctx, objs)]


def record(t: ServingType, spec: ServingSpec, ctx: ServingContext, objs: list[dict[str, Any]]) -> dict[str, Any]:
    """Upstream's ConfigMap `<release>-<servingType>` (`mnist-v1-tf-serving`, `sk-kserve`): its `serve delete`
    deletes what `app` lists and answers "does not exist" without one. Owned by the primary, so deleting the
    job with either tool deletes it."""
    from arena.engines.kubernetes.render.configmaps import APP_KEY, CREATED_BY_ARENA, kubectl_name
    from arena.engines.kubernetes.render.owner import owner_reference

    labels = {"createdBy": CREATED_BY_ARENA}
    if ctx.user_id:
        labels[LABEL_UID] = ctx.user_id
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{release(t, spec)}-{t.label}", "namespace": spec.namespace, "labels": labels,
                         "ownerReferences": [owner_reference(objs[0])]},
            "data": {APP_KEY: "\n".join(kubectl_name(m) for m in objs)}}


# ---- labels ---------------------------------------------------------------------------------------------
def _labels(t: ServingType, spec: ServingSpec, ctx: ServingContext, *, version: bool = True,
            service_name: bool = True) -> dict[str, str]:
    out = {"heritage": "Helm", "release": release(t, spec), "chart": f"{t.chart}-{t.chart_version}", "app": t.chart,
           "servingName": spec.name, "servingType": t.label}
    if service_name:
        out["serviceName"] = spec.name
    if version:
        out["servingVersion"] = spec.version
    if spec.model_name:
        out["modelName"] = spec.model_name
    if spec.model_version:
        out["modelVersion"] = spec.model_version
    if ctx.user_id:
        out[LABEL_UID] = ctx.user_id
    for key, value in spec.labels.items():
        out.setdefault(key, value)  # a user label may not redefine Arena's
    return out


def _annotations(spec: ServingSpec, ctx: ServingContext, created: bool = True) -> dict[str, str]:
    out = dict(spec.annotations)
    if ctx.user_name:
        out[ANNOTATION_USERNAME] = ctx.user_name
    if created and ctx.created is not None:
        out["helm.sh/created"] = str(ctx.created)
    return out


# ---- the pod ------------------------------------------------------------------------------------------
def _env(spec: ServingSpec, downward: bool = True) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in spec.env.items()]
    if downward:
        env += [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in (
            ("ARENA_NODE_NAME", "spec.nodeName"), ("ARENA_POD_NAMESPACE", "metadata.namespace"),
            ("ARENA_POD_NAME", "metadata.name"), ("ARENA_POD_IP", "status.podIP"))]
    if not spec.resources.gpus and "NVIDIA_VISIBLE_DEVICES" not in spec.env:
        env.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"})
    return env


def _limits(spec: ServingSpec) -> dict[str, Any]:
    res = spec.resources
    out: dict[str, Any] = {}
    if res.cpu:
        out["cpu"] = res.cpu
    if res.memory:
        out["memory"] = res.memory
    if res.gpus:
        out["nvidia.com/gpu"] = res.gpus
    out.update(res.devices)
    return out


def _volumes(spec: ServingSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for m in spec.data:
        volumes.append({"name": m.name, "persistentVolumeClaim": {"claimName": m.name}})
        mounts.append({"name": m.name, "mountPath": m.path})
    for i, d in enumerate(spec.data_dirs):
        volumes.append({"name": f"serving-data-{i}", "hostPath": {"path": d.host_path}})
        mounts.append({"name": f"serving-data-{i}", "mountPath": d.mount_path})
    if spec.share_memory:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.share_memory}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def _placement(spec: ServingSpec, ctx: ServingContext) -> dict[str, Any]:
    from arena.engines.kubernetes.render.tolerations import parse_all

    out: dict[str, Any] = {}
    if spec.node_selector:
        out["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        out["tolerations"] = parse_all(list(spec.tolerations))
    secrets = spec.image_pull_secrets or list(ctx.pull_secrets)
    if secrets:
        out["imagePullSecrets"] = [{"name": s} for s in secrets]
    return out


def _ports(t: ServingType, spec: ServingSpec) -> list[tuple[str, str, int]]:
    """(container port name, Service port name, port) in the chart's order."""
    p = spec.ports
    if t.name == "tensorflow":
        return [("serving", "grpc-serving", p.grpc), ("http-serving", "http-serving", p.restful)]
    if t.name == "triton":
        out = [("http", "http-serving", p.restful), ("grpc", "grpc-serving", p.grpc)]
        if getattr(spec.options, "allow_metrics", False):
            out.append(("metrics", "http-metrics", p.metrics))
        return out
    return [(c, s, n) for c, s, n in (("grpc", "grpc-serving", p.grpc), ("restful", "http-serving", p.restful),
                                      ("metrics", "http-metrics", p.metrics)) if n]


def _command(t: ServingType, spec: ServingSpec) -> dict[str, Any]:
    if spec.command:
        return {"command": [spec.shell, "-c", spec.command]}
    if t.name == "tensorflow":
        opts: Any = spec.options
        parts = ["/usr/bin/tensorflow_model_server", f"--port={spec.ports.grpc}",
                 f"--rest_api_port={spec.ports.restful}"]
        if opts is not None and opts.model_config_file:
            parts.append(f"--model_config_file={opts.model_config_file}")
        else:
            parts += [f"--model_name={spec.model_name}", f"--model_base_path={spec.model_path}"]
        if opts is not None and opts.monitoring_config_file:
            parts.append(f"--monitoring_config_file={opts.monitoring_config_file}")
        return {"command": ["sh", "-c"], "args": [" ".join(parts)]}
    if t.name == "triton":
        o: Any = spec.options
        parts = ["tritonserver", f"--http-port={spec.ports.restful}", f"--grpc-port={spec.ports.grpc}"]
        if o.allow_metrics:
            parts.append(f"--metrics-port={spec.ports.metrics}")
        parts.append(f"--allow-metrics={'true' if o.allow_metrics else 'false'}")
        if o.model_repository:
            parts.append(f"--model-repository={o.model_repository}")
        parts += [f"--load-model {m}" for m in o.load_models]
        parts += [f"--backend-config={c}" for c in o.backend_config]
        if o.extend_command:
            parts.append(o.extend_command)
        return {"command": ["sh", "-c"], "args": [" ".join(parts)]}
    return {}


def _probe(t: ServingType, spec: ServingSpec) -> dict[str, Any] | None:
    if t.name == "triton" and spec.readiness is None:
        return {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "initialDelaySeconds": 100,
                "periodSeconds": 5, "failureThreshold": 30}
    if spec.readiness is None:
        return None
    port = "grpc" if spec.readiness.port == "grpc" else "restful"
    port_name = {"tensorflow": {"grpc": "serving", "restful": "http-serving"},
                 "triton": {"grpc": "grpc", "restful": "http"}}.get(t.name, {}).get(port, port)
    if spec.readiness.action == "httpGet":
        return {"httpGet": {"path": spec.readiness.path, "port": port_name}}
    return {"tcpSocket": {"port": port_name}}


def _deployment(t: ServingType, spec: ServingSpec, ctx: ServingContext) -> dict[str, Any]:
    volumes, mounts = _volumes(spec)
    image = spec.image or (TF_IMAGE if t.name == "tensorflow" else
                           TRITON_IMAGES.get(getattr(spec.options, "backend", "") or "", "") if t.name == "triton"
                           else "")
    container: dict[str, Any] = {"name": {"tensorflow": "serving", "triton": "tritonserver"}.get(t.name, t.chart),
                                 "image": image, "imagePullPolicy": spec.image_pull_policy}
    container.update(_command(t, spec))
    container["env"] = _env(spec)
    ports = _ports(t, spec)
    if ports:
        container["ports"] = [{"containerPort": n, "name": c, "protocol": "TCP"} for c, _, n in ports]
    limits = _limits(spec)
    if limits:
        container["resources"] = {"limits": limits}
    probe = _probe(t, spec)
    if probe:
        container["readinessProbe"] = probe
    if t.name == "tensorflow":
        container["livenessProbe"] = {"tcpSocket": {"port": "serving"}, "initialDelaySeconds": 30,
                                      "periodSeconds": 5, "failureThreshold": 30}
    if t.name == "triton":
        container["livenessProbe"] = {"httpGet": {"path": "/v2/health/live", "port": "http"},
                                      "initialDelaySeconds": 100, "periodSeconds": 5, "failureThreshold": 30}
    if mounts:
        container["volumeMounts"] = mounts
    pod_annotations = dict(spec.annotations)
    if spec.enable_istio:
        pod_annotations["sidecar.istio.io/inject"] = "true"
    labels = _labels(t, spec, ctx)
    pod_spec: dict[str, Any] = {**_placement(spec, ctx), "containers": [container]}
    if volumes:
        pod_spec["volumes"] = volumes
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": pod_spec}
    if pod_annotations:
        template["metadata"]["annotations"] = pod_annotations
    strategy: dict[str, Any] = {"type": "RollingUpdate"}
    opts: Any = spec.options
    rolling = {k: _int_or_percent(v) for k, v in (("maxSurge", getattr(opts, "max_surge", "")),
                                                   ("maxUnavailable", getattr(opts, "max_unavailable", ""))) if v}
    if rolling:
        strategy["rollingUpdate"] = rolling
    meta: dict[str, Any] = {"name": fullname(t, spec), "namespace": spec.namespace, "labels": labels}
    annotations = _annotations(spec, ctx)
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": spec.replicas, "strategy": strategy,
                     "selector": {"matchLabels": {"release": release(t, spec), "app": t.chart}},
                     "template": template}}


def _int_or_percent(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _service(t: ServingType, spec: ServingSpec, ctx: ServingContext) -> dict[str, Any] | None:
    ports = _ports(t, spec)
    if not ports:
        return None
    name = f"{spec.name}-{spec.version}" if t.name == "custom" else fullname(t, spec)
    labels = _labels(t, spec, ctx, service_name=False)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": spec.namespace, "labels": labels},
            "spec": {"type": "ClusterIP",
                     "ports": [{"name": s, "port": n, "targetPort": n} for _, s, n in ports],
                     "selector": {"app": t.chart, "release": release(t, spec)}}}


# ---- kserve ---------------------------------------------------------------------------------------------
def _inference_service(t: ServingType, spec: ServingSpec, ctx: ServingContext) -> dict[str, Any]:
    o: Any = spec.options
    predictor: dict[str, Any] = {}
    custom_metric = bool(o.scale_metric) and o.scale_metric not in ("cpu", "memory", "rps", "concurrency")
    if not custom_metric:
        for key, value in (("minReplicas", o.min_replicas), ("maxReplicas", o.max_replicas),
                           ("scaleTarget", o.scale_target), ("scaleMetric", o.scale_metric)):
            if value:
                predictor[key] = value
    if o.container_concurrency:
        predictor["containerConcurrency"] = o.container_concurrency
    if o.timeout:
        predictor["timeout"] = o.timeout
    if o.canary_traffic_percent >= 0:
        predictor["canaryTrafficPercent"] = o.canary_traffic_percent
    predictor.update(_placement(spec, ctx))
    volumes, mounts = _volumes(spec)
    container: dict[str, Any] = {}
    if spec.image:
        container["image"] = spec.image
        container["imagePullPolicy"] = spec.image_pull_policy
    env = _env(spec, downward=False)
    if env:
        container["env"] = env
    if spec.command:
        container["command"] = [spec.shell, "-c", spec.command]
    if spec.ports.restful and spec.ports.restful != t.default_ports().restful:
        container["ports"] = [{"containerPort": spec.ports.restful, "protocol": "TCP"}]
    limits = _limits(spec)
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    if mounts:
        container["volumeMounts"] = mounts
    if o.model_format:
        name, _, version = o.model_format.partition(":")
        model: dict[str, Any] = {"modelFormat": {"name": name, **({"version": version} if version else {})}}
        for key, value in (("runtime", o.runtime), ("storageUri", o.storage_uri), ("runtimeVersion", o.runtime_version),
                           ("protocolVersion", o.protocol_version)):
            if value:
                model[key] = value
        predictor["model"] = {**model, **container}
    else:
        predictor["containers"] = [{"name": "kserve-container", **container}]
    if volumes:
        predictor["volumes"] = volumes
    meta: dict[str, Any] = {"name": spec.name, "namespace": spec.namespace,
                            "labels": _labels(t, spec, ctx, version=False, service_name=False)}
    annotations = _annotations(spec, ctx, created=False)
    if custom_metric:
        annotations["serving.kserve.io/autoscalerClass"] = "external"
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": meta,
            "spec": {"predictor": predictor}}


def plan_text(manifests: list[Mapping[str, Any]], fmt: str) -> str:
    """The manifests as `--dry-run -o yaml|json` prints them."""
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(list(manifests)), indent=2).decode() + "\n"
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all([dict(m) for m in manifests], Dumper=dumper, sort_keys=False, default_flow_style=False)
