"""`submit = apply(plan(spec))` on the local engine: what starts is exactly the plan, bind-time values filled in.

For every kind, each started replica's argv, env and working directory, and the job's files on disk when it
started, equal the planned ones once the placeholders (ports, GPUs, job uid and directory) are substituted
with what the binder recorded; and planning is pure (same inputs, same plan; nothing written, nothing run).
"""
from __future__ import annotations

import msgspec
import pytest

from arena import kinds
from arena.engines.local import planner
from arena.engines.local.plan import JOB_DIR, Bindings, Inputs, LocalPlan
from arena.spec import appwrapperjob, mpijob, pytorchjob, tfjob, volcanojob
from arena.spec.job import JobSpec

from .fakes import Engine, engine  # noqa: F401 - the fixture

INPUTS = {"base_env": {"PATH": "/usr/bin:/bin", "HOME": "/home/u"}, "cwd": "/work/project",
          "probes": {"mpirun": "HYDRA build details:\n    Version: 4.1"}}

SPECS = {
    "pytorchjob": lambda: pytorchjob.build(name="pt", workers=3, gpus=1, command="python train.py", env=["A=1"]),
    "tfjob": lambda: tfjob.build(name="tf", chief=True, ps=1, workers=2, command="python t.py"),
    "mpijob": lambda: mpijob.build(name="mpi", workers=2, command="mpirun python allreduce.py"),
    "volcanojob": lambda: volcanojob.build(name="vj", task=["ps:1=python ps.py", "worker:2=python w.py"],
                                           tf_config="auto"),
    "appwrapperjob": lambda: appwrapperjob.build(name="aw", inner_type="volcano", task_name="trainer", replicas=2,
                                                 nproc_per_node="2", command="torchrun x.py"),
}


def test_every_kind_has_a_plan_case() -> None:
    assert sorted(SPECS) == sorted(kinds.names())


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_started_replicas_are_the_plan_with_bind_time_values(engine: Engine, kind: str) -> None:
    spec: JobSpec = SPECS[kind]()
    plan = engine.plan(spec, **INPUTS)
    engine.submit(spec, **INPUTS)
    engine.reconcile()
    view = engine.get(spec.name)
    assert view.status == "RUNNING", view.reason
    bindings = Bindings.of(view.uuid, view.jobDir, {f"{i.task}-{i.index}": i.port for i in view.instances},
                           {f"{i.task}-{i.index}": i.gpuIndices for i in view.instances})
    assert len(engine.procs.started) == len(plan.replicas)
    for planned in plan.replicas:
        started = engine.procs.replica(f"{planned.task}-{planned.index}")
        expected = bindings.replica(planned)
        assert (started.argv, started.cwd, started.env) == (expected.argv, expected.cwd, expected.env)
        assert "{{" not in "".join(started.env.values()) + "".join(started.argv) + started.cwd
        assert started.files == bindings.files(plan.files)


def test_placeholders_name_every_bind_time_value() -> None:
    spec = pytorchjob.build(name="pt", workers=2, gpus=1, command="true")
    plan = planner.plan(spec, Inputs(**INPUTS))  # type: ignore[arg-type]
    env = plan.replica("worker-0").env
    assert env["MASTER_PORT"] == "{{port:master-0}}" and env["CUDA_VISIBLE_DEVICES"] == "{{gpus:worker-0}}"
    assert env["ARENA_JOB_UID"] == "{{job.uid}}" and env["ARENA_JOB_DIR"] == JOB_DIR
    assert plan.replica("worker-0").cwd == "/work/project"  # the submitting directory
    filled = Bindings.of("u1", "/h/jobs/default/pt/u1", {"master-0": 23456, "worker-0": 23457},
                         {"worker-0": [2]}).replica(plan.replica("worker-0"))
    assert (filled.env["MASTER_PORT"], filled.env["CUDA_VISIBLE_DEVICES"], filled.env["ARENA_JOB_DIR"]) == \
        ("23456", "2", "/h/jobs/default/pt/u1")


def test_planning_is_pure_and_its_document_shows_the_spec(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    spec = mpijob.build(name="m", workers=2, command="mpirun true")
    first = planner.plan(spec, Inputs(**INPUTS))  # type: ignore[arg-type]
    assert first == planner.plan(spec, Inputs(**INPUTS))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # no hostfile written
    assert first.files == {"etc/mpi/hostfile": "localhost:2\n"}  # MPICH's syntax, from the probe's text
    doc = first.document()
    assert doc["spec"] == msgspec.to_builtins(first.spec) and doc["spec"]["working_dir"] == "/work/project"
    assert [r["name"] for r in doc["replicas"]] == ["m-launcher-0", "m-worker-0", "m-worker-1"]
    assert msgspec.json.decode(first.text("json"))["files"] == first.files
    import yaml

    assert yaml.safe_load(first.text("yaml"))["replicas"][1]["argv"][2].startswith("trap 'exit 0' TERM")


def test_the_daemon_refuses_a_plan_that_is_not_its_specs(engine: Engine) -> None:
    from arena.engines.local.api import SubmitRequest
    from arena.errors import InvalidSpec

    plan = engine.plan(pytorchjob.build(name="pt", command="true"), **INPUTS)
    forged = msgspec.structs.replace(plan, replicas=[msgspec.structs.replace(plan.replicas[0], argv=["rm", "-rf", "/"])])
    with pytest.raises(InvalidSpec, match="^plan: is not the plan of its spec"):
        engine.api.submit(SubmitRequest(plan=forged))
    assert engine.api.list(None) == []


def test_plan_round_trips_through_json() -> None:
    plan = planner.plan(SPECS["tfjob"](), Inputs(**INPUTS))  # type: ignore[arg-type]
    assert msgspec.json.decode(msgspec.json.encode(plan), type=LocalPlan) == plan


def test_the_engine_plans_in_the_submitting_shell_without_a_daemon(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from arena.engines.local.engine import LocalEngine

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_SYNC_PASSWORD", "s3cret")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    plan = LocalEngine(tmp_path / "home").plan(pytorchjob.build(name="pt", command="true"))
    assert not (tmp_path / "home").exists()  # no daemon started, nothing written
    assert plan.spec.working_dir == str(tmp_path) and plan.inputs.cwd == str(tmp_path)
    env = plan.replica("master-0").env
    assert env["OMP_NUM_THREADS"] == "3" and "GIT_SYNC_PASSWORD" not in env  # secrets stay behind
