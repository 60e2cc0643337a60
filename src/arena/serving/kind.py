"""Serving types as kinds of the local engine: how its daemon runs one generation of a serving version.

A serving version runs on the local engine as an ordinary job of the store — so it is queued, admitted and
bound by the same scheduler as training jobs (GPUs by index, CPU and memory against the node and its
queue), and its replicas are started, watched and re-adopted by the same spawner, shim and reconcile
loop. What differs is declared here, as a `Kind` (`arena.kinds.get` resolves these by their `servingType`
label; they are not training kinds, so `arena submit`, `arena list` and `--type` never show them):

- the controller: a serving replica always restarts, whatever its exit code (a Deployment's
  restartPolicy Always); the back-off between restarts is the replica launcher's (`launch.py`), so
  the loop itself never waits;
- the env contract: `PORT` (the replica's REST port, bound by the scheduler like any replica's port) and
  upstream's `ARENA_POD_*` variables; `GRPC_PORT` and other extra ports are picked by the launcher.

Only `arena.kinds.base` and the controller base are imported: `arena.kinds.get` may load this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from arena.kinds.base import Kind

if TYPE_CHECKING:
    from arena.engines.local.controllers.base import Controller
    from arena.engines.local.plan import Rendezvous
    from arena.spec.job import JobSpec

TASK = "replica"  # the one role of a serving job: its replicas are `replica-0`, `replica-1`...


class ServingKind(Kind):
    """One serving type as the local engine's store sees it (`kind` = upstream's servingType label)."""

    needs_command = True

    def __init__(self, label: str, alias: str) -> None:
        self._label = label
        self._alias = alias

    @property  # type: ignore[override]
    def name(self) -> str:  # type: ignore[override]
        return self._label

    @property
    def trainer(self) -> str:
        return self._alias

    def local_env(self, spec: JobSpec, task: str, index: int, net: Rendezvous) -> dict[str, str]:
        """The replica's REST port and the pod identity upstream's charts give every serving container."""
        name = spec.labels.get("servingName", spec.name)
        version = spec.labels.get("servingVersion", "")
        return {"PORT": net.port(f"{task}-{index}"), "ARENA_POD_NAME": f"{name}-{version}-{index}".replace("--", "-"),
                "ARENA_POD_NAMESPACE": spec.namespace, "ARENA_POD_IP": net.host, "ARENA_NODE_NAME": "localhost",
                "SERVING_NAME": name, "SERVING_VERSION": version}

    def local_controller(self, spec: JobSpec) -> Controller:
        from arena.engines.local.controllers.base import Controller, Outcome

        class AlwaysRestart(Controller):
            """A Deployment's replicas: restarted in place after any exit, never ending the job."""

            def on_exit(self, spec, replicas, key, code, counters):  # type: ignore[no-untyped-def, override]
                return Outcome("restart", f"{key} exited with code {code}; restarting (a serving replica always "
                                          "restarts)")

            def ttl(self, spec, status):  # type: ignore[no-untyped-def, override]
                return None

        return AlwaysRestart()


#: label -> kind, for every serving type (kept in step with `arena.serving.types`; a test checks it).
KINDS: dict[str, Kind] = {label: ServingKind(label, alias) for label, alias in (
    ("custom-serving", "Custom"), ("tf-serving", "Tensorflow"), ("triton-serving", "Triton"), ("kserve", "KServe"))}
