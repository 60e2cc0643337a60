"""Which cluster, which credentials, which namespace — resolved as upstream Arena does.

kubeconfig: `--config`, then `$KUBECONFIG`, then `~/.kube/config` if it exists, else the
in-cluster service account. `$KUBECONFIG` may list several files (`a:b`); they are merged as
kubectl merges them: the first file that defines a name (or the current context) wins.

namespace: `-n`, then `namespace:` in the Arena config file, then the namespace of the kubeconfig
context, then `default`. Reading the namespace parses YAML only; lightkube is imported when a
connection is actually made (`load`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arena.errors import EngineUnavailable, InvalidSpec

DEFAULT_KUBECONFIG = Path("~/.kube/config")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def paths(flag: str | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The kubeconfig files to read, in precedence order; [] means in-cluster."""
    env = os.environ if env is None else env
    if flag:
        return [Path(flag).expanduser()]
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    default = DEFAULT_KUBECONFIG.expanduser()
    return [default] if default.is_file() else []


def configured(flag: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether any cluster could be reached at all: a kubeconfig file exists, or this runs in a pod.

    Cheap (no YAML, no lightkube): a plan checks it before it would load an API client for a lookup.
    """
    listed = paths(flag, env)
    return any(p.is_file() for p in listed) if listed else SERVICE_ACCOUNT.is_dir()


def read(files: list[Path], flag: str | None = None) -> dict[str, Any] | None:
    """The merged kubeconfig mapping, or None for in-cluster. A file named by --config must exist."""
    if not files:
        return None
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": []}
    seen: dict[str, set[str]] = {k: set() for k in merged}
    found = False
    for path in files:
        try:
            text = path.read_text()
        except FileNotFoundError:
            if flag:
                raise InvalidSpec("--config", f"kubeconfig {str(path)!r} does not exist") from None
            continue  # kubectl skips missing entries of $KUBECONFIG
        except OSError as exc:
            raise InvalidSpec("--config", f"cannot read kubeconfig {str(path)!r}: {exc.strerror}") from None
        data = _parse(path, text)
        found = True
        if data.get("current-context") and "current-context" not in merged:
            merged["current-context"] = data["current-context"]
        for section in ("clusters", "contexts", "users"):
            for item in data.get(section) or []:
                name = item.get("name") if isinstance(item, dict) else None
                if name and name not in seen[section]:
                    seen[section].add(name)
                    merged[section].append(item)
    if not found:
        raise EngineUnavailable(f"no kubeconfig found ({', '.join(map(str, files))}); "
                                "pass --config or set KUBECONFIG")
    return merged


# path → (text, parsed mapping) of the last parse. A command reads the kubeconfig twice (the
# namespace when the client starts, the credentials on the first API call); YAML parsing is the
# costly part, so an unchanged text is not parsed again. The file itself is re-read every time.
_PARSED: dict[Path, tuple[str, dict[str, Any]]] = {}


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The kubeconfig mapping in `text` (read from `path`); a private copy, so callers may change it."""
    import copy

    hit = _PARSED.get(path)
    if hit is None or hit[0] != text:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            raise InvalidSpec("--config", f"kubeconfig {str(path)!r} is not valid YAML") from None
        if not isinstance(data, dict):
            raise InvalidSpec("--config", f"kubeconfig {str(path)!r} is not a mapping")
        hit = _PARSED[path] = (text, data)
    return copy.deepcopy(hit[1])


def context_namespace(data: Mapping[str, Any] | None, context: str | None = None) -> str | None:
    """The namespace of the selected context (in-cluster: the service account's)."""
    if data is None:
        try:
            return (SERVICE_ACCOUNT / "namespace").read_text().strip() or None
        except OSError:
            return None
    name = context or data.get("current-context")
    for item in data.get("contexts") or []:
        if item.get("name") == name:
            return (item.get("context") or {}).get("namespace") or None
    return None


def context_user(data: Mapping[str, Any] | None, context: str | None = None) -> dict[str, Any]:
    """The `user:` mapping of the selected context's user (in-cluster: the service account's token file), read
    from the YAML alone: who the user is can often be told without an API client (`identity.credential`)."""
    if data is None:
        token = SERVICE_ACCOUNT / "token"
        return {"tokenFile": str(token)} if token.is_file() else {}
    name = context or data.get("current-context")
    user_name = next(((item.get("context") or {}).get("user") for item in data.get("contexts") or []
                      if item.get("name") == name), None)
    for item in data.get("users") or []:
        if item.get("name") == user_name:
            return dict(item.get("user") or {})
    return {}


def resolve_namespace(flag: str | None, arena_config: Mapping[str, Any] | None = None,
                      kubeconfig: str | None = None, context: str | None = None,
                      env: Mapping[str, str] | None = None) -> str:
    """Upstream's namespace fallback: -n, Arena config, kubeconfig context, `default`.

    Never fails on a broken kubeconfig: that is reported when the cluster is contacted.
    """
    if flag:
        return flag
    if arena_config and arena_config.get("namespace"):
        return str(arena_config["namespace"])
    try:
        ns = context_namespace(read(paths(kubeconfig, env), kubeconfig), context)
    except (InvalidSpec, EngineUnavailable):
        ns = None
    return ns or "default"


def load(kubeconfig: str | None = None, context: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A lightkube `SingleConfig` for the selected context (or the in-cluster account)."""
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.config.models import User
    from lightkube.core.exceptions import ConfigError

    files = paths(kubeconfig, env)
    data = read(files, kubeconfig)
    try:
        if data is None:
            config = KubeConfig.from_service_account(str(SERVICE_ACCOUNT))
        else:
            config = KubeConfig.from_dict(data, fname=next((f for f in files if f.is_file()), files[0]))
        single = config.get(context)
    except ConfigError as exc:
        if data is None:
            raise EngineUnavailable("no kubeconfig found and not running in a cluster: pass --config, set "
                                    "KUBECONFIG or create ~/.kube/config") from None
        if context:
            raise InvalidSpec("--context", str(exc)) from None
        raise EngineUnavailable(f"kubeconfig: {exc}") from None
    except KeyError as exc:  # a context naming a cluster or user that does not exist, or no env in-cluster
        if data is None:
            raise EngineUnavailable("no kubeconfig found and not running in a cluster: pass --config, set "
                                    "KUBECONFIG or create ~/.kube/config") from None
        raise InvalidSpec("--context", f"kubeconfig refers to {exc.args[0]!r}, which it does not define") from None
    except (TypeError, ValueError) as exc:  # msgspec validation of malformed entries
        raise InvalidSpec("--config", f"kubeconfig is malformed: {exc}") from None
    if single.user is None:  # lightkube needs a user object even for an anonymous cluster
        single = single._replace(user=User())
    return single
