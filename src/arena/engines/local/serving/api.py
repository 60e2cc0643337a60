"""The daemon's `arena serve` endpoints, under `/v1/serving` (routed here from `engines/local/api.py`).

    GET    /v1/serving?namespace=NS|all=1[&type=T]          list
    POST   /v1/serving                    {plan}            submit (the daemon plans again and compares)
    GET    /v1/serving/NS/NAME[?version=V&type=T]           get
    PUT    /v1/serving/NS/NAME            {update}          update (rolling)
    DELETE /v1/serving/NS/NAME[?version=V&type=T]           delete (returns when its processes are gone)
    POST   /v1/serving/NS/NAME/traffic    {split}           traffic-split

Every body is decoded into its struct (unknown or ill-typed fields refused), as the job endpoints do.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import msgspec

from arena.engines.local.serving.manager import Manager
from arena.engines.local.serving.plan import ServingInputs, ServingPlan
from arena.errors import ArenaError
from arena.serving.spec import ServingUpdate, TrafficSplit

if TYPE_CHECKING:
    from arena.engines.local.api import Api

_RUNNING = threading.Event()  # never set: a manager started by a request runs as long as the daemon


class SubmitBody(msgspec.Struct, forbid_unknown_fields=True):
    plan: ServingPlan


class UpdateBody(msgspec.Struct, forbid_unknown_fields=True):
    update: ServingUpdate
    inputs: ServingInputs | None = None  # the updating shell's environment and tools (its cwd is not used)


class TrafficBody(msgspec.Struct, forbid_unknown_fields=True):
    split: TrafficSplit


def route(api: Api, method: str, parts: list[str], q: dict[str, str], body: bytes) -> Any:
    from arena.engines.local.api import decode

    manager = Manager.for_api(api)
    manager.start(_RUNNING)
    limit = getattr(getattr(api, "limits", None), "request_bytes", 16 * 2**20)
    type_ = q.get("type") or None
    version = q.get("version") or None
    if not parts:
        if method == "GET":
            return manager.list(None if q.get("all") == "1" else q.get("namespace", "default"), type_)
        if method == "POST":
            return manager.submit(decode(body, SubmitBody, limit).plan)
    elif len(parts) == 2:
        ns, name = parts
        if method == "GET":
            return manager.get(ns, name, version, type_)
        if method == "DELETE":
            return manager.delete(ns, name, version, type_)
        if method == "PUT":
            req = decode(body, UpdateBody, limit)
            return manager.update(msgspec.structs.replace(req.update, namespace=ns, name=name), req.inputs)
    elif len(parts) == 3 and parts[2] == "traffic" and method == "POST":
        split = decode(body, TrafficBody, limit).split
        return manager.traffic(msgspec.structs.replace(split, namespace=parts[0], name=parts[1]))
    raise ArenaError(f"unknown API call {method} /v1/serving/{'/'.join(parts)}")
