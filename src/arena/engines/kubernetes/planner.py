"""`plan(spec)`: the manifests submit would create — pure, and light to import (no API client).

`--dry-run` uses this directly so that it needs no cluster and stays fast; the engine's submit
is `apply(plan(spec))` (STYLE §1), so the two cannot drift.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from arena.spec.job import JobSpec


def credentials(spec: JobSpec, env: Mapping[str, str]) -> dict[str, str] | None:
    """Code-sync credentials from the submitter's environment; they only ever go into a Secret."""
    if spec.sync is None:
        return None
    if spec.sync.mode == "git":
        user, password = env.get("GIT_SYNC_USERNAME"), env.get("GIT_SYNC_PASSWORD")
        return {"username": user or "", "password": password or ""} if (user or password) else None
    password = env.get("RSYNC_PASSWORD")
    return {"password": password} if password else None


def user(env: Mapping[str, str]) -> tuple[str, str]:
    """(label-safe user id, user name) for upstream's `arena.kubeflow.org/uid` label and username annotation."""
    import getpass

    try:
        name = env.get("ARENA_USER") or getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    uid = re.sub(r"[^a-z0-9._-]", "-", name.lower()).strip("-._")[:63] or "unknown"
    return uid, name


def plan(spec: JobSpec, env: Mapping[str, str], images: Any = None) -> list[dict[str, Any]]:
    """The manifests, primary first. The credentials Secret is referenced by name, never included."""
    from arena.engines.kubernetes import render
    from arena.engines.kubernetes.render import sync

    secret = sync.secret_name(spec) if credentials(spec, env) else None
    user_id, user_name = user(env)
    return render.render(spec, user_id=user_id, user_name=user_name, sync_secret=secret, images=images)
