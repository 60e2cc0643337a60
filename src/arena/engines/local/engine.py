"""The local engine as seen by the SDK: calls to the daemon's API."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlencode

import msgspec

from arena.engines.local.launch import capture_base_env
from arena.engines.local.transport import Transport
from arena.spec import job as jobspec
from arena.spec.job import JobSpec
from arena.views import JobView, NodeView


class LocalEngine:
    name = "local"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.transport = Transport(home)

    def submit(self, spec: JobSpec) -> JobView:
        if not spec.working_dir:  # locally, "as in this shell": the submitter's directory
            spec = msgspec.structs.replace(spec, working_dir=os.getcwd())
        body = {"spec": jobspec.to_builtins(spec), "base_env": capture_base_env(dict(os.environ))}
        return msgspec.convert(self.transport.request("POST", "/v1/jobs", body), JobView)

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        q = {"all": "1"} if namespace is None else {"namespace": namespace}
        if kind:
            q["kind"] = kind
        return msgspec.convert(self.transport.request("GET", f"/v1/jobs?{urlencode(q)}"), list[JobView])

    def get(self, namespace: str, name: str, events: bool = True, with_spec: bool = False) -> JobView:
        q = urlencode({"events": "1" if events else "0", "spec": "1" if with_spec else "0"})
        return msgspec.convert(self.transport.request("GET", f"/v1/jobs/{quote(namespace)}/{quote(name)}?{q}"), JobView)

    def delete(self, namespace: str, name: str) -> None:
        self.transport.request("DELETE", f"/v1/jobs/{quote(namespace)}/{quote(name)}")

    def prune(self, since_seconds: float, namespace: str | None) -> list[JobView]:
        body = {"since": since_seconds, "all": namespace is None, "namespace": namespace}
        return msgspec.convert(self.transport.request("POST", "/v1/prune", body), list[JobView])

    def node(self) -> NodeView:
        return msgspec.convert(self.transport.request("GET", "/v1/node"), NodeView)

    def ping(self) -> dict:
        return self.transport.request("GET", "/v1/ping")
