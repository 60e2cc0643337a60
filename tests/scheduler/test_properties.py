"""Properties of one cycle on random snapshots, and of the water-filling policy."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from arena.engines.local.scheduler import Amount, Job, Node, Queue, Snapshot, cycle, queue_report
from arena.engines.local.scheduler.proportion import Claim, water_fill
from arena.engines.local.scheduler.vec import INF

from .helpers import GI, apply, events, job, with_
from .invariants import check_decisions, check_state

FAST = settings(max_examples=120, deadline=None)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    """A valid state: some jobs already running (bound whole, on distinct GPUs), a backlog waiting."""
    gpus = draw(st.integers(0, 8))
    node = Node(Amount(draw(st.integers(1, 16)) * 1000, 64 * GI, gpus), tuple(range(gpus)))
    queues = {}
    for i in range(draw(st.integers(1, 4))):
        cap = draw(st.none() | st.integers(1, 8))
        queues[f"q{i}"] = Queue(f"q{i}", draw(st.integers(1, 4)), Amount(gpus=cap) if cap else None,
                                reclaimable=draw(st.booleans()),
                                state=draw(st.sampled_from(["Open", "Open", "Closing"])))
    jobs: list[Job] = []
    for k in range(draw(st.integers(0, 14))):
        reps = draw(st.integers(1, 3))
        jobs.append(job(f"j{k}", f"q{draw(st.integers(0, len(queues) - 1))}", reps, draw(st.integers(0, 2)),
                        draw(st.integers(0, 2)), 1, draw(st.integers(0, 2)), float(draw(st.integers(0, 5))),
                        draw(st.integers(0, reps)), preemptable=draw(st.booleans())))
    s = Snapshot(node, queues, tuple(jobs), 10.0)
    # let the scheduler itself place a first wave, so running jobs are valid by construction
    placed = apply(jobs, cycle(s))
    more = [job(f"n{k}", f"q{draw(st.integers(0, len(queues) - 1))}", draw(st.integers(1, 3)),
                draw(st.integers(0, 2)), 1, 1, draw(st.integers(0, 3)), 6.0 + k)
            for k in range(draw(st.integers(0, 8)))]
    return Snapshot(node, queues, tuple(placed + more), 20.0, sla_waiting_time=draw(st.sampled_from([5.0, 300.0])))


@FAST
@given(snapshots())
def test_one_cycle_keeps_every_invariant(s: Snapshot) -> None:
    check_state(s.node, s.queues, list(s.jobs))
    d = cycle(s)
    check_decisions(s, d)
    after = apply(list(s.jobs), d)
    check_state(s.node, s.queues, after)
    # every waiting job is accounted for, exactly once, and bound jobs are not waiting
    bound = {b.job_uid for b in d.binds}
    for j in s.jobs:
        pending = any(not r.bound and not r.finished for r in j.replicas)
        gang_waiting = sum(1 for r in j.replicas if r.bound or r.finished) < j.gang_size
        if pending and gang_waiting and not j.releasing:
            assert (j.uid in bound) != (j.uid in d.waiting and d.waiting[j.uid].position > 0)


@FAST
@given(snapshots(), st.randoms(use_true_random=False))
def test_cycle_is_pure_and_ignores_input_order(s: Snapshot, rnd: random.Random) -> None:
    d1 = cycle(s)
    jobs = list(s.jobs)
    rnd.shuffle(jobs)
    queues = dict(sorted(s.queues.items(), reverse=True))
    d2 = cycle(with_(s, jobs=tuple(jobs), queues=queues))
    assert d1.binds == d2.binds and d1.evictions == d2.evictions and d1.admit == d2.admit
    assert d1.waiting == d2.waiting and sorted(events(d1)) == sorted(events(d2))
    assert cycle(s) == d1  # nothing carried over between calls


@FAST
@given(snapshots())
def test_queue_report_matches_the_state(s: Snapshot) -> None:
    rep = queue_report(s)
    total_deserved = sum(r.deserved.gpus for r in rep.values())
    assert total_deserved <= s.node.allocatable.gpus
    for name, r in rep.items():
        q = s.queues.get(name)
        if q is not None and q.capability is not None and q.capability.gpus:
            assert r.deserved.gpus <= q.capability.gpus
        held = sum(x.request.gpus for j in s.jobs if j.queue == name for x in j.replicas if x.bound and not x.finished)
        assert r.allocated.gpus == held


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 40), st.none() | st.integers(0, 40)), min_size=1,
                max_size=6), st.integers(0, 64))
def test_water_fill_is_capped_by_demand_capability_and_total(qs: list[tuple[int, int, int | None]], total: int) -> None:
    claims = [Claim(f"q{i}", w, (dem,), (INF if cap is None else cap,), (0,)) for i, (w, dem, cap) in enumerate(qs)]
    out = water_fill((total,), claims)
    assert sum(v[0] for v in out.values()) <= total + 1e-6
    for c in claims:
        assert out[c.name][0] <= min(c.demand[0], c.cap[0]) + 1e-6
    # work-conserving: if supply is left over, every queue got all it may have
    if sum(v[0] for v in out.values()) < total - 1e-6:
        for c in claims:
            assert out[c.name][0] >= min(c.demand[0], c.cap[0]) - 1e-6


@given(st.lists(st.integers(1, 6), min_size=2, max_size=5), st.integers(1, 100))
def test_water_fill_saturated_queues_get_shares_in_weight_ratio(weights: list[int], total: int) -> None:
    claims = [Claim(f"q{i}", w, (10_000,), (INF,), (0,)) for i, w in enumerate(weights)]
    out = water_fill((total,), claims)
    for c in claims:
        assert abs(out[c.name][0] - total * c.weight / sum(weights)) < 1e-6


def test_water_fill_guarantee_is_a_floor() -> None:
    out = water_fill((8,), [Claim("a", 1, (1,), (INF,), (3,)), Claim("b", 1, (100,), (INF,), (0,))])
    assert out["a"][0] == 3 and out["b"][0] == 5


@FAST
@given(snapshots(), st.floats(0.0, 400.0))
def test_a_cycle_skipped_as_unchanged_would_have_decided_the_same(s: Snapshot, later: float) -> None:
    """The daemon does not run a cycle again on the same jobs, node and queues before a job passes the SLA's
    deadline (`binder.LastCycle`): the scheduler must depend on the time only through that deadline."""
    from msgspec.structs import replace

    from arena.engines.local.binder import LastCycle

    last = LastCycle()
    last.keep(s, cycle(s))
    moved = replace(s, now=s.now + later)
    if last.same(moved):
        assert cycle(moved) == last.decisions
    else:  # only the time can tell them apart here: some job passed the deadline in between
        assert any(s.now - s.sla_waiting_time < j.created <= moved.now - s.sla_waiting_time for j in s.jobs)
