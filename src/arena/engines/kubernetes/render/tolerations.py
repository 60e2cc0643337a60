"""`--toleration` strings → core/v1 Toleration objects, in every format the AppWrapper fork accepts.

Upstream Arena silently dropped tolerations it could not parse; here a malformed one is an
`InvalidSpec("--toleration", rule)`, so a job never lands on the wrong nodes unnoticed.

Formats (key may carry a DNS prefix such as node.kubernetes.io/unreachable):
  all                                    tolerate every taint
  key                                    operator Exists
  key:effect                             operator Exists
  key:effect:operator[:seconds]          operator must be Exists (no value to compare)
  key=value                              operator Equal
  key=value:effect[:operator[:seconds]]
  key=value:effect,operator              upstream's legacy form
"""
from __future__ import annotations

from typing import Any

from arena.errors import InvalidSpec
from arena.spec.names import check_label_key, check_label_value

FIELD = "--toleration"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
OPERATORS = ("Exists", "Equal")


def parse(text: str) -> dict[str, Any]:
    """One toleration string → a Toleration dict (keys in API order)."""
    raw = text.strip()
    if raw == "all":
        return {"operator": "Exists"}
    if not raw:
        raise InvalidSpec(FIELD, "empty toleration")
    head, sep, rest = raw.partition("=")
    if sep:
        key, value, tail = head, *_split_value(rest, raw)
    else:
        parts = raw.split(":")
        key, value, tail = parts[0], None, parts[1:]
    if len(tail) > 3:
        raise InvalidSpec(FIELD, f"{raw!r} has too many ':' parts (at most key[=value]:effect:operator:seconds)")
    effect = tail[0] if tail else ""
    operator = tail[1] if len(tail) > 1 else ("Equal" if value is not None else "Exists")
    seconds = _seconds(tail[2], raw) if len(tail) > 2 else None
    return _build(raw, key, value, effect, operator, seconds)


def parse_all(items: list[str]) -> list[dict[str, Any]]:
    return [parse(item) for item in items]


def _split_value(rest: str, raw: str) -> tuple[str, list[str]]:
    """`value:effect,operator` (legacy) or `value[:effect[:operator[:seconds]]]`."""
    value, _, after = rest.partition(":")
    if "," in after:
        effect, _, operator = after.partition(",")
        if ":" in operator or "," in operator:
            raise InvalidSpec(FIELD, f"{raw!r}: the legacy form is key=value:effect,operator")
        return value, [effect, operator]
    return value, after.split(":") if after else []


def _seconds(text: str, raw: str) -> int:
    if not text.isdigit():
        raise InvalidSpec(FIELD, f"{raw!r}: toleration seconds {text!r} must be a whole number >= 0")
    return int(text)


def _build(raw: str, key: str, value: str | None, effect: str, operator: str,
           seconds: int | None) -> dict[str, Any]:
    if not key:
        raise InvalidSpec(FIELD, f"{raw!r} has no key (use 'all' to tolerate every taint)")
    check_label_key(key, FIELD)
    if effect and effect not in EFFECTS:
        raise InvalidSpec(FIELD, f"{raw!r}: effect {effect!r} must be one of {', '.join(EFFECTS)}")
    if operator not in OPERATORS:
        raise InvalidSpec(FIELD, f"{raw!r}: operator {operator!r} must be Exists or Equal")
    if operator == "Equal" and not value:
        raise InvalidSpec(FIELD, f"{raw!r}: operator Equal needs a value (key=value:effect:Equal)")
    if operator == "Exists" and value:
        raise InvalidSpec(FIELD, f"{raw!r}: operator Exists cannot have a value; use Equal or drop the value")
    if value:
        check_label_value(value, FIELD)
    if seconds is not None and effect != "NoExecute":
        raise InvalidSpec(FIELD, f"{raw!r}: toleration seconds only apply to the NoExecute effect")
    out: dict[str, Any] = {"key": key, "operator": operator}
    if value:
        out["value"] = value
    if effect:
        out["effect"] = effect
    if seconds is not None:
        out["tolerationSeconds"] = seconds
    return out
