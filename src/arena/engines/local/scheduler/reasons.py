"""One-line reasons and event messages, worded from the decision that blocked a job.

Each names the binding constraint with the numbers the scheduler compared, e.g.
"gang needs 4 nvidia.com/gpu, 1 free" or "queue team-a capability nvidia.com/gpu 2/2".
"""
from __future__ import annotations

from arena.engines.local.scheduler.vec import Dims, Vec


def queue_state(q: str, state: str | None) -> str:
    return f"queue {q} not found" if state is None else f"queue {q} {state.lower()}"


def node_short(dims: Dims, d: int, need: Vec, avail: Vec, withheld: Vec, releasing: Vec) -> str:
    """Why a gang does not fit the node now; mentions reserved and releasing amounts if they matter."""
    text = f"gang needs {dims.fmt(d, need[d])} {dims.names[d]}, {dims.fmt(d, avail[d])} free"
    if withheld[d] > 0:
        text += f" ({dims.fmt(d, withheld[d])} reserved)"
    if releasing[d] > 0:
        text += f", {dims.fmt(d, releasing[d])} being released"
    return text


def never(dims: Dims, d: int, need: Vec, q: str, cap: Vec, total: Vec, guaranteed: Vec) -> str:
    """Why a gang can never run here: larger than the capability, or than the node."""
    res, n = dims.names[d], dims.fmt(d, need[d])
    if need[d] > cap[d]:
        return f"gang needs {n} {res}, queue {q} capability {dims.fmt(d, cap[d])}"
    text = f"gang needs {n} {res}, node has {dims.fmt(d, total[d])}"
    if guaranteed[d] > 0:
        text += f" ({dims.fmt(d, guaranteed[d])} guaranteed to other queues)"
    return text


def capability(dims: Dims, d: int, q: str, held: Vec, cap: Vec, reserved: Vec, head: str) -> str:
    text = f"queue {q} capability {dims.names[d]} {dims.fmt(d, held[d])}/{dims.fmt(d, cap[d])}"
    if reserved[d] > 0 and head:
        text += f" ({dims.fmt(d, reserved[d])} reserved for {head})"
    return text


def capability_event(dims: Dims, d: int, q: str, held: Vec, need: Vec, cap: Vec) -> str:
    return f"queue {q} capability exceeded: {dims.names[d]} {dims.fmt(d, held[d] + need[d])}/{dims.fmt(d, cap[d])}"


def placeable_event(ready: int, placeable: int, size: int, detail: str) -> str:
    return f"gang {ready + placeable}/{size} replicas placeable: {detail.removeprefix('gang ')}"
