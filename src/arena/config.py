"""Where Arena keeps its state and which engine it uses.

`$ARENA_HOME` (default `~/.arena`) holds the YAML config file `config`, the local daemon's
socket and store, and job directories. The engine comes from `--engine`, then
`ARENA_ENGINE`, then `engine:` in the config file, then `local`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from arena.errors import InvalidSpec

ENGINES = ("local", "kubernetes")


def home() -> Path:
    return Path(os.environ.get("ARENA_HOME") or Path.home() / ".arena").expanduser()


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
