"""TF_CONFIG for a TFJob replica, byte for byte as the Kubeflow Training Operator writes it.

    {"cluster":{"chief":[...],"ps":[...],"worker":[...]},"task":{"type":"worker","index":1},"environment":"cloud"}

- `cluster` has one key per replica type present, in sorted order (Go marshals maps with sorted keys),
  each listing every replica's `host:port` in index order; the evaluator is *not* part of the training
  cluster and is left out (training-operator `genClusterSpec`);
- `task.type` is the lower-case replica type, `task.index` the replica index;
- a standalone job (one worker, no ps) gets no TF_CONFIG at all, as upstream Arena's disable-tf-config.

The local engine uses this with the loopback endpoints it allocated; `cluster_endpoints` gives the
Service names a cluster would use (for tests and comparisons: the Kubernetes engine renders a TFJob and
leaves TF_CONFIG to the Training Operator). Also the shared helpers for endpoint mappings used by the
other contract modules.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arena.spec.job import JobSpec, TaskSpec, TFOptions

# Task name → "host:port" of each replica, in index order; what the engine allocated.
Endpoints = Mapping[str, Sequence[str]]

EVALUATOR = "evaluator"
DEFAULT_PORT = 2222  # the Training Operator's tfjob-port
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) → (host, port). Engines hand us these; a bad one is a bug there."""
    host, port = _split(endpoint)
    if not port.isdigit():
        raise ValueError(f"endpoint {endpoint!r} is not host:port")
    return host, int(port)


def _split(endpoint: str) -> tuple[str, str]:
    """(host, port text). The port may be a number or a bind-time placeholder `{{port:<replica>}}`: the
    local engine plans before the scheduler picks ports, and substitutes them when it starts the replica."""
    if endpoint.endswith("}}") and ":{{" in endpoint:
        host, sep, port = endpoint.partition(":{{")
        port = "{{" + port
    else:
        host, sep, port = endpoint.rpartition(":")
        if not port.isdigit():
            sep = ""
    if not sep or not host:
        raise ValueError(f"endpoint {endpoint!r} is not host:port")
    return host.removeprefix("[").removesuffix("]"), port


def host_of(endpoint: str) -> str:
    return _split(endpoint)[0]


def port_of(endpoint: str) -> int:
    return split_endpoint(endpoint)[1]


def port_text(endpoint: str) -> str:
    """The port as env carries it: digits, or the local engine's placeholder (see `_split`)."""
    return _split(endpoint)[1]


def task_of(spec: JobSpec, task: TaskSpec | str) -> TaskSpec:
    """Accept a TaskSpec or its name; an unknown name is a caller bug."""
    if isinstance(task, TaskSpec):
        return task
    found = spec.task(task)
    if found is None:
        raise ValueError(f"job {spec.name} has no task {task!r}")
    return found


def check_endpoints(spec: JobSpec, endpoints: Endpoints, names: Sequence[str] | None = None) -> None:
    """Every (named) task has exactly `replicas` endpoints: the contract the env builders rely on."""
    for t in spec.tasks:
        if names is not None and t.name not in names:
            continue
        got = len(endpoints.get(t.name, ()))
        if got != t.replicas:
            raise ValueError(f"task {t.name} has {t.replicas} replicas but {got} endpoints")


def check_index(task: TaskSpec, index: int) -> None:
    if not 0 <= index < task.replicas:
        raise ValueError(f"replica index {index} is out of range for task {task.name} ({task.replicas} replicas)")


def encode_go_json(value: Any) -> str:
    """Compact JSON like Go's encoding/json, which also escapes <, >, & and U+2028/U+2029."""
    import json  # here, not at module level: only replicas that get a TF_CONFIG pay for it at start-up

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def cluster_spec(spec: JobSpec, endpoints: Endpoints) -> dict[str, list[str]]:
    """The training cluster: every replica type but the evaluator, keys sorted as Go emits them."""
    names = sorted(t.name for t in spec.tasks if t.name != EVALUATOR)
    check_endpoints(spec, endpoints, names)
    return {name: list(endpoints[name]) for name in names}


def is_standalone(spec: JobSpec) -> bool:
    return spec.options_as(TFOptions).standalone


def tf_config_dict(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> dict[str, Any] | None:
    """TF_CONFIG as a dict (key order preserved), or None for a standalone job."""
    if is_standalone(spec):
        return None
    t = task_of(spec, task)
    check_index(t, index)
    return {"cluster": cluster_spec(spec, endpoints), "task": {"type": t.name, "index": index},
            "environment": "cloud"}


def tf_config(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> str | None:
    """The TF_CONFIG value for one replica, or None for a standalone job."""
    cfg = tf_config_dict(spec, task, index, endpoints)
    return None if cfg is None else encode_go_json(cfg)


def env(spec: JobSpec, task: TaskSpec | str, index: int, endpoints: Endpoints) -> dict[str, str]:
    """The environment a TFJob replica gets from its contract: TF_CONFIG, unless standalone."""
    value = tf_config(spec, task, index, endpoints)
    return {} if value is None else {"TF_CONFIG": value}


def cluster_endpoints(spec: JobSpec, cluster_domain: str | None = None) -> dict[str, list[str]]:
    """Endpoints on a cluster: `<job>-<type>-<i>.<namespace>.svc[.<domain>]:<port>` (port 2222 unless set)."""
    suffix = f".{spec.namespace}.svc" + (f".{cluster_domain}" if cluster_domain else "")
    return {t.name: [f"{spec.name}-{t.name}-{i}{suffix}:{t.port or DEFAULT_PORT}" for i in range(t.replicas)]
            for t in spec.tasks}
