"""What `arena serve list|get -o json` prints and the SDK returns: upstream's `ServingJobInfo`, then ours.

Field names and order are upstream Arena's (`pkg/apis/types/serving.go`, SERVING.md §5.4); the fields after
`creationTimestamp` are this Arena's (where the replica logs are, its GPU indices and ports, the traffic
weight, a message when something keeps the job from serving). The table renderers live in `arena.cli.serve`.
"""
from __future__ import annotations

import msgspec


class Endpoint(msgspec.Struct, frozen=True):
    name: str  # GRPC | RESTFUL
    port: int
    nodePort: int = 0


class ServingInstance(msgspec.Struct, frozen=True):
    name: str
    status: str  # kubectl's: Running, Pending, CrashLoopBackOff, Terminating...
    age: str
    readyContainers: int
    totalContainers: int
    restartCount: int
    nodeIP: str
    nodeName: str
    ip: str
    requestGPUs: float = 0.0
    requestGPUMemory: int = 0
    requestGPUCore: int = 0
    creationTimestamp: int = 0
    # ours
    version: str = ""
    gpuIndices: list[int] = []
    ports: dict[str, int] = {}
    pid: int | None = None
    logPath: str = ""


class ServingView(msgspec.Struct, frozen=True):
    uuid: str
    name: str
    namespace: str
    type: str  # upstream's TYPE alias: Custom, Tensorflow, Triton, KServe
    version: str
    age: str
    desiredInstances: int
    availableInstances: int
    endpoints: list[Endpoint] = []
    ip: str = "N/A"
    instances: list[ServingInstance] = []
    requestCPUs: float = 0.0
    requestGPUs: float = 0.0
    requestGPUMemory: int = 0
    requestGPUCore: int = 0
    creationTimestamp: int = 0
    # ours
    engine: str = "local"
    servingType: str = ""  # the servingType label: custom-serving, tf-serving, triton-serving, kserve
    weight: int | None = None  # its traffic-split weight; None: no split
    modelName: str = ""
    modelVersion: str = ""
    message: str = ""  # what keeps it from serving (a port in use, a generation waiting for resources)
    traffic: dict[str, int] = {}  # kserve: revision -> percent of the requests (latest, and previous in a canary)

    @property
    def ports_text(self) -> str:
        """The PORTS column: `NAME:port` (or `NAME:nodePort->port`), comma-joined; N/A without endpoints."""
        if not self.endpoints:
            return "N/A"
        return ",".join(f"{e.name}:{e.nodePort}->{e.port}" if e.nodePort else f"{e.name}:{e.port}"
                        for e in self.endpoints)


def pick_instance(view: ServingView, instance: str | None) -> ServingInstance:
    """Upstream's rules and texts (SERVING.md §8), each on one line."""
    from arena.errors import ArenaError, InvalidSpec

    if not view.instances:
        raise ArenaError(f"not found instances of serving job,please use 'arena serve get {view.name}' to get job "
                         "information")
    if instance:
        for i in view.instances:
            if i.name == instance:
                return i
        raise InvalidSpec("--instance", f"invalid instance name {instance} of serving job {view.name},please use "
                                        f"'arena serve get {view.name}' to get instance names")
    if len(view.instances) > 1:
        names = ", ".join(i.name for i in view.instances)
        raise InvalidSpec("--instance", f"There is {len(view.instances)} instances have been found: {names}; please "
                                        "use '-i' or '--instance' to filter.")
    return view.instances[0]


def attach_instance(view: ServingView, instance: str | None) -> ServingInstance:
    """The instance `serve attach` acts on: as for logs, with upstream's own text when there is none."""
    from arena.errors import ArenaError

    if not view.instances:
        raise ArenaError(f"can not attach the serving job {view.name}, because it has no instances")
    return pick_instance(view, instance)


def attach_greeting(container: str, instance: str) -> str:
    """What upstream prints on stderr before it runs the command (SERVING.md §8)."""
    return f"Hello! Arena attach the container {container} of instance {instance}"
