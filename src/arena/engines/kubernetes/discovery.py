"""`arena check`: which CRDs the cluster serves, which operators run, and so which job kinds can run.

CRDs come from API discovery (GET /apis, then /apis/<group>/<version> for the groups Arena uses):
no CRD read permission is needed, and a CRD that exists but is not served yet counts as missing.
Operators come from one cluster-wide Deployment LIST, matched by image name, since install
methods (manifests, Helm, arena-artifacts, OpenShift AI) name namespaces and Deployments
differently but ship the same images. When RBAC refuses that LIST the operators are "unknown"
and do not hold a kind back.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from arena import kinds
from arena.engines.kubernetes.models import Deployment
from arena.engines.kubernetes.resources import CRDS

CHECKED = ("pytorchjobs", "tfjobs", "mpijobs", "mpijobs-v2beta1", "mpijobs-v1alpha1", "jobs.batch.volcano.sh",
           "queues", "podgroups",
           "commands", "appwrappers", "clusterqueues", "localqueues", "resourceflavors", "clusterqueues-v1beta1")


class Alternative(NamedTuple):
    """One way a job kind can run: CRD keys that must all be served and operated, and what choosing
    this way means to a user when the kind has several (`--inner-type volcano`); `Kind.k8s_requirements`."""

    keys: tuple[str, ...]
    variant: str = ""


class Operator(msgspec.Struct, frozen=True):
    name: str
    images: tuple[str, ...]  # image names (no registry, repository path or tag) that run it
    serves: tuple[str, ...]  # CRD keys it reconciles


# Any one operator serving a CRD key is enough. The legacy per-framework operators are what
# upstream's arena-artifacts chart installs.
OPERATORS: tuple[Operator, ...] = (
    Operator("Training Operator", ("training-operator",), ("pytorchjobs", "tfjobs", "mpijobs")),
    Operator("TF operator (legacy)", ("tf-operator", "tf_operator"), ("tfjobs",)),
    Operator("PyTorch operator (legacy)", ("pytorch-operator",), ("pytorchjobs",)),
    # The mpi-operator (v2beta1) and Aliyun's, which upstream's arena-artifacts installs (v1alpha1).
    Operator("MPI operator", ("mpi-operator",), ("mpijobs-v2beta1", "mpijobs-v1alpha1")),
    Operator("Volcano controllers", ("vc-controller-manager",), ("jobs.batch.volcano.sh", "queues", "commands")),
    Operator("Volcano scheduler", ("vc-scheduler",), ("podgroups",)),
    Operator("Kueue", ("kueue",), ("clusterqueues", "localqueues", "resourceflavors", "clusterqueues-v1beta1")),
    Operator("AppWrapper controller", ("appwrapper", "codeflare-operator"), ("appwrappers",)),
)


class OperatorCheck(msgspec.Struct, frozen=True):
    name: str
    found: bool | None  # None: not known (the Deployment LIST was refused)
    deployments: list[str] = []  # namespace/name
    ready: str = ""  # ready/desired replicas, summed
    running: bool = False


class ResourceCheck(msgspec.Struct, frozen=True):
    kind: str
    apiVersion: str
    resource: str
    installed: bool


class KindCheck(msgspec.Struct, frozen=True):
    kind: str
    ready: bool
    variants: list[str] = []  # the options that work, when the kind has several
    missing: list[str] = []  # what to install or start when it is not ready


class CheckReport(msgspec.Struct, frozen=True):
    server: str
    version: str
    resources: list[ResourceCheck]
    kinds: list[KindCheck]
    queues: list[str]  # volcano, kueue: queue systems whose CRDs are served and operators run
    operators: list[OperatorCheck] = []


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


def image_name(image: str) -> str:
    """`registry.k8s.io/kueue/kueue:v0.9.1@sha256:…` → `kueue`."""
    base = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return base.split(":", 1)[0]


def operators(deployments: Iterable[Deployment] | None) -> list[OperatorCheck]:
    """Each known operator with the Deployments that run its image; None means the LIST was refused."""
    if deployments is None:
        return [OperatorCheck(op.name, None) for op in OPERATORS]
    found: dict[str, list[Deployment]] = {op.name: [] for op in OPERATORS}
    for d in deployments:
        names = {image_name(c.image) for c in d.spec.template.spec.containers}
        for op in OPERATORS:
            if names & set(op.images):
                found[op.name].append(d)
    out = []
    for op in OPERATORS:
        deps = found[op.name]
        ready = sum(d.status.readyReplicas for d in deps)
        desired = sum(1 if d.spec.replicas is None else d.spec.replicas for d in deps)
        out.append(OperatorCheck(op.name, bool(deps), [f"{d.metadata.namespace}/{d.metadata.name}" for d in deps],
                                 f"{ready}/{desired}" if deps else "", ready > 0))
    return out


def _operated(ops: list[OperatorCheck]) -> dict[str, bool]:
    """CRD key → whether an operator for it runs (True too when that cannot be known)."""
    by_name = {o.name: o for o in ops}
    out: dict[str, bool] = {}
    for op in OPERATORS:
        check = by_name.get(op.name)
        ok = check is None or check.found is None or check.running
        for key in op.serves:
            out[key] = out.get(key, False) or ok
    return out


def report(server: str, version: str, pairs: set[tuple[str, str]],
           deployments: Iterable[Deployment] | None) -> CheckReport:
    """The check report; `deployments` is None when the Deployment LIST was refused."""
    ops = operators(deployments)
    operated = _operated(ops)
    served_ = {k: (CRDS[k].api_version, CRDS[k].plural) in pairs for k in CHECKED}
    usable = {k: served_[k] and operated.get(k, True) for k in CHECKED}
    resources = [ResourceCheck(CRDS[k].kind, CRDS[k].api_version, CRDS[k].qualified, served_[k]) for k in CHECKED]
    out = []
    for entry in kinds.all():
        alternatives = entry.k8s_requirements()
        if not alternatives:
            continue
        ok = [alt for alt in alternatives if all(usable[k] for k in alt.keys)]
        missing: list[str] = []
        if not ok:
            # Name what is missing on the way nearest to working (most CRDs served; the primary on ties).
            nearest = max(alternatives, key=lambda alt: sum(served_[k] for k in alt.keys))
            for k in nearest.keys:
                if not served_[k]:
                    missing.append(f"install the {CRDS[k].kind} CRD ({CRDS[k].api_version})")
                elif not usable[k]:
                    names = " or ".join(op.name for op in OPERATORS if k in op.serves)
                    missing.append(f"start the {names} (no ready Deployment found)")
        variants = [alt.variant for alt in ok if alt.variant] if len(alternatives) > 1 else []
        out.append(KindCheck(entry.name, bool(ok), variants, missing))
    queues = [name for name, keys in (("volcano", ("queues",)), ("kueue", ("clusterqueues", "localqueues")))
              if all(usable[k] for k in keys) or (name == "kueue" and usable["clusterqueues-v1beta1"])]
    return CheckReport(server=server, version=version, resources=resources, kinds=out, queues=queues,
                       operators=ops)
