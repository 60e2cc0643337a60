"""Pure render layer of the Kubernetes engine: JobSpec → manifests (plain dicts), no API calls.

Each kind's renderer is its registry hook (`arena.kinds.get(kind).k8s_render`); the modules here are
the building blocks those hooks compose (pod template, labels, code sync, TensorBoard, Kubeflow run
policy, Volcano tasks, …). `render()` returns the job's primary object first; auxiliary objects that
must die with it (TensorBoard, a headless Service) follow, carrying an ownerReference whose uid is the
placeholder `OWNER_UID` until apply calls `bind_owner(manifests, uid)` after creating the primary.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arena import kinds
from arena.engines.kubernetes.render.context import Images, RenderOptions
from arena.engines.kubernetes.render.output import to_json, to_list, to_yaml
from arena.engines.kubernetes.render.owner import OWNER_UID, bind_owner, needs_owner
from arena.engines.kubernetes.render.queues import kueue_queues, volcano_queue
from arena.spec.job import JobSpec


def render(spec: JobSpec, *, user_id: str | None = None, user_name: str | None = None,
           sync_secret: str | None = None, images: Images | None = None, pull_secrets: Sequence[str] = (),
           files: Mapping[str, str] | None = None, role_sequence: str | None = None) -> list[dict[str, Any]]:
    """Every manifest for `spec`, primary object first, then what it owns (TensorBoard, the ConfigMaps of
    its `--config-file`s).

    user_id: the `arena.kubeflow.org/uid` label (upstream's per-user isolation);
    user_name: the `arena.kubeflow.org/username` annotation;
    sync_secret: Secret with the code-sync credentials (see `sync.credentials_secret`);
    images: helper images (git-sync, rsync, TensorBoard);
    pull_secrets, role_sequence: the arena config's defaults (`RenderOptions`);
    files: the content of each `--config-file`, by host path (the planner reads them).
    """
    from arena.engines.kubernetes.render import configmaps
    from arena.engines.kubernetes.render.context import Ctx

    kind = kinds.get(spec.kind)  # an unknown kind is InvalidSpec on --type
    opts = RenderOptions(user_id=user_id, user_name=user_name, sync_secret=sync_secret, images=images or Images(),
                         pull_secrets=tuple(pull_secrets), files=dict(files or {}), role_sequence=role_sequence)
    manifests = kind.k8s_render(spec, opts)
    if spec.config_files:
        manifests += configmaps.config_files(Ctx.of(spec, opts), manifests[0])
    return manifests


__all__ = [
    "OWNER_UID", "Images", "RenderOptions", "bind_owner", "kueue_queues", "needs_owner", "render",
    "to_json", "to_list", "to_yaml", "volcano_queue",
]
