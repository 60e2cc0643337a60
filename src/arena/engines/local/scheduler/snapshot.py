"""The scheduler's input and output: immutable data, no processes, no SQLite.

The daemon builds a `Snapshot` from the store, calls `cycle(snapshot)`, and applies the
returned `Decisions` in one transaction (Kueue's snapshot-then-act pattern). Nothing here
remembers anything between cycles: whatever a cycle must know about the previous one
(a job being evicted, the reason it was last given) arrives as a field of the snapshot.
"""
from __future__ import annotations

import msgspec

from arena.engines.local.scheduler.reasons import Reason


class Amount(msgspec.Struct, frozen=True):
    """A resource vector: milli-CPU, bytes of memory, GPU count, other extended counts."""

    cpu_milli: int = 0
    memory: int = 0
    gpus: int = 0
    extended: dict[str, int] = {}

    def __add__(self, other: Amount) -> Amount:
        ext = dict(self.extended)
        for k, v in other.extended.items():
            ext[k] = ext.get(k, 0) + v
        return Amount(self.cpu_milli + other.cpu_milli, self.memory + other.memory, self.gpus + other.gpus, ext)

    def __sub__(self, other: Amount) -> Amount:
        ext = dict(self.extended)
        for k, v in other.extended.items():
            ext[k] = ext.get(k, 0) - v
        return Amount(self.cpu_milli - other.cpu_milli, self.memory - other.memory, self.gpus - other.gpus, ext)

    def fits_in(self, other: Amount) -> bool:
        return (self.cpu_milli <= other.cpu_milli and self.memory <= other.memory and self.gpus <= other.gpus
                and all(v <= other.extended.get(k, 0) for k, v in self.extended.items() if v > 0))


class Node(msgspec.Struct, frozen=True):
    """The one machine: allocatable totals and its GPU device indices.

    GPU capacity is `len(gpu_indices)`; when no indices are given the scheduler numbers
    `allocatable.gpus` devices 0..n-1, so that every bind still names concrete devices.
    """

    allocatable: Amount
    gpu_indices: tuple[int, ...] = ()


class Queue(msgspec.Struct, frozen=True):
    """A Volcano queue (Kueue ClusterQueue quota maps onto the same fields).

    `capability` is a hard cap. As in Volcano, a zero (unset) cpu or memory entry means
    "not capped"; because an `Amount` cannot tell an absent GPU entry from 0, a zero GPU
    entry is read as "not capped" too. Extended resources are capped only when named.
    `guarantee` is reserved: other queues never use the unused part of it.
    """

    name: str
    weight: int = 1
    capability: Amount | None = None  # hard cap; None: unlimited
    guarantee: Amount | None = None
    reclaimable: bool = True
    state: str = "Open"  # Open | Closed | Closing
    priority: int = 0  # Volcano queue priority: visited first, reclaimed from last


class Replica(msgspec.Struct, frozen=True):
    """One replica (pod) of a job. `gpu_indices`/`bound` describe a current allocation."""

    key: str  # "<task>-<index>", e.g. "worker-1"
    request: Amount
    bound: bool = False
    gpu_indices: tuple[int, ...] = ()
    finished: bool = False  # succeeded/failed replicas hold no resources


class Job(msgspec.Struct, frozen=True):
    """A job as the scheduler sees it; replicas are in gang order (master/chief/ps first).

    The first `min_available` replicas (<= 0: all of them) form the gang; a finished replica
    counts towards it, as a Succeeded pod does in Volcano.
    """

    uid: str
    name: str
    namespace: str
    queue: str
    priority: int
    created: float
    min_available: int
    replicas: tuple[Replica, ...]
    admitted: bool = False  # admitted by its queue (PodGroup Inqueue / Workload Admitted)
    preemptable: bool = True
    # Its bound replicas are being terminated (evicted, deleted, restarting): they still hold
    # their resources but will free them soon (Volcano "Releasing"); never scheduled or evicted.
    releasing: bool = False
    # The reason stored from the previous cycle (Waiting.reason): events fire only on change.
    waiting_reason: Reason | None = None

    @property
    def bound_count(self) -> int:
        return sum(1 for r in self.replicas if r.bound and not r.finished)

    @property
    def gang_size(self) -> int:
        """minAvailable made concrete: 0 or less means every replica, never more than exist."""
        n = len(self.replicas)
        return n if self.min_available <= 0 else min(self.min_available, n)


class Snapshot(msgspec.Struct, frozen=True):
    node: Node
    queues: dict[str, Queue]
    jobs: tuple[Job, ...]
    now: float = 0.0  # same clock as Job.created
    # A queue's first waiting job older than this (now - created, seconds) is served before the
    # share order, oldest first (Volcano's sla plugin, sla-waiting-time): no queue head starves.
    sla_waiting_time: float = 300.0


class Bind(msgspec.Struct, frozen=True):
    job_uid: str
    replica: str
    gpu_indices: tuple[int, ...] = ()


class Evict(msgspec.Struct, frozen=True):
    job_uid: str
    reason: Reason  # e.g. Reclaimed {queue: team-b}
    action: str = ""  # "preempt" (same queue, lower priority) | "reclaim" (another queue)
    preemptor: str = ""  # uid of the waiting job the eviction makes room for


class Waiting(msgspec.Struct, frozen=True):
    reason: Reason  # the binding constraint
    position: int = 0  # 1-based place in its queue among waiting jobs (0: running, extras wait)
    admitted: bool = False


class Decisions(msgspec.Struct, frozen=True):
    binds: tuple[Bind, ...] = ()
    evictions: tuple[Evict, ...] = ()
    admit: tuple[str, ...] = ()  # job uids newly admitted by their queue
    waiting: dict[str, Waiting] = {}  # job uid → why it is not (fully) running
    events: tuple[tuple[str, str, Reason], ...] = ()  # (job uid, event reason, what happened)


class QueueReport(msgspec.Struct, frozen=True):
    """One row of `arena top queue`: the proportion plugin's view of a queue."""

    name: str
    weight: int
    state: str
    reclaimable: bool
    deserved: Amount  # water-filled share of the node, capped by capability and demand
    allocated: Amount  # held by bound, unfinished replicas (releasing ones included)
    capability: Amount | None = None
    guarantee: Amount | None = None
    pending: int = 0  # jobs whose gang is not running yet
    running: int = 0  # jobs with at least one bound replica
    share: float = 0.0  # max over resources of allocated / deserved
