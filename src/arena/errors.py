"""Typed errors shared by the SDK and the CLI.

The CLI maps them to one line and an exit code: bad input is 2, anything that went
wrong at run time is 1. SDK users catch the type instead of matching strings.
"""
from __future__ import annotations


class ArenaError(Exception):
    """Base of every error Arena raises on purpose."""

    exit_code = 1


class InvalidSpec(ArenaError):
    """Bad input: names the flag or field and the rule it broke."""

    exit_code = 2

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class JobExists(ArenaError):
    exit_code = 2

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(
            f"--name: job {name!r} already exists in namespace {namespace!r}; "
            f"delete it first with 'arena delete {name}'"
        )


class JobNotFound(ArenaError):
    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"job {name!r} not found in namespace {namespace!r}")


class QueueNotFound(ArenaError):
    exit_code = 2

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"--queue: queue {name!r} does not exist")


class EngineUnavailable(ArenaError):
    """The selected engine cannot be used here (missing cluster, not built yet...)."""


class Unsupported(ArenaError):
    """The engine cannot do this (e.g. `--hostNetwork` locally): one line, exit 1, nothing changed."""

    def __init__(self, engine: str, what: str) -> None:
        self.engine = engine
        self.what = what
        super().__init__(f"{what} is not supported by the {engine} engine")


class DaemonError(ArenaError):
    """The local daemon could not be reached or answered with an error."""


def from_payload(payload: dict) -> ArenaError:
    """Rebuild a typed error sent by the daemon as JSON."""
    error_type = payload.get("type", "ArenaError")
    if error_type == "InvalidSpec":
        return InvalidSpec(payload.get("field", "?"), payload.get("rule", payload.get("message", "")))
    if error_type == "JobExists":
        return JobExists(payload["name"], payload["namespace"])
    if error_type == "JobNotFound":
        return JobNotFound(payload["name"], payload["namespace"])
    if error_type == "QueueNotFound":
        return QueueNotFound(payload["name"])
    if error_type == "Unsupported":
        return Unsupported(payload.get("engine", "local"), payload.get("what", payload.get("message", "")))
    err = ArenaError(payload.get("message", "unknown error"))
    err.exit_code = int(payload.get("exit_code", 1))
    return err


def to_payload(err: ArenaError) -> dict:
    payload: dict = {"type": type(err).__name__, "message": str(err), "exit_code": err.exit_code}
    for attr in ("field", "rule", "name", "namespace", "engine", "what"):
        if hasattr(err, attr):
            payload[attr] = getattr(err, attr)
    return payload
