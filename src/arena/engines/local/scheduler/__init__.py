"""The local scheduler: a pure function from a snapshot to decisions.

Layout (one module per action, policies as plain functions, composed by `cycle`):
snapshot (public types) · vec (resource tuples) · context (session state) · order, proportion,
gang (policies) · enqueue (admission) · allocate · elastic (replicas beyond minAvailable) ·
preempt · reclaim · victims (choosing whole jobs to evict) · reasons · report (`arena top
queue`) · cycle (composes them).
"""
from arena.engines.local.scheduler.cycle import cycle
from arena.engines.local.scheduler.report import queue_report
from arena.engines.local.scheduler.snapshot import (Amount, Bind, Decisions, Evict, Job, Node, Queue, QueueReport,
                                                    Replica, Snapshot, Waiting)

__all__ = ["Amount", "Bind", "Decisions", "Evict", "Job", "Node", "Queue", "QueueReport", "Replica", "Snapshot",
           "Waiting", "cycle", "queue_report"]
