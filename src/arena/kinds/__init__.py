"""The kind registry: one module per job kind, each declaring everything about that kind.

    from arena import kinds
    kinds.get("py")            # -> the pytorchjob Kind (aliases accepted)
    kinds.canonical("tf")      # -> "tfjob"
    kinds.all()                # every Kind, in the order upstream lists them

Adding a kind is one new module here (a `Kind` subclass bound to `KIND`) plus its name in
`MODULES`, and its tests.
"""
from __future__ import annotations

from importlib import import_module

from arena.errors import InvalidSpec
from arena.kinds.base import Kind

# Registry order is the order of `arena submit --help` and of `list --type` errors.
MODULES: tuple[str, ...] = ("pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob")

_KINDS: dict[str, Kind] = {}
_LOOKUP: dict[str, str] = {}


def _load() -> dict[str, Kind]:
    if not _KINDS:
        for module in MODULES:
            kind: Kind = import_module(f"arena.kinds.{module}").KIND
            _KINDS[kind.name] = kind
            for alias in kind.names:
                _LOOKUP[alias.lower()] = kind.name
    return _KINDS


def all() -> list[Kind]:  # noqa: A001 - the registry's natural verb
    return list(_load().values())


def names() -> list[str]:
    return list(_load())


def aliases() -> dict[str, str]:
    """Every accepted spelling (lower case) -> canonical name."""
    _load()
    return dict(_LOOKUP)


def canonical(name: str, field: str = "--type") -> str:
    _load()
    kind = _LOOKUP.get(str(name).lower())
    if kind is None:
        raise InvalidSpec(field, f"unknown job type {name!r}; one of {', '.join(_KINDS)}")
    return kind


def get(name: str, field: str = "--type") -> Kind:
    _load()
    if str(name).lower() not in _LOOKUP and serving(name):
        return import_module("arena.serving.kind").KINDS[name]
    return _load()[canonical(name, field)]


def serving(name: str) -> bool:
    """Whether `name` is a serving type's kind (`arena serve`, `arena.serving.kind`): the local engine runs each
    serving version as a job of that kind, which `get` resolves; it is not a training kind, so `all`, `names`,
    `canonical` (--type) and `arena list` leave it out."""
    return name in import_module("arena.serving.kind").KINDS


__all__ = ["MODULES", "Kind", "aliases", "all", "canonical", "get", "names", "serving"]
