"""Code sync: an init container fills a shared emptyDir that the job sees at <working-dir>/code.

Credentials never appear in a manifest: they are read from a Secret through secretKeyRef.
The Secret itself is created by the engine at apply time (`credentials_secret`), is owned by the
job, and is never part of `render()`'s output, so `--dry-run` cannot leak a password.
"""
from __future__ import annotations

from typing import Any

from arena.engines.kubernetes.labels import INIT_CONTAINER
from arena.engines.kubernetes.render.context import Ctx
from arena.engines.kubernetes.render.owner import owner_reference
from arena.spec.common import project_name
from arena.spec.job import JobSpec

VOLUME = "code-sync"
SYNC_ROOT = "/code"  # where the init container writes
# Env names that are credentials of the code sync: given with -e or in the submitter's environment, their
# values go into the credentials Secret only, never into a manifest (`--dry-run` prints no password).
GIT_CREDENTIALS = {"GIT_SYNC_USERNAME": "username", "GIT_SYNC_PASSWORD": "password"}
RSYNC_CREDENTIALS = {"RSYNC_PASSWORD": "password"}
CREDENTIAL_ENV = frozenset({*GIT_CREDENTIALS, *RSYNC_CREDENTIALS})


def secret_name(spec: JobSpec) -> str:
    """The conventional name of the credentials Secret the engine creates for a job."""
    return f"{spec.name}-sync-credentials"


def volume() -> dict[str, Any]:
    return {"name": VOLUME, "emptyDir": {}}


def mount(working_dir: str) -> dict[str, Any]:
    return {"name": VOLUME, "mountPath": f"{working_dir.rstrip('/')}/code"}


def init_container(ctx: Ctx, resources: dict[str, Any] | None, user_env: dict[str, str] | None = None
                   ) -> dict[str, Any]:
    """The git-sync (one shot) or rsync init container for the job's SyncSpec.

    The user's -e values reach it too, as upstream's charts copy them (so `-e GIT_SYNC_BRANCH=dev` or
    `-e GIT_SYNC_DEPTH=1` tune git-sync); one with the name of an Arena-set variable replaces it in place.
    Credentials are never among them (`pod.user_env`): they come from the Secret."""
    sync = ctx.spec.sync
    assert sync is not None
    secret = ctx.opts.sync_secret
    env: list[dict[str, Any]]
    if sync.mode == "git":
        image = sync.image or ctx.opts.images.git_sync
        env = [
            {"name": "GIT_SYNC_REPO", "value": sync.source},
            {"name": "GIT_SYNC_DEST", "value": project_name(sync.source)},
            {"name": "GIT_SYNC_ROOT", "value": SYNC_ROOT},
            {"name": "GIT_SYNC_ONE_TIME", "value": "true"},
        ]
        if sync.branch:
            env.append({"name": "GIT_SYNC_BRANCH", "value": sync.branch})
        if secret:
            env += [_secret_env("GIT_SYNC_USERNAME", secret, "username"),
                    _secret_env("GIT_SYNC_PASSWORD", secret, "password")]
        command = None
    else:
        image = sync.image or ctx.opts.images.rsync
        env = [_secret_env("RSYNC_PASSWORD", secret, "password")] if secret else []
        command = ["rsync", "-avP", sync.source, SYNC_ROOT]
    if user_env:
        merged = {e["name"]: e for e in env}
        for name, value in user_env.items():
            merged[name] = {"name": name, "value": value}
        env = list(merged.values())
    out: dict[str, Any] = {"name": INIT_CONTAINER, "image": image, **ctx.pull_policy()}
    if command:
        out["command"] = command
    if env:
        out["env"] = env
    if resources:
        out["resources"] = resources
    out["volumeMounts"] = [{"name": VOLUME, "mountPath": SYNC_ROOT}]
    return out


def credentials_secret(spec: JobSpec, owner: dict[str, Any], data: dict[str, str],
                       name: str | None = None) -> dict[str, Any]:
    """The Secret `init_container` reads, for the engine to create at apply time only.

    It holds real credentials, so callers must never print it; it is owned by the job so that
    deleting the job deletes it.
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name or secret_name(spec),
            "namespace": spec.namespace,
            "labels": {"release": spec.name, "app": spec.kind},
            "ownerReferences": [owner_reference(owner)],
        },
        "type": "Opaque",
        "stringData": dict(data),
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
