"""The local scheduler: a pure function from a snapshot to decisions."""
from arena.engines.local.scheduler.cycle import cycle
from arena.engines.local.scheduler.snapshot import Amount, Bind, Decisions, Evict, Job, Node, Queue, Replica, Snapshot, Waiting

__all__ = ["Amount", "Bind", "Decisions", "Evict", "Job", "Node", "Queue", "Replica", "Snapshot", "Waiting", "cycle"]
