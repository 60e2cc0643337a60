"""`arena submit -f`: one schema for every kind, errors naming YAML paths, flags overriding the file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from arena import kinds
from arena.errors import InvalidSpec
from arena.spec import appwrapperjob, jobfile, mpijob, pytorchjob, tfjob, volcanojob
from arena.spec.job import Policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobfile.md"


def spec_of(text: str, **flags):
    return jobfile.to_spec(jobfile.merge(jobfile.loads(text), flags))


def error_of(text: str, **flags) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as err:
        spec_of(text, **flags)
    return err.value


# ---------------------------------------------------------------- same JobSpec as the flag builders

@pytest.mark.parametrize("text, builder, opts", [
    ("kind: tfjob\nname: t\ncommand: python t.py\ntasks: [{name: ps}, {name: worker, replicas: 2,"
     " resources: {gpus: 1}}]", tfjob.build, dict(ps=1, workers=2, gpus=1)),
    ("kind: tf\nname: t\ncommand: python t.py\ntasks: [{name: worker}]", tfjob.build, {}),
    ("kind: pytorchjob\nname: p\ncommand: python t.py\ntasks: [{name: master, resources: {cpu: '2'}},"
     " {name: worker, replicas: 3, resources: {cpu: '2'}}]", pytorchjob.build, dict(workers=4, cpu="2")),
    ("kind: mpi\nname: m\ncommand: mpirun x\ntasks: [{name: worker, replicas: 2, resources: {gpus: 2}}]",
     mpijob.build, dict(workers=2, gpus=2)),
    ("kind: vj\nname: v\ncommand: run\ntasks: [{name: ps, command: ps}, {name: worker, replicas: 2,"
     " policies: [TaskCompleted=CompleteJob], depends_on: [ps]}]\nscheduling: {min_available: 2,"
     " policies: [PodEvicted=RestartJob], max_retry: 4}\noptions: {tf_config: auto}",
     volcanojob.build, dict(task=["ps:1=ps", "worker:2"], policy=["PodEvicted=RestartJob",
                                                                   "worker:TaskCompleted=CompleteJob"],
                            depends_on=["worker:ps"], min_available=2, max_retry=4, tf_config="auto")),
    ("kind: aw\nname: a\ncommand: torchrun t.py\ntasks: [{name: w, replicas: 3}]\n"
     "options: {inner_type: volcano, nproc_per_node: '4', task_name: w}",
     appwrapperjob.build, dict(inner_type="volcano", replicas=3, task_name="w", nproc_per_node="4")),
    ("kind: aw\nname: a\ncommand: torchrun t.py\ntasks: [{name: master}, {name: worker}]",
     appwrapperjob.build, dict(workers=2)),
])
def test_file_and_flags_agree(text, builder, opts) -> None:
    name = re.search(r"name: (\w+)", text).group(1)
    command = re.search(r"command: (.+)", text).group(1)
    assert spec_of(text) == builder(name=name, command=command, **opts)


# ---------------------------------------------------------------- the documented schema

def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def test_documented_example_is_valid() -> None:
    example = yaml_blocks()[0]
    spec = jobfile.to_spec(jobfile.loads(example))
    assert spec.kind == "tfjob" and spec.name == "mnist"
    assert [(t.name, t.replicas) for t in spec.tasks] == [("ps", 1), ("worker", 2)]
    assert spec.env == {"DATA_DIR": "/data", "EPOCHS": "10"}
    assert spec.run_policy.active_deadline_seconds == 7200
    assert spec.options.success_policy == "AllWorkers"
    assert spec.sync.mode == "git" and spec.data[0].name == "imagenet"


def test_documented_policy_example_is_valid() -> None:
    block = yaml_blocks()[1]
    spec = spec_of("kind: volcanojob\nname: v\ncommand: run\n" + block)
    assert spec.scheduling.policies == [Policy(action="RestartJob", event="PodEvicted")]
    assert spec.tasks[0].policies == [Policy(action="CompleteJob", event="TaskCompleted"),
                                      Policy(action="RestartPod", exit_code=137),
                                      Policy(action="RestartJob", event="PodPending", timeout="10m")]


def test_every_options_field_is_documented() -> None:
    text = DOC.read_text()
    for kind in kinds.all():
        for field in kind.options_type.__struct_fields__:
            assert f"`{field}`" in text, field


def test_roles_is_tasks() -> None:
    spec = spec_of("kind: pytorchjob\nname: p\ncommand: c\nroles: [{name: master}, {name: worker, replicas: 2}]")
    assert [(t.name, t.replicas, t.restart_policy) for t in spec.tasks] == [("master", 1, "Never"),
                                                                          ("worker", 2, "OnFailure")]
    assert spec.workers == 3


def test_task_overrides_and_conveniences() -> None:
    spec = spec_of("""
kind: volcanojob
name: v
image: base
command: [python, run.py]
envs: [A=1]
labels: {tier: 1}
tasks:
  - name: a
    image: special
    command: echo a
    envs: {B: true}
    resources: {cpu: 0.5, memory: 1Gi, gpus: 1, devices: {amd.com/gpu: 2}}
    restart_policy: OnFailure
    port: 8080
    min_available: 1
    max_retry: -1
  - name: b
data: ["vol:/data"]
data_dirs: ["/host"]
tensorboard: true
sync: {mode: git, source: https://x/y.git, branch: dev}
""")
    a, b = spec.tasks
    assert (a.image, a.command, a.env) == ("special", "echo a", {"B": "true"})
    assert (a.restart_policy, a.port) == ("OnFailure", 8080)
    assert (a.resources.cpu, a.resources.memory, a.resources.gpus, a.resources.devices) == ("0.5", "1Gi", 1,
                                                                                          {"amd.com/gpu": 2})
    assert (a.min_available, a.max_retry) == (1, -1)
    assert (b.image, b.command) == ("base", "python run.py")
    assert spec.env == {"A": "1"} and spec.labels == {"tier": "1"}
    assert spec.data_dirs[0].mount_path == "/host" and spec.tensorboard is not None
    assert spec.sync.branch == "dev"


def test_mpijob_launcher_from_top_level_command_and_explicit_launcher() -> None:
    spec = spec_of("kind: mpijob\nname: m\ntasks: [{name: launcher, command: mpirun a}, {name: worker}]")
    assert [t.name for t in spec.tasks] == ["launcher", "worker"] and spec.tasks[0].command == "mpirun a"
    assert spec.run_policy.clean_pod_policy == "All"


def test_tf_standalone_can_be_overridden() -> None:
    text = "kind: tfjob\nname: t\ncommand: c\ntasks: [{name: worker}]"
    assert spec_of(text).options.standalone is True
    assert spec_of(text + "\noptions: {standalone: false}").options.standalone is False


def test_c_loader_used_when_available() -> None:
    assert jobfile._loader() is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_load_from_disk(tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("kind: tfjob\nname: t\ncommand: c\ntasks: [{name: worker, replicas: 2}]\n")
    assert jobfile.from_file(path, {"workers": 3}).tasks[0].replicas == 3
    with pytest.raises(InvalidSpec) as err:
        jobfile.load(tmp_path / "missing.yaml")
    assert err.value.field == "-f"


# ---------------------------------------------------------------- errors name the YAML path

BASE = "kind: tfjob\nname: t\ncommand: c\n"


@pytest.mark.parametrize("text, field", [
    (BASE + "tasks: [{name: worker}, {name: ps, replicas: 0}]", "tasks[1].replicas"),
    (BASE + "tasks: [{name: worker}, {name: ps, replicas: many}]", "tasks[1].replicas"),
    (BASE + "roles: [{name: worker}, {name: ps, replicas: many}]", "roles[1].replicas"),
    (BASE + "tasks: [{name: worker, gpu: 1}]", "tasks[0].gpu"),
    (BASE + "tasks: [{replicas: 1}]", "tasks[0].name"),
    (BASE + "tasks: [{name: worker, resources: {cpu: lots}}]", "tasks[0].resources.cpu"),
    (BASE + "tasks: [{name: worker, resources: {memory: 1Q}}]", "tasks[0].resources.memory"),
    (BASE + "tasks: [{name: worker, resources: {gpus: -1}}]", "tasks[0].resources.gpus"),
    (BASE + "tasks: [{name: worker, restart_policy: Sometimes}]", "tasks[0].restart_policy"),
    (BASE + "tasks: [{name: worker, port: 99999}]", "tasks[0].port"),
    (BASE + "tasks: [{name: worker, envs: ['1X=1']}]", "tasks[0].envs"),
    (BASE + "tasks: [{name: Worker}]", "tasks[0].name"),
    (BASE + "tasks: [{name: master}]", "tasks[0].name"),
    (BASE + "tasks: [{name: worker}, {name: worker}]", "tasks[1].name"),
    (BASE + "tasks: [{name: chief, replicas: 2}]", "tasks[0].replicas"),
    (BASE + "tasks: [{name: worker, policies: [PodFailed=RestartJob]}]", "tasks[0].policies"),
    (BASE + "tasks: [{name: worker}]\nscheduling: {policies: [PodFailed=RestartJob]}", "scheduling.policies"),
    (BASE + "tasks: [{name: worker}]\nscheduling: {queue: Q}", "scheduling.queue"),
    (BASE + "tasks: [{name: worker}]\nscheduling: {min_available: 5}", "scheduling.min_available"),
    (BASE + "tasks: [{name: worker}]\noptions: {success_policy: Everyone}", "options.success_policy"),
    (BASE + "tasks: [{name: worker}]\noptions: {slots_per_worker: 2}", "options.slots_per_worker"),
    (BASE + "tasks: [{name: worker}]\nrun_policy: {clean_pod_policy: Some}", "run_policy.clean_pod_policy"),
    (BASE + "tasks: [{name: worker}]\nrun_policy: {active_deadline_seconds: soon}",
     "run_policy.active_deadline_seconds"),
    (BASE + "tasks: [{name: worker}]\nenvs: {'bad name': 1}", "envs"),
    (BASE + "tasks: [{name: worker}]\nlabels: {'a': 'b c'}", "labels"),
    (BASE + "tasks: [{name: worker}]\nsync: {mode: svn, source: x}", "sync.mode"),
    (BASE + "tasks: [{name: worker}]\ndata: ['noslash']", "data"),
    (BASE + "tasks: [{name: worker}]\nversion: 2", "version"),
    (BASE + "tasks: []", "tasks"),
    ("kind: tfjob\nname: t\ntasks: [{name: worker}]", "tasks[0].command"),
    ("kind: tfjob\ncommand: c\ntasks: [{name: worker}]", "name"),
    ("name: t\ncommand: c\ntasks: [{name: worker}]", "kind"),
    ("kind: spark\nname: t", "kind"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a, policies: [{event: Boom, action: AbortJob}]}]",
     "tasks[0].policies[0]"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a, policies: ['b:PodFailed=AbortJob']}]", "tasks[0].policies[0]"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a}]\nscheduling: {policies: ['a:PodFailed=AbortJob']}",
     "scheduling.policies[0]"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a}, {name: b, depends_on: [c]}]", "tasks[1].depends_on"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a, min_available: 3}]", "tasks[0].min_available"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a}]\noptions: {plugins: [horovod]}", "options.plugins"),
    ("kind: vj\nname: v\ncommand: c\ntasks: [{name: a}]\noptions: {tf_config: yes}", "options.tf_config"),
    ("kind: mpijob\nname: m\ntasks: [{name: worker}]", "tasks"),
    ("kind: mpijob\nname: m\ncommand: c\ntasks: [{name: launcher, replicas: 2}, {name: worker}]",
     "tasks[0].replicas"),
    ("kind: pytorchjob\nname: p\ncommand: c\ntasks: [{name: worker}]", "tasks"),
    ("kind: pytorchjob\nname: p\ncommand: c\ntasks: [{name: master}]\noptions: {nproc_per_node: lots}",
     "options.nproc_per_node"),
    ("kind: aw\nname: a\ncommand: c\ntasks: [{name: master}]\noptions: {retry_limit: -1}", "options.retry_limit"),
    ("kind: aw\nname: a\ncommand: c\ntasks: [{name: w}, {name: x}]\noptions: {inner_type: volcano}", "tasks"),
    ("kind: aw\nname: a\ncommand: c\ntasks: [{name: w}]\noptions: {inner_type: volcano, task_name: x}",
     "tasks[0].name"),
    ("kind: aw\nname: a\ncommand: c\ntasks: [{name: w}]\noptions: {inner_type: volcano, total_partitions: 2}",
     "options.partition_size"),
])
def test_errors_name_the_yaml_path(text, field) -> None:
    assert error_of(text).field == field


@pytest.mark.parametrize("text", ["a: [", "- 1", "just a string", "a: b\n---\nc: d"])
def test_bad_yaml(text) -> None:
    with pytest.raises(InvalidSpec) as err:
        jobfile.loads(text)
    assert err.value.field == "-f"


# ---------------------------------------------------------------- merge: explicit flags win

TF = "kind: tfjob\nname: t\ncommand: c\nenvs: {A: '1', B: '2'}\ntasks: [{name: ps}, {name: worker, replicas: 2}]\n" \
     "scheduling: {queue: q1, tolerations: [x]}\nrun_policy: {backoff_limit: 1}"


def test_scalars_maps_lists() -> None:
    spec = spec_of(TF, name="other", image="img", env=["B=9", "C=3"], queue="q2", toleration=["y"], retry=3,
                   command="python new.py", running_timeout="1h")
    assert (spec.name, spec.image, spec.scheduling.queue, spec.scheduling.tolerations) == ("other", "img", "q2", ["y"])
    assert spec.env == {"A": "1", "B": "9", "C": "3"}
    assert spec.run_policy.backoff_limit == 3 and spec.run_policy.active_deadline_seconds == 3600
    assert all(t.command == "python new.py" for t in spec.tasks)


def test_absent_values_do_not_override() -> None:
    spec = spec_of(TF, name=None, queue="", toleration=[], gang=False, image=None, output="json", dry_run=True)
    assert spec.name == "t" and spec.scheduling.queue == "q1" and spec.scheduling.tolerations == ["x"]


def test_roles_and_resources_from_flags() -> None:
    spec = spec_of(TF, workers=4, ps=2, chief=True, gpus=1, cpu="2", ps_memory="8Gi", worker_image="w:2",
                   chief_port=2000, success_policy="AllWorkers")
    by = {t.name: t for t in spec.tasks}
    assert [t.name for t in spec.tasks] == ["chief", "ps", "worker"]
    assert (by["worker"].replicas, by["ps"].replicas) == (4, 2)
    assert by["chief"].resources.gpus == 1 and by["worker"].resources.gpus == 1 and by["ps"].resources.gpus == 0
    # --cpu is every role's default, as without a file (--ps-cpu: "default: --cpu"); --gpus skips the ps
    assert by["ps"].resources.cpu == "2" and by["ps"].resources.memory == "8Gi"
    assert by["worker"].image == "w:2" and by["chief"].image == "w:2" and by["chief"].port == 2000
    assert spec.options.success_policy == "AllWorkers"
    assert [t.name for t in spec_of(TF, ps=0).tasks] == ["worker"]


def test_pytorch_workers_count_the_master() -> None:
    text = "kind: pytorchjob\nname: p\ncommand: c\ntasks: [{name: master}, {name: worker, replicas: 3}]"
    assert [(t.name, t.replicas) for t in spec_of(text, workers=2).tasks] == [("master", 1), ("worker", 1)]
    assert [t.name for t in spec_of(text, workers=1).tasks] == ["master"]
    assert spec_of(text, workers=1).workers == 1


def test_volcano_flags() -> None:
    text = "kind: vj\nname: v\ncommand: c\ntasks: [{name: a, policies: [PodFailed=AbortJob]}, {name: b}]\n" \
           "scheduling: {policies: [PodEvicted=RestartJob]}"
    spec = spec_of(text, policy=["a:PodFailed=RestartTask"], task=["c:2=run c", "b:3"], depends_on=["c:a"],
                   min_available=3, plugin=["env"], tf_config="auto", max_retry=2)
    a, b, c = spec.tasks
    assert a.policies == [Policy(action="RestartTask", event="PodFailed")]
    assert spec.scheduling.policies == [Policy(action="RestartJob", event="PodEvicted")]  # untouched scope
    assert (b.replicas, b.command) == (3, "c") and (c.replicas, c.command, c.depends_on) == (2, "run c", ["a"])
    assert spec.scheduling.min_available == 3 and spec.scheduling.max_retry == 2
    assert spec.options.plugins == ["env"] and spec.options.tf_config == "auto"


def test_appwrapper_flags() -> None:
    text = "kind: aw\nname: a\ncommand: c\ntasks: [{name: w, replicas: 2}]\noptions: {inner_type: volcano}"
    spec = spec_of(text, replicas=4, task_name="trainer", max_retry=7, retry_limit=1, kueue_queue="team")
    (task,) = spec.tasks
    assert (task.name, task.replicas, task.max_retry) == ("trainer", 4, 7)
    assert spec.options.retry_limit == 1 and spec.options.task_name == "trainer"
    assert spec.scheduling.kueue_queue == "team" and spec.scheduling.min_available == 4


def test_tensorboard_flags() -> None:
    assert error_of(TF, logdir="/logs").field == "--logdir"  # alone it would shape nothing: refused, not ignored
    tb = spec_of(TF, tensorboard=True, logdir="/logs").tensorboard
    assert tb is not None and tb.logdir == "/logs"
    tb = spec_of(TF + "\ntensorboard: {image: tb:1}", logdir="/l").tensorboard
    assert (tb.logdir, tb.image) == ("/l", "tb:1")


def test_kind_flag_must_match() -> None:
    assert spec_of("name: t\ncommand: c\ntasks: [{name: worker}]", kind="tfjob").kind == "tfjob"
    assert spec_of(TF, kind="tf").kind == "tfjob"
    assert error_of(TF, kind="pytorchjob").field == "kind"


@pytest.mark.parametrize("flags, field", [
    (dict(unknown_knob=1), "--unknown-knob"),
    (dict(policy=["zz:PodFailed=AbortJob"]), "--policy"),
    (dict(depends_on=["zz:ps"]), "--depends-on"),
    (dict(env=["novalue"]), "--env"),
    (dict(plugin=["horovod"]), "--plugin"),
    (dict(replicas=3), "--replicas"),
])
def test_merge_errors_name_the_flag(flags, field) -> None:
    with pytest.raises(InvalidSpec) as err:
        jobfile.merge(jobfile.loads(TF), flags)
    assert err.value.field == field


def test_merge_does_not_mutate_and_keeps_roles_name() -> None:
    doc = jobfile.loads("kind: tfjob\nname: t\ncommand: c\nroles: [{name: worker}]")
    merged = jobfile.merge(doc, {"workers": 3})
    assert doc["roles"] == [{"name": "worker"}]
    assert merged["roles"] == [{"name": "worker", "replicas": 3}] and "tasks" not in merged
    assert set(merged) == set(doc)  # no empty sections added


def test_explicit_flags() -> None:
    assert jobfile.explicit_flags({"workers": 1, "ps": 2, "name": "x"}, {"workers": 1, "ps": 0}) == {"ps": 2,
                                                                                                   "name": "x"}
