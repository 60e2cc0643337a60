"""Input rules the API server or an operator webhook would enforce later, checked at render time
so that bad input fails before anything is created (one clear InvalidSpec, no partial job)."""
from __future__ import annotations

import re

from arena.errors import InvalidSpec

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GO_DURATION = re.compile(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$")


def dns1035(value: str, field: str, what: str = "name") -> str:
    """Names that become Service names must start with a letter (DNS-1035), not just be DNS-1123."""
    if len(value) > 63 or not _DNS1035.match(value):
        raise InvalidSpec(field, f"{what} {value!r} must start with a letter and contain only "
                                 "lower-case letters, digits and '-' (at most 63), as it names Services")
    return value


def dns1123(value: str, field: str, what: str = "name") -> str:
    """Pod and task names: a DNS-1123 label of at most 63 characters."""
    if len(value) > 63 or not _DNS1123.match(value):
        raise InvalidSpec(field, f"{what} {value!r} must be lower-case letters, digits and '-' "
                                 "(at most 63, starting and ending with a letter or digit)")
    return value


def go_duration(value: str, field: str) -> str:
    """Durations read by Go controllers (time.ParseDuration): 90s, 1m30s, 1h — no days."""
    if not _GO_DURATION.match(value.strip()):
        raise InvalidSpec(field, f"{value!r} is not a duration (examples: 90s, 5m, 1h30m; units ns..h)")
    return value.strip()
