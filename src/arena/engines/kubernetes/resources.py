"""Every API resource Arena touches, declared once, turned into lightkube classes on first use.

`CRDS` and `CORE` are plain data, so importing this module costs nothing at CLI start-up;
lightkube is imported only when a class is asked for (`crd`, `core`, `summary`). One lightkube
`Client` then drives all of them with the same handful of calls (create/get/list/delete).

Two classes exist per listed resource, both from the same declaration:
- `crd(key)` / `core(name)`: lightkube generic resources (plain dicts in, plain dicts out), used to
  create, get and delete — the body sent is exactly the rendered manifest;
- `summary(key)`: the same API path decoded into a slim struct from `models`, used for bulk LISTs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from arena.engines.kubernetes import models


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`pytorchjobs.kubeflow.org`: how the API server names the resource in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


# key -> custom resource. A key is the resource's plural as `kubectl api-resources` names it, qualified
# by its group where the plural alone is ambiguous (Volcano's `jobs`), and suffixed by the version
# where one resource is served in several (MPIJob by three different operators; Kueue before v0.15).
CRDS: dict[str, Resource] = {
    "pytorchjobs": Resource("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs"),
    "tfjobs": Resource("kubeflow.org", "v1", "TFJob", "tfjobs"),
    "mpijobs": Resource("kubeflow.org", "v1", "MPIJob", "mpijobs"),
    "mpijobs-v2beta1": Resource("kubeflow.org", "v2beta1", "MPIJob", "mpijobs"),
    "mpijobs-v1alpha1": Resource("kubeflow.org", "v1alpha1", "MPIJob", "mpijobs"),
    "jobs.batch.volcano.sh": Resource("batch.volcano.sh", "v1alpha1", "Job", "jobs"),
    "queues": Resource("scheduling.volcano.sh", "v1beta1", "Queue", "queues", namespaced=False),
    "podgroups": Resource("scheduling.volcano.sh", "v1beta1", "PodGroup", "podgroups"),
    "commands": Resource("bus.volcano.sh", "v1alpha1", "Command", "commands"),
    "appwrappers": Resource("workload.codeflare.dev", "v1beta2", "AppWrapper", "appwrappers"),
    "clusterqueues": Resource("kueue.x-k8s.io", "v1beta2", "ClusterQueue", "clusterqueues", namespaced=False),
    "localqueues": Resource("kueue.x-k8s.io", "v1beta2", "LocalQueue", "localqueues"),
    "resourceflavors": Resource("kueue.x-k8s.io", "v1beta2", "ResourceFlavor", "resourceflavors", namespaced=False),
    "workloads": Resource("kueue.x-k8s.io", "v1beta2", "Workload", "workloads"),
    # Kueue before v0.15 serves only v1beta1: read-only fallbacks for `queues` and admission.
    "clusterqueues-v1beta1": Resource("kueue.x-k8s.io", "v1beta1", "ClusterQueue", "clusterqueues",
                                      namespaced=False),
    "localqueues-v1beta1": Resource("kueue.x-k8s.io", "v1beta1", "LocalQueue", "localqueues"),
    "workloads-v1beta1": Resource("kueue.x-k8s.io", "v1beta1", "Workload", "workloads"),
    # `arena serve`: KServe's InferenceService; Istio's VirtualService (traffic-split, when served).
    "inferenceservices": Resource("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices"),
    "virtualservices": Resource("networking.istio.io", "v1beta1", "VirtualService", "virtualservices"),
}

# Built-in resources Arena creates or reads.
CORE: dict[str, Resource] = {
    "Pod": Resource("", "v1", "Pod", "pods"),
    "Event": Resource("", "v1", "Event", "events"),
    "Node": Resource("", "v1", "Node", "nodes", namespaced=False),
    "Secret": Resource("", "v1", "Secret", "secrets"),
    "Service": Resource("", "v1", "Service", "services"),
    "ConfigMap": Resource("", "v1", "ConfigMap", "configmaps"),
    "Deployment": Resource("apps", "v1", "Deployment", "deployments"),
    "PersistentVolumeClaim": Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
}


def job_resources() -> dict[str, tuple[str, ...]]:
    """Arena job kind -> the CRD keys that may hold its jobs, as each kind declares them
    (`Kind.k8s_resources`; both MPIJob versions for mpijob), in registry order."""
    from arena import kinds

    return {entry.name: entry.k8s_resources for entry in kinds.all() if entry.k8s_resources}


# Slim model per listed resource.
_SUMMARY_MODELS: dict[str, type] = {
    "Pod": models.Pod, "Event": models.Event, "Node": models.Node, "Deployment": models.Deployment,
    "podgroups": models.Admitter, "workloads": models.Admitter, "workloads-v1beta1": models.Admitter,
}


def by_key(key: str) -> Resource:
    return CRDS[key] if key in CRDS else CORE[key]


@cache
def crd(key: str) -> Any:
    """The lightkube generic resource class of a custom resource (registered once)."""
    from lightkube import generic_resource

    r = CRDS[key]
    make = generic_resource.create_namespaced_resource if r.namespaced else generic_resource.create_global_resource
    return make(r.group, r.version, r.kind, r.plural)


@cache
def core(name: str) -> Any:
    """A generic (dict-based) class for a built-in resource.

    Not registered in lightkube's registry, where the typed model of the same kind may live:
    typed models would coerce the rendered manifest (an int GPU limit, a field they do not know).
    """
    from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource, create_api_info

    r = CORE[name]
    base = GenericNamespacedResource if r.namespaced else GenericGlobalResource
    return type(name, (base,), {"_api_info": create_api_info(r.group, r.version, r.kind, r.plural)})


@cache
def summary(key: str) -> Any:
    """The slim, read-only class for bulk LISTs of `key` (a CRD key or a built-in name)."""
    from lightkube.core import resource as lk
    from lightkube.generic_resource import create_api_info

    r = by_key(key)
    model = _SUMMARY_MODELS.get(key, models.Job)
    base = lk.NamespacedResourceG if r.namespaced else lk.GlobalResource
    info = create_api_info(r.group, r.version, r.kind, r.plural, verbs=["get", "list", "global_list"])
    return type(f"{r.kind}Summary", (base, model), {"_api_info": info})


def generic(key: str) -> Any:
    return crd(key) if key in CRDS else core(key)


@cache
def _keys() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> declaration key, for every declared resource."""
    return {(r.api_version, r.kind): key for table in (CORE, CRDS) for key, r in table.items()}


def from_kubectl_name(text: str) -> tuple[str, str] | None:
    """(declaration key, object name) of a `kubectl -o name` line (`pytorchjob.kubeflow.org/x`, `service/y`),
    as upstream's `<name>-<type>` record lists a job's objects; None for a resource Arena does not declare."""
    ref, sep, name = text.strip().partition("/")
    if not sep or not name:
        return None
    kind, _, group = ref.partition(".")
    for table in (CORE, CRDS):
        for key, r in table.items():
            if r.kind.lower() == kind.lower() and r.group == group:
                return key, name
    return None


def key_for(manifest: dict[str, Any]) -> str:
    """The declaration key of a manifest's apiVersion/kind (what `apply` creates it with)."""
    api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
    key = _keys().get((api_version, kind))
    if key is None:
        from arena.errors import ArenaError

        raise ArenaError(f"arena does not know how to create {kind} ({api_version})")
    return key
