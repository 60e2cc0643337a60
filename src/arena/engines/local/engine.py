"""The local engine as seen by the SDK: calls to the daemon's API."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING
from pathlib import Path
from urllib.parse import quote, urlencode

import msgspec

from arena.engines.local.transport import Transport
from arena.spec import job as jobspec
from arena.spec.job import JobSpec
from arena.views import JobView, NodeView

if TYPE_CHECKING:
    from arena.engines.local.queues import QueueView


class LocalEngine:
    name = "local"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.transport = Transport(home)

    def submit(self, spec: JobSpec) -> JobView:
        from arena.engines.local.launch import capture_base_env

        if not spec.working_dir and spec.sync is None:  # locally, "as in this shell": the submitter's directory
            spec = msgspec.structs.replace(spec, working_dir=os.getcwd())
        body: dict = {"spec": jobspec.to_builtins(spec), "base_env": capture_base_env(dict(os.environ))}
        staged = None
        if spec.sync is not None:  # fetched here, before anything is created; credentials stay in this process
            from arena.engines.local import codesync

            staged = codesync.stage(spec.sync, self.home / "staging")
            body["staged_code"] = str(staged)
        try:
            return self.transport.request("POST", "/v1/jobs", body, type=JobView)
        finally:
            if staged is not None and staged.exists():
                import shutil

                shutil.rmtree(staged, ignore_errors=True)

    def data(self, op: str = "list", name: str = "", path: str = "", description: str = "") -> list[dict]:
        if op == "create":
            return self.transport.request("POST", "/v1/data", {"name": name, "path": path, "description": description})
        if op == "delete":
            return self.transport.request("DELETE", f"/v1/data/{quote(name)}")
        return self.transport.request("GET", "/v1/data")

    def list(self, namespace: str | None, kind: str | None = None) -> list[JobView]:
        q = {"all": "1"} if namespace is None else {"namespace": namespace}
        if kind:
            q["kind"] = kind
        return self.transport.request("GET", f"/v1/jobs?{urlencode(q)}", type=list[JobView])

    def get(self, namespace: str, name: str, events: bool = True, with_spec: bool = False) -> JobView:
        q = urlencode({"events": "1" if events else "0", "spec": "1" if with_spec else "0"})
        return self.transport.request("GET", f"/v1/jobs/{quote(namespace)}/{quote(name)}?{q}", type=JobView)

    def delete(self, namespace: str, name: str) -> None:
        self.transport.request("DELETE", f"/v1/jobs/{quote(namespace)}/{quote(name)}")

    def prune(self, since_seconds: float, namespace: str | None) -> list[JobView]:
        body = {"since": since_seconds, "all": namespace is None, "namespace": namespace}
        return self.transport.request("POST", "/v1/prune", body, type=list[JobView])

    def node(self) -> NodeView:
        return self.transport.request("GET", "/v1/node", type=NodeView)

    # ---- queues --------------------------------------------------------------------------
    def queues(self, name: str | None = None) -> list[QueueView]:
        from arena.engines.local.queues import QueueView

        path = "/v1/queues" if name is None else f"/v1/queues/{quote(name)}"
        return self.transport.request("GET", path, type=list[QueueView])

    def queue_op(self, op: str, name: str, **fields: object) -> list[QueueView]:
        from arena.engines.local.queues import QueueView

        method, path = {"create": ("POST", "/v1/queues"), "update": ("PUT", f"/v1/queues/{quote(name)}"),
                        "delete": ("DELETE", f"/v1/queues/{quote(name)}"),
                        "open": ("POST", f"/v1/queues/{quote(name)}/open"),
                        "close": ("POST", f"/v1/queues/{quote(name)}/close")}[op]
        body = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
        return self.transport.request(method, path, body, type=list[QueueView])
