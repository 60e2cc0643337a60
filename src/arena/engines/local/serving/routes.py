"""What the daemon tells its proxy, and what the proxy tells back: two small JSON files under
`$ARENA_HOME/serving/`, each replaced whole (write, then rename), so a reader never sees half of one.

- `routes.json` (daemon -> proxy): every serving name's loopback address and ports, its versions with their
  traffic weights and readiness probe, and each version's replicas (their REST and gRPC ports; `draining`
  ones get no new request, as a terminating pod leaves its Service's endpoints). `serial` grows with each
  change.
- `status.json` (proxy -> daemon): the last `serial` the proxy applied, which replicas pass their
  readiness probe (AVAILABLE; the proxy balances over these only), and listeners it could not open.

The daemon waits for the proxy to acknowledge a serial before it stops replicas that serial drained, or
before it answers `arena serve delete`, so that a deleted job's ports are free when the command returns.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec


class Backend(msgspec.Struct, frozen=True):
    id: str  # "<job uid>/<replica key>"
    http: int = 0
    grpc: int = 0
    draining: bool = False


class VersionRoute(msgspec.Struct, frozen=True):
    version: str
    weight: int | None = None  # None: no traffic split (every ready replica of every version alike)
    probe: Literal["httpGet", "tcpSocket"] = "tcpSocket"
    probe_path: str = ""
    probe_port: Literal["restful", "grpc"] = "restful"
    backends: list[Backend] = []


class Listener(msgspec.Struct, frozen=True):
    port: int
    protocol: Literal["http", "tcp"]  # http: per-request balancing and retries; tcp: per connection (gRPC)
    target: Literal["restful", "grpc"]  # which replica port it forwards to


class Route(msgspec.Struct, frozen=True):
    key: str  # "<namespace>/<name>"
    address: str
    listeners: list[Listener] = []
    versions: list[VersionRoute] = []


class Routes(msgspec.Struct, frozen=True):
    serial: int = 0
    routes: list[Route] = []


class Status(msgspec.Struct, frozen=True):
    serial: int = -1
    pid: int = 0
    ready: list[str] = []  # backend ids passing their readiness probe
    errors: dict[str, str] = {}  # "<address>:<port>" -> why it could not listen


def read(path: Path, type_: type) -> object | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=type_)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def write(path: Path, value: msgspec.Struct) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.encode(value))
    os.replace(tmp, path)
