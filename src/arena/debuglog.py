"""`--loglevel debug`: what Arena does, on stderr — the engine calls it makes, the HTTP requests the
Kubernetes client sends (method, URL and status; never headers), and the objects it renders.

Off by default and free when off: `log` is one boolean test, and the `logging` module is imported only
by `enable`. Secrets never reach the output: `redact` masks Secret data, credential-like environment
values and the password part of URLs in anything shown.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds of every start)
if TYPE_CHECKING:
    from typing import Any

enabled = False
MASK = "******"
# Names whose values are credentials (GIT_SYNC_PASSWORD, AWS_SECRET_ACCESS_KEY, HF_TOKEN, …), and a URL's
# password; compiled on first use, so that a command without debug output pays nothing for them.
_SECRET_NAME = r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|APIKEY|API_KEY|PRIVATE_KEY|AUTH)"
_URL_PASSWORD = r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@"


def _secret_name(name: str) -> bool:
    import re

    return re.search(_SECRET_NAME, name, re.I) is not None


def enable() -> None:
    """Turn debug output on, with the HTTP client's request log (lightkube's httpx2) on stderr."""
    global enabled
    enabled = True
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("DEBU %(name)s: %(message)s"))
    for name in ("httpx2", "lightkube"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO if name == "httpx2" else logging.DEBUG)  # httpx2: one line per request
        logger.addHandler(handler)


def log(message: str, *args: Any) -> None:
    """One `DEBU arena: …` line on stderr when debug is on (args are %-formatted only then)."""
    if enabled:
        text = message % args if args else message
        sys.stderr.write("".join(f"DEBU arena: {line}\n" for line in redact_text(text).splitlines() or [""]))


def redact_text(text: str) -> str:
    """The text with passwords in URLs masked (`https://user:******@host`)."""
    import re

    return re.sub(_URL_PASSWORD, lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text, flags=re.I)


def redact(obj: Any) -> Any:
    """A copy of a rendered document (manifests, a plan) that is safe to show: Secret data masked,
    credential-like env values masked (`{name, value}` lists and plain mappings), URL passwords masked."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            return {k: ({d: MASK for d in v} if k in ("data", "stringData") and isinstance(v, dict) else redact(v))
                    for k, v in obj.items()}
        if isinstance(obj.get("name"), str) and "value" in obj and _secret_name(obj["name"]):
            return {**obj, "value": MASK}
        return {k: (MASK if isinstance(k, str) and isinstance(v, str) and _secret_name(k) else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def dump(title: str, document: Any) -> None:
    """A rendered document as YAML under a title, redacted, when debug is on."""
    if not enabled:
        return
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    log("%s:\n%s", title, yaml.dump(redact(document), Dumper=dumper, sort_keys=False, default_flow_style=False))
