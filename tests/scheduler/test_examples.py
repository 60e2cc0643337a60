"""Worked examples: gang waiting, weighted queues with reclaim, priority preemption, capability."""
from __future__ import annotations

from arena.engines.local.scheduler import Amount, Queue, cycle, queue_report

from .helpers import apply, events, job, node, running, settle, snap, text, with_


def gpus_of(jobs, queue: str) -> int:  # type: ignore[no-untyped-def]
    return sum(r.request.gpus for j in jobs if j.queue == queue and not j.releasing for r in j.replicas if r.bound)


def test_textbook_gang_waits_on_one_gpu_machine() -> None:
    jobs = [job("small", gpus=1)]
    jobs = apply(jobs, cycle(snap(node(gpus=1), None, jobs)))
    jobs.append(job("gang", replicas=4, gpus=1, created=1))
    d = cycle(snap(node(gpus=1), None, jobs))
    assert not d.binds
    w = d.waiting["gang"]
    assert "4 nvidia.com/gpu" in text(w.reason) and w.position == 1 and not w.admitted


def test_gang_waits_for_the_whole_gang_then_starts_at_once() -> None:
    n = node(gpus=4)
    jobs = [job("small", gpus=1)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    jobs.append(job("gang", replicas=4, gpus=1, created=1))
    d = cycle(snap(n, None, jobs))
    assert d.binds == ()
    assert text(d.waiting["gang"].reason) == "gang needs 4 nvidia.com/gpu, 3 free"
    assert ("gang", "Unschedulable", "gang 3/4 replicas placeable: needs 4 nvidia.com/gpu, 3 free") in events(d)
    jobs = apply(jobs, d)
    # a later 1-GPU job must not take the GPUs the gang is waiting for
    jobs.append(job("later", gpus=1, created=2))
    d = cycle(snap(n, None, jobs))
    assert d.binds == () and text(d.waiting["later"].reason) == "gang needs 1 nvidia.com/gpu, 0 free (3 reserved)"
    assert d.waiting["later"].position == 2
    jobs = [j for j in apply(jobs, d) if j.uid != "small"]  # small finishes
    d = cycle(snap(n, None, jobs))
    assert sorted(b.replica for b in d.binds if b.job_uid == "gang") == [f"worker-{i}" for i in range(4)]
    assert sorted(i for b in d.binds for i in b.gpu_indices) == [0, 1, 2, 3]
    assert "gang" in d.admit and text(d.waiting["later"].reason) == "gang needs 1 nvidia.com/gpu, 0 free"


def test_min_available_binds_the_gang_then_extras_as_room_frees() -> None:
    n = node(gpus=3)
    jobs = [job("elastic", replicas=4, gpus=1, min_available=2)]
    d = cycle(snap(n, None, jobs))
    assert len(d.binds) == 3  # 2 for the gang, then 1 extra
    assert d.waiting["elastic"].position == 0
    assert "1 replicas beyond minAvailable wait" in text(d.waiting["elastic"].reason)


def test_two_queues_weighted_1_to_3_converge_under_backlog_with_reclaim() -> None:
    n = node(gpus=4)
    queues = [Queue("a", weight=1), Queue("b", weight=3)]
    jobs = [job(f"a{i}", "a", gpus=1, created=i) for i in range(8)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    assert gpus_of(jobs, "a") == 4  # alone, queue a borrows the whole machine
    jobs += [job(f"b{i}", "b", gpus=1, created=10 + i) for i in range(8)]
    for _ in range(8):
        d = cycle(snap(n, queues, jobs))
        assert all(e.action == "reclaim" and e.job_uid.startswith("a") for e in d.evictions)
        assert all(text(e.reason) == "evicted by reclaim for queue b" for e in d.evictions)
        jobs = settle(apply(jobs, d))
    assert (gpus_of(jobs, "a"), gpus_of(jobs, "b")) == (1, 3)
    report = queue_report(snap(n, queues, jobs))
    assert (report["a"].deserved.gpus, report["b"].deserved.gpus) == (1, 3)
    assert (report["a"].allocated.gpus, report["b"].allocated.gpus) == (1, 3)
    d = cycle(snap(n, queues, jobs))
    assert not d.evictions and not d.binds  # stable


def test_reclaimable_false_queue_keeps_its_borrowed_jobs() -> None:
    n = node(gpus=4)
    queues = [Queue("a", weight=1, reclaimable=False), Queue("b", weight=3)]
    jobs = [job(f"a{i}", "a", gpus=1, created=i) for i in range(4)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    jobs += [job("b0", "b", gpus=1, created=10)]
    d = cycle(snap(n, queues, jobs))
    assert not d.evictions and text(d.waiting["b0"].reason) == "gang needs 1 nvidia.com/gpu, 0 free"


def test_preemption_by_priority_inside_a_queue() -> None:
    n = node(gpus=2)
    jobs = [job("low1", gpus=1, created=0), job("low2", gpus=1, created=1, priority=1)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    jobs.append(job("high", gpus=1, created=2, priority=5))
    d = cycle(snap(n, None, jobs))
    # exactly one victim: the lowest-priority job; not both
    assert [(e.job_uid, e.action, e.preemptor) for e in d.evictions] == [("low1", "preempt", "high")]
    assert ("low1", "Preempted", "preempted by higher-priority job high") in events(d)
    assert text(d.waiting["high"].reason).endswith("; preempting 1 lower-priority job(s)")
    jobs = apply(jobs, d)
    d = cycle(snap(n, None, jobs))  # low1 is still terminating: no second eviction
    assert not d.evictions and "being released" in text(d.waiting["high"].reason)
    jobs = settle(apply(jobs, d))
    d = cycle(snap(n, None, jobs))
    assert [b.job_uid for b in d.binds] == ["high"]
    assert d.waiting["low1"].position == 1


def test_no_useless_preemption() -> None:
    n = node(gpus=2)
    jobs = [job("low", gpus=1), job("mid", gpus=1, priority=3, created=1)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    jobs.append(job("high", replicas=2, gpus=1, priority=2, created=2))  # only one lower-priority job
    d = cycle(snap(n, None, jobs))
    assert not d.evictions


def test_non_preemptable_job_is_not_a_victim() -> None:
    n = node(gpus=1)
    jobs = [job("low", gpus=1, preemptable=False)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    jobs.append(job("high", gpus=1, priority=9, created=1))
    assert not cycle(snap(n, None, jobs)).evictions


def test_capability_is_a_hard_cap_with_a_visible_reason() -> None:
    n = node(gpus=8)
    queues = [Queue("team-a", capability=Amount(gpus=2))]
    jobs = [job(f"j{i}", "team-a", gpus=1, created=i) for i in range(3)]
    d = cycle(snap(n, queues, jobs))
    assert len(d.binds) == 2
    assert text(d.waiting["j2"].reason) == "queue team-a capability nvidia.com/gpu 2/2"
    assert ("j2", "Unschedulable", "queue team-a capability exceeded: nvidia.com/gpu 3/2") in events(d)
    d2 = cycle(snap(n, queues, [job("big", "team-a", gpus=3)]))
    assert text(d2.waiting["big"].reason) == "gang needs 3 nvidia.com/gpu, queue team-a capability 2"


def test_capability_head_is_not_starved_by_smaller_jobs() -> None:
    n = node(gpus=8)
    queues = [Queue("q", capability=Amount(gpus=4))]
    jobs = [job("r0", "q", gpus=1), job("r1", "q", gpus=1), job("r2", "q", gpus=1)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    jobs += [job("big", "q", gpus=4, created=1), job("small", "q", gpus=1, created=2)]
    d = cycle(snap(n, queues, jobs))
    assert not d.binds  # the one unit of headroom is reserved for big
    assert text(d.waiting["small"].reason) == "queue q capability nvidia.com/gpu 3/4 (1 reserved for big)"


def test_closed_and_closing_queues_admit_nothing_new() -> None:
    n = node(gpus=2)
    queues = [Queue("c", state="Closed"), Queue("d", state="Closing")]
    jobs = [job("x", "c", gpus=1), job("y", "d", gpus=1), job("z", "d", gpus=1, admitted=True)]
    d = cycle(snap(n, queues, jobs))
    assert text(d.waiting["x"].reason) == "queue c closed" and text(d.waiting["y"].reason) == "queue d closing"
    assert [b.job_uid for b in d.binds] == ["z"]  # an admitted job (restarting) drains through
    assert text(cycle(snap(n, [], [job("m", "nope")])).waiting["m"].reason) == "queue nope not found"


def test_guarantee_is_reserved_for_its_queue() -> None:
    n = node(gpus=4)
    queues = [Queue("g", guarantee=Amount(gpus=2)), Queue("o")]
    jobs = [job(f"o{i}", "o", gpus=1, created=i) for i in range(4)]
    d = cycle(snap(n, queues, jobs))
    assert len(d.binds) == 2 and "(2 reserved)" in text(d.waiting["o2"].reason)
    assert text(cycle(snap(n, queues, [job("big", "o", gpus=3)])).waiting["big"].reason) == (
        "gang needs 3 nvidia.com/gpu, node has 4 (2 guaranteed to other queues)")


def test_gpu_indices_are_concrete_and_never_shared() -> None:
    n = node(gpus=4)
    jobs = [job("a", gpus=1), job("b", replicas=2, gpus=1, created=1)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    jobs = [j for j in jobs if j.uid != "a"] + [job("c", gpus=2, created=2)]
    d = cycle(snap(n, None, jobs))
    assert [b.gpu_indices for b in d.binds] == [(0, 3)]


def test_extended_resources_and_unknown_ones() -> None:
    n = node(gpus=0, **{"example.com/fpga": 1})
    fpga = with_(job("f"), replicas=(with_(job("f").replicas[0], request=Amount(1000, 0, 0, {"example.com/fpga": 1})),))
    other = with_(job("u", created=1),
                  replicas=(with_(job("u").replicas[0], request=Amount(1000, 0, 0, {"vendor/x": 1})),))
    d = cycle(snap(n, None, [fpga, other, with_(fpga, uid="f2", name="f2", created=2)]))
    assert [b.job_uid for b in d.binds] == ["f"]
    assert text(d.waiting["u"].reason) == "gang needs vendor/x, which the node does not have"
    assert text(d.waiting["f2"].reason) == "gang needs 1 example.com/fpga, 0 free"


def test_events_fire_only_when_the_reason_changes() -> None:
    n = node(gpus=1)
    jobs = [job("a", gpus=1), job("b", gpus=1, created=1)]
    jobs = apply(jobs, cycle(snap(n, None, jobs)))
    d = cycle(snap(n, None, jobs))
    assert not d.events and text(d.waiting["b"].reason)


def test_job_order_priority_then_time_then_uid() -> None:
    n = node(gpus=0, cpu=1)
    jobs = [job("z", created=1), job("y", created=1), job("x", created=0), job("w", created=5, priority=1)]
    d = cycle(snap(n, None, jobs))
    assert [b.job_uid for b in d.binds] == ["w"]
    assert [d.waiting[u].position for u in ("x", "y", "z")] == [1, 2, 3]


def test_running_state_is_reported_for_top_queue() -> None:
    n = node(gpus=2)
    queues = [Queue("a", weight=1), Queue("b", weight=1, capability=Amount(gpus=1)), Queue("idle")]
    jobs = [job("a0", "a", gpus=1), job("a1", "a", gpus=1, created=1), job("b0", "b", gpus=1, created=2)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    rep = queue_report(snap(n, queues, jobs))
    assert rep["a"].running + rep["a"].pending == 2 and rep["b"].running == 1
    assert rep["b"].deserved.gpus <= 1 and rep["idle"].deserved.gpus == 0
    assert running(jobs) == {"a0", "b0"}


def test_reclaim_needs_a_queue_over_its_share_and_a_reclaimer_under_its_own() -> None:
    n = node(gpus=4)
    queues = [Queue("a"), Queue("b")]
    jobs = [job("a0", "a", gpus=1), job("a1", "a", gpus=1, created=1),
            job("b0", "b", gpus=1, created=2), job("b1", "b", gpus=1, created=3)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    jobs += [job("b2", "b", gpus=1, created=4), job("a2", "a", gpus=1, created=5)]
    d = cycle(snap(n, queues, jobs))
    assert not d.evictions  # 2:2 is exactly the 1:1 share: nobody is over


def test_reclaim_keeps_the_victim_queue_at_its_guarantee() -> None:
    n = node(gpus=4)
    queues = [Queue("a", weight=1, guarantee=Amount(gpus=3)), Queue("b", weight=3)]
    jobs = [job(f"a{i}", "a", gpus=1, created=i) for i in range(4)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    jobs += [job(f"b{i}", "b", gpus=1, created=10 + i) for i in range(4)]
    d = cycle(snap(n, queues, jobs))
    assert [e.job_uid for e in d.evictions] == ["a3"]  # a may drop to 3, not below


def test_queue_head_past_the_sla_is_not_starved_by_another_queue() -> None:
    """A freed GPU goes to the least-served queue; past the SLA the oldest head goes first."""
    n = node(gpus=2)
    queues = [Queue("a"), Queue("b")]
    jobs = [job("a-run", "a", gpus=1), job("b-run", "b", gpus=1, created=1)]
    jobs = apply(jobs, cycle(snap(n, queues, jobs)))
    jobs.append(job("a-big", "a", gpus=2, created=2))
    jobs = [j for j in jobs if j.uid != "b-run"] + [job("b-small", "b", gpus=1, created=3)]

    def run(sla: float) -> set[str]:
        s = with_(snap(n, queues, jobs), now=100.0, sla_waiting_time=sla)
        return {b.job_uid for b in cycle(s).binds}

    assert run(1000.0) == {"b-small"}  # within the SLA the share order rules: b holds nothing
    assert run(10.0) == set()  # past it a-big is tried first and reserves the free GPU


def test_queue_priority_orders_queues() -> None:
    n = node(gpus=1)
    queues = [Queue("low"), Queue("high", priority=5)]
    jobs = [job("l", "low", gpus=1), job("h", "high", gpus=1, created=1)]
    assert [b.job_uid for b in cycle(snap(n, queues, jobs)).binds] == ["h"]


def test_reasons_print_quantities_as_users_write_them() -> None:
    n = node(gpus=0, cpu=4, mem_gi=8)
    jobs = [job("m", cpu=0.5, mem_gi=16), job("c", cpu=6, created=1)]
    d = cycle(snap(n, None, jobs))
    assert text(d.waiting["m"].reason) == "gang needs 16Gi memory, node has 8Gi"
    assert text(d.waiting["c"].reason) == "gang needs 6 cpu, node has 4"
    queues = [Queue("q", capability=Amount(cpu_milli=1500))]
    d = cycle(snap(n, queues, [job("a", "q", cpu=1), job("b", "q", cpu=1, created=1)]))
    assert text(d.waiting["b"].reason) == "queue q capability cpu 1/1500m"
