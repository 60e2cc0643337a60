"""The ConfigMaps that come with a job: its `--config-file`s, and upstream's `<name>-<kind>` record of it.

Upstream Arena keeps, next to every job it submits, a ConfigMap `<name>-<type>` labelled `createdBy: arena`
whose `app` key lists the job's objects as `kubectl` names them (`pytorchjob.kubeflow.org/x`,
`service/x-tensorboard`, one per line). Its `delete` reads that list and deletes each object, then the
ConfigMap; without one, upstream's `delete` answers that the job does not exist, and its per-user isolation
checks the ConfigMap's `arena.kubeflow.org/uid`. So Arena writes one too, owned by the job: deleting the job
(with either tool) deletes it.
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.labels import LABEL_APP, LABEL_CREATED_BY, LABEL_RELEASE, LABEL_UID
from arena.engines.kubernetes.render import pod
from arena.engines.kubernetes.render.context import Ctx
from arena.engines.kubernetes.render.owner import owner_reference
from arena.spec.job import JobSpec

APP_KEY = "app"
CREATED_BY_ARENA = "arena"


def record_name(name: str, kind: str) -> str:
    """Upstream's name of a job's record: `<name>-<type>` (`mnist-pytorchjob`)."""
    return f"{name}-{kind}"


def kubectl_name(obj: dict[str, Any]) -> str:
    """How `kubectl create -o name` names an object: `<kind>.<group>/<name>`, the group left out for core ones."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    kind = str(obj.get("kind", "")).lower()
    return f"{kind}.{group}/{obj['metadata']['name']}" if group else f"{kind}/{obj['metadata']['name']}"


def app_record(spec: JobSpec, manifests: list[dict[str, Any]], user_id: str | None) -> dict[str, Any]:
    """The `<name>-<kind>` ConfigMap listing `manifests` (the job's objects, primary first), owned by the job."""
    labels = {LABEL_CREATED_BY: CREATED_BY_ARENA}
    if user_id:
        labels[LABEL_UID] = user_id
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": record_name(spec.name, spec.kind), "namespace": spec.namespace, "labels": labels,
                     "ownerReferences": [owner_reference(manifests[0])]},
        "data": {APP_KEY: "\n".join(kubectl_name(m) for m in manifests)},
    }


def config_files(ctx: Ctx, primary: dict[str, Any]) -> list[dict[str, Any]]:
    """One ConfigMap `<job>-<key>` per container directory of the job's `--config-file`s (upstream's naming),
    each file a key; owned by the job. The pods mount each file (`pod.volumes`)."""
    labels = {LABEL_APP: ctx.app, LABEL_RELEASE: ctx.name, LABEL_CREATED_BY: ctx.created_by}
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"{ctx.name}-{key}", "namespace": ctx.spec.namespace, "labels": dict(labels),
                          "ownerReferences": [owner_reference(primary)]},
             "data": files}
            for key, files in pod.config_files(ctx).items()]
