"""Where Arena keeps its state and which engine it uses.

`$ARENA_HOME` (default `~/.arena`) holds the YAML config file `config`, the local daemon's
socket and store, and job directories. The engine comes from `--engine`, then
`ARENA_ENGINE`, then `engine:` in the config file, then `local`.
"""
from __future__ import annotations

import os

from arena.errors import InvalidSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from arena.limits import Limits

ENGINES = ("local", "kubernetes")


_SIZES = ("request_bytes", "log_bytes_per_replica")  # may be written as quantities (16Mi, 1Gi)


def limits(cfg: dict[str, Any] | None = None, path: Path | None = None) -> Limits:
    """The `limits:` section over the defaults; a bad value is refused naming its key."""
    from arena.limits import Limits

    raw = (cfg if cfg is not None else load(path)).get("limits") or {}
    where = path or home() / "config"
    if not isinstance(raw, dict):
        raise InvalidSpec(f"limits in {where}", "must be a mapping (limits: {replicas_per_job: 1000, ...})")
    known = set(Limits.__struct_fields__)
    values: dict[str, int] = {}
    for key, value in raw.items():
        if key not in known:
            raise InvalidSpec(f"limits.{key} in {where}", f"is not a limit; one of {', '.join(sorted(known))}")
        field = f"limits.{key} in {where}"
        if key in _SIZES and isinstance(value, str):
            from arena.spec import quantity

            n = quantity.memory_bytes(value, field)
        elif isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            raise InvalidSpec(field, f"{value!r} must be a whole number")
        if n < 1:
            raise InvalidSpec(field, "must be 1 or more")
        values[key] = n
    return Limits(**values)


def home() -> Path:
    from pathlib import Path

    return Path(home_dir())


def home_dir() -> str:
    """`home()` as a string: `arena list` answers without loading pathlib (a third of its start)."""
    return os.path.expanduser(os.environ.get("ARENA_HOME") or os.path.join(os.path.expanduser("~"), ".arena"))


def load(path: Path | None = None) -> dict[str, Any]:
    """The config file as a dict; a missing file is an empty config."""
    path = path or home() / "config"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise InvalidSpec(str(path), f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidSpec(str(path), "must be a mapping of settings")
    return data


def engine_name(flag: str | None, cfg: dict[str, Any] | None = None) -> str:
    name = flag or os.environ.get("ARENA_ENGINE") or (cfg if cfg is not None else load()).get("engine") or "local"
    if name not in ENGINES:
        raise InvalidSpec("--engine", f"{name!r} must be one of {', '.join(ENGINES)}")
    return name


def namespace(flag: str | None, cfg: dict[str, Any] | None = None) -> str:
    return flag or (cfg if cfg is not None else load()).get("namespace") or "default"
