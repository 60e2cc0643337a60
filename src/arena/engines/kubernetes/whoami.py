"""`arena whoami` on a cluster: the Kubernetes user, upstream's Id for it, and whether it is an admin.

The name is resolved as upstream does (`identity`), asking the API server where the credentials alone
do not say: a SelfSubjectReview (any credential, Kubernetes ≥ 1.28) or a TokenReview (a bearer token,
upstream's way). Admins are listed under `adminUsers` in the `arena-config` ConfigMap of
`--arena-namespace`; a namespace labelled `arena.kubeflow.org/isolate-user=true` shows each non-admin
user only their own jobs. Reading either may be forbidden to an ordinary user: that reads as "no".
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from arena.engines.kubernetes import identity
from arena.errors import ArenaError
from arena.views import UserView

if TYPE_CHECKING:
    from arena.engines.kubernetes.api import Api

ARENA_CONFIG = "arena-config"
ADMIN_KEY = "adminUsers"
ISOLATE_LABEL = "arena.kubeflow.org/isolate-user"
SELF_SUBJECT_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
TOKEN_REVIEW = "/apis/authentication.k8s.io/v1/tokenreviews"


def _self_subject(api: Api) -> str | None:
    """The API server's name for us, or None when it cannot say (refused, unreachable, or a credential the
    TLS layer rejects: the caller falls back as upstream does)."""
    try:
        answer = api.post_raw(SELF_SUBJECT_REVIEW, {"apiVersion": "authentication.k8s.io/v1",
                                                    "kind": "SelfSubjectReview"})
    except (ArenaError, OSError, ValueError):  # ssl.SSLError is an OSError
        return None
    return ((answer or {}).get("status") or {}).get("userInfo", {}).get("username") or None


def _token_review(api: Api, token: str) -> str | None:
    try:
        answer = api.post_raw(TOKEN_REVIEW, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                             "spec": {"token": token}})
    except (ArenaError, OSError, ValueError):
        return None
    status = (answer or {}).get("status") or {}
    return (status.get("user") or {}).get("username") or None


def user_name(api: Api, user: Any) -> str:
    """The Kubernetes user name of the kubeconfig's `user`, in upstream's order."""
    offline = identity.offline_name(user)
    if offline:
        return offline
    credential = identity.credential(user)
    if credential == "cert":
        return _self_subject(api) or identity.certificate_common_name(user) or identity.LEGACY_CERT_USER
    if credential == "token":
        token = identity.token_of(user) or ""
        name = (_token_review(api, token) if token else None) or _self_subject(api)
        name = name or (identity.jwt_subject(token) if token else None)
        if name:
            return name
    elif credential in ("exec", "auth-provider"):
        name = _self_subject(api)
        if name:
            return name
    raise ArenaError(identity.NO_USER)


def admin_users(api: Api, arena_namespace: str) -> set[str]:
    try:
        cm = api.raw(f"/api/v1/namespaces/{arena_namespace}/configmaps/{ARENA_CONFIG}")
    except ArenaError:
        return set()
    text = ((cm or {}).get("data") or {}).get(ADMIN_KEY) or ""
    return {u for u in re.split(r"[\s,;]+", text) if u}


def isolates(api: Api, namespace: str) -> bool:
    try:
        ns = api.raw(f"/api/v1/namespaces/{namespace}")
    except ArenaError:
        return False
    return ((ns or {}).get("metadata") or {}).get("labels", {}).get(ISOLATE_LABEL) == "true"


def whoami(api: Api, user: Any, namespace: str, arena_namespace: str) -> UserView:
    name = user_name(api, user)
    return UserView(name=name, id=identity.user_id(name), is_admin_user=name in admin_users(api, arena_namespace),
                    isolate_user=isolates(api, namespace))
