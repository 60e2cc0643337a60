"""`arena check`: which CRDs the cluster serves and therefore which job kinds can run.

API discovery only (GET /apis, then /apis/<group>/<version> for the groups Arena uses): no CRD
read permission is needed, and a CRD that exists but is not served yet counts as missing. That
the operator behind a CRD is actually running is not checked (its pods may live anywhere).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from arena.engines.kubernetes.resources import CRDS

# Arena kind -> alternatives; each alternative is a set of CRD keys that must all be served.
REQUIREMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pytorchjob": (("pytorchjob",),),
    "tfjob": (("tfjob",),),
    "mpijob": (("mpijob",), ("mpijob-v2beta1",)),
    "volcanojob": (("volcanojob",),),
    "appwrapperjob": (("appwrapper", "pytorchjob"), ("appwrapper", "volcanojob")),
}
# What each alternative means to a user.
VARIANTS: dict[tuple[str, ...], str] = {
    ("mpijob",): "--mpi-api-version v1 (training operator)",
    ("mpijob-v2beta1",): "--mpi-api-version v2beta1 (mpi-operator)",
    ("appwrapper", "pytorchjob"): "--inner-type pytorch",
    ("appwrapper", "volcanojob"): "--inner-type volcano",
}
CHECKED = ("pytorchjob", "tfjob", "mpijob", "mpijob-v2beta1", "volcanojob", "volcanoqueue", "podgroup", "command",
           "appwrapper", "clusterqueue", "localqueue", "resourceflavor", "clusterqueue-v1beta1")


class ResourceCheck(msgspec.Struct, frozen=True):
    kind: str
    apiVersion: str
    resource: str
    installed: bool


class KindCheck(msgspec.Struct, frozen=True):
    kind: str
    ready: bool
    variants: list[str] = []  # the options that work, when the kind has several
    missing: list[str] = []  # what to install when it is not ready


class CheckReport(msgspec.Struct, frozen=True):
    server: str
    version: str
    resources: list[ResourceCheck]
    kinds: list[KindCheck]
    queues: list[str]  # volcano, kueue: queue systems whose CRDs are served


def group_versions(api_groups: Mapping[str, Any] | None) -> set[str]:
    """groupVersions the server advertises in /apis."""
    out: set[str] = set()
    for g in (api_groups or {}).get("groups") or []:
        for v in g.get("versions") or []:
            if v.get("groupVersion"):
                out.add(v["groupVersion"])
    return out


def served(resource_lists: Iterable[Mapping[str, Any] | None]) -> set[tuple[str, str]]:
    """(groupVersion, plural) pairs from /apis/<g>/<v> documents (subresources ignored)."""
    out: set[tuple[str, str]] = set()
    for doc in resource_lists:
        if not doc:
            continue
        gv = doc.get("groupVersion", "")
        for r in doc.get("resources") or []:
            name = r.get("name", "")
            if name and "/" not in name:
                out.add((gv, name))
    return out


def wanted_group_versions(advertised: set[str]) -> list[str]:
    """The group versions to fetch: those Arena uses that the server advertises."""
    return sorted({CRDS[k].api_version for k in CHECKED} & advertised)


def report(server: str, version: str, pairs: set[tuple[str, str]]) -> CheckReport:
    installed = {k: (CRDS[k].api_version, CRDS[k].plural) in pairs for k in CHECKED}
    resources = [ResourceCheck(CRDS[k].kind, CRDS[k].api_version, CRDS[k].qualified, installed[k]) for k in CHECKED]
    kinds = []
    for kind, alternatives in REQUIREMENTS.items():
        ok = [alt for alt in alternatives if all(installed[k] for k in alt)]
        missing: list[str] = []
        if not ok:
            for alt in alternatives[:1]:  # name the primary way to get the kind
                missing = [f"{CRDS[k].kind} ({CRDS[k].api_version})" for k in alt if not installed[k]]
        variants = [VARIANTS[alt] for alt in ok if alt in VARIANTS] if len(alternatives) > 1 else []
        kinds.append(KindCheck(kind, bool(ok), variants, missing))
    queues = [name for name, keys in (("volcano", ("volcanoqueue",)), ("kueue", ("clusterqueue", "localqueue")))
              if all(installed[k] for k in keys) or (name == "kueue" and installed["clusterqueue-v1beta1"])]
    return CheckReport(server=server, version=version, resources=resources, kinds=kinds, queues=queues)
