"""Parsers for repeatable KEY=VALUE flags (-e, -l, -a, capacity lists)."""
from __future__ import annotations

import re
from collections.abc import Iterable

from arena.errors import InvalidSpec
from arena.spec.names import check_label_key, check_label_value

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def split_pair(item: str, field: str, sep: str = "=") -> tuple[str, str]:
    key, found, value = item.partition(sep)
    if not found or not key:
        raise InvalidSpec(field, f"{item!r} must be KEY{sep}VALUE")
    return key, value


def parse_env(items: Iterable[str], field: str = "--env") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, value = split_pair(item, field)
        if not _ENV_NAME.match(key):
            raise InvalidSpec(field, f"{key!r} is not a valid environment variable name")
        out[key] = value
    return out


def parse_labels(items: Iterable[str], field: str = "--label") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, value = split_pair(item, field)
        out[check_label_key(key, field)] = check_label_value(value, field)
    return out


def parse_annotations(items: Iterable[str], field: str = "--annotation") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, value = split_pair(item, field)
        out[check_label_key(key, field)] = value
    return out


def parse_csv_pairs(text: str, field: str) -> dict[str, str]:
    """`cpu=8,memory=32Gi,nvidia.com/gpu=4` → dict."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, value = split_pair(part, field)
        out[key.strip()] = value.strip()
    return out
