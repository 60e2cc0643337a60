"""Job kinds by name: a thin view of the registry (`arena.kinds`) for the spec layer."""
from __future__ import annotations

from arena.kinds import canonical


def trainer(kind: str) -> str:
    """The TRAINER column: upstream prints the upper-cased type."""
    from arena import kinds

    return kinds.get(kind).trainer


__all__ = ["canonical", "trainer"]
