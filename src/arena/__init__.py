"""Arena for Python: distributed training jobs as if on one machine.

`from arena import Client` is the SDK entry point. Heavy modules load lazily so
that `arena --help` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Client", "__version__"]

if TYPE_CHECKING:
    from arena.client import Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        from arena.client import Client

        return Client
    raise AttributeError(name)
