"""`arena serve` flags, declared once: the CLI's parsers are generated from them, and the SDK's keyword
arguments are their dests (`Client.serve("custom", name=..., restful_port=8080, replicas=2, command=...)`).

`spec_from_options(type, opts)` is the one path from options (CLI dests or SDK keywords) to a
`ServingSpec`, `update_from_options` to a `ServingUpdate`, `traffic_from_options` to a `TrafficSplit`;
every error names the flag and the rule (one line, exit 2). Spellings, defaults and texts are upstream
Arena's (`pkg/argsbuilder/serving*.go`, SERVING.md §3, §4, §6, §7).
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from arena.errors import InvalidSpec

Kind = Literal["str", "int", "bool", "list"]


class Flag(NamedTuple):
    spellings: tuple[str, ...]  # upstream's, then its deprecated camelCase spelling
    dest: str
    help: str
    kind: Kind = "str"
    types: tuple[str, ...] = ()  # the serving types that take it; () = every type
    submit: bool = True  # on `serve TYPE`
    update: bool = False  # on `serve update TYPE`
    metavar: str | None = None


ALL: tuple[str, ...] = ()
PORTED = ("custom", "tensorflow")

FLAGS: tuple[Flag, ...] = (
    # identity
    Flag(("--name", "--servingName"), "name", "the serving job's name (required)", update=True),
    Flag(("--version", "--servingVersion"), "version", "the version (default: the local time YYYYMMDDhhmm; "
         "kserve: its revision)", update=True),
    # what runs
    Flag(("--image",), "image", "the container image (kubernetes engine; the local engine runs the command)",
         update=True),
    Flag(("--image-pull-policy", "--imagePullPolicy"), "image_pull_policy", "Always|IfNotPresent|Never"),
    Flag(("--image-pull-secret",), "image_pull_secret", "image pull secret (repeatable)", "list"),
    Flag(("--command",), "command", "the command each replica runs (wins over the trailing arguments)", update=True),
    Flag(("--shell",), "shell", "the shell that runs the command (default sh)"),
    Flag(("-e", "--env"), "env", "KEY=VALUE environment variable (repeatable)", "list", update=True),
    # how many, how big
    Flag(("--replicas",), "replicas", "number of replicas (default 1)", "int", ("custom", "tensorflow", "triton"),
         update=True),
    Flag(("--gpus",), "gpus", "GPUs per replica", "int", update=True),
    Flag(("--cpu",), "cpu", "CPU per replica, e.g. 2 or 500m", update=True),
    Flag(("--memory",), "memory", "memory per replica, e.g. 4Gi", update=True),
    # data
    Flag(("-d", "--data"), "data", "NAME:/mount/path: a data volume (local) or PVC (repeatable)", "list"),
    Flag(("--data-dir",), "data_dir", "HOST_PATH[:MOUNT_PATH] host directory (repeatable)", "list"),
    # metadata and placement
    Flag(("-l", "--label"), "label", "KEY=VALUE label (repeatable)", "list", update=True),
    Flag(("-a", "--annotation"), "annotation", "KEY=VALUE annotation (repeatable)", "list", update=True),
    Flag(("--selector",), "selector", "KEY=VALUE node selector (kubernetes engine; repeatable)", "list", update=True),
    Flag(("--toleration",), "toleration", "toleration, e.g. gpu=true:NoSchedule or all (kubernetes engine; "
         "repeatable)", "list", update=True),
    Flag(("--model-name", "--modelName"), "model_name", "the model's name (a label; tensorflow and kserve serve "
         "it under this name)", update=True),
    Flag(("--model-version",), "model_version", "the model's version (a label)"),
    # ports: custom, tensorflow, kserve
    Flag(("--port",), "port", "gRPC port (tensorflow default 8500; kserve: its REST port, default 8080 locally)",
         "int", ("custom", "tensorflow", "kserve")),
    Flag(("--restful-port", "--restfulPort"), "restful_port", "REST port (tensorflow default 8501)", "int", PORTED),
    Flag(("--metrics-port",), "metrics_port", "metrics port (triton default 8002)", "int", ("custom", "triton")),
    # triton ports
    Flag(("--http-port",), "http_port", "HTTP port (default 8000)", "int", ("triton",)),
    Flag(("--grpc-port",), "grpc_port", "gRPC port (default 8001)", "int", ("triton",)),
    # custom
    Flag(("--max-surge",), "max_surge", "rolling update: replicas above the desired count", types=("custom",)),
    Flag(("--max-unavailable",), "max_unavailable", "rolling update: replicas that may be unavailable",
         types=("custom",)),
    Flag(("--readiness-probe-action",), "readiness_probe_action", "httpGet|tcpSocket: what decides that a "
         "replica is ready", types=("custom",)),
    Flag(("--readiness-probe-action-option",), "readiness_probe_action_option", "e.g. 'path: /healthz' "
         "(repeatable)", "list", ("custom",)),
    # tensorflow
    Flag(("--model-path", "--modelPath"), "model_path", "the model's base path (tensorflow)",
         types=("tensorflow",), update=True),
    Flag(("--model-config-file", "--modelConfigFile"), "model_config_file", "TF Serving model config file",
         types=("tensorflow",), update=True),
    Flag(("--monitoring-config-file",), "monitoring_config_file", "TF Serving monitoring config file",
         types=("tensorflow",), update=True),
    Flag(("--version-policy", "--versionPolicy"), "version_policy", "deprecated upstream; recorded, unused",
         types=("tensorflow",)),
    # triton
    Flag(("--model-repository",), "model_repository", "the Triton model repository", types=("triton",),
         update=True),
    Flag(("--allow-metrics",), "allow_metrics", "open Triton's metrics port", "bool", ("triton",)),
    Flag(("--load-model",), "load_model", "load only this model (repeatable)", "list", ("triton",)),
    Flag(("--extend-command",), "extend_command", "text appended to the tritonserver command", types=("triton",)),
    Flag(("--backend",), "backend", "vllm|trt-llm", types=("triton",)),
    Flag(("--backend-config",), "backend_config", "backend,setting=value passed to tritonserver (repeatable)",
         "list", ("triton",)),
    # kserve
    Flag(("--model-format",), "model_format", "name[:version], e.g. sklearn or pytorch", types=("kserve",),
         update=True),
    Flag(("--runtime",), "runtime", "the ServingRuntime (kubernetes engine)", types=("kserve",), update=True),
    Flag(("--storage-uri",), "storage_uri", "where the model is, e.g. file:///models/digits", types=("kserve",),
         update=True),
    Flag(("--runtime-version",), "runtime_version", "the runtime's version", types=("kserve",), update=True),
    Flag(("--protocol-version",), "protocol_version", "v1|v2", types=("kserve",), update=True),
    Flag(("--min-replicas",), "min_replicas", "replicas at least (default 1; the local engine runs this many)",
         "int", ("kserve",), update=True),
    Flag(("--max-replicas",), "max_replicas", "replicas at most (autoscaling: kubernetes engine)", "int",
         ("kserve",), update=True),
    Flag(("--scale-target",), "scale_target", "autoscaling target", "int", ("kserve",), update=True),
    Flag(("--scale-metric",), "scale_metric", "concurrency|rps|cpu|memory, else an external metric", types=("kserve",),
         update=True),
    Flag(("--container-concurrency",), "container_concurrency", "requests per replica at once", "int", ("kserve",),
         update=True),
    Flag(("--timeout",), "timeout", "request timeout in seconds", "int", ("kserve",), update=True),
    Flag(("--canary-traffic-percent",), "canary_traffic_percent", "share of requests for the latest revision "
         "(0-100; default: all once it is ready)", "int", ("kserve",), update=True),
)


def flags_for(type_name: str, update: bool = False) -> list[Flag]:
    return [f for f in FLAGS if (f.update if update else f.submit) and (not f.types or type_name in f.types)]


# ---------------------------------------------------------------------------------------------------
# options -> spec

_VERSION = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_TRAFFIC_NAME = re.compile(r"^[a-z0-9A-Z_-]+$")


def default_version(now: float | None = None) -> str:
    """Upstream's default version: the local time, YYYYMMDDhhmm."""
    return time.strftime("%Y%m%d%H%M", time.localtime(now))


def check_version(value: str, field: str = "--version") -> str:
    if len(value) > 63 or not _VERSION.match(value):
        raise InvalidSpec(field, f"{value!r} must be at most 63 letters, digits, '-', '_' or '.', starting and "
                                 "ending with a letter or digit")
    return value


def _items(value: Any) -> list[str]:
    """A repeatable flag's value: a list of strings (SDK callers may pass a dict for KEY=VALUE flags)."""
    if value in (None, ""):
        return []
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _int(value: Any, field: str, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidSpec(field, f"{value!r} is not an integer") from None


def _command(opts: Mapping[str, Any]) -> str:
    """--command wins over the trailing arguments, which upstream joins with a space."""
    if opts.get("command_flag"):
        return str(opts["command_flag"])
    cmd = opts.get("command")
    return cmd if isinstance(cmd, str) else " ".join(cmd or ())


def _pairs(opts: Mapping[str, Any]) -> dict[str, Any]:
    from arena.spec.keyvalue import parse_annotations, parse_env, parse_labels

    return {"env": parse_env(_items(opts.get("env")), "--env"),
            "labels": parse_labels(_items(opts.get("label")), "--label"),
            "annotations": parse_annotations(_items(opts.get("annotation")), "--annotation"),
            "node_selector": parse_labels(_items(opts.get("selector")), "--selector"),
            "tolerations": _tolerations(_items(opts.get("toleration")))}


def _tolerations(items: list[str]) -> list[str]:
    from arena.engines.kubernetes.render.tolerations import parse

    for item in items:
        parse(item)  # refused in one line when malformed (upstream dropped it silently)
    return items


def _readiness(opts: Mapping[str, Any]) -> Any:
    from arena.serving.spec import Probe

    action = opts.get("readiness_probe_action")
    extra = _items(opts.get("readiness_probe_action_option"))
    if not action:
        if extra:
            raise InvalidSpec("--readiness-probe-action-option", "needs --readiness-probe-action")
        return None
    if action not in ("httpGet", "tcpSocket"):
        raise InvalidSpec("--readiness-probe-action", f"{action!r} must be httpGet or tcpSocket")
    path = ""
    for item in extra:
        key, sep, value = item.partition(":")
        if not sep or key.strip() not in ("path", "port"):
            raise InvalidSpec("--readiness-probe-action-option", f"{item!r} must be 'path: /x' or 'port: restful|grpc'")
        if key.strip() == "path":
            path = value.strip()
    port = next((i.partition(":")[2].strip() for i in extra if i.partition(":")[0].strip() == "port"), "restful")
    if port not in ("restful", "grpc"):
        raise InvalidSpec("--readiness-probe-action-option", f"port {port!r} must be restful or grpc")
    if action == "httpGet" and not path.startswith("/"):
        raise InvalidSpec("--readiness-probe-action-option", "httpGet needs 'path: /...'")
    return Probe(action, path=path if action == "httpGet" else "", port=port)  # type: ignore[arg-type]


def _type_options(t: Any, opts: Mapping[str, Any], update: bool = False) -> dict[str, Any]:
    """The given options of the type's options struct (dest -> value), checked."""
    import msgspec

    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(t.options_type):
        name = field.name
        dest = {"load_models": "load_model"}.get(name, name)
        value = opts.get(dest)
        if value in (None, "", [], ()):
            continue
        if field.type in (int, "int"):
            value = _int(value, "--" + dest.replace("_", "-"))
        elif field.type in (bool, "bool"):
            value = bool(value)
        elif "list" in str(field.type):
            value = _items(value)
        else:
            value = str(value)
        out[name] = value
    return out


def spec_from_options(type_name: str, opts: Mapping[str, Any], namespace: str = "default",
                      now: float | None = None) -> Any:
    """A `ServingSpec` from flag values (CLI dests or SDK keyword arguments of the same names)."""
    import msgspec

    from arena.serving import types
    from arena.serving.spec import ServingSpec
    from arena.spec.common import data_dirs, data_mounts, resources
    from arena.spec.names import check_dns_label

    t = types.get(type_name, "TYPE")
    unknown = sorted(k for k in opts if k not in _KNOWN and opts[k] not in (None, "", [], (), False))
    if unknown:
        raise InvalidSpec(unknown[0], f"not a flag of 'arena serve {t.name}'")
    given = {f.dest for f in FLAGS if f.types and t.name not in f.types and opts.get(f.dest) not in (None, "", [], ())}
    if given:
        dest = sorted(given)[0]
        raise InvalidSpec("--" + dest.replace("_", "-"), f"is not a flag of 'arena serve {t.name}'")
    name = str(opts.get("name") or "")
    if not name:
        raise InvalidSpec("--name", "the serving job's name is required")
    check_dns_label(name, "--name")
    version = str(opts.get("version") or "")
    if t.versionless:
        if version:
            raise InvalidSpec("--version", f"{t.name} names its revisions itself (00001, 00002...)")
    else:
        version = check_version(version) if version else default_version(now)
    gpus = _int(opts.get("gpus"), "--gpus", 0) or 0
    replicas = _int(opts.get("replicas"), "--replicas", 1)
    options = msgspec.convert(_type_options(t, opts), t.options_type)
    replicas = t.replica_count(replicas, options)
    if replicas is None or replicas < 0:
        raise InvalidSpec("--replicas", "replicas not valid, must be greater than 0")
    model_name = str(opts.get("model_name") or "")
    spec = ServingSpec(
        type=t.name, name=name, namespace=str(opts.get("namespace") or namespace), version=version,
        image=str(opts.get("image") or ""), image_pull_policy=str(opts.get("image_pull_policy") or "IfNotPresent"),
        image_pull_secrets=_items(opts.get("image_pull_secret")), replicas=replicas,
        resources=resources(opts.get("cpu") or None, opts.get("memory") or None, gpus),
        command=_command(opts).strip(), shell=str(opts.get("shell") or "sh"),
        working_dir=str(opts.get("working_dir") or ""), ports=t.ports(dict(opts)),
        model_name=model_name, model_version=str(opts.get("model_version") or ""),
        model_path=str(opts.get("model_path") or ""), data=data_mounts(_items(opts.get("data"))),
        data_dirs=data_dirs(_items(opts.get("data_dir"))), readiness=_readiness(opts),
        options=options, **_pairs(opts))
    if spec.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
        raise InvalidSpec("--image-pull-policy", f"{spec.image_pull_policy!r} must be Always, IfNotPresent or Never")
    spec = t.check(spec)
    if spec.model_name:  # a label too (modelName)
        from arena.spec.names import check_label_value

        check_label_value(spec.model_name, "--model-name")
    return spec


def update_from_options(type_name: str, opts: Mapping[str, Any], namespace: str = "default") -> Any:
    """`arena serve update TYPE` options -> `ServingUpdate` (only what was given changes)."""
    from arena.serving import types
    from arena.serving.spec import ServingUpdate
    from arena.spec.common import resources

    t = types.get(type_name, "TYPE")
    name = str(opts.get("name") or "")
    if not name:
        raise InvalidSpec("--name", "name not set, please set it")
    replicas = _int(opts.get("replicas"), "--replicas")
    if replicas is not None and replicas < 0:
        raise InvalidSpec("--replicas", "replicas not valid, must be greater than 0")
    gpus = _int(opts.get("gpus"), "--gpus")
    if gpus is not None and gpus < 0:
        raise InvalidSpec("--gpus", "--gpus is invalid")
    res = resources(opts.get("cpu") or None, opts.get("memory") or None, 0)
    version = str(opts.get("version") or "")
    return ServingUpdate(
        type=t.name, name=name, namespace=str(opts.get("namespace") or namespace), version=version,
        image=str(opts.get("image") or ""), replicas=replicas, gpus=gpus, cpu=res.cpu or "", memory=res.memory or "",
        command=_command(opts).strip(), model_name=str(opts.get("model_name") or ""),
        model_path=str(opts.get("model_path") or ""), options=_type_options(t, opts, update=True), **_pairs(opts))


def traffic_from_options(opts: Mapping[str, Any], namespace: str = "default") -> Any:
    """`arena serve traffic-split --name N -v V:W ...` (a missing weight means 100; the sum must be 100)."""
    from arena.serving.spec import TrafficSplit, Weight

    name = str(opts.get("name") or "")
    if not name:
        raise InvalidSpec("--name", "the serving job's name is required")
    if not _TRAFFIC_NAME.match(name):
        raise InvalidSpec("--name", "--name should be numbers, letters, dashes, and underscores ONLY")
    weights: list[Weight] = []
    for item in _weights(opts.get("version_weight")):
        version, sep, weight = item.partition(":")
        try:
            w = int(weight) if sep else 100
        except ValueError:
            raise InvalidSpec("--version-weight", "invalid format for version and weight,should like "
                                                  "version:weight and weight must be int") from None
        if not version or w < 0:
            raise InvalidSpec("--version-weight", "invalid format for version and weight,should like "
                                                  "version:weight and weight must be int")
        if any(x.version == version for x in weights):
            raise InvalidSpec("--version-weight", f"the version {version} has duplicate weight")
        weights.append(Weight(version, w))
    if not weights:
        raise InvalidSpec("--version-weight", "at least one version:weight is required")
    if sum(w.weight for w in weights) != 100:
        raise InvalidSpec("--version-weight", "invalid version weight format,total of all version weights is not "
                                              "equal to 100")
    return TrafficSplit(name=name, namespace=str(opts.get("namespace") or namespace), weights=weights)


def _weights(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):  # SDK: {"v1": 80, "v2": 20}
        return [f"{k}:{v}" for k, v in value.items()]
    return _items(value)


_KNOWN = {f.dest for f in FLAGS} | {"namespace", "command_flag", "working_dir"}
