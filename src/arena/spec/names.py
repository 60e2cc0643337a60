"""Name rules: job names become host and Service names on a cluster."""
from __future__ import annotations

import re

from arena.errors import InvalidSpec

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
JOB_NAME_MAX = 49  # upstream Arena: derived names (<name>-<role>-<i>) must stay valid labels
_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_dns_label(value: str, field: str, max_len: int = 63) -> str:
    if not value:
        raise InvalidSpec(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidSpec(field, f"{value!r} is {len(value)} characters; at most {max_len} allowed")
    if not _DNS1123_LABEL.match(value):
        raise InvalidSpec(
            field,
            f"{value!r} must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    return value


def check_job_name(value: str, field: str = "--name") -> str:
    return check_dns_label(value, field, JOB_NAME_MAX)


def check_label_key(key: str, field: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        raise InvalidSpec(field, f"label key prefix {prefix!r} must be a DNS-1123 subdomain")
    if not name or len(name) > 63 or not _LABEL_KEY_NAME.match(name):
        raise InvalidSpec(field, f"label key {key!r} must be 1-63 alphanumerics, '-', '_' or '.'")
    return key


def check_label_value(value: str, field: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise InvalidSpec(field, f"label value {value!r} must be at most 63 alphanumerics, '-', '_' or '.'")
    return value


def check_dns_subdomain(value: str, field: str) -> str:
    """Names of Secrets and ConfigMaps (an image pull secret): a DNS-1123 subdomain of at most 253 characters."""
    if not value or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise InvalidSpec(field, f"{value!r} must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'")
    return value
