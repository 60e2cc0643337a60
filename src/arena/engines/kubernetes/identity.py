"""Who the user is, as upstream Arena decides it: the user name and its Id (the `arena.kubeflow.org/uid`).

Shared by `arena whoami` and by the renderer that labels a job with its owner, so both agree with
upstream's binary on every cluster: upstream labels a job `arena.kubeflow.org/uid=<Id>`, where the Id is
the md5 (lower-case hex) of the Kubernetes user name, lists only its user's jobs in a namespace labelled
`arena.kubeflow.org/isolate-user=true`, and checks ownership through that label.

The name comes from the kubeconfig's credentials, in upstream's order (`pkg/apis/config/user.go`):
basic auth → `kubecfg:basicauth:<username>`; a client certificate → the API server's answer, else the
certificate's CommonName, else `kubecfg:certauth:admin`; a bearer token → the API server's answer
(TokenReview). `offline_name` is the part that needs no API call; `engines.kubernetes.whoami` asks the
API server for the rest. Pure and standard-library only.
"""
from __future__ import annotations

import os
from typing import Any

LEGACY_CERT_USER = "kubecfg:certauth:admin"  # upstream's name for a certificate it cannot read
NO_USER = "not found user name for the current context,we don't know how to detect user name"  # upstream's text


def user_id(name: str) -> str:
    """Upstream's user Id: the md5 of the user name, as 32 lower-case hex digits (a valid label value)."""
    import hashlib  # here, not at import: the planner imports this module on every Kubernetes --dry-run

    return hashlib.md5(name.encode("utf-8")).hexdigest()


# kubeconfig key -> the attribute of lightkube's `User`
_ATTR = {"client-certificate": "client_cert", "client-certificate-data": "client_cert_data", "tokenFile": "token_file",
         "auth-provider": "auth_provider"}


def _get(user: Any, key: str) -> Any:
    return user.get(key) if isinstance(user, dict) else getattr(user, _ATTR.get(key, key), None)


def credential(user: Any) -> str:
    """Which credential a lightkube `User` (or a kubeconfig `user:` mapping) carries:
    basic | cert | token | exec | auth-provider | none, in the precedence upstream's client uses."""
    if _get(user, "username") and _get(user, "password"):
        return "basic"
    if _get(user, "client-certificate") or _get(user, "client-certificate-data"):
        return "cert"
    if _get(user, "token") or _get(user, "tokenFile"):
        return "token"
    if _get(user, "exec"):
        return "exec"
    if _get(user, "auth-provider"):
        return "auth-provider"
    return "none"


def token_of(user: Any) -> str | None:
    """The bearer token, from `token` or the file `tokenFile` names (the in-cluster service account's)."""
    token = _get(user, "token")
    if token:
        return str(token).strip()
    path = _get(user, "tokenFile")
    if path:
        try:
            with open(str(path)) as f:
                return f.read().strip() or None
        except OSError:
            return None
    return None


def jwt_subject(token: str) -> str | None:
    """The `sub` claim of a JWT (a service account token: `system:serviceaccount:<ns>:<name>`), unverified.

    Only a fallback for when the API server cannot be asked: it names the user the server would name."""
    import base64
    import json

    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) and sub else None


def certificate_common_name(user: Any) -> str | None:
    """The CommonName of the client certificate (Kubernetes maps it to the user name), or None."""
    import base64
    import tempfile

    import ssl

    decode = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is None:
        return None
    data = _get(user, "client-certificate-data")
    path = _get(user, "client-certificate")
    tmp = None
    try:
        if data:
            pem = base64.b64decode(str(data))
            fd, tmp = tempfile.mkstemp(suffix=".pem")
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            path = tmp
        if not path:
            return None
        subject = decode(str(path)).get("subject", ())
    except (OSError, ValueError, ssl.SSLError):
        return None
    finally:
        if tmp:
            os.unlink(tmp)
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName" and value:
                return str(value)
    return None


def offline_name(user: Any) -> str | None:
    """The user name where upstream decides it without the API server (basic auth), else None."""
    if credential(user) == "basic":
        return f"kubecfg:basicauth:{_get(user, 'username')}"
    return None
