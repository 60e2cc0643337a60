"""A random machine, random queues and a random job stream, driven cycle by cycle.

After every step: no queue over capability, no partial gang, no GPU index held twice, node not
over-allocated, reclaim never touches reclaimable=false queues (checked on each Decisions). At
the end, a drain keeps submitting small low-priority jobs while finishing one running job per
round: every job that was waiting and could run on an empty machine must have started.
"""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engines.local.scheduler import Amount, Job, Node, Queue, Snapshot, cycle

from .helpers import GI, apply, job, running, settle, with_
from .invariants import check_decisions, check_state, runnable_on_empty_machine

QUEUE = st.builds(
    lambda weight, cap, reclaimable, guarantee, state, prio: (weight, cap, reclaimable, guarantee, state, prio),
    st.integers(1, 4), st.none() | st.integers(1, 6), st.booleans(), st.sampled_from([0, 0, 0, 1]),
    st.sampled_from(["Open", "Open", "Open", "Closing"]), st.sampled_from([0, 0, 1]))


class Scheduling(RuleBasedStateMachine):
    node: Node
    queues: dict[str, Queue]
    jobs: list[Job]

    @initialize(gpus=st.integers(1, 8), cpu=st.integers(2, 16), queues=st.lists(QUEUE, min_size=1, max_size=4))
    def setup(self, gpus: int, cpu: int, queues: list[tuple]) -> None:  # type: ignore[type-arg]
        self.node = Node(Amount(cpu * 1000, 64 * GI, gpus), tuple(range(gpus)))
        self.queues = {}
        for i, (weight, cap, reclaimable, g, state, prio) in enumerate(queues):
            name = f"q{i}"
            self.queues[name] = Queue(name, weight, Amount(gpus=cap) if cap else None,
                                      Amount(gpus=g) if g else None, reclaimable, state, prio)
        self.jobs = []
        self.clock = 0
        self.ever_started: set[str] = set()

    def snapshot(self) -> Snapshot:
        return Snapshot(self.node, self.queues, tuple(self.jobs), float(self.clock), sla_waiting_time=5.0)

    @rule(q=st.integers(0, 3), replicas=st.integers(1, 4), gpus=st.integers(0, 2), cpu=st.integers(0, 3),
          min_available=st.integers(0, 4), priority=st.integers(0, 3), preemptable=st.booleans())
    def submit(self, q: int, replicas: int, gpus: int, cpu: int, min_available: int, priority: int,
               preemptable: bool) -> None:
        self.clock += 1
        queue = f"q{q % len(self.queues)}"
        self.jobs.append(job(f"j{self.clock}", queue, replicas, gpus, cpu, 1, priority, float(self.clock),
                             min(min_available, replicas), preemptable=preemptable))

    @rule()
    def step(self) -> None:
        s = self.snapshot()
        d = cycle(s)
        check_decisions(s, d)
        self.jobs = apply(self.jobs, d)
        self.ever_started |= running(self.jobs)

    @rule()
    def settle_evictions(self) -> None:
        self.jobs = settle(self.jobs)

    @precondition(lambda self: bool(running(self.jobs)))
    @rule(k=st.integers(0, 100))
    def finish(self, k: int) -> None:
        done = sorted(running(self.jobs))[k % len(running(self.jobs))]
        self.jobs = [j for j in self.jobs if j.uid != done]

    @rule(q=st.integers(0, 3), state=st.sampled_from(["Open", "Closing"]))
    def set_queue_state(self, q: int, state: str) -> None:
        name = f"q{q % len(self.queues)}"
        self.queues[name] = with_(self.queues[name], state=state)

    @invariant()
    def state_is_valid(self) -> None:
        check_state(self.node, self.queues, self.jobs)

    def teardown(self) -> None:
        """Liveness: under a stream of small jobs, every runnable waiting job eventually starts."""
        self.jobs = settle(self.jobs)  # evicted jobs are back in their queues, not admitted
        targets = {j.uid for j in self.jobs if j.uid not in running(self.jobs)
                   and runnable_on_empty_machine(self.node, self.queues, j)}
        started = set(running(self.jobs))
        for round_ in range(40 + 12 * len(targets)):
            if targets <= started:
                break
            self.jobs = settle(self.jobs)
            self.clock += 1
            q = f"q{round_ % len(self.queues)}"
            if self.queues[q].state == "Open":  # the adversary: small, newest, lowest priority
                self.jobs.append(job(f"s{self.clock}", q, 1, 1 if round_ % 2 else 0, 1, 1, 0, float(self.clock)))
            s = self.snapshot()
            d = cycle(s)
            check_decisions(s, d)
            self.jobs = apply(self.jobs, d)
            check_state(self.node, self.queues, self.jobs)
            now = running(self.jobs)
            started |= now
            if now:  # the oldest running job finishes
                oldest = min(now, key=lambda u: next(j.created for j in self.jobs if j.uid == u))
                self.jobs = [j for j in self.jobs if j.uid != oldest]
        assert targets <= started, f"never started: {sorted(targets - started)}"


Scheduling.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestScheduling = Scheduling.TestCase
