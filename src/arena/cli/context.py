"""Build the SDK client from the global flags."""
from __future__ import annotations

import argparse

from arena.client import Client


def client_for(args: argparse.Namespace, engine: str | None = None) -> Client:
    """`engine` overrides --engine (`arena check` always asks the cluster)."""
    return Client(engine=engine or getattr(args, "engine", None), namespace=getattr(args, "namespace", None),
                  arena_namespace=getattr(args, "arena_namespace", None) or "arena-system",
                  kubeconfig=getattr(args, "config", None), context=getattr(args, "context", None))
