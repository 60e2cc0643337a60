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
    """A job of that name exists. The text is upstream Arena's, word for word: its SDK and users' scripts
    match it ("is already exist")."""

    exit_code = 2

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"the job {name} is already exist, please delete it first. use 'arena delete {name}'")


class JobNotFound(ArenaError):
    """No such job. The text is upstream Arena's (`errJobNotFoundMessage`), word for word: upstream's SDK
    treats a `get` whose output contains it as "no job" rather than as a failure."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"Not found training job {name} in namespace {namespace},"
                         "please use 'arena submit' to create it.")


class NotJobOwner(ArenaError):
    """The job is another user's, in a namespace that isolates users (`arena.kubeflow.org/isolate-user=true`) and
    to a user who is no admin. The text is upstream Arena's (`ErrNoPrivilegesToOperateJob`), word for word."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__("you have no privileges to operate the job,because the owner of job is not you")


class JobOwnedByOther(JobExists):
    """Submit of a name another user's job holds, in a namespace that isolates users: upstream's text."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(name, namespace)
        self.args = (f"the job {name} is already exist and it owned by other user,"
                     "you have no privileges to operate it",)


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


class DiskFull(ArenaError):
    """The disk holding ARENA_HOME is full. Said as such (not as a lost connection), with what frees space:
    `delete` and `prune` still work on a full disk."""

    def __init__(self, home: str) -> None:
        self.home = home
        super().__init__(f"no space left on device under ARENA_HOME ({home}); free space there, or remove "
                         "finished jobs with 'arena prune' or 'arena delete'")


class StoreDamaged(ArenaError):
    """The local engine's store cannot be trusted (corrupt, or missing jobs that are on disk): the daemon
    refuses to serve from it rather than run on a rolled-back or empty store and orphan replicas."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"the local store {path} is damaged ({problem}); run 'arena daemon repair'")


class NotOwner(ArenaError):
    """ARENA_HOME, the daemon's socket or its store belongs to another user: using it would hand that user
    the job's environment and secrets (or run their jobs as ours)."""

    def __init__(self, what: str, path: str, owner: int, me: int) -> None:
        self.what = what
        self.path = path
        super().__init__(f"{what} {path} is owned by uid {owner}, not by you (uid {me}) or root; refusing to use it")


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
    if error_type == "DiskFull":
        return DiskFull(payload.get("home", "?"))
    if error_type == "StoreDamaged":
        return StoreDamaged(payload.get("path", "?"), payload.get("problem", ""))
    err = ArenaError(payload.get("message", "unknown error"))
    err.exit_code = int(payload.get("exit_code", 1))
    return err


def to_payload(err: ArenaError) -> dict:
    payload: dict = {"type": type(err).__name__, "message": str(err), "exit_code": err.exit_code}
    for attr in ("field", "rule", "name", "namespace", "engine", "what", "home", "path", "problem"):
        if hasattr(err, attr):
            payload[attr] = getattr(err, attr)
    return payload
