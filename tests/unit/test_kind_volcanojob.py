"""volcanojob builder and its parsers (--task, --policy, --depends-on), with property tests."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.errors import InvalidSpec
from arena.spec import volcanojob
from arena.spec.job import Policy, VolcanoOptions
from arena.spec.volcanojob import (
    INTERNAL_ACTIONS,
    INTERNAL_EVENTS,
    USER_ACTIONS,
    USER_EVENTS,
    check_policies,
    parse_depends_on,
    parse_policy,
    parse_task,
)

names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
cpus = st.sampled_from(["", "1", "500m", "2.5"])
memories = st.sampled_from(["", "1Gi", "512Mi", "1e9"])
commands = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip())


# ---------------------------------------------------------------- --task

@given(name=names, replicas=st.integers(1, 50), cpu=cpus, memory=memories, gpus=st.integers(0, 8), command=commands,
       arity=st.integers(2, 5))
def test_parse_task_round_trip(name, replicas, cpu, memory, gpus, command, arity) -> None:
    fields = [name, str(replicas), cpu, memory, str(gpus)][:arity]
    task = parse_task(":".join(fields) + "=" + command)
    assert (task.name, task.replicas, task.command) == (name, replicas, command.strip())
    assert task.resources.cpu == ((cpu or None) if arity >= 3 else None)
    assert task.resources.memory == ((memory or None) if arity >= 4 else None)
    assert task.resources.gpus == (gpus if arity == 5 else 0)
    assert task.restart_policy == "Never"


def test_parse_task_command_may_hold_colons_and_equals() -> None:
    assert parse_task("w:2=python a.py --x=1 --url=http://h:80").command == "python a.py --x=1 --url=http://h:80"


def test_parse_task_falls_back_to_positional_command() -> None:
    assert parse_task("w:2", "python a.py").command == "python a.py"
    with pytest.raises(InvalidSpec, match="no command"):
        parse_task("w:2")


@given(st.text(max_size=40))
def test_parse_task_garbage_only_raises_invalid_spec(text) -> None:
    try:
        parse_task(text, "cmd")
    except InvalidSpec as err:
        assert err.field == "--task"


@pytest.mark.parametrize("text", ["w", "w:x=c", "w:0=c", "W:1=c", "w:1:lots=c", "w:1:1:2Q=c", "w:1:1:1Gi:x=c",
                                  "w:1:1:1Gi:1:extra=c", ":1=c"])
def test_parse_task_errors(text) -> None:
    with pytest.raises(InvalidSpec) as err:
        parse_task(text, "cmd")
    assert err.value.field == "--task"


# ---------------------------------------------------------------- --policy

events = st.sampled_from([e for e in USER_EVENTS if e != "PodPending"])
actions = st.sampled_from(USER_ACTIONS)


@given(task=st.none() | names, event=events, action=actions)
def test_parse_policy_round_trip(task, event, action) -> None:
    text = (f"{task}:" if task else "") + f"{event}={action}"
    assert parse_policy(text) == (task, Policy(action=action, event=event))


@given(code=st.integers(-(2**31), 2**31 - 1).filter(bool), action=actions, timeout=st.sampled_from([None, "5m", "90s"]))
def test_parse_policy_exit_codes_and_timeouts(code, action, timeout) -> None:
    text = f"worker:{code}={action}" + (f"@{timeout}" if timeout else "")
    assert parse_policy(text) == ("worker", Policy(action=action, exit_code=code, timeout=timeout))


@given(event=events, action=actions)
def test_parse_policy_is_case_insensitive_and_canonicalises(event, action) -> None:
    assert parse_policy(f"{event.lower()}={action.upper()}")[1] == Policy(action=action, event=event)


def test_job_unknown_alias() -> None:
    assert parse_policy("JobUnknown=AbortJob")[1].event == "Unknown"


@pytest.mark.parametrize("event", INTERNAL_EVENTS)
def test_internal_events_refused(event) -> None:
    with pytest.raises(InvalidSpec, match="internal"):
        parse_policy(f"{event}=RestartJob")


@pytest.mark.parametrize("action", INTERNAL_ACTIONS)
def test_internal_actions_refused(action) -> None:
    with pytest.raises(InvalidSpec, match="internal"):
        parse_policy(f"PodFailed={action}")


@pytest.mark.parametrize("text", ["PodFailed", "=RestartJob", "PodFailed=", "Boom=RestartJob", "PodFailed=Explode",
                                  "0=RestartJob", "a:b:PodFailed=RestartJob", "PodFailed=RestartJob@",
                                  "PodFailed=RestartJob@soon", "PodPending=RestartJob", "Bad_Task:PodFailed=AbortJob",
                                  "99999999999=RestartJob"])
def test_parse_policy_errors(text) -> None:
    with pytest.raises(InvalidSpec) as err:
        parse_policy(text)
    assert err.value.field == "--policy"


def test_pod_pending_with_timeout() -> None:
    expected = Policy(action="RestartJob", event="PodPending", timeout="10m")
    assert parse_policy("PodPending=RestartJob@10m")[1] == expected


@given(st.text(max_size=40))
def test_parse_policy_garbage_only_raises_invalid_spec(text) -> None:
    try:
        parse_policy(text)
    except InvalidSpec as err:
        assert err.field == "--policy"


def test_policy_list_rules() -> None:
    with pytest.raises(InvalidSpec, match="more than one"):
        check_policies([Policy(action="RestartJob", event="PodFailed"), Policy(action="AbortJob", event="PodFailed")])
    with pytest.raises(InvalidSpec, match="more than one"):
        check_policies([Policy(action="RestartJob", exit_code=3), Policy(action="AbortJob", exit_code=3)])
    with pytest.raises(InvalidSpec, match=r"'\*'"):
        check_policies([Policy(action="RestartJob", event="*"), Policy(action="AbortJob", event="PodEvicted")])
    # `*` with exit-code policies is fine: the rule is about events.
    check_policies([Policy(action="RestartJob", event="*"), Policy(action="AbortJob", exit_code=1)])
    with pytest.raises(InvalidSpec, match="exactly one"):
        check_policies([Policy(action="RestartJob", event="PodFailed", exit_code=1)])


# ---------------------------------------------------------------- --depends-on and the builder

def test_parse_depends_on_merges_and_dedupes() -> None:
    assert parse_depends_on(["worker:ps", "worker:ps,chief", "eval:worker"]) == {"worker": ["ps", "chief"],
                                                                               "eval": ["worker"]}
    for bad in ("worker", "worker:", ":ps", "Worker:ps"):
        with pytest.raises(InvalidSpec):
            parse_depends_on([bad])


def build(**opts):
    return volcanojob.build(**(dict(name="vj", command="python run.py") | opts))


def test_build_full() -> None:
    spec = build(task=["ps:1:1:1Gi=python ps.py", "worker:3:2:4Gi:1"],
                 policy=["PodEvicted=RestartJob", "worker:TaskCompleted=CompleteJob", "ps:PodFailed=RestartTask"],
                 depends_on=["worker:ps"], min_available=4, queue="research", max_retry=5, tf_config="auto",
                 plugin=["env", "svc", "ssh"], image="img:1")
    ps, worker = spec.tasks
    assert (ps.command, worker.command, worker.image) == ("python ps.py", "python run.py", "img:1")
    assert worker.policies == [Policy(action="CompleteJob", event="TaskCompleted")]
    assert ps.policies == [Policy(action="RestartTask", event="PodFailed")]
    assert worker.depends_on == ["ps"] and ps.depends_on == []
    s = spec.scheduling
    assert (s.queue, s.min_available, s.max_retry) == ("research", 4, 5)
    assert s.policies == [Policy(action="RestartJob", event="PodEvicted")]
    assert spec.options == VolcanoOptions(tf_config="auto", plugins=["env", "svc", "ssh"])
    assert spec.workers == 4 and spec.total_replicas == 4


def test_defaults() -> None:
    spec = build(task=["w:2"])
    assert spec.scheduling.min_available is None  # the whole job is the gang
    assert spec.options == VolcanoOptions()
    assert spec.options.plugins == ["env", "svc"]


def test_single_task_without_task_flag() -> None:
    spec = build(task_name="trainer", task_replicas=2, task_cpu="1")
    assert [(t.name, t.replicas, t.resources.cpu) for t in spec.tasks] == [("trainer", 2, "1")]


def test_plugins_none_lists_and_arguments() -> None:
    assert build(task=["w:1"], plugin=["none"]).options.plugins == []
    spec = build(task=["w:1"], plugins="env,tensorflow")
    assert spec.options.plugins == ["env", "tensorflow"] and spec.options.tf_config == "none"
    spec = build(task=["w:1"], plugin=["svc:--publish-not-ready-addresses,--disable-network-policy=true", "env",
                                       "svc:--inject-hosts-env=false"])
    assert spec.options.plugins == ["svc:--inject-hosts-env=false", "env"]  # the last svc wins
    with pytest.raises(InvalidSpec, match="--flags"):
        build(task=["w:1"], plugin=["svc:publish"])


@pytest.mark.parametrize("opts, field", [
    (dict(command=None, image="img"), "--task"),  # --image: our one task, which needs the command
    (dict(command=None, task=["w:1"]), "--task"),
    (dict(task=["w:1", "w:2"]), "--task"),
    (dict(task=["a" * 60 + ":1"]), "--task"),
    (dict(task=["w:1"], policy=["ps:PodFailed=RestartTask"]), "--policy"),
    (dict(task=["w:1"], policy=["PodFailed=RestartJob", "PodFailed=AbortJob"]), "--policy"),
    (dict(task=["w:1"], depends_on=["ps:w"]), "--depends-on"),
    (dict(task=["w:1"], depends_on=["w:w"]), "--depends-on"),
    (dict(task=["a:1", "b:1"], depends_on=["a:b", "b:a"]), "--depends-on"),
    (dict(task=["a:1", "b:1"], depends_on=["a:c"]), "--depends-on"),
    (dict(task=["w:2"], min_available=3), "--min-available"),
    (dict(task=["w:2"], min_available=-1), "--min-available"),
    (dict(task=["w:2"], max_retry=-1), "--max-retry"),
    (dict(task=["w:2"], tf_config="manual"), "--tf-config"),
    (dict(task=["w:2"], plugin=["horovod"]), "--plugin"),
    (dict(task_replicas=0), "--task-replicas"),
    (dict(task_replicas="two"), "--task-replicas"),
])
def test_errors(opts, field) -> None:
    with pytest.raises(InvalidSpec) as err:
        build(**opts)
    assert err.value.field == field


def test_cycle_message_names_the_loop() -> None:
    with pytest.raises(InvalidSpec, match="a -> b -> c -> a"):
        build(task=["a:1", "b:1", "c:1"], depends_on=["a:b", "b:c", "c:a"])
