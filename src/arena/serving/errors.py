"""Serving errors, typed for the SDK and one line for the CLI; texts are upstream Arena's (SERVING.md §10)."""
from __future__ import annotations

from collections.abc import Sequence

from arena.errors import ArenaError


class ServingNotFound(ArenaError):
    def __init__(self, name: str, namespace: str = "default") -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"Not found serving job {name}, please check it with `arena serve list | grep {name}`")


class ServingExists(ArenaError):
    exit_code = 2

    def __init__(self, name: str, namespace: str = "default") -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"the job {name} is already exist, please delete it first. use 'arena serve delete {name}'")


class ServingAmbiguous(ArenaError):
    """Several versions (or types) match and the command needs one: upstream's text, on one line."""

    exit_code = 2

    def __init__(self, name: str, matches: Sequence[tuple[str, str]]) -> None:
        self.name = name
        rows = ", ".join(f"{name} ({t}, version {v})" for t, v in matches)
        super().__init__(f"There is {len(matches)} jobs have been found: {rows}; please use '--type' or '--version' "
                         "to filter.")


class ServingOwnedByOther(ServingExists):
    """Submit of a name another user's serving job holds, in a namespace that isolates users: upstream's text
    (`ValidateJobsBeforeSubmiting`), word for word."""

    def __init__(self, name: str, namespace: str = "default") -> None:
        super().__init__(name, namespace)
        self.args = (f"the job {name} is already exist, but its' owner is not you",)
