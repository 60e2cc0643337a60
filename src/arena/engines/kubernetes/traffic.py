"""`arena serve traffic-split` on a cluster: the objects that route a name's requests by weight. Pure.

Both ways put one Service `<name>` in front of every version (selector `servingName: <name>`), the stable
address the name's clients use; what differs is who decides which version answers:

- **Istio** (a `networking.istio.io` VirtualService is served): a VirtualService `<name>` for host `<name>`
  sends each port's requests to the versions' own Services by weight, exactly (upstream routes to subsets
  of the shared host through a gateway only, SERVING.md §11.3; routing to each version's Service needs no
  DestinationRule and works inside the mesh too);
- **without Istio**: a Service balances over pods, so each version's share is its share of the replicas.
  The versions are scaled to the ratio (`replicas`) and the limitation is said in one line (`limitation`).

The weights are kept on the shared Service (annotation `arena.kubeflow.org/traffic-weights`), so `serve list`
shows them either way; with Istio the VirtualService is read first (upstream's, made by its traffic-split,
routes to subsets `subset-<version>`: read too).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from arena.engines.kubernetes.servingviews import NAME, TYPE, labels, meta

WEIGHTS = "arena.kubeflow.org/traffic-weights"
SPLIT_LABEL = "arena.kubeflow.org/traffic-split"
VS_API_VERSION = "networking.istio.io/v1beta1"


def shared_service(name: str, namespace: str, serving_type: str, ports: Sequence[Mapping[str, Any]],
                   weights: Mapping[str, int]) -> dict[str, Any]:
    """The Service `<name>` in front of every version; its ports are the versions' serving ports."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {NAME: name, TYPE: serving_type, SPLIT_LABEL: "true"},
                         "annotations": {WEIGHTS: json.dumps(dict(weights), separators=(",", ":"))}},
            "spec": {"type": "ClusterIP", "selector": {NAME: name},
                     "ports": [{"name": p["name"], "port": int(p["port"]), "targetPort": int(p["port"]),
                                "protocol": p.get("protocol") or "TCP"} for p in ports]}}


def virtual_service(name: str, namespace: str, ports: Sequence[Mapping[str, Any]],
                    targets: Mapping[str, Mapping[str, Any]], weights: Mapping[str, int]) -> dict[str, Any]:
    """A VirtualService for host `<name>`: per port, the versions' Services (`targets`: version -> Service) by
    weight. A version at weight 0 gets no route; the weights of the others still sum to 100."""
    http = []
    for p in ports:
        number = int(p["port"])
        route = []
        for version, weight in weights.items():
            if weight <= 0 or version not in targets:
                continue
            svc = targets[version]
            svc_ports = (svc.get("spec") or {}).get("ports") or []
            target = next((q for q in svc_ports if q.get("name") == p.get("name")), None) or \
                next((q for q in svc_ports if int(q.get("port") or 0) == number), None) or {"port": number}
            host = f"{meta(svc).get('name')}.{namespace}.svc.cluster.local"
            route.append({"destination": {"host": host, "port": {"number": int(target["port"])}}, "weight": weight})
        http.append({"name": str(p.get("name") or number), "match": [{"port": number}], "route": route})
    return {"apiVersion": VS_API_VERSION, "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace, "labels": {NAME: name, SPLIT_LABEL: "true"}},
            "spec": {"hosts": [name], "http": http}}


def replicas(weights: Mapping[str, int], current: Mapping[str, int]) -> dict[str, int]:
    """Each version's replicas so that its share of the pods is its weight: the versions' replicas today,
    shared out by largest remainder; a version with a weight keeps at least one, weight 0 gets none."""
    positive = {v: w for v, w in weights.items() if w > 0}
    total = max(sum(current.get(v, 0) for v in weights), len(positive))
    exact = {v: total * w / 100 for v, w in positive.items()}
    out = {v: max(1, int(x)) for v, x in exact.items()}
    order = sorted(positive, key=lambda v: (-(exact[v] - int(exact[v])), v))
    for v in order:
        if sum(out.values()) >= total:
            break
        out[v] += 1
    return {v: out.get(v, 0) for v in weights}


def limitation(name: str, scaled: Mapping[str, int]) -> str:
    counts = ", ".join(f"{v} {n}" for v, n in scaled.items())
    return (f"traffic-split: no Istio VirtualService is served here, so Service {name} balances over pods and each "
            f"version's share follows its replicas ({counts}); install Istio for exact weights")


def weights_from_service(svc: Mapping[str, Any] | None) -> dict[str, int]:
    raw = (meta(svc).get("annotations") or {}).get(WEIGHTS) if svc else None
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}


def weights_from_virtual_service(vs: Mapping[str, Any], version_of_host: Mapping[str, str]) -> dict[str, int]:
    """version -> weight from the first HTTP route: ours (a version's Service as host) or upstream's (subsets
    `subset-<version>` of one host)."""
    http = (vs.get("spec") or {}).get("http") or []
    if not http:
        return {}
    out: dict[str, int] = {}
    routes = http[0].get("route") or []
    for r in routes:
        dest = r.get("destination") or {}
        subset = str(dest.get("subset") or "")
        host = str(dest.get("host") or "").split(".")[0]
        version = subset.removeprefix("subset-") if subset.startswith("subset-") else version_of_host.get(host)
        if version:
            out[version] = out.get(version, 0) + int(r.get("weight", 100 if len(routes) == 1 else 0) or 0)
    return out


def is_ours(obj: Mapping[str, Any] | None) -> bool:
    return bool(obj) and labels(obj or {}).get(SPLIT_LABEL) == "true"
