"""The engine-neutral serving specification: plain, frozen data, validated once at the edge.

A serving job is upstream Arena's (namespace, type, name, version): `ServingSpec` says what each replica
runs (the type's model server, or the user's command), how many, with which resources, and which ports
the stable address offers. Engines translate it — the local engine into a replica set under its daemon,
the Kubernetes engine into a Deployment + Service, or a KServe InferenceService — and never re-parse flags.

Each type's own knobs live in `options`, a tagged union (`custom`, `tensorflow`, `triton`, `kserve`),
as the job kinds' options do.
"""
from __future__ import annotations

from typing import Literal

import msgspec

from arena.spec.job import DataDir, DataMount, Resources


class Ports(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """The ports the serving job's stable address offers (a Service's ports); 0 = none.

    On a cluster each replica listens on them too. Locally replicas share one machine, so each gets free
    ports (`PORT`, `GRPC_PORT`) and the proxy listens on these at the job's loopback address."""

    grpc: int = 0
    restful: int = 0
    metrics: int = 0


class Probe(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """The readiness check that decides AVAILABLE: an HTTP GET that must answer 2xx/3xx, or a TCP connect."""

    action: Literal["httpGet", "tcpSocket"] = "tcpSocket"
    path: str = ""  # httpGet only
    port: Literal["restful", "grpc"] = "restful"  # which of the replica's ports


class CustomOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag="custom", forbid_unknown_fields=True):
    max_surge: str = ""
    max_unavailable: str = ""


class TensorflowOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag="tensorflow",
                        forbid_unknown_fields=True):
    model_config_file: str = ""
    monitoring_config_file: str = ""
    version_policy: str = ""  # upstream: accepted, unused by its chart


class TritonOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag="triton", forbid_unknown_fields=True):
    model_repository: str = ""
    allow_metrics: bool = False
    load_models: list[str] = []
    extend_command: str = ""
    backend: str = ""
    backend_config: list[str] = []  # `backend,setting=value`, passed as --backend-config


class KServeOptions(msgspec.Struct, frozen=True, omit_defaults=True, tag="kserve", forbid_unknown_fields=True):
    model_format: str = ""  # name[:version]
    runtime: str = ""
    storage_uri: str = ""
    runtime_version: str = ""
    protocol_version: str = ""
    min_replicas: int = 1
    max_replicas: int = 0
    scale_target: int = 0
    scale_metric: str = ""
    container_concurrency: int = 0
    timeout: int = 0
    canary_traffic_percent: int = -1  # -1: no canary (every revision rolls out whole)


TypeOptions = CustomOptions | TensorflowOptions | TritonOptions | KServeOptions


class ServingSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    type: str  # the registry's name: custom | tensorflow | triton | kserve
    name: str
    namespace: str = "default"
    version: str = ""  # kserve: the revision, "00001" and up
    image: str = ""
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: list[str] = []
    replicas: int = 1
    resources: Resources = Resources()
    share_memory: str | None = None
    env: dict[str, str] = {}
    command: str = ""  # "" : the type's model server
    shell: str = "sh"
    working_dir: str = ""  # local engine: the submitting directory unless given
    ports: Ports = Ports()
    model_name: str = ""
    model_version: str = ""
    model_path: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    node_selector: dict[str, str] = {}
    tolerations: list[str] = []
    data: list[DataMount] = []
    data_dirs: list[DataDir] = []
    readiness: Probe | None = None  # None: the type's own (its health endpoint, else TCP)
    enable_istio: bool = False
    options: TypeOptions | None = None

    def options_as(self, cls: type[msgspec.Struct]) -> msgspec.Struct:
        return self.options if isinstance(self.options, cls) else cls()


class ServingUpdate(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """`arena serve update TYPE`: what changes; None/empty leaves the running value (upstream's zero values
    are "unset" too, except `--replicas`, which upstream applies even at 0: a bug not copied here)."""

    type: str
    name: str
    namespace: str = "default"
    version: str = ""  # "" : the only version
    image: str = ""
    replicas: int | None = None
    gpus: int | None = None
    cpu: str = ""
    memory: str = ""
    env: dict[str, str] = {}
    command: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    node_selector: dict[str, str] = {}
    tolerations: list[str] = []
    model_name: str = ""
    model_path: str = ""
    options: dict[str, object] = {}  # type flags given (dest -> value), merged into the type's options


class Weight(msgspec.Struct, frozen=True, array_like=True):
    version: str
    weight: int


class TrafficSplit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`arena serve traffic-split`: the share of requests each version of a name receives (sums to 100)."""

    name: str
    namespace: str = "default"
    weights: list[Weight] = []


def encode(spec: ServingSpec) -> bytes:
    return msgspec.json.encode(spec)


def decode(data: bytes | str) -> ServingSpec:
    return msgspec.json.decode(data, type=ServingSpec)
