"""THE SERVING REGISTRY: one entry per serving type, declaring everything about that type.

    from arena.serving import types
    types.get("tf")              # -> the tensorflow entry (aliases accepted, as upstream's -T)
    types.by_label("kserve")     # -> the entry whose `servingType` label is "kserve"

A serving type is a registry entry like a job kind (`arena.kinds`), in the same four sections:

- identity: CLI name and aliases, upstream's `servingType` label, TYPE alias, chart name;
- spec: its default ports, the rules over its options (`check`), which endpoints its address offers;
- local engine: the model server a replica runs when no command is given (`local_server`), the
  executables that server needs (`tools`), the readiness probe that decides AVAILABLE;
- kubernetes: its renderer (`engines/kubernetes/render/serving.py`, imported on use).

Nothing outside this module branches on a serving type's name: callers ask the entry. Only the standard
library and the spec are imported, so the CLI's start-up does not pay for it.
"""
from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from arena.errors import ArenaError, InvalidSpec, Unsupported
from arena.serving.spec import (
    CustomOptions,
    KServeOptions,
    Ports,
    Probe,
    ServingSpec,
    TensorflowOptions,
    TritonOptions,
)

if TYPE_CHECKING:
    from arena.serving.runtimes.triton_wheel import PythonInfo

_MODEL_NAME = re.compile(r"^[a-z0-9A-Z_-]+$")


class Tools(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where this machine has what a type's server needs, found once in the submitting process (so that
    planning stays pure): executable -> path (None: absent), and the Python that runs Arena's runtimes."""

    python: str = ""
    paths: dict[str, str | None] = {}
    modules: dict[str, bool] = {}  # importable Python packages (kserve)


class ServingType:
    """One serving type. Subclasses set the identity and override the hooks whose defaults do not fit."""

    # ---- identity ------------------------------------------------------------------------------
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str]  # upstream's `servingType` label
    alias: ClassVar[str]  # upstream's TYPE column
    chart: ClassVar[str]  # upstream's chart name: object names are `<name>-<version>-<chart>`
    chart_version: ClassVar[str] = "0.11.0"
    options_type: ClassVar[type[msgspec.Struct]] = CustomOptions
    #: Endpoint names in the order upstream lists them (PORTS column).
    endpoint_order: ClassVar[tuple[str, ...]] = ("GRPC", "RESTFUL")
    #: One name, one job: a second `serve` of the same name is refused whatever its version (kserve).
    versionless: ClassVar[bool] = False
    #: The type's port flags (option dest -> `Ports` field); their defaults are `default_ports()`.
    port_flags: ClassVar[dict[str, str]] = {"port": "grpc", "restful_port": "restful", "metrics_port": "metrics"}

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def __repr__(self) -> str:
        return f"<serving type {self.name}>"

    # ---- spec ----------------------------------------------------------------------------------
    def default_ports(self) -> Ports:
        return Ports()

    def ports(self, opts: dict[str, Any]) -> Ports:
        """The stable address's ports from the port flags given (their defaults otherwise)."""
        from arena.spec.common import check_port

        values = msgspec.structs.asdict(self.default_ports())
        for dest, field in self.port_flags.items():
            if opts.get(dest) not in (None, ""):
                values[field] = check_port(opts[dest], "--" + dest.replace("_", "-"))
        return Ports(**values)

    def replica_count(self, replicas: int | None, options: Any) -> int | None:
        """How many replicas run, from `--replicas` and the type's options."""
        return replicas

    def check(self, spec: ServingSpec) -> ServingSpec:
        """The type's rules and defaults over a spec built from flags (errors name the flag)."""
        p = spec.ports
        if not (p.grpc or p.restful):
            raise InvalidSpec("--port", "all ports are 0, invalid configuration: give --port or --restful-port")
        return spec

    def endpoints(self, spec: ServingSpec) -> list[tuple[str, int]]:
        """(GRPC|RESTFUL, port) the stable address offers, in upstream's order; metrics are not endpoints."""
        ports = {"GRPC": spec.ports.grpc, "RESTFUL": spec.ports.restful}
        return [(n, ports[n]) for n in self.endpoint_order if ports[n]]

    # ---- local engine --------------------------------------------------------------------------
    def tools(self, spec: ServingSpec) -> tuple[str, ...]:
        """Executables the type's server needs, looked up on the submitting shell's PATH."""
        return ()

    def modules(self, spec: ServingSpec) -> tuple[str, ...]:
        """Python packages the type's server needs in Arena's own Python."""
        return ()

    def find_tools(self, spec: ServingSpec, path: str | None, python: str) -> Tools:
        """Look up `tools` on `path` and `modules` in this Python (run in the submitting process only)."""
        import shutil
        from importlib.util import find_spec

        return Tools(python=python, paths={exe: shutil.which(exe, path=path) for exe in self.tools(spec)},
                     modules={m: find_spec(m) is not None for m in self.modules(spec)})

    def local_server(self, spec: ServingSpec, tools: Tools) -> str:
        """The command a replica runs when the job gives none: the type's model server, listening on the
        replica's `$PORT` (REST) and `$GRPC_PORT`. A missing server is a one-line error naming what to
        install — never a stand-in under a real server's name."""
        raise InvalidSpec("command", f"serve {self.name}: a command to run is required on the local engine "
                                     "(the trailing argument or --command)")

    def extra_ports(self, spec: ServingSpec) -> tuple[str, ...]:
        """Environment variables naming the further free ports each replica gets at start (GRPC_PORT...)."""
        return ("GRPC_PORT",) if spec.ports.grpc else ()

    def readiness(self, spec: ServingSpec) -> Probe:
        """What decides that a replica is ready: the server's own health endpoint, else a TCP connect."""
        if spec.readiness is not None:
            return spec.readiness
        return Probe("tcpSocket", port="restful" if spec.ports.restful else "grpc")

    # ---- kubernetes ----------------------------------------------------------------------------
    def k8s_render(self, spec: ServingSpec, context: Any) -> list[dict[str, Any]]:
        from arena.engines.kubernetes.render import serving

        return serving.render(self, spec, context)


def _q(value: str) -> str:
    return shlex.quote(value)


def _local_path(value: str, field: str) -> str:
    """A model location on this machine: a path, or a `file://` URI; other schemes need a cluster."""
    if value.startswith("file://"):
        return value.removeprefix("file://") or "/"
    if "://" in value:
        scheme = value.split("://", 1)[0]
        raise Unsupported("local", f"{field} {scheme}:// (the local engine reads file:// URIs and paths)")
    return value


class Custom(ServingType):
    name = "custom"
    label = "custom-serving"
    alias = "Custom"
    chart = "custom-serving"
    options_type = CustomOptions

    def local_server(self, spec: ServingSpec, tools: Tools) -> str:
        raise InvalidSpec("command", "serve custom: a command to run is required on the local engine (the trailing "
                                     "argument or --command); the replica gets its ports as $PORT and $GRPC_PORT")


class Tensorflow(ServingType):
    name = "tensorflow"
    aliases = ("tf",)
    label = "tf-serving"
    alias = "Tensorflow"
    chart = "tensorflow-serving"
    options_type = TensorflowOptions
    SERVER = "tensorflow_model_server"

    def default_ports(self) -> Ports:
        return Ports(grpc=8500, restful=8501)

    def check(self, spec: ServingSpec) -> ServingSpec:
        spec = super().check(spec)
        opts = spec.options_as(TensorflowOptions)
        assert isinstance(opts, TensorflowOptions)
        if not opts.model_config_file:
            if not spec.model_name:
                raise InvalidSpec("--model-name", "model name cannot be blank")
            if not _MODEL_NAME.match(spec.model_name):
                raise InvalidSpec("--model-name", "parameter model name should be numbers, letters, dashes, and "
                                                  "underscores ONLY")
            if not spec.model_path:
                raise InvalidSpec("--model-path", "modelPath should be specified if no modelConfigFile is specified")
        return spec

    def tools(self, spec: ServingSpec) -> tuple[str, ...]:
        return () if spec.command else (self.SERVER,)

    def local_server(self, spec: ServingSpec, tools: Tools) -> str:
        exe = tools.paths.get(self.SERVER)
        if not exe:
            raise ArenaError(f"serve tensorflow: {self.SERVER} is not on PATH; install TensorFlow Serving "
                             "(https://www.tensorflow.org/tfx/serving/setup, e.g. the tensorflow-model-server "
                             "apt package) or give the command to run")
        opts = spec.options_as(TensorflowOptions)
        assert isinstance(opts, TensorflowOptions)
        parts = [_q(exe), '--port="$GRPC_PORT"', '--rest_api_port="$PORT"']
        if opts.model_config_file:
            parts.append(f"--model_config_file={_q(opts.model_config_file)}")
        else:
            parts += [f"--model_name={_q(spec.model_name)}",
                      f"--model_base_path={_q(_local_path(spec.model_path, '--model-path'))}"]
        if opts.monitoring_config_file:
            parts.append(f"--monitoring_config_file={_q(opts.monitoring_config_file)}")
        return "exec " + " ".join(parts)

    def extra_ports(self, spec: ServingSpec) -> tuple[str, ...]:
        return ("GRPC_PORT",)  # the model server always opens its gRPC port

    def readiness(self, spec: ServingSpec) -> Probe:
        if spec.readiness is not None:
            return spec.readiness
        opts = spec.options_as(TensorflowOptions)
        if spec.command or getattr(opts, "model_config_file", ""):
            return super().readiness(spec)
        return Probe("httpGet", path=f"/v1/models/{spec.model_name}")  # 200 once the model is loaded


class Triton(ServingType):
    name = "triton"
    label = "triton-serving"
    alias = "Triton"
    chart = "tritoninferenceserver"
    chart_version = "0.10.0"
    options_type = TritonOptions
    endpoint_order = ("RESTFUL", "GRPC")
    SERVER = "tritonserver"
    BACKENDS = ("vllm", "trt-llm")
    port_flags = {"grpc_port": "grpc", "http_port": "restful", "metrics_port": "metrics"}

    def default_ports(self) -> Ports:
        return Ports(grpc=8001, restful=8000, metrics=8002)

    def check(self, spec: ServingSpec) -> ServingSpec:
        p = spec.ports
        if not (p.grpc or p.restful):
            raise InvalidSpec("--http-port", "all ports are 0, invalid configuration")
        opts = spec.options_as(TritonOptions)
        assert isinstance(opts, TritonOptions)
        if opts.backend:
            if opts.backend not in self.BACKENDS:
                raise InvalidSpec("--backend", f"backend {opts.backend} is Invalid. Triton backend only supports "
                                               "vllm or trt-llm")
            if spec.resources.gpus < 1:
                raise InvalidSpec("--gpus", "--gpus must be specific at least 1 GPU")
        if not spec.command and not opts.model_repository:
            raise InvalidSpec("--model-repository", "a model repository is required to run tritonserver")
        return spec

    def tools(self, spec: ServingSpec) -> tuple[str, ...]:
        return () if spec.command else (self.SERVER,)

    def find_tools(self, spec: ServingSpec, path: str | None, python: str) -> Tools:
        """The tritonserver to run, in this order: the nvidia-pytriton wheel of `$ARENA_TRITON_PYTHON`,
        `tritonserver` on PATH (a link to a wheel's counts as that wheel), the wheel in Arena's own Python.
        A wheel's server also needs the Python that runs the models (`tritonserver-python`): the one it is
        installed in, checked here so that a Python that cannot serve is refused before anything starts."""
        if not self.tools(spec):
            return super().find_tools(spec, path, python)
        import os
        import shutil
        from importlib.util import find_spec

        from arena.serving.runtimes import triton_wheel as wheel

        chosen = os.environ.get(wheel.ENV, "")
        if chosen:
            try:
                info = wheel.probe(chosen)
            except LookupError as exc:
                raise InvalidSpec(wheel.ENV, f"{exc}: name the python of the venv where nvidia-pytriton is "
                                             "installed") from None
            exe = wheel.server_of(info.pytriton) if info.pytriton else None
            if exe is None:
                raise ArenaError(f"serve triton: {wheel.ENV}={chosen} has no nvidia-pytriton (whose wheel ships a "
                                 f"CPU tritonserver); {chosen} -m pip install nvidia-pytriton")
            return self._wheel(python, str(exe), info)
        found = shutil.which(self.SERVER, path=path)
        if found:
            root = wheel.root_of(found)
            if root is None:  # a Triton install: it has its backends where it expects them
                return Tools(python=python, paths={self.SERVER: found})
            return self._wheel(python, found, self._probe(wheel.owner_python(root) or python))
        pkg = find_spec("pytriton")
        exe = wheel.server_of(list(pkg.submodule_search_locations)[0]) \
            if pkg is not None and pkg.submodule_search_locations else None
        if exe is None:
            return Tools(python=python, paths={self.SERVER: None})
        return self._wheel(python, str(exe), self._probe(python))

    @staticmethod
    def _probe(python: str) -> PythonInfo:
        from arena.serving.runtimes import triton_wheel as wheel

        try:
            return wheel.probe(python)
        except LookupError as exc:
            raise ArenaError(f"serve triton: the Python of nvidia-pytriton's tritonserver: {exc}") from None

    def _wheel(self, python: str, exe: str, info: PythonInfo) -> Tools:
        """The wheel's server, with the Python that runs its models, once that Python is known to serve."""
        from pathlib import Path

        from arena.serving.runtimes import triton_wheel as wheel

        why = wheel.problem(info, wheel.root_of(exe) or Path(exe).parent.parent)
        if why:
            raise ArenaError(f"serve triton: {why}; install it in a venv of its own ({wheel.INSTALL})")
        return Tools(python=python, paths={self.SERVER: exe, "tritonserver-python": info.python})

    def local_server(self, spec: ServingSpec, tools: Tools) -> str:
        exe = tools.paths.get(self.SERVER)
        if not exe:
            from arena.serving.runtimes.triton_wheel import INSTALL

            raise ArenaError("serve triton: tritonserver is not on PATH, nor the CPU build that the nvidia-pytriton "
                             f"wheel ships; install that in a venv of its own ({INSTALL}), or install Triton "
                             "Inference Server")
        opts = spec.options_as(TritonOptions)
        assert isinstance(opts, TritonOptions)
        parts = [_q(exe), '--http-port="$PORT"', '--grpc-port="$GRPC_PORT"', "--http-address=127.0.0.1",
                 "--grpc-address=127.0.0.1"]
        if opts.allow_metrics:
            parts += ['--metrics-port="$METRICS_PORT"', "--metrics-address=127.0.0.1"]
        parts.append(f"--allow-metrics={'true' if opts.allow_metrics else 'false'}")
        parts.append(f"--model-repository={_q(_local_path(opts.model_repository, '--model-repository'))}")
        parts += [f"--load-model={_q(m)}" for m in opts.load_models]
        if opts.load_models:
            parts.append("--model-control-mode=explicit")
        parts += [f"--backend-config={_q(c)}" for c in opts.backend_config]
        if opts.extend_command:
            parts.append(opts.extend_command)
        backend_python = tools.paths.get("tritonserver-python")
        if backend_python:  # the wheel's server: its launcher puts the python backend together first
            parts = [_q(tools.python), "-m", "arena.serving.runtimes.triton_server", f"--python={_q(backend_python)}",
                     "--", *parts]
        return "exec " + " ".join(parts)

    def extra_ports(self, spec: ServingSpec) -> tuple[str, ...]:
        opts = spec.options_as(TritonOptions)
        return ("GRPC_PORT", "METRICS_PORT") if getattr(opts, "allow_metrics", False) else ("GRPC_PORT",)

    def readiness(self, spec: ServingSpec) -> Probe:
        if spec.readiness is not None:
            return spec.readiness
        return Probe("httpGet", path="/v2/health/ready")


class KServe(ServingType):
    name = "kserve"
    label = "kserve"
    alias = "KServe"
    chart = "kserve"
    chart_version = "0.1.0"
    options_type = KServeOptions
    endpoint_order = ("RESTFUL", "GRPC")
    versionless = True
    #: --model-format names the local runtime serves (kserve's sklearn runtime, TorchScript for pytorch)
    FORMATS = ("sklearn", "pytorch")
    LOCAL_PORT = 8080  # kserve's model server default; a cluster exposes port 80 through Knative
    port_flags = {"port": "restful"}

    def default_ports(self) -> Ports:
        return Ports(restful=self.LOCAL_PORT)

    def check(self, spec: ServingSpec) -> ServingSpec:
        opts = spec.options_as(KServeOptions)
        assert isinstance(opts, KServeOptions)
        if opts.model_format:
            name, _, version = opts.model_format.partition(":")
            if not name or (":" in opts.model_format and not version):
                raise InvalidSpec("--model-format", f"model format is invalid: {opts.model_format}")
        elif not spec.image and not spec.command:
            raise InvalidSpec("--model-format", "model format and image can not be empty at the same time")
        if opts.min_replicas < 0:
            raise InvalidSpec("--min-replicas", "must be 0 or more")
        if opts.max_replicas and opts.max_replicas < opts.min_replicas:
            raise InvalidSpec("--max-replicas", f"must be at least --min-replicas ({opts.min_replicas})")
        if not -1 <= opts.canary_traffic_percent <= 100:
            raise InvalidSpec("--canary-traffic-percent", "must be between 0 and 100")
        return spec

    def replica_count(self, replicas: int | None, options: Any) -> int | None:
        """--min-replicas (upstream's kserve ignores --replicas); 0 (scale to zero) runs one locally."""
        return max(int(getattr(options, "min_replicas", 1)), 1)

    def modules(self, spec: ServingSpec) -> tuple[str, ...]:
        return () if spec.command else ("kserve",)

    def local_server(self, spec: ServingSpec, tools: Tools) -> str:
        opts = spec.options_as(KServeOptions)
        assert isinstance(opts, KServeOptions)
        fmt = opts.model_format.partition(":")[0]
        if fmt not in self.FORMATS:
            raise Unsupported("local", f"--model-format {fmt} (the local kserve runtime serves "
                                       f"{' and '.join(self.FORMATS)}; give a command for others)")
        if not tools.modules.get("kserve"):
            raise ArenaError("serve kserve: the kserve package (KServe's Python model server) is not installed; "
                             "pip install 'arena-ml[serving]'")
        if not opts.storage_uri:
            raise InvalidSpec("--storage-uri", "the model's location is required, e.g. file:///models/digits")
        return ("exec " + " ".join([
            _q(tools.python), "-m", "arena.serving.runtimes.kserve_server",
            f"--model_name={_q(spec.model_name or spec.name)}", f"--model_format={_q(fmt)}",
            f"--model_dir={_q(_local_path(opts.storage_uri, '--storage-uri'))}", '--http_port="$PORT"']))

    def extra_ports(self, spec: ServingSpec) -> tuple[str, ...]:
        return ()

    def readiness(self, spec: ServingSpec) -> Probe:
        if spec.readiness is not None:
            return spec.readiness
        return Probe("httpGet", path="/v2/health/ready") if not spec.command else Probe("tcpSocket")


REGISTRY: tuple[ServingType, ...] = (Custom(), Tensorflow(), Triton(), KServe())
_BY_NAME = {n.lower(): t for t in REGISTRY for n in (*t.names, t.label, t.alias)}
_BY_LABEL = {t.label: t for t in REGISTRY}
#: Upstream types this Arena does not run (one line, exit 2, naming what it does run).
UNSUPPORTED = ("kfserving", "kf", "kfs", "seldon", "distributed", "tensorrt", "trt")


def all() -> list[ServingType]:  # noqa: A001 - the registry's natural verb
    return list(REGISTRY)


def names() -> list[str]:
    return [t.name for t in REGISTRY]


def get(name: str, field: str = "--type") -> ServingType:
    """A type by CLI name, alias, label or TYPE alias (case-insensitive, as upstream's -T)."""
    found = _BY_NAME.get(str(name).lower())
    if found is None:
        known = ", ".join(f"{t.name}({t.alias})" for t in REGISTRY)
        raise InvalidSpec(field, f"unknown serving job type {name!r}, arena only supports: [{known}]")
    return found


def by_label(label: str) -> ServingType:
    return _BY_LABEL[label]


def labels() -> tuple[str, ...]:
    return tuple(_BY_LABEL)
