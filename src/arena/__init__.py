"""Arena for Python: distributed training jobs as if on one machine.

`from arena import Client` is the SDK entry point. Heavy modules load lazily so
that `arena --help` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Client", "__version__"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

    from arena.client import Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        from arena.client import Client

        return Client
    raise AttributeError(name)
