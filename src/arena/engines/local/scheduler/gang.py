"""The gang policy: which replicas form a job's gang, what they need, how many fit.

A job's replicas are in gang order. The gang is the first `gang_size` of them; a bound or
finished replica counts as ready (Volcano counts Succeeded pods as ready). A job whose gang is
not ready needs its next `gang_size - ready` pending replicas placed *at once*; replicas beyond
the gang (elastic ones) are placed one by one once the gang runs.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from arena.engines.local.scheduler.snapshot import Job, Replica
from arena.engines.local.scheduler.vec import Dims, Vec, fits, vsub


class Need(NamedTuple):
    """What a pending job still needs, computed once per cycle."""

    gang: Vec | None  # resources of `members` (None: a resource no one declares)
    members: Sequence[Replica]  # replicas still missing from the gang, in order (empty: gang ready)
    extras: Sequence[Replica]  # pending replicas beyond the gang
    total: Vec  # everything pending (the demand the proportion policy sees)
    ready: int


def total(replicas: Sequence[Replica], dims: Dims) -> Vec | None:
    """Sum of requests; the hot loop of a cycle, so the common no-extended case stays inline."""
    c = m = g = 0
    ext = False
    for r in replicas:
        q = r.request
        c += q.cpu_milli
        m += q.memory
        g += q.gpus
        if q.extended:
            ext = True
    if not ext:
        return (c, m, g) + dims.zero[3:]
    out = [c, m, g] + [0] * len(dims.ext)
    for r in replicas:
        if r.request.extended:
            v = dims.vec(r.request)
            if v is None:
                return None
            for i in range(3, len(out)):
                out[i] += v[i]
    return tuple(out)


def need(job: Job, pending: list[Replica], ready: int, dims: Dims) -> Need:
    """Split the pending replicas into the gang's missing members and the extras."""
    missing = max(job.gang_size - ready, 0)
    if missing == len(pending):
        t = total(pending, dims)
        return Need(t, pending, (), t if t is not None else dims.zero, ready)
    members, extras = pending[:missing], pending[missing:]
    everything = total(pending, dims)
    return Need(total(members, dims), members, extras, everything if everything is not None else dims.zero, ready)


def placeable(members: Sequence[Replica], room: Vec, dims: Dims) -> int:
    """How many of the members fit one after another into `room` (for "gang 2/4 placeable")."""
    n = 0
    for r in members:
        v = dims.vec(r.request)
        if v is None or not fits(v, room):
            break
        room = vsub(room, v)
        n += 1
    return n
