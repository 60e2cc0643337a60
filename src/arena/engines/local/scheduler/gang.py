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

    gang: Vec  # resources of `members` (zero when not `valid`)
    members: Sequence[Replica]  # replicas still missing from the gang, in order (empty: gang ready)
    extras: Sequence[Replica]  # pending replicas beyond the gang
    total: Vec  # everything pending (the demand the proportion policy sees)
    ready: int
    missing: int  # gang_size - ready: how many members must bind at once
    valid: bool  # the gang is representable and enough replicas are left to reach it


_new = tuple.__new__  # NamedTuple's own __new__ is a Python function; this is the C one


def total(replicas: Sequence[Replica], dims: Dims) -> Vec | None:
    """Sum of requests (the no-extended case stays a plain loop)."""
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


def classify(jobs: Sequence[Job], dims: Dims) -> list[tuple[Job, list[Replica] | None, Need | None]]:
    """Per job: (its bound, unfinished replicas or None; its Need, or None if nothing is pending).

    This runs over every job of every cycle, so it is one loop with the common shape inlined:
    a job whose pending replicas are exactly its missing gang, without extended resources, is
    summed in the same pass that sorts its replicas, with no second pass and no function call.
    """
    out = []
    tail = dims.zero[3:]
    append = out.append
    for job in jobs:
        reps = job.replicas
        pending: list[Replica] = []
        bound: list[Replica] | None = None
        ready = c = m = g = 0
        ext = False
        for r in reps:
            if r.bound or r.finished:
                ready += 1
                if not r.finished:
                    if bound is None:
                        bound = []
                    bound.append(r)
                continue
            pending.append(r)
            q = r.request
            c += q.cpu_milli
            m += q.memory
            g += q.gpus
            if q.extended:
                ext = True
        if not pending:
            append((job, bound, None))
            continue
        n, mn = len(reps), job.min_available
        missing = (n if mn <= 0 or mn > n else mn) - ready
        if missing == len(pending) and not ext:
            v = (c, m, g) + tail
            append((job, bound, _new(Need, (v, pending, (), v, ready, missing, True))))
        else:
            append((job, bound, _split(pending, ready, max(missing, 0), dims)))
    return out


def _split(pending: list[Replica], ready: int, missing: int, dims: Dims) -> Need:
    """The uncommon shapes: elastic replicas beyond the gang, extended resources, a broken gang."""
    members, extras = pending[:missing], pending[missing:]
    gang_vec = total(members, dims)
    everything = total(pending, dims)
    valid = gang_vec is not None and len(members) >= missing
    return _new(Need, (gang_vec or dims.zero, members, extras, everything or dims.zero, ready, missing, valid))


def placeable(members: Sequence[Replica], room: Vec, dims: Dims) -> int:
    """How many of the members fit one after another into `room` (for "gang 2/4 placeable")."""
    first = members[0].request
    if all(r.request is first for r in members):  # the usual gang: one request, shared
        v = dims.vec(first)
        if v is None:
            return 0
        return min([len(members)] + [int(room[d] // x) for d, x in enumerate(v) if x > 0])
    n = 0
    for r in members:
        v = dims.vec(r.request)
        if v is None or not fits(v, room):
            break
        room = vsub(room, v)
        n += 1
    return n
