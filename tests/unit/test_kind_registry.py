"""The kind registry's flags and spec half: one declaration per flag drives the parser, the SDK and job files."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from arena import kinds
from arena.cli import main as cli_main
from arena.cli import submit
from arena.errors import InvalidSpec
from arena.kinds import flags as kind_flags
from arena.kinds.base import Kind
from arena.kinds.flags import Flag
from arena.spec import jobfile

SRC = Path(__file__).resolve().parents[2] / "src" / "arena"
BASE = {"name": "reg", "command": "python run.py"}


def test_registry_order_and_aliases() -> None:
    assert kinds.names() == ["pytorchjob", "tfjob", "mpijob", "volcanojob", "appwrapperjob"]
    spellings = [alias for kind in kinds.all() for alias in kind.names]
    assert len(spellings) == len(set(spellings))
    assert kinds.get("aw").name == "appwrapperjob" and kinds.canonical("TF") == "tfjob"
    with pytest.raises(InvalidSpec, match="unknown job type 'spark'"):
        kinds.get("spark")


@pytest.mark.parametrize("kind", kinds.all(), ids=kinds.names())
def test_flags_are_declared_once(kind: Kind) -> None:
    dests = [f.dest for f in kind.flags]
    assert len(dests) == len(set(dests)), [d for d in dests if dests.count(d) > 1]
    spellings = [s for f in kind.flags for s in f.spellings]
    assert len(spellings) == len(set(spellings))
    for flag in kind.flags:
        assert flag.help and (flag.command_only or flag.to is not None), flag.name
        assert flag.positional or flag.name.startswith("--"), flag.name


def test_volcanojob_does_not_take_the_common_set() -> None:
    """Upstream's volcanojob has its own flags: no --workers, --retry, --gang, --kueue-queue."""
    volcano = {f.dest for f in kinds.get("volcanojob").flags}
    assert not volcano & {"workers", "retry", "gang", "kueue_queue"}
    for kind in kinds.all():
        dests = {f.dest for f in kind.flags}
        assert {f.dest for f in (*kind_flags.JOB, *kind_flags.COMMAND, *kind_flags.RESOURCES)} <= dests
        if kind.name != "volcanojob":
            assert {f.dest for f in kind_flags.SUBMIT} | {"workers"} <= dests


@pytest.mark.parametrize("kind", kinds.all(), ids=kinds.names())
def test_options_struct_is_tagged_with_the_kind(kind: Kind) -> None:
    assert kind.options_type.__struct_config__.tag == kind.name


# ---------------------------------------------------------------------------------------------------
# The parser is generated from the declarations

def _kind_parser(kind: Kind) -> argparse.ArgumentParser:
    root = cli_main.build_parser("submit", ["submit", kind.name])
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    submit_parser = sub.choices["submit"]
    kinds_action = next(a for a in submit_parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(kinds_action.choices) == [kind.name, *kind.aliases]  # only the invoked kind's parser
    return kinds_action.choices[kind.name]


@pytest.mark.parametrize("kind", kinds.all(), ids=kinds.names())
def test_every_parsed_flag_is_declared(kind: Kind) -> None:
    """Nothing is parsed that the registry does not know: no flag can be parsed and then dropped."""
    declared = {f.dest for f in kind.flags} | kind_flags.GLOBAL_DESTS | {"help"}
    parser = _kind_parser(kind)
    for action in parser._actions:
        assert action.dest in declared, (kind.name, action.option_strings)
    options = {s for a in parser._actions for s in a.option_strings}
    assert {s for f in kind.flags if f.scope != "global" and not f.positional for s in f.spellings} <= options


def _argv(flag: Flag, value: Any) -> list[str]:
    if flag.positional:
        return [value] if isinstance(value, str) else [str(v) for v in value]
    if flag.switch:
        return [flag.name] if value else []
    if flag.tri_state:
        return [f"{flag.name}={'true' if value else 'false'}"]
    return [token for item in (value if flag.repeat else [value]) for token in (flag.name, str(item))]


def _cli_spec(kind: Kind, opts: dict[str, Any]) -> Any:
    flags = {kind.flag(k) or kind_flags.COMMAND_ARG: v for k, v in opts.items()}
    command = [t for f, v in flags.items() if f.positional for t in _argv(f, v)]
    argv = ["submit", kind.name, *[t for f, v in flags.items() if not f.positional for t in _argv(f, v)],
            "--", *command]
    args = cli_main.build_parser("submit", argv).parse_args(argv)
    return submit.build_spec(args, "default")


@pytest.mark.parametrize("kind, flag", [(k, f) for k in kinds.all() for f in k.flags if not f.command_only],
                         ids=[f"{k.name}:{f.name}" for k in kinds.all() for f in k.flags if not f.command_only])
def test_cli_and_sdk_take_one_path(kind: Kind, flag: Flag) -> None:
    """`arena submit KIND --flag V` and `kind.spec_from_options({flag: V})` give the same spec (or error)."""
    opts = {**BASE, **{k: v for need in flag.needs for k, v in need.opts.items()}, **flag.example_with,
            flag.dest: flag.example}
    try:
        sdk = kind.spec_from_options(opts, namespace="default")
    except InvalidSpec as err:
        with pytest.raises(InvalidSpec) as cli_err:
            _cli_spec(kind, opts)
        assert cli_err.value.field == err.field
        return
    assert _cli_spec(kind, opts) == sdk


@pytest.mark.parametrize("camel, kebab", [("--workingDir", "--working-dir"), ("--dataDir", "--data-dir"),
                                          ("--syncMode", "--sync-mode"), ("--syncSource", "--sync-source"),
                                          ("--syncImage", "--sync-image")])
def test_deprecated_camel_case_spellings(camel: str, kebab: str) -> None:
    for kind in kinds.all():
        flag = next(f for f in kind.flags if f.name == kebab)
        assert flag.camel == camel
        parser = _kind_parser(kind)
        assert parser.parse_args([camel, "x"]).__dict__[flag.dest] == parser.parse_args([kebab, "x"]).__dict__[flag.dest]


# ---------------------------------------------------------------------------------------------------
# The SDK entry

def test_spec_from_options_is_the_sdk_entry() -> None:
    spec = kinds.get("py").spec_from_options({"name": "p", "workers": 2, "command": "true"}, namespace="team")
    assert (spec.kind, spec.namespace, spec.workers) == ("pytorchjob", "team", 2)
    assert kinds.get("py").spec_from_options({**BASE, "namespace": "mine"}, namespace="team").namespace == "mine"


@pytest.mark.parametrize("opts, field", [
    (dict(replicas=2), "--replicas"),  # an appwrapperjob flag, not a pytorchjob one
    (dict(no_such_knob=1), "--no-such-knob"),
])
def test_unknown_keywords_are_refused(opts: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec, match="is not a flag of `arena submit pytorchjob`") as err:
        kinds.get("pytorchjob").spec_from_options({**BASE, **opts})
    assert err.value.field == field


def test_flags_override_a_document_through_the_same_mappings() -> None:
    doc = jobfile.loads("kind: tfjob\nname: t\ncommand: c\ntasks: [{name: ps}, {name: worker, replicas: 2}]\n")
    spec = kinds.get("tfjob").spec_from_options({"workers": 3, "ps_cpu": "1", "queue": "q"}, document=doc,
                                                 namespace="ns")
    assert [(t.name, t.replicas) for t in spec.tasks] == [("ps", 1), ("worker", 3)]
    assert spec.task("ps").resources.cpu == "1" and spec.scheduling.queue == "q" and spec.namespace == "ns"


@pytest.mark.parametrize("kind, opts, field", [
    ("tfjob", dict(ps_cpu="1"), "--ps-cpu"),  # no ps role
    ("tfjob", dict(chief_port=2000), "--chief-port"),
    ("pytorchjob", dict(logdir="/l"), "--logdir"),  # no --tensorboard
    ("volcanojob", dict(task=["a:1"], cpu="1"), "--cpu"),  # --task gives each task's resources
    ("volcanojob", dict(task=["a:1"], task_name="x"), "--task-name"),
    ("appwrapperjob", dict(replicas=2), "--replicas"),  # around a PyTorchJob
    ("appwrapperjob", dict(inner_type="volcano", workers=2), "--workers"),
])
def test_flags_outside_their_context_are_refused(kind: str, opts: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        kinds.get(kind).spec_from_options({**BASE, **opts})
    assert err.value.field == field and "\n" not in str(err.value)


@pytest.mark.parametrize("kind, opts, field", [
    ("volcanojob", dict(task=["w:2"], min_available=3), "--min-available"),  # checked by the job file rules
    ("appwrapperjob", dict(inner_type="volcano", total_partitions=2), "--partition-size"),  # the missing partner
    ("tfjob", dict(workers=0), "--workers"),
    ("volcanojob", dict(command=None, image="img"), "--task"),  # --image: our one task, which needs a command
])
def test_document_errors_name_the_flags(kind: str, opts: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        kinds.get(kind).spec_from_options({**BASE, **opts})
    assert err.value.field == field


def test_document_errors_name_the_file_path_when_no_flag_set_it() -> None:
    doc = jobfile.loads("kind: tfjob\nname: t\ncommand: c\ntasks: [{name: worker, resources: {cpu: lots}}]\n")
    with pytest.raises(InvalidSpec) as err:
        kinds.get("tfjob").spec_from_options({"queue": "q"}, document=doc)
    assert err.value.field == "tasks[0].resources.cpu"


# ---------------------------------------------------------------------------------------------------
# Outside the registry, nothing branches on a kind's name

def test_no_kind_branches_in_the_spec_and_submit() -> None:
    pattern = re.compile(r'"(pytorchjob|tfjob|mpijob|volcanojob|appwrapperjob)"|kind (==|!=|in)|isinstance\([^)]*Options')
    files = [*sorted((SRC / "spec").glob("*.py")), SRC / "cli" / "submit.py"]
    hits = [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert hits == []


# ---------------------------------------------------------------------------------------------------
# Upstream's flags (kubeflow/arena v0.15.5 `pkg/argsbuilder`, the fork's appwrapperjob): every spelling parses

COMMON_UPSTREAM = (
    "--name", "--image", "--gpus", "--device", "--workers", "--retry", "--working-dir", "--workingDir", "--env", "-e",
    "--data", "-d", "--data-dir", "--dataDir", "--annotation", "-a", "--label", "-l", "--rdma", "--gang", "--priority",
    "-p", "--queue", "--toleration", "--selector", "--config-file", "--image-pull-secret", "--image-pull-policy",
    "--shell", "--scheduler", "--hostNetwork", "--hostIPC", "--hostPID", "--sync-mode", "--syncMode", "--sync-source",
    "--syncSource", "--sync-image", "--syncImage", "--tensorboard", "--tensorboard-image", "--tensorboardImage",
    "--logdir")
UPSTREAM_FLAGS: dict[str, tuple[str, ...]] = {
    "tfjob": (*COMMON_UPSTREAM, "--worker-image", "--workerImage", "--ps-image", "--psImage", "--ps", "--ps-port",
              "--psPort", "--worker-port", "--workerPort", "--worker-cpu", "--workerCpu", "--worker-cpu-limit",
              "--worker-memory", "--workerMemory", "--worker-memory-limit", "--worker-affinity-policy",
              "--worker-affinity-constraint", "--ps-cpu", "--psCpu", "--ps-cpu-limit", "--ps-gpus", "--ps-memory",
              "--psMemory", "--ps-memory-limit", "--ps-affinity-policy", "--ps-affinity-constraint",
              "--success-policy", "--clean-task-policy", "--cleanTaskPolicy", "--running-timeout",
              "--starting-timeout", "--ttl-after-finished", "--chief", "--evaluator", "--chief-cpu", "--ChiefCpu",
              "--chief-cpu-limit", "--chief-memory", "--ChiefMemory", "--chief-memory-limit", "--evaluator-cpu",
              "--evaluatorCpu", "--evaluator-cpu-limit", "--evaluator-memory", "--evaluatorMemory",
              "--evaluator-memory-limit", "--chief-port", "--chiefPort", "--worker-selector", "--chief-selector",
              "--evaluator-selector", "--ps-selector", "--role-sequence", "--share-memory"),
    "pytorchjob": (*COMMON_UPSTREAM, "--clean-task-policy", "--cpu", "--memory", "--running-timeout",
                   "--ttl-after-finished", "--share-memory", "--nproc-per-node"),
    "mpijob": (*COMMON_UPSTREAM, "--cpu", "--memory", "--gputopology", "--mounts-on-launcher", "--clean-task-policy"),
    "volcanojob": ("--name", "--minAvailable", "--min-available", "--queue", "--schedulerName", "--scheduler-name",
                   "--taskName", "--task-name", "--taskImages", "--task-images", "--taskReplicas", "--task-replicas",
                   "--taskCPU", "--task-cpu", "--taskMemory", "--task-memory", "--taskPort", "--task-port",
                   "--annotation", "-a", "--label", "-l"),
    "appwrapperjob": (*COMMON_UPSTREAM, "--cpu", "--memory", "--clean-task-policy", "--running-timeout",
                      "--ttl-after-finished", "--share-memory", "--nproc-per-node", "--inner-type", "--kueue-queue",
                      "--retry-limit", "--admission-grace-period", "--warmup-grace-period", "--failure-grace-period",
                      "--retry-pause-period", "--success-ttl", "--min-available", "--scheduler-name", "--task-name",
                      "--max-retry", "--replicas", "--master-port", "--use-svc-plugin", "--network-topology-mode",
                      "--highest-tier-allowed", "--total-partitions", "--partition-size", "--partition-topology-mode",
                      "--partition-highest-tier", "--ring-controller"),
}


@pytest.mark.parametrize("kind", list(UPSTREAM_FLAGS))
def test_every_upstream_flag_is_accepted(kind: str) -> None:
    options = {s for a in _kind_parser(kinds.get(kind))._actions for s in a.option_strings}
    assert not [f for f in UPSTREAM_FLAGS[kind] if f not in options]


@pytest.mark.parametrize("kind, camel, kebab, value", [
    *[("tfjob", c, k, v) for c, k, v in (
        ("--tensorboardImage", "--tensorboard-image", "tb:1"), ("--workerImage", "--worker-image", "w:1"),
        ("--psImage", "--ps-image", "p:1"), ("--psPort", "--ps-port", "2000"),
        ("--workerPort", "--worker-port", "2001"), ("--workerCpu", "--worker-cpu", "2"),
        ("--workerMemory", "--worker-memory", "2Gi"), ("--psCpu", "--ps-cpu", "1"),
        ("--psMemory", "--ps-memory", "1Gi"), ("--cleanTaskPolicy", "--clean-task-policy", "All"),
        ("--ChiefCpu", "--chief-cpu", "1"), ("--ChiefMemory", "--chief-memory", "1Gi"),
        ("--evaluatorCpu", "--evaluator-cpu", "1"), ("--evaluatorMemory", "--evaluator-memory", "1Gi"),
        ("--chiefPort", "--chief-port", "2002"))],
    *[("volcanojob", c, k, v) for c, k, v in (
        ("--minAvailable", "--min-available", "2"), ("--schedulerName", "--scheduler-name", "kube-batch"),
        ("--taskName", "--task-name", "t"), ("--taskImages", "--task-images", "a,b"),
        ("--taskReplicas", "--task-replicas", "2"), ("--taskCPU", "--task-cpu", "1"),
        ("--taskMemory", "--task-memory", "1Gi"), ("--taskPort", "--task-port", "3000"))],
])
def test_deprecated_camel_case_spellings_of_tfjob_and_volcanojob(kind: str, camel: str, kebab: str, value: str) -> None:
    parser = _kind_parser(kinds.get(kind))
    assert vars(parser.parse_args([camel, value])) == vars(parser.parse_args([kebab, value]))


def test_upstream_only_name_volcanojob_and_task_images() -> None:
    vj = kinds.get("volcanojob")
    spec = vj.spec_from_options({"name": "demo"})
    assert [(t.name, t.image, t.command, t.port) for t in spec.tasks] == [
        ("task-0", "ubuntu", "", 2222), ("task-1", "nginx", "", 2222), ("task-2", "busybox", "", 2222)]
    spec = _cli_spec(vj, {"name": "demo", "task_images": ["alpine,busybox"], "task_replicas": 3})
    assert [(t.name, t.image, t.replicas) for t in spec.tasks] == [("task-0", "alpine", 3), ("task-1", "busybox", 3)]
    with pytest.raises(InvalidSpec, match="runs its image's entrypoint") as err:
        vj.local_check(vj.spec_from_options({"name": "demo"}))  # the local engine runs commands, not images
    assert err.value.field == "--task-images"


def test_upstreams_bool_queue_is_kube_queues_switch() -> None:
    tf = kinds.get("tfjob")
    for value in (True, "true"):
        spec = tf.spec_from_options({**BASE, "queue": value})
        assert spec.annotations == {"scheduling.x-k8s.io/suspend": "true"} and spec.scheduling.queue == "default"
    assert tf.spec_from_options({**BASE, "queue": "false"}) == tf.spec_from_options(BASE)
    assert tf.flag("queue").bare is True  # the CLI takes a bare --queue as upstream's switch
