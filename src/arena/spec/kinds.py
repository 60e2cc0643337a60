"""Job kinds, their aliases and trainer names, as upstream Arena spells them."""
from __future__ import annotations

from arena.errors import InvalidSpec

KINDS: dict[str, tuple[str, ...]] = {
    "pytorchjob": ("pytorch", "py"),
    "tfjob": ("tf", "tensorflow"),
    "mpijob": ("mpi", "mj"),
    "volcanojob": ("vj", "volcano"),
    "appwrapperjob": ("aw", "appwrapper"),
}

_LOOKUP = {alias.lower(): kind for kind, aliases in KINDS.items() for alias in (kind, *aliases)}


def canonical(name: str, field: str = "--type") -> str:
    kind = _LOOKUP.get(name.lower())
    if kind is None:
        raise InvalidSpec(field, f"unknown job type {name!r}; one of {', '.join(KINDS)}")
    return kind


def trainer(kind: str) -> str:
    """The TRAINER column: upstream prints the upper-cased type."""
    return kind.upper()
