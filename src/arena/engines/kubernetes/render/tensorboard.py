"""`--tensorboard`: a Deployment + NodePort Service reading the job's log directory.

Where the logs live decides the plumbing, as upstream does it:
- inside a `--data` PVC mount: TensorBoard mounts the same claim at the same path;
- another absolute path: a hostPath shared with the training pods, so TensorBoard is pinned
  (pod affinity) to the node of the job's first pod;
- anything else (gs://, hdfs://, a relative path): passed through, no volume.
Both objects are owned by the job (uid placeholder, see `owner`), so deleting the job deletes them.
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.render.context import Ctx
from arena.engines.kubernetes.render.owner import owner_reference
from arena.spec.job import DataMount, JobSpec

PORT = 6006
PULL_POLICY = "Always"  # upstream's tensorboardImagePullpolicy, whatever the job's --image-pull-policy
LOG_VOLUME = "training-logs-volume"
HOST_LOG_ROOT = "/arena_logs"
ROLE = {"role": "tensorboard"}


def name(spec: JobSpec) -> str:
    return f"{spec.name}-tensorboard"


def _claim_for(spec: JobSpec, logdir: str) -> DataMount | None:
    for data in spec.data:
        root = data.path.rstrip("/")
        if logdir == root or logdir.startswith(root + "/"):
            return data
    return None


def host_path(spec: JobSpec) -> str:
    """Deterministic, per job: re-rendering gives the same manifest (upstream used a random name)."""
    return f"{HOST_LOG_ROOT}/{spec.namespace}/{spec.name}"


def _host_volume(spec: JobSpec, logdir: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"name": LOG_VOLUME, "hostPath": {"path": host_path(spec), "type": "DirectoryOrCreate"}},
            {"name": LOG_VOLUME, "mountPath": logdir})


def log_volume(spec: JobSpec) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The hostPath (volume, mount) the training pods need, or None when no hostPath is used."""
    tb = spec.tensorboard
    if tb is None or not tb.logdir.startswith("/") or _claim_for(spec, tb.logdir):
        return None
    return _host_volume(spec, tb.logdir)


def objects(ctx: Ctx, primary: dict[str, Any], chief_selector: dict[str, str]) -> list[dict[str, Any]]:
    """[Deployment, Service] for the job's TensorBoard, or [] when it is not requested."""
    spec = ctx.spec
    tb = spec.tensorboard
    if tb is None:
        return []
    labels = {**ctx.labels(), **ROLE}
    selector = {"app": ctx.app, "release": spec.name, **ROLE}
    owner = [owner_reference(primary)]
    # Here, not at module level: pod imports this module (for log_volume).
    from arena.engines.kubernetes.render import pod

    # Placed like the job's pods (priority, node selector, tolerations), but left to the default
    # scheduler: TensorBoard is not part of the job's gang.
    pod_spec: dict[str, Any] = pod.placement(ctx, None)
    pull_secrets = ctx.pull_secrets()
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets
    container: dict[str, Any] = {
        "name": "tensorboard",
        "image": tb.image or ctx.opts.images.tensorboard,
        "imagePullPolicy": PULL_POLICY,
        "command": ["tensorboard", "--logdir", tb.logdir, "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "tensorboard", "containerPort": PORT}],
    }
    absolute = tb.logdir.startswith("/")
    claim = _claim_for(spec, tb.logdir) if absolute else None
    if claim:
        claim_source = {"claimName": claim.name, "readOnly": True}
        pod_spec["volumes"] = [{"name": claim.name, "persistentVolumeClaim": claim_source}]
        container["volumeMounts"] = [{"name": claim.name, "mountPath": claim.path, "readOnly": True}]
    elif absolute:  # the hostPath the training pods write to (log_volume), without a second claim lookup
        host = _host_volume(spec, tb.logdir)
        pod_spec["volumes"] = [host[0]]
        container["volumeMounts"] = [{**host[1], "readOnly": True}]
        pod_spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": dict(chief_selector)}, "topologyKey": "kubernetes.io/hostname"}]}}
    pod_spec["containers"] = [container]
    meta = {"name": name(spec), "namespace": spec.namespace, "labels": labels, "ownerReferences": owner}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**meta, "labels": dict(labels), "ownerReferences": [owner_reference(primary)]},
        "spec": {
            "type": "NodePort",
            "selector": dict(selector),
            "ports": [{"name": "tensorboard", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }
    return [deployment, service]
