"""Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3").

Users write the strings they will later write on a cluster; we keep the string for
rendering and parse it to integers (milli-CPU, bytes, counts) for scheduling.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from arena.errors import InvalidSpec

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
# Kubernetes keeps a quantity's value in an int64: a larger request can never be scheduled anywhere, so it is
# refused here rather than queued forever (and never reaches an int conversion or SQLite).
MAX_VALUE = Decimal(2**63 - 1)
_RE = re.compile(r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")


def parse(value: str | int | float, field: str) -> Decimal:
    """Parse a quantity into a Decimal of base units; negative values are refused."""
    text = str(value).strip()
    m = _RE.match(text)
    if not m:
        raise InvalidSpec(field, f"{text!r} is not a quantity (examples: 500m, 2, 1.5Gi, 512Mi)")
    number, suffix = m.group(1), m.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the regex already checked it
        raise InvalidSpec(field, f"{text!r} is not a quantity") from None
    if suffix[:1] in ("e", "E") and suffix not in _BINARY:  # 1e3, not the binary Ei
        exponent = int(suffix[1:])
        if exponent > 30:  # beyond any bound below; keeps Decimal from building a 10**1000000 number
            raise InvalidSpec(field, f"{text!r} is too large (at most {MAX_VALUE})")
        value = base * (Decimal(10) ** exponent)
    else:
        value = base * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])
    if value > MAX_VALUE:
        raise InvalidSpec(field, f"{text!r} is too large (at most {MAX_VALUE})")
    return value


def cpu_milli(value: str | None, field: str = "--cpu") -> int:
    if value in (None, ""):
        return 0
    milli = parse(value, field) * 1000
    if milli != milli.to_integral_value(rounding="ROUND_CEILING") and milli < 1:
        raise InvalidSpec(field, f"{value!r} is below the smallest CPU unit (1m)")
    return int(milli.to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: str | None, field: str = "--memory") -> int:
    if value in (None, ""):
        return 0
    return int(parse(value, field).to_integral_value(rounding="ROUND_CEILING"))


def count(value: str | int, field: str) -> int:
    """An integer extended resource (GPUs, devices): whole units only."""
    q = parse(value, field)
    if q != q.to_integral_value():
        raise InvalidSpec(field, f"{value!r} must be a whole number")
    return int(q)


def format_memory(nbytes: int) -> str:
    """Shortest exact binary-suffixed form, as kubectl prints memory."""
    for suffix, size in reversed(list(_BINARY.items())):
        if nbytes and nbytes % size == 0:
            return f"{nbytes // size}{suffix}"
    return str(nbytes)


def format_cpu(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
