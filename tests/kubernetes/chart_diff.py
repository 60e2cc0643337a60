"""Field-by-field differences between upstream's chart output and our `--dry-run`, after an explicit,
documented normalisation, and the allow-list of known differences read from docs/compatibility.md.

Normalisation (everything else is compared as is):
- Helm's own labels `chart` and `heritage` are dropped from every `labels`, `matchLabels` and Service
  `selector` map: they name the chart release, which Arena has none of (`app`, `release` and `createdBy`
  are compared).
- `metadata.namespace` is dropped from our objects when it is the namespace the case submits to: `helm
  template` leaves it out and upstream's `kubectl apply -n NS` fills it in.
- An empty map (or one holding only empty values), an empty list and null are the same as an absent field
  (the API server stores them alike).
- Annotations holding the render time (`helm.sh/created`, which upstream's serving charts and ours set)
  are compared as present or absent, not by value.
- Resource quantities (`resources.limits/requests`, `sizeLimit`) compare as strings: `1` and `"1"` are the
  same quantity to the API server.
- Lists whose items all have a `name` (env, volumes, volumeMounts, containers, ports...) are matched by
  name, so their order does not count (one item on each side: compared to each other, so a renamed
  container shows as a `name` difference under upstream's name); other lists compare item by item.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELM_ONLY_LABELS = ("chart", "heritage")
TIMESTAMPS = ("helm.sh/created",)  # annotations holding the render time: compared as present or absent
QUANTITY_PARENTS = ("limits", "requests")
SELECTORS = ("labels", "matchLabels", "selector")
SECTION = "## Rendering differences from upstream's charts"


@dataclass(frozen=True)
class Difference:
    """One field that differs: where (`Kind/name:dotted.path[item]`), upstream's value and ours."""

    where: str
    upstream: Any
    ours: Any

    def __str__(self) -> str:
        return f"{self.where}: upstream {self.upstream!r}, ours {self.ours!r}"


@dataclass(frozen=True)
class Allowed:
    """A row of the documented list: a stable key, the paths it covers (fnmatch patterns), the reason."""

    key: str
    patterns: tuple[str, ...]
    reason: str

    def covers(self, diff: Difference) -> bool:
        """`*` matches anything; `[` and `]` are literal (they name list items)."""
        return any(fnmatch.fnmatchcase(diff.where, p.replace("[", "[[]")) for p in self.patterns)


def allowed(doc: Path) -> list[Allowed]:
    """The table under SECTION in docs/compatibility.md: `| `key` | `pattern`, `pattern` | reason |`."""
    text = doc.read_text(encoding="utf-8")
    start = text.find(SECTION)
    if start < 0:
        raise AssertionError(f"{doc}: no section {SECTION!r}")
    body = text[start + len(SECTION):]
    end = body.find("\n## ")
    rows = []
    for line in (body if end < 0 else body[:end]).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append(Allowed(cells[0].strip("`"), tuple(re.findall(r"`([^`]+)`", cells[1])), cells[2]))
    return rows


def _empty(value: Any) -> bool:
    """null, [], {} or a map of nothing but those (`resources: {limits: null}`)."""
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    return value is None or value == []


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _walk(up: Any, ours: Any, where: str, parent: str, out: list[Difference]) -> None:
    # A list on one side only is walked against an empty one, so each item is its own difference (env
    # entries, ports); a map on one side only is one difference (a whole replica type, a policy).
    if up is None and isinstance(ours, list):
        up = []
    if ours is None and isinstance(up, list):
        ours = []
    if isinstance(up, dict) and isinstance(ours, dict):
        for key in sorted(set(up) | set(ours), key=str):
            a, b = up.get(key), ours.get(key)
            if parent in SELECTORS and key in HELM_ONLY_LABELS:
                continue
            if parent == "annotations" and key in TIMESTAMPS and a is not None and b is not None:
                continue
            if _empty(a) and _empty(b):
                continue
            path = f"{where}.{key}" if where[-1] != ":" else f"{where}{key}"
            if (parent in QUANTITY_PARENTS or key == "sizeLimit") and not isinstance(a or b, (dict, list)):
                a, b = (None if v is None else str(v) for v in (a, b))
            _walk(a, b, path, str(key), out)
        return
    if isinstance(up, list) and isinstance(ours, list):
        if (_named(up) or not up) and (_named(ours) or not ours):
            if len(up) == len(ours) == 1:  # one item each: a rename is a name difference, not two items
                _walk(up[0], ours[0], f"{where}[{up[0]['name']}]", parent, out)
                return
            a_by, b_by = {i["name"]: i for i in up}, {i["name"]: i for i in ours}
            for name in sorted(set(a_by) | set(b_by), key=str):
                _walk(a_by.get(name), b_by.get(name), f"{where}[{name}]", parent, out)
        elif len(up) == len(ours) or not up or not ours:
            for i in range(max(len(up), len(ours))):
                _walk(up[i] if i < len(up) else None, ours[i] if i < len(ours) else None, f"{where}[{i}]",
                      parent, out)
        else:
            out.append(Difference(where, up, ours))
        return
    if _empty(up) and _empty(ours):
        return
    if up != ours:
        out.append(Difference(where, up, ours))


def _key(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def compare(upstream: list[dict[str, Any]], ours: list[dict[str, Any]], namespace: str) -> list[Difference]:
    """Every difference between two lists of objects, paired by kind and name."""
    a = {_key(o): o for o in upstream if o}
    b = {}
    for o in ours:
        if not o:
            continue
        meta = o.get("metadata") or {}
        if meta.get("namespace") == namespace:
            o = {**o, "metadata": {k: v for k, v in meta.items() if k != "namespace"}}
        b[_key(o)] = o
    out: list[Difference] = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            out.append(Difference(f"{key}:", "present" if key in a else None, "present" if key in b else None))
            continue
        _walk(a[key], b[key], f"{key}:", "", out)
    return out
