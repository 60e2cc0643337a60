"""Choosing whole jobs to evict so that one waiting gang fits (shared by preempt and reclaim).

Greedy in victim order (lowest priority, newest first), skipping jobs that would free nothing
the gang is short of, then walking back over the chosen ones and keeping a victim only if the
gang would no longer fit without it (Kueue's minimal-set pass). If even every candidate is not
enough, nothing is evicted: an eviction that does not let the gang fit is useless.
"""
from __future__ import annotations

from typing import Callable, Iterable

from arena.engines.local.scheduler.snapshot import Job
from arena.engines.local.scheduler.vec import Vec, fits, pos, vadd, vsub

Candidate = tuple[Job, Vec, str]  # (job, what it holds, its queue)
Allow = Callable[[Job, Vec, str, Vec], bool]  # (job, holds, queue, already taken from that queue)


def select(short: Vec, candidates: Iterable[Candidate], zero: Vec,
           allow: Allow | None = None) -> list[Candidate] | None:
    chosen: list[Candidate] = []
    got = zero
    taken: dict[str, Vec] = {}
    for cand in candidates:
        missing = pos(vsub(short, got))
        if not any(missing):
            break
        job, holds, q = cand
        if not any(h > 0 and m > 0 for h, m in zip(holds, missing)):
            continue  # frees nothing the gang still lacks
        if allow is not None and not allow(job, holds, q, taken.get(q, zero)):
            continue
        chosen.append(cand)
        got = vadd(got, holds)
        taken[q] = vadd(taken.get(q, zero), holds)
    if not fits(short, got):
        return None
    for cand in reversed(list(chosen)):
        rest = vsub(got, cand[1])
        if fits(short, rest):
            chosen.remove(cand)
            got = rest
    return chosen
