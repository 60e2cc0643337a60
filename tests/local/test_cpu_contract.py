"""The CPU contract of local replicas (README "CPU contract"): thread counts and core pinning.

Threads: a CPU request rounded down (at least 1), else the usable CPUs over the job's replicas without a
request (at least 1), divided among the processes a replica starts itself; a value the user set is kept.
Cores: a replica with a request is pinned to its request rounded up, on cores no other bound replica holds
while there are such cores, then on the least used. Expectations are computed from this machine's usable
CPUs, so the tests hold on 2 cores and on 200.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from arena.engines.local import cpuset, planner
from arena.engines.local.node import Capacity
from arena.engines.local.plan import Bindings, Inputs
from arena.spec import appwrapperjob, pytorchjob, tfjob

from .fakes import Engine, engine  # noqa: F401 - the fixture

CORES = sorted(os.sched_getaffinity(0))


def env_of(spec, key: str, **inputs: object) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return planner.plan(spec, Inputs(**inputs)).replica(key).env  # type: ignore[arg-type]


def filled(value: str, cpu_count: int) -> str:
    return Bindings({}, cpu_count).text(value)


# ---- the rule ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("milli", "procs", "threads"), [
    (1500, 1, 1), (500, 1, 1), (1000, 1, 1), (4000, 1, 4), (4999, 1, 4), (4000, 2, 2), (1000, 4, 1)])
def test_threads_of_a_request_are_whole_cpus_at_least_one(milli: int, procs: int, threads: int) -> None:
    assert cpuset.threads_of_request(milli, procs) == threads


@pytest.mark.parametrize(("cpus", "sharing", "threads"), [(2, 2, 1), (2, 3, 1), (8, 3, 2), (16, 4, 4), (1, 1, 1)])
def test_threads_without_a_request_share_the_usable_cpus(cpus: int, sharing: int, threads: int) -> None:
    assert cpuset.threads_of_share(cpus, sharing) == threads


@pytest.mark.parametrize(("milli", "available", "cores"), [(1500, 8, 2), (500, 8, 1), (2000, 8, 2), (64000, 8, 8)])
def test_cores_of_a_request_round_up_within_the_machine(milli: int, available: int, cores: int) -> None:
    assert cpuset.cores_of_request(milli, available) == cores


def test_cores_go_to_free_ones_first_then_the_least_used() -> None:
    held: Counter[int] = Counter({0: 1, 2: 1})
    assert cpuset.choose(2, range(4), held) == [1, 3]
    held.update([1, 3])
    held.update([0])
    assert cpuset.choose(1, range(4), held) == [1]  # all taken: the least used (once), lowest first
    assert cpuset.choose(3, range(4), Counter()) == [0, 1, 2]


# ---- the plan ---------------------------------------------------------------------------------------
def test_a_cpu_request_gives_its_whole_cpus_and_a_pin() -> None:
    env = env_of(pytorchjob.build(name="p", workers=2, cpu="1.5", command="true"), "worker-0")
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("1", "1")
    assert env[cpuset.AFFINITY_ENV] == "{{cpus:worker-0}}"
    env = env_of(pytorchjob.build(name="p", cpu="3", command="true"), "master-0")
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("3", "3")


def test_without_requests_the_replicas_share_the_machine() -> None:
    plan = planner.plan(pytorchjob.build(name="p", workers=3, command="true"), Inputs())
    for r in plan.replicas:
        assert r.env["OMP_NUM_THREADS"] == r.env["MKL_NUM_THREADS"] == "{{cpus/3}}"
        assert cpuset.AFFINITY_ENV not in r.env  # nothing requested: not pinned
        assert filled(r.env["OMP_NUM_THREADS"], len(CORES)) == str(max(1, len(CORES) // 3))
    assert filled("{{cpus/3}}", 2) == "1" and filled("{{cpus/3}}", 16) == "5"


def test_only_replicas_without_a_request_share_the_rest() -> None:
    spec = tfjob.build(name="t", ps=1, workers=3, ps_cpu="2", command="true")
    assert env_of(spec, "ps-0")["OMP_NUM_THREADS"] == "2"
    assert env_of(spec, "worker-0")["OMP_NUM_THREADS"] == "{{cpus/3}}"


def test_processes_a_replica_starts_itself_divide_its_share() -> None:
    spec = appwrapperjob.build(name="a", inner_type="volcano", task_name="t", replicas=2, nproc_per_node="2",
                               command="torchrun x.py")
    assert env_of(spec, "t-0")["OMP_NUM_THREADS"] == "{{cpus/4}}"
    auto = pytorchjob.build(name="p", workers=2, nproc_per_node="auto", command="torchrun x.py")
    assert env_of(auto, "worker-0")["OMP_NUM_THREADS"] == "1"  # as many as torchrun decides: one thread each


def test_a_value_the_user_set_is_kept() -> None:
    spec = pytorchjob.build(name="p", workers=2, cpu="2", env=["OMP_NUM_THREADS=7"], command="true")
    env = env_of(spec, "worker-0")
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("7", "2")
    shell = env_of(pytorchjob.build(name="p", command="true"), "master-0", base_env={"MKL_NUM_THREADS": "3"})
    assert (shell["OMP_NUM_THREADS"], shell["MKL_NUM_THREADS"]) == ("{{cpus/1}}", "3")  # as torchrun keeps it


# ---- bound replicas ---------------------------------------------------------------------------------
def _cores(view) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    return {i.name: i.cpuAffinity for i in view.instances}


@pytest.fixture
def roomy(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An engine whose declared CPUs exceed this machine's cores, so that pins must overlap."""
    e = Engine(tmp_path / "roomy", Capacity(cpu_milli=1000 * (len(CORES) + 4), memory=2**36, source="declared"))
    yield e
    e.close()


def test_pinned_replicas_get_disjoint_cores_across_jobs_while_they_last(roomy: Engine) -> None:
    engine = roomy
    n = len(CORES)
    engine.submit(pytorchjob.build(name="a", workers=n + 1, cpu="1", command="sleep 60"))  # one more than cores
    engine.reconcile()
    a = _cores(engine.get("a"))
    assert all(len(c) == 1 and c[0] in CORES for c in a.values())
    used = Counter(c for cs in a.values() for c in cs)
    assert sorted(used) == CORES and max(used.values()) == 2  # every core, and one of them twice
    engine.submit(pytorchjob.build(name="b", cpu="1", command="sleep 60"))
    engine.reconcile()
    (b,) = _cores(engine.get("b")).values()
    assert used[b[0]] == 1  # the least used, not the doubled one
    for inst in engine.get("a").instances:  # the replica's shim is told its cores, and its threads are shown
        started = engine.procs.replica(f"{inst.task}-{inst.index}", "a")
        assert started.env[cpuset.AFFINITY_ENV] == ",".join(map(str, inst.cpuAffinity))
        assert (inst.ompNumThreads, inst.mklNumThreads) == (1, 1)


def test_cores_of_a_finished_job_are_free_again_and_survive_a_daemon_restart(engine: Engine) -> None:
    from arena.engines.local.core import assemble
    from arena.engines.local.paths import Paths

    engine.submit(pytorchjob.build(name="a", cpu="1", command="true"))
    engine.reconcile()
    (first,) = _cores(engine.get("a")).values()
    engine.submit(pytorchjob.build(name="b", cpu="1", command="sleep 60"))
    engine.reconcile()
    (held,) = _cores(engine.get("b")).values()
    assert held != first or len(CORES) == 1
    engine.procs.exit("master-0", 0, job="a")
    engine.reconcile(2)
    assert engine.get("a").status == "SUCCEEDED"
    engine.core.close()  # the daemon dies; a new one reads what the store recorded
    engine.core = assemble(Paths(engine.core.api.paths.home), Capacity(cpu_milli=16000, memory=2**36,
                           source="declared"), clock=engine.clock, procs=engine.procs)
    assert _cores(engine.get("b")) == {"b-master-0": held}
    engine.submit(pytorchjob.build(name="c", cpu="1", command="sleep 60"))
    engine.reconcile()
    (again,) = _cores(engine.get("c")).values()
    assert again != held or len(CORES) == 1  # a's core is free again; b's is still held


def test_unrequested_replicas_are_not_pinned_and_show_their_share(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="s", workers=2, command="sleep 60"))
    engine.reconcile()
    for inst in engine.get("s").instances:
        assert inst.cpuAffinity == [] and inst.ompNumThreads == max(1, len(CORES) // 2)
        started = engine.procs.replica(f"{inst.task}-{inst.index}", "s")
        assert cpuset.AFFINITY_ENV not in started.env
        assert started.env["OMP_NUM_THREADS"] == str(max(1, len(CORES) // 2))


# ---- kubectl's words for a replica ------------------------------------------------------------------
def test_instance_status_uses_kubectls_words(engine: Engine) -> None:
    engine.submit(pytorchjob.build(name="w", workers=3, retry=0, command="sleep 60"))
    engine.reconcile()
    assert {i.status for i in engine.get("w").instances} == {"Running"}
    engine.procs.exit("worker-0", 0, job="w")
    engine.procs.exit("worker-1", 3, job="w")
    engine.reconcile(2)
    words = {i.name: i.status for i in engine.get("w").instances}
    assert words["w-worker-0"] == "Completed" and words["w-worker-1"] == "Error"


@pytest.mark.parametrize(("state", "code", "restart_at", "word"), [
    ("Pending", None, None, "Pending"), ("Starting", None, None, "ContainerCreating"), ("Running", None, None, "Running"),
    ("Terminating", None, None, "Terminating"), ("Succeeded", 0, None, "Completed"), ("Failed", 3, None, "Error"),
    ("Terminated", 143, None, "Error"), ("Terminated", 0, None, "Completed"), ("Failed", 1, 2e9, "CrashLoopBackOff")])
def test_each_replica_state_has_kubectls_word(state: str, code: int | None, restart_at: float | None,
                                              word: str) -> None:
    from arena.engines.local.jobview import status_word
    from arena.engines.local.rows import ReplicaRow

    row = ReplicaRow("u", "worker-0", "worker", 0, state, True, [], 0, None, None, code, 0, 1.0,
                     1.0 if code is not None else None, None, "", restart_at)
    assert status_word(row, job_finished=False) == word
