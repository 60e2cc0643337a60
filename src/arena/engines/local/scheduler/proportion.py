"""The proportion policy: deserved shares by weighted water-filling, and queue shares.

Volcano's proportion plugin, per resource dimension at once: each round hands the remaining
capacity out by weight, clamps every queue to its real capability and its demand (a queue never
deserves more than it asks for) and lifts it to its guarantee; queues whose demand is met leave
the round. Floats, as upstream; comparisons elsewhere allow `EPS` of slack.
"""
from __future__ import annotations

from typing import Sequence

from arena.engines.local.scheduler.vec import Vec

EPS = 1e-9


class Claim:
    """One queue's input to water-filling."""

    __slots__ = ("name", "weight", "demand", "cap", "guarantee")

    def __init__(self, name: str, weight: int, demand: Vec, cap: Vec, guarantee: Vec) -> None:
        self.name, self.weight, self.demand, self.cap, self.guarantee = name, max(weight, 0), demand, cap, guarantee


def water_fill(total: Vec, claims: Sequence[Claim]) -> dict[str, list[float]]:
    """Deserved resources per queue: weighted, capped by capability and demand, floored by guarantee."""
    dims = len(total)
    deserved = {c.name: [0.0] * dims for c in claims}
    remaining = [float(t) for t in total]
    meet: set[str] = set()
    for _ in range(4 * len(claims) + 8):  # upstream loops until stable; this bounds float noise
        active = [c for c in claims if c.name not in meet]
        weights = sum(c.weight for c in active)
        if not active or weights == 0:
            break
        inc = [0.0] * dims
        dec = [0.0] * dims
        for c in active:
            old = deserved[c.name]
            share = c.weight / weights
            new = [max(min(o + r * share, cap, dem), g)
                   for o, r, cap, dem, g in zip(old, remaining, c.cap, c.demand, c.guarantee)]
            if new == old or all(dem <= n + EPS * (1 + abs(n)) for dem, n in zip(c.demand, new)):
                meet.add(c.name)
            for d in range(dims):
                diff = new[d] - old[d]
                if diff > 0:
                    inc[d] += diff
                else:
                    dec[d] -= diff
            deserved[c.name] = new
        nxt = [max(0.0, r + de - i) for r, de, i in zip(remaining, dec, inc)]
        if nxt == remaining or all(x <= EPS for x in nxt):
            break
        remaining = nxt
    return deserved


def share(alloc: Vec, deserved: Sequence[float]) -> float:
    """Max over dimensions of allocated / deserved (1 for an allocation nothing was deserved for)."""
    best = 0.0
    for a, d in zip(alloc, deserved):
        if a <= 0:
            continue
        s = a / d if d > 0 else 1.0
        if s > best:
            best = s
    return best


def over(alloc: float, deserved: float) -> bool:
    """alloc > deserved, with float slack."""
    return alloc > deserved + EPS * (1 + abs(deserved))


def within(alloc: float, deserved: float) -> bool:
    return not over(alloc, deserved)
