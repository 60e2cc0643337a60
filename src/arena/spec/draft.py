"""A job document while flags are applied to it (`spec.jobfile.merge`).

The document is the job-file schema (docs/jobfile.md) as plain dicts; each flag's declared mapping
(`arena.kinds.flags`) edits it through the few operations below, so that a flag means the same
whether it came alone, from the SDK, or next to `-f FILE`. Sections the flags create and leave empty
are dropped again by `finish`, so a merged document stays as small as the user wrote it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from arena.errors import InvalidSpec
from arena.spec.keyvalue import split_pair

if TYPE_CHECKING:
    from arena.kinds.base import Kind


def pairs_dict(value: Any, field: str) -> dict[str, Any]:
    """A file mapping as is, or KEY=VALUE items (flags, or a file's list form) split as the flags are."""
    if isinstance(value, Mapping):
        return dict(value)
    return dict(split_pair(str(item), field) for item in value or ())


class Draft:
    """The document under edit, the kind it is a job of, and the flags given (dest -> value)."""

    def __init__(self, doc: dict[str, Any], given: Mapping[str, Any], kind: Kind) -> None:
        self.doc = doc
        self.given = given
        self.kind = kind
        self._created = {key for key in ("options", "scheduling", "run_policy") if key not in doc}

    # ---- sections and paths ---------------------------------------------------------------------
    def section(self, key: str) -> dict[str, Any]:
        """A mapping section (`scheduling`, `options`, `sync`...), created when absent or null."""
        value = self.doc.get(key)
        if value is None or (key == "tensorboard" and value is True):
            value = self.doc[key] = {}
        if not isinstance(value, dict):
            raise InvalidSpec(key, "must be a mapping")
        return value

    def set(self, path: str, value: Any) -> None:
        head, _, key = path.rpartition(".")
        (self.section(head) if head else self.doc)[key] = value

    def get(self, path: str, default: Any = None) -> Any:
        head, _, key = path.rpartition(".")
        where = self.doc.get(head) if head else self.doc
        return where.get(key, default) if isinstance(where, dict) else default

    def merge_pairs(self, path: str, items: Any) -> None:
        """KEY=VALUE items over the mapping at `path` (maps merge key by key; the flag's value wins)."""
        self.set(path, pairs_dict(self.get(path), path) | pairs_dict(items, path))

    def merge_pairs_into(self, task: dict[str, Any], key: str, items: Any) -> None:
        """KEY=VALUE items over a task's mapping `key` (a role's node selector), the flag's value winning."""
        task[key] = pairs_dict(task.get(key) or {}, key) | pairs_dict(items, key)

    def option(self, key: str, default: Any = None) -> Any:
        options = self.doc.get("options")
        return options.get(key, default) if isinstance(options, dict) else default

    # ---- tasks ----------------------------------------------------------------------------------
    def tasks(self) -> list[dict[str, Any]]:
        tasks = self.doc.setdefault("tasks", [])
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise InvalidSpec("tasks", "must be a list of mappings (name:, replicas:, ...)")
        return tasks

    def task(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks() if t.get("name") == name), None)

    def set_replicas(self, name: str, replicas: int) -> None:
        """Set a role's replicas, adding the role (it runs the job's command) or dropping it at 0."""
        tasks = self.tasks()
        found = self.task(name)
        if replicas <= 0:
            self.doc["tasks"] = [t for t in tasks if t.get("name") != name]
        elif found is not None:
            found["replicas"] = replicas
        else:
            tasks.append({"name": name, "replicas": replicas})

    def add_role(self, name: str) -> None:
        """A single-replica role (--chief, --evaluator), unless the job has it already."""
        if self.task(name) is None:
            self.tasks().append({"name": name, "replicas": 1})

    def set_resource(self, task: dict[str, Any], key: str, value: Any) -> None:
        resources = task.setdefault("resources", {})
        if key == "devices":
            resources["devices"] = dict(resources.get("devices") or {}) | dict(value)
        else:
            resources[key] = value

    def finish(self) -> dict[str, Any]:
        """The document, without the sections the flags created and left empty."""
        for key in self._created:
            if not self.doc.get(key):
                self.doc.pop(key, None)
        return self.doc
