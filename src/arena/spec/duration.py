"""Go-style durations ("90s", "1h30m", "500ms") as Arena and the AppWrapper annotations use."""
from __future__ import annotations

import math

from arena.errors import InvalidSpec

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h|d)"  # compiled by `re` on first use: `arena list` formats, never parses
# Go's time.Duration is int64 nanoseconds: nothing longer exists on a cluster, and a bound keeps every
# duration a finite number that converts to an int and fits SQLite's INTEGER.
MAX_SECONDS = (2**63 - 1) / 1e9


def parse_seconds(text: str, field: str) -> float:
    """Seconds in a Go duration; a bare number is seconds. `d` (days) is accepted too."""
    raw = str(text).strip()
    if not raw:
        raise InvalidSpec(field, "empty duration")
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if math.isnan(value):
            raise InvalidSpec(field, f"{raw!r} is not a duration (examples: 90s, 5m, 1h30m)")
        if value < 0:
            raise InvalidSpec(field, f"{raw!r} must not be negative")
        return _bounded(value, raw, field)
    import re

    pos, total = 0, 0.0
    for m in re.finditer(_PART, raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or pos == 0:
        raise InvalidSpec(field, f"{raw!r} is not a duration (examples: 90s, 5m, 1h30m)")
    return _bounded(total, raw, field)


def _bounded(seconds: float, raw: str, field: str) -> float:
    if not seconds <= MAX_SECONDS:  # also catches inf
        raise InvalidSpec(field, f"{raw!r} is longer than the longest duration (about 292 years)")
    return seconds


def short_human(seconds: float) -> str:
    """kubectl's ShortHumanDuration: 45s, 12m, 3h, 2d, 1y."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 120:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"
